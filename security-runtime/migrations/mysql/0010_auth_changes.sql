-- The auth cache's change counters on MySQL and MariaDB, which have no change
-- notifications: every write to the rows a guard reads, by any instance, the CLI or plain
-- SQL, counts up `n` of row 1 (users, roles, role grants) or row 2 (changed or ended
-- server-side sessions). Each instance reads the two counters every `auth_cache_poll_ms`
-- on a connection of its own and drops that part of its cache when one moved. A user's
-- update counts only when it sets a column the cache keeps (compared byte for byte: the
-- default collations call `A` and `a` equal), so counting failed attempts or code steps
-- leaves the cache alone. A REPLACE fires the DELETE trigger; TRUNCATE and cascaded
-- foreign-key deletes fire none (the parent row's own trigger counts for the latter).
-- Without the TRIGGER privilege (with binary logging on, also SUPER or
-- log_bin_trust_function_creators) the migration goes on without the triggers and the
-- cache stays off.
CREATE TABLE IF NOT EXISTS fs_auth_version (
    id INTEGER NOT NULL PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT IGNORE INTO fs_auth_version (id, n) VALUES (1, 0), (2, 0);
DROP TRIGGER IF EXISTS fs_auth_user_update;
CREATE TRIGGER fs_auth_user_update AFTER UPDATE ON `user` FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1 AND NOT (
        OLD.id <=> NEW.id
        AND CAST(OLD.email AS BINARY) <=> CAST(NEW.email AS BINARY)
        AND CAST(OLD.username AS BINARY) <=> CAST(NEW.username AS BINARY)
        AND CAST(OLD.password AS BINARY) <=> CAST(NEW.password AS BINARY)
        AND OLD.active <=> NEW.active
        AND CAST(OLD.fs_uniquifier AS BINARY) <=> CAST(NEW.fs_uniquifier AS BINARY)
        AND CAST(OLD.fs_token_uniquifier AS BINARY) <=> CAST(NEW.fs_token_uniquifier AS BINARY)
        AND OLD.confirmed_at <=> NEW.confirmed_at
        AND OLD.last_login_at <=> NEW.last_login_at
        AND OLD.current_login_at <=> NEW.current_login_at
        AND CAST(OLD.last_login_ip AS BINARY) <=> CAST(NEW.last_login_ip AS BINARY)
        AND CAST(OLD.current_login_ip AS BINARY) <=> CAST(NEW.current_login_ip AS BINARY)
        AND OLD.login_count <=> NEW.login_count
        AND CAST(OLD.tf_primary_method AS BINARY) <=> CAST(NEW.tf_primary_method AS BINARY)
        AND CAST(OLD.tf_totp_secret AS BINARY) <=> CAST(NEW.tf_totp_secret AS BINARY)
        AND CAST(OLD.tf_phone_number AS BINARY) <=> CAST(NEW.tf_phone_number AS BINARY)
        AND CAST(OLD.us_phone_number AS BINARY) <=> CAST(NEW.us_phone_number AS BINARY)
        AND CAST(OLD.us_totp_secrets AS BINARY) <=> CAST(NEW.us_totp_secrets AS BINARY)
        AND CAST(OLD.mf_recovery_codes AS BINARY) <=> CAST(NEW.mf_recovery_codes AS BINARY)
        AND OLD.create_datetime <=> NEW.create_datetime
        AND OLD.update_datetime <=> NEW.update_datetime
    );
DROP TRIGGER IF EXISTS fs_auth_user_delete;
CREATE TRIGGER fs_auth_user_delete AFTER DELETE ON `user` FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_role_update;
CREATE TRIGGER fs_auth_role_update AFTER UPDATE ON `role` FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_role_delete;
CREATE TRIGGER fs_auth_role_delete AFTER DELETE ON `role` FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_grant_insert;
CREATE TRIGGER fs_auth_grant_insert AFTER INSERT ON roles_users FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_grant_update;
CREATE TRIGGER fs_auth_grant_update AFTER UPDATE ON roles_users FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_grant_delete;
CREATE TRIGGER fs_auth_grant_delete AFTER DELETE ON roles_users FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 1;
DROP TRIGGER IF EXISTS fs_auth_session_update;
CREATE TRIGGER fs_auth_session_update AFTER UPDATE ON fs_session FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 2;
DROP TRIGGER IF EXISTS fs_auth_session_delete;
CREATE TRIGGER fs_auth_session_delete AFTER DELETE ON fs_session FOR EACH ROW
    UPDATE fs_auth_version SET n = n + 1 WHERE id = 2;
-- Row 3 says every trigger above is in place: the cache serves only with it. Without the
-- TRIGGER privilege this script stops at the first trigger and the migration goes on
-- without it; running the script later as a user who has it turns the cache on.
INSERT IGNORE INTO fs_auth_version (id, n) VALUES (3, 0)
