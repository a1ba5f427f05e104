-- WebAuthn challenges already answered (beyond Flask-Security, whose challenges can be
-- replayed while their state token lives): SHA-256 hex digests, kept until they expire.
CREATE TABLE IF NOT EXISTS fs_wan_challenge (
    challenge VARCHAR(64) NOT NULL PRIMARY KEY,
    expires BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_fs_wan_challenge_expires ON fs_wan_challenge (expires)
