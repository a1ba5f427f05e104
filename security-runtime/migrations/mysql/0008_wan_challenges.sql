-- WebAuthn challenges already answered (beyond Flask-Security, whose challenges can be
-- replayed while their state token lives): SHA-256 hex digests, kept until they expire.
-- The index is declared in the table, as MySQL 8 has no CREATE INDEX IF NOT EXISTS.
CREATE TABLE IF NOT EXISTS fs_wan_challenge (
    challenge VARCHAR(64) NOT NULL PRIMARY KEY,
    expires BIGINT NOT NULL,
    INDEX ix_fs_wan_challenge_expires (expires)
) CHARACTER SET utf8mb4
