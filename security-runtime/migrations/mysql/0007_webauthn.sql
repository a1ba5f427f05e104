-- WebAuthn credentials, as Flask-Security's fsqla_v3 `webauthn` table (a database written
-- by Flask-Security has it already and keeps it). Indexes declared in the table, as MySQL 8
-- has no CREATE INDEX IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS webauthn (
    id INTEGER NOT NULL AUTO_INCREMENT PRIMARY KEY,
    credential_id VARBINARY(1024) NOT NULL,
    public_key BLOB NOT NULL,
    sign_count INTEGER,
    transports TEXT,
    backup_state BOOLEAN NOT NULL,
    device_type VARCHAR(64) NOT NULL,
    extensions VARCHAR(255),
    create_datetime DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    lastuse_datetime DATETIME NOT NULL,
    name VARCHAR(64) NOT NULL,
    `usage` VARCHAR(64) NOT NULL,
    user_id INTEGER NOT NULL,
    UNIQUE INDEX uq_webauthn_credential_id (credential_id),
    INDEX ix_webauthn_user_id (user_id),
    FOREIGN KEY (user_id) REFERENCES `user`(id) ON DELETE CASCADE
) CHARACTER SET utf8mb4
