-- Server-side sessions and remember-me series (beyond Flask-Security, which keeps both in
-- cookies only). Indexes declared in the tables, as MySQL 8 has no CREATE INDEX IF NOT
-- EXISTS. Ids and tokens are stored as SHA-256 hex digests of what the cookies hold.
CREATE TABLE IF NOT EXISTS fs_session (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    fs_uniquifier VARCHAR(64),
    data TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    INDEX ix_fs_session_user (fs_uniquifier)
) CHARACTER SET utf8mb4;
CREATE TABLE IF NOT EXISTS fs_remember (
    series VARCHAR(64) NOT NULL PRIMARY KEY,
    fs_uniquifier VARCHAR(64) NOT NULL,
    token VARCHAR(64) NOT NULL,
    prev_token VARCHAR(64),
    rotated BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    INDEX ix_fs_remember_user (fs_uniquifier)
) CHARACTER SET utf8mb4
