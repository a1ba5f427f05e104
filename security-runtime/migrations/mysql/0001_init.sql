-- Flask-Security fsqla_v3 compatible schema (MySQL / MariaDB). Idempotent.
CREATE TABLE IF NOT EXISTS `role` (
    id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name VARCHAR(80) NOT NULL UNIQUE,
    description VARCHAR(255),
    permissions TEXT,
    update_datetime DATETIME(6) NOT NULL
) CHARACTER SET utf8mb4;
CREATE TABLE IF NOT EXISTS `user` (
    id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
    email VARCHAR(255) NOT NULL UNIQUE,
    username VARCHAR(255) UNIQUE,
    password VARCHAR(255),
    active BOOL NOT NULL,
    fs_uniquifier VARCHAR(64) NOT NULL UNIQUE,
    fs_token_uniquifier VARCHAR(64) UNIQUE,
    fs_webauthn_user_handle VARCHAR(64) UNIQUE,
    confirmed_at DATETIME(6),
    last_login_at DATETIME(6),
    current_login_at DATETIME(6),
    last_login_ip VARCHAR(64),
    current_login_ip VARCHAR(64),
    login_count INTEGER,
    tf_primary_method VARCHAR(64),
    tf_totp_secret VARCHAR(255),
    tf_phone_number VARCHAR(128),
    mf_recovery_codes TEXT,
    us_phone_number VARCHAR(128) UNIQUE,
    us_totp_secrets TEXT,
    create_datetime DATETIME(6) NOT NULL,
    update_datetime DATETIME(6) NOT NULL
) CHARACTER SET utf8mb4;
CREATE TABLE IF NOT EXISTS roles_users (
    user_id INTEGER NOT NULL,
    role_id INTEGER NOT NULL,
    PRIMARY KEY (user_id, role_id),
    FOREIGN KEY (user_id) REFERENCES `user`(id) ON DELETE CASCADE,
    FOREIGN KEY (role_id) REFERENCES `role`(id) ON DELETE CASCADE
) CHARACTER SET utf8mb4;
