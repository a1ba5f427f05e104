-- Server-side sessions and remember-me series (beyond Flask-Security, which keeps both in
-- cookies only). Ids and tokens are stored as SHA-256 hex digests of what the cookies hold.
CREATE TABLE IF NOT EXISTS fs_session (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    fs_uniquifier VARCHAR(64),
    data TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_fs_session_user ON fs_session (fs_uniquifier);
CREATE TABLE IF NOT EXISTS fs_remember (
    series VARCHAR(64) NOT NULL PRIMARY KEY,
    fs_uniquifier VARCHAR(64) NOT NULL,
    token VARCHAR(64) NOT NULL,
    prev_token VARCHAR(64),
    rotated BIGINT NOT NULL,
    expires BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_fs_remember_user ON fs_remember (fs_uniquifier)
