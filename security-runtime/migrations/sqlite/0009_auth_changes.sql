-- The auth cache's change counters: every write to the rows a guard reads, by this
-- process, another one (the CLI) or plain SQL, counts up `n` of row 1 (users, roles,
-- role grants) or row 2 (changed or ended server-side sessions). Each cached lookup
-- first asks SQLite whether anything was committed (PRAGMA data_version) and only then
-- reads the counters, and a new value drops that part of the cache. A user's update counts
-- only when it sets a column the cache keeps (those `find_user` reads), so counting
-- failed attempts or code steps leaves the cache alone. Inserts count too: a REPLACE
-- deletes the old row without firing a DELETE trigger.
CREATE TABLE IF NOT EXISTS fs_auth_version (
    id INTEGER NOT NULL PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT OR IGNORE INTO fs_auth_version (id, n) VALUES (1, 0);
INSERT OR IGNORE INTO fs_auth_version (id, n) VALUES (2, 0);
CREATE TRIGGER IF NOT EXISTS fs_auth_user_update AFTER UPDATE OF id, email, username,
    password, active, fs_uniquifier, fs_token_uniquifier, confirmed_at, last_login_at,
    current_login_at, last_login_ip, current_login_ip, login_count, tf_primary_method,
    tf_totp_secret, tf_phone_number, us_phone_number, us_totp_secrets,
    mf_recovery_codes, create_datetime, update_datetime
    ON "user"
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_user_delete AFTER DELETE ON "user"
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_role_update AFTER UPDATE ON role
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_role_delete AFTER DELETE ON role
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_grant_insert AFTER INSERT ON roles_users
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_grant_update AFTER UPDATE ON roles_users
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_grant_delete AFTER DELETE ON roles_users
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_session_update AFTER UPDATE ON fs_session
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 2;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_session_delete AFTER DELETE ON fs_session
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 2;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_user_insert AFTER INSERT ON "user"
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_role_insert AFTER INSERT ON role
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS fs_auth_session_insert AFTER INSERT ON fs_session
BEGIN
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 2;
END
