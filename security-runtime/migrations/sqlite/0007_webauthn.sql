-- WebAuthn credentials, as Flask-Security's fsqla_v3 `webauthn` table (a database written
-- by Flask-Security has it already and keeps it).
CREATE TABLE IF NOT EXISTS webauthn (
    id INTEGER NOT NULL PRIMARY KEY,
    credential_id BLOB NOT NULL UNIQUE,
    public_key BLOB NOT NULL,
    sign_count INTEGER,
    transports TEXT,
    backup_state BOOLEAN NOT NULL,
    device_type VARCHAR(64) NOT NULL,
    extensions VARCHAR(255),
    create_datetime DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lastuse_datetime DATETIME NOT NULL,
    name VARCHAR(64) NOT NULL,
    "usage" VARCHAR(64) NOT NULL,
    user_id INTEGER NOT NULL REFERENCES "user"(id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS ix_webauthn_user_id ON webauthn (user_id)
