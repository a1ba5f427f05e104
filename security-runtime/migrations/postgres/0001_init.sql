-- Flask-Security fsqla_v3 compatible schema (PostgreSQL). Idempotent.
CREATE TABLE IF NOT EXISTS "role" (
    id SERIAL PRIMARY KEY,
    name VARCHAR(80) NOT NULL UNIQUE,
    description VARCHAR(255),
    permissions TEXT,
    update_datetime TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS "user" (
    id SERIAL PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    username VARCHAR(255) UNIQUE,
    password VARCHAR(255),
    active BOOLEAN NOT NULL,
    fs_uniquifier VARCHAR(64) NOT NULL UNIQUE,
    fs_token_uniquifier VARCHAR(64) UNIQUE,
    fs_webauthn_user_handle VARCHAR(64) UNIQUE,
    confirmed_at TIMESTAMP,
    last_login_at TIMESTAMP,
    current_login_at TIMESTAMP,
    last_login_ip VARCHAR(64),
    current_login_ip VARCHAR(64),
    login_count INTEGER,
    tf_primary_method VARCHAR(64),
    tf_totp_secret VARCHAR(255),
    tf_phone_number VARCHAR(128),
    mf_recovery_codes TEXT,
    us_phone_number VARCHAR(128) UNIQUE,
    us_totp_secrets TEXT,
    create_datetime TIMESTAMP NOT NULL,
    update_datetime TIMESTAMP NOT NULL
);
CREATE TABLE IF NOT EXISTS roles_users (
    user_id INTEGER REFERENCES "user"(id) ON DELETE CASCADE,
    role_id INTEGER REFERENCES "role"(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role_id)
);
