-- The auth cache's invalidations: every statement that changes the rows a guard reads,
-- by any instance, the CLI or plain SQL, notifies channel `rocket_security_auth` when it
-- commits, with payload `user` (users, roles, role grants) or `session` (a server-side
-- session changed or ended). Each instance listening drops that part of its cache.
CREATE OR REPLACE FUNCTION fs_auth_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('rocket_security_auth', TG_ARGV[0]);
    RETURN NULL;
END
$$;
DROP TRIGGER IF EXISTS fs_auth_user ON "user";
CREATE TRIGGER fs_auth_user AFTER UPDATE OR DELETE OR TRUNCATE ON "user"
    FOR EACH STATEMENT EXECUTE FUNCTION fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_role ON role;
CREATE TRIGGER fs_auth_role AFTER UPDATE OR DELETE OR TRUNCATE ON role
    FOR EACH STATEMENT EXECUTE FUNCTION fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_grant ON roles_users;
CREATE TRIGGER fs_auth_grant AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roles_users
    FOR EACH STATEMENT EXECUTE FUNCTION fs_auth_changed('user');
DROP TRIGGER IF EXISTS fs_auth_session ON fs_session;
CREATE TRIGGER fs_auth_session AFTER UPDATE OR DELETE OR TRUNCATE ON fs_session
    FOR EACH STATEMENT EXECUTE FUNCTION fs_auth_changed('session')
