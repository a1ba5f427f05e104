-- The auth cache's invalidations: every statement that changes the rows a guard reads,
-- by any instance, the CLI or plain SQL, notifies channel `rocket_security_auth` when it
-- commits, with payload `user` (users, roles, role grants) or `session` (a server-side
-- session changed or ended). Each instance listening drops that part of its cache. A
-- user's update counts only when it sets a column the cache keeps.
CREATE OR REPLACE FUNCTION fs_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rocket_security_auth', TG_ARGV[0]);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS fs_auth_user ON "user";
CREATE TRIGGER fs_auth_user AFTER UPDATE OF id, email, username, password, active,
    fs_uniquifier, fs_token_uniquifier, confirmed_at, last_login_at, current_login_at,
    last_login_ip, current_login_ip, login_count, tf_primary_method, tf_totp_secret,
    tf_phone_number, us_phone_number, us_totp_secrets, mf_recovery_codes,
    create_datetime, update_datetime
    OR DELETE OR TRUNCATE ON "user" FOR EACH STATEMENT EXECUTE PROCEDURE fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_role ON role;
CREATE TRIGGER fs_auth_role AFTER UPDATE OR DELETE OR TRUNCATE ON role
    FOR EACH STATEMENT EXECUTE PROCEDURE fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_grant ON roles_users;
CREATE TRIGGER fs_auth_grant AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles_users
    FOR EACH STATEMENT EXECUTE PROCEDURE fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_session ON fs_session;
CREATE TRIGGER fs_auth_session AFTER UPDATE OR DELETE OR TRUNCATE ON fs_session
    FOR EACH STATEMENT EXECUTE PROCEDURE fs_auth_changed('session')
