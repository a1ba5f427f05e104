//! Versioned schema migrations: an empty database, one written by this project's 0.1.0
//! release, and ones written by Flask-Security-Too 5.9.2 itself (`fsqla_v3`, `fsqla_v2`,
//! created by `scripts/flask_security_db.py`), each upgraded at launch and used over HTTP;
//! afterwards Flask-Security opens the same database again and signs its users in.
//!
//! The Flask-Security checks run when `FLASK_SECURITY_PYTHON` names a Python with
//! Flask-Security-Too, Flask-SQLAlchemy, psycopg2 and PyMySQL (`.ci/run` installs them); with
//! `CI=true` a missing one fails the test.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use rocket::error::ErrorKind;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::json;
use security_runtime::hashing::PasswordContext;
use security_runtime::{
    NewUser, SchemaOrigin, SchemaStatus, Security, SecurityConfig, SqlDatastore, UserDatastore,
    UserQuery,
};
use security_tests::flask::{self, flask_security, sqlalchemy_url};
use security_tests::smtp::SmtpSink;
use security_tests::{
    app, backends, find_link, fresh_database, path_of, test_figment, Backend, TestApp,
};

/// Opens the datastore at `url` without launching anything.
async fn open(b: Backend, url: &str) -> SqlDatastore {
    match b {
        Backend::Sqlite => sqlx::SqlitePool::connect(url).await.unwrap().into(),
        Backend::Postgres => sqlx::PgPool::connect(url).await.unwrap().into(),
        Backend::MySql => sqlx::MySqlPool::connect(url).await.unwrap().into(),
    }
}

/// Runs `;`-separated SQL on the database at `url`.
async fn run_sql(b: Backend, url: &str, script: &str) {
    let stmts = script
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| !s.trim().is_empty());
    let ds = open(b, url).await;
    for stmt in stmts {
        let r = match &ds {
            SqlDatastore::Sqlite(p) => sqlx::query(&stmt).execute(p).await.map(|_| ()),
            SqlDatastore::Postgres(p) => sqlx::query(&stmt).execute(p).await.map(|_| ()),
            SqlDatastore::MySql(p) => sqlx::query(&stmt).execute(p).await.map(|_| ()),
            _ => unreachable!("all three backends are built"),
        };
        r.unwrap_or_else(|e| panic!("{b:?}: {stmt}: {e}"));
    }
}

/// Names of the schema's objects, one query per kind.
async fn names(b: Backend, url: &str, sql: &str) -> Vec<String> {
    match b {
        Backend::Sqlite => {
            let p = sqlx::SqlitePool::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&p).await.unwrap()
        }
        Backend::Postgres => {
            let p = sqlx::PgPool::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&p).await.unwrap()
        }
        Backend::MySql => {
            let p = sqlx::MySqlPool::connect(url).await.unwrap();
            sqlx::query_scalar(sql).fetch_all(&p).await.unwrap()
        }
    }
}

/// Tables, the user and role tables' columns, and every index: to see that a run changed
/// nothing, or only added.
/// Asserts the schema's [`shape`] is still `before`; `what` says what changed it otherwise.
async fn assert_shape_kept(b: Backend, url: &str, before: &BTreeSet<String>, what: &str) {
    assert_eq!(shape(b, url).await, *before, "{b:?}: {what}");
}

async fn shape(b: Backend, url: &str) -> BTreeSet<String> {
    let queries: [(&str, &str); 3] = match b {
        Backend::Sqlite => [
            (
                "table",
                "SELECT name FROM sqlite_master WHERE type = 'table'",
            ),
            (
                "column",
                "SELECT 'user.' || name FROM pragma_table_info('user') \
                 UNION ALL SELECT 'role.' || name FROM pragma_table_info('role')",
            ),
            (
                "index",
                "SELECT tbl_name || '.' || name FROM sqlite_master WHERE type = 'index'",
            ),
        ],
        Backend::Postgres => [
            (
                "table",
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema()",
            ),
            (
                "column",
                "SELECT (table_name || '.' || column_name)::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name IN ('user', 'role')",
            ),
            (
                "index",
                "SELECT (tablename || '.' || indexname)::text FROM pg_indexes \
                 WHERE schemaname = current_schema()",
            ),
        ],
        Backend::MySql => [
            (
                "table",
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()",
            ),
            (
                "column",
                "SELECT CAST(CONCAT(table_name, '.', column_name) AS CHAR) \
                 FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name IN ('user', 'role')",
            ),
            (
                "index",
                "SELECT DISTINCT CAST(CONCAT(table_name, '.', index_name) AS CHAR) \
                 FROM information_schema.statistics WHERE table_schema = DATABASE()",
            ),
        ],
    };
    let mut out = BTreeSet::new();
    for (kind, sql) in queries {
        let found = names(b, url, sql).await;
        out.extend(found.into_iter().map(|n| format!("{kind} {n}")));
    }
    out
}

fn versions(s: &SchemaStatus) -> Vec<i64> {
    s.applied.iter().map(|m| m.version).collect()
}

fn all_versions() -> Vec<i64> {
    (1..=SchemaStatus::latest()).collect()
}

#[rocket::async_test]
async fn an_empty_database_gets_every_migration_once() {
    for b in backends() {
        let url = fresh_database(b).await;
        let ds = open(b, &url).await;
        let before = ds.schema_status().await.unwrap();
        assert_eq!(before.origin, SchemaOrigin::Empty, "{b:?}");
        assert!(before.applied.is_empty());
        assert_eq!(before.pending.len(), all_versions().len());
        let first = ds.migrate().await.unwrap();
        assert_eq!(first.applied_now, all_versions(), "{b:?}");
        let shape_once = shape(b, &url).await;
        let again = ds.migrate().await.unwrap();
        assert!(again.applied_now.is_empty(), "{b:?}: {again:?}");
        assert_eq!(again.origin, SchemaOrigin::Versioned);
        assert_eq!(versions(&again), all_versions());
        assert_eq!(
            shape(b, &url).await,
            shape_once,
            "{b:?}: a second run changed the schema"
        );

        // The steps themselves are idempotent (MariaDB resumes an interrupted one by
        // running it again): forget the records and run again.
        run_sql(
            b,
            &url,
            "DELETE FROM rocket_security_migrations WHERE version = 2",
        )
        .await;
        assert_eq!(ds.migrate().await.unwrap().applied_now, [2], "{b:?}");
        run_sql(b, &url, "DROP TABLE rocket_security_migrations").await;
        let rerun = ds.migrate().await.unwrap();
        assert_eq!(rerun.origin, SchemaOrigin::Unversioned, "{b:?}");
        assert_eq!(rerun.applied_now, all_versions(), "{b:?}");
        assert_shape_kept(b, &url, &shape_once, "a rerun changed the schema").await;
    }
}

#[rocket::async_test]
async fn a_minimal_user_table_gets_the_optional_columns_and_keeps_its_rows() {
    for b in backends() {
        let url = fresh_database(b).await;
        let (q, ts, id) = match b {
            Backend::Sqlite => ("\"", "DATETIME", "INTEGER PRIMARY KEY"),
            Backend::Postgres => ("\"", "TIMESTAMP", "SERIAL PRIMARY KEY"),
            Backend::MySql => ("`", "DATETIME", "INTEGER AUTO_INCREMENT PRIMARY KEY"),
        };
        run_sql(
            b,
            &url,
            &format!(
                "CREATE TABLE {q}user{q} (id {id}, email VARCHAR(255) NOT NULL UNIQUE, \
                 password VARCHAR(255), active BOOLEAN NOT NULL, \
                 fs_uniquifier VARCHAR(64) NOT NULL UNIQUE, create_datetime {ts} NOT NULL, \
                 update_datetime {ts} NOT NULL); \
                 CREATE TABLE {q}role{q} (id {id}, name VARCHAR(80) NOT NULL UNIQUE, \
                 update_datetime {ts} NOT NULL); \
                 CREATE TABLE roles_users (user_id INTEGER, role_id INTEGER); \
                 INSERT INTO {q}user{q} (email, password, active, fs_uniquifier, create_datetime, \
                 update_datetime) VALUES ('min@example.com', NULL, TRUE, 'u1', \
                 '2024-01-02 03:04:05', '2024-01-02 03:04:05'); \
                 INSERT INTO {q}role{q} (name, update_datetime) VALUES ('admin', \
                 '2024-01-02 03:04:05'); \
                 INSERT INTO roles_users (user_id, role_id) VALUES (1, 1)"
            ),
        )
        .await;
        let before = shape(b, &url).await;
        let ds = open(b, &url).await;
        assert_eq!(
            ds.schema_status().await.unwrap().origin,
            SchemaOrigin::FlaskSecurity(1)
        );
        ds.migrate().await.unwrap();
        let after = shape(b, &url).await;
        assert!(
            after.is_superset(&before),
            "{b:?}: {:?}",
            before.difference(&after)
        );
        for col in [
            "username",
            "fs_token_uniquifier",
            "us_phone_number",
            "tf_totp_secret",
        ] {
            assert!(
                after.contains(&format!("column user.{col}")),
                "{b:?}: {col}"
            );
        }
        assert!(after.contains("column role.permissions"), "{b:?}");
        let uniques = after
            .iter()
            .filter(|n| n.starts_with("index user.uq_user_"))
            .count();
        // MariaDB's collation folds case already: no index on LOWER(email) there.
        let folded = after.contains("index user.uq_user_email_folded");
        assert_eq!(folded, b != Backend::MySql, "{b:?}: {after:?}");
        assert_eq!(uniques, 4 + usize::from(folded), "{b:?}: {after:?}");
        let user = ds
            .find_user(&UserQuery::Email("min@example.com".into()), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.fs_uniquifier, "u1");
        assert!(user.has_role("admin"), "{b:?}");
        assert_eq!(user.fs_token_uniquifier, None);
    }
}

#[rocket::async_test]
async fn two_instances_starting_at_once_apply_each_migration_once() {
    for b in backends() {
        let url = fresh_database(b).await;
        let (one, two) = (open(b, &url).await, open(b, &url).await);
        let (r1, r2) = tokio::join!(one.migrate(), two.migrate());
        let (r1, r2) = (r1.unwrap(), r2.unwrap());
        let mut applied: Vec<i64> = r1
            .applied_now
            .iter()
            .chain(&r2.applied_now)
            .copied()
            .collect();
        applied.sort_unstable();
        assert_eq!(applied, all_versions(), "{b:?}: {r1:?} / {r2:?}");
        assert_eq!(
            versions(&one.schema_status().await.unwrap()),
            all_versions()
        );
    }
}

#[rocket::async_test]
async fn a_user_table_without_fs_uniquifier_is_refused_untouched() {
    for b in backends() {
        let url = fresh_database(b).await;
        let quoted = if b == Backend::MySql {
            "`user`"
        } else {
            "\"user\""
        };
        run_sql(
            b,
            &url,
            &format!("CREATE TABLE {quoted} (id INTEGER PRIMARY KEY, email VARCHAR(255), password VARCHAR(255), active BOOLEAN)"),
        )
        .await;
        let before = shape(b, &url).await;
        let err = open(b, &url).await.migrate().await.unwrap_err().to_string();
        assert!(
            err.contains("\"user\"") && err.contains("fs_uniquifier"),
            "{b:?}: {err}"
        );
        assert_shape_kept(b, &url, &before, "a refused schema was changed").await;
    }
}

#[rocket::async_test]
async fn launch_refuses_a_pending_schema_when_migrating_on_launch_is_off() {
    for b in backends() {
        let url = fresh_database(b).await;
        let figment = || test_figment(&url).merge(("security.migrate_on_launch", false));
        match Client::tracked(app(b, figment(), Security::new())).await {
            Err(e) => match e.kind() {
                ErrorKind::FailedFairings(f) => assert!(!f.is_empty()),
                other => panic!("{b:?}: {other}"),
            },
            Ok(_) => panic!("{b:?}: launched on an empty schema"),
        }
        assert!(open(b, &url)
            .await
            .schema_status()
            .await
            .unwrap()
            .applied
            .is_empty());
        open(b, &url).await.migrate().await.unwrap();
        let client = Client::tracked(app(b, figment(), Security::new())).await;
        assert!(client.is_ok(), "{b:?}: refused an up-to-date schema");
    }
}

/// The shipped hashing with the test figment's settings.
fn test_hasher() -> PasswordContext {
    let settings = SecurityConfig::from_figment(&test_figment("")).unwrap();
    PasswordContext::new(settings.hashing()).unwrap()
}

#[rocket::async_test]
async fn a_release_0_1_0_database_upgrades_with_its_rows_intact() {
    for b in backends() {
        let url = fresh_database(b).await;
        // Release 0.1.0 ran exactly the shipped first migration, with no record of it
        // (a shipped migration never changes: its checksum is recorded).
        let fixture = match b {
            Backend::Sqlite => {
                include_str!("../../security-runtime/migrations/sqlite/0001_init.sql")
            }
            Backend::Postgres => {
                include_str!("../../security-runtime/migrations/postgres/0001_init.sql")
            }
            Backend::MySql => include_str!("../../security-runtime/migrations/mysql/0001_init.sql"),
        };
        run_sql(b, &url, fixture).await;
        let old = open(b, &url).await;
        let perms = ["full-write".to_owned(), "super".to_owned()];
        old.create_role("admin", Some("Admins"), &perms)
            .await
            .unwrap();
        let mut created = old
            .create_user(NewUser {
                email: "old@example.com".into(),
                username: Some("old".into()),
                password: Some(test_hasher().hash_password("old release pw 1").unwrap()),
                roles: vec!["admin".into()],
                ..NewUser::default()
            })
            .await
            .unwrap();
        created.fs_token_uniquifier = Some("token-uniquifier-0".into());
        old.put_user(&mut created).await.unwrap();
        let before = old
            .find_user(&UserQuery::Id(created.id), false)
            .await
            .unwrap();
        let status = old.schema_status().await.unwrap();
        assert_eq!(status.origin, SchemaOrigin::Unversioned, "{b:?}");

        let app = launched(b, &url, |f| f).await;
        let after = app
            .datastore()
            .find_user(&UserQuery::Id(created.id), false)
            .await
            .unwrap();
        assert_eq!(
            format!("{after:?}"),
            format!("{before:?}"),
            "{b:?}: the row changed"
        );
        let (s, v) = app.login("old@example.com", "old release pw 1").await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
        assert_eq!(app.get_json("/admin").await.status(), Status::Ok);
        assert_eq!(app.get_json("/perms_all").await.status(), Status::Ok);
        let now = app.datastore().schema_status().await.unwrap();
        assert_eq!(versions(&now), all_versions());
    }
}

/// Launches the test app on an existing database.
async fn launched(
    b: Backend,
    url: &str,
    tweak: impl FnOnce(rocket::figment::Figment) -> rocket::figment::Figment,
) -> TestApp {
    let figment = tweak(test_figment(url));
    let client = Client::tracked(app(b, figment, Security::new()))
        .await
        .unwrap_or_else(|e| panic!("{b:?}: launch failed: {e}"));
    TestApp { client, backend: b }
}

// ---- databases written by Flask-Security itself ----

const ADMIN: (&str, &str) = ("admin@example.com", "fs admin password 1");
const EDITOR: (&str, &str) = ("editor@example.com", "fs editor password 2");
const INACTIVE: (&str, &str) = ("inactive@example.com", "fs inactive password 3");
const UNCONFIRMED: (&str, &str) = ("unconfirmed@example.com", "fs unconfirmed password 4");
const NEWCOMER: (&str, &str) = ("newcomer@example.com", "registered on rocket 5");

#[rocket::async_test]
async fn flask_security_databases_upgrade_and_stay_usable_by_both() {
    let Some(python) = flask::python("Flask-Security databases") else {
        return;
    };
    for b in backends() {
        for (model, version) in [
            ("fsqla_v3", 3),
            ("fsqla_v2", 2),
            ("fsqla", 1),
            ("fsqla_v4", 4),
        ] {
            let url = fresh_database(b).await;
            let sa_url = sqlalchemy_url(b, &url);
            let created = flask_security(&python, &["create", &sa_url, model]);
            let token = created["token"].as_str().unwrap().to_owned();
            let status = open(b, &url).await.schema_status().await.unwrap();
            assert_eq!(
                status.origin,
                SchemaOrigin::FlaskSecurity(version),
                "{b:?} {model}"
            );
            let before = shape(b, &url).await;

            let sink = SmtpSink::start().await;
            let app = flask_app_on_rocket(b, &url, &sink).await;
            let after = shape(b, &url).await;
            assert!(
                after.is_superset(&before),
                "{b:?} {model}: dropped {:?}",
                before.difference(&after)
            );
            signs_in_with_flask_security_data(&app, &token, b, model).await;
            register_and_confirm(&app, &sink).await;
            drop(app);

            let both = flask_security(
                &python,
                &[
                    "login", &sa_url, model, ADMIN.0, ADMIN.1, EDITOR.0, EDITOR.1, NEWCOMER.0,
                    NEWCOMER.1,
                ],
            );
            assert_eq!(
                both,
                json!({
                    ADMIN.0: {"status": 200, "roles": ["admin"]},
                    EDITOR.0: {"status": 200, "roles": ["editor"]},
                    NEWCOMER.0: {"status": 200, "roles": []},
                }),
                "{b:?} {model}: Flask-Security after the upgrade"
            );
        }
    }
}

async fn flask_app_on_rocket(b: Backend, url: &str, sink: &SmtpSink) -> TestApp {
    let port = sink.port();
    launched(b, url, move |f| {
        f.merge(("security.confirmable", true))
            .merge(("security.registerable", true))
            .merge(("security.external_url", "https://app.example.com"))
            .merge(("security.mail_server", "127.0.0.1"))
            .merge(("security.mail_port", port))
    })
    .await
}

/// Users, roles, permissions, states and a token, all written by Flask-Security.
async fn signs_in_with_flask_security_data(app: &TestApp, token: &str, b: Backend, model: &str) {
    let ctx = format!("{b:?} {model}");
    for ((email, password), (admin, perms)) in [
        (ADMIN, (Status::Ok, ("/perms_all", Status::Ok))),
        (
            EDITOR,
            (Status::Forbidden, ("/perms_any", Status::Forbidden)),
        ),
    ] {
        let (s, v) = app.login(email, password).await;
        assert_eq!(s, Status::Ok, "{ctx}: {v}");
        assert_eq!(app.status("/admin").await, admin, "{ctx}");
        assert_eq!(app.status(perms.0).await, perms.1, "{ctx}");
        app.logout().await;
    }

    let (s, v) = app.login(INACTIVE.0, INACTIVE.1).await;
    assert_eq!(s, Status::BadRequest, "{ctx}: {v}");
    assert!(v.to_string().contains("Account is disabled."), "{ctx}: {v}");
    let (s, v) = app.login(UNCONFIRMED.0, UNCONFIRMED.1).await;
    assert_eq!(s, Status::BadRequest, "{ctx}: {v}");
    assert!(
        v.to_string().contains("Email requires confirmation."),
        "{ctx}: {v}"
    );

    let r = app.get_with_token("/token", token).await;
    assert_eq!(
        r.status(),
        Status::Ok,
        "{ctx}: Flask-Security's token refused"
    );
    assert_eq!(r.into_string().await.unwrap(), format!("token {}", ADMIN.0));
    let r = app.get_with_token("/token", &format!("{token}x")).await;
    assert_eq!(
        r.status(),
        Status::Unauthorized,
        "{ctx}: a forged token accepted"
    );
}

/// Registers through this project, confirms through the mailed link, signs in.
async fn register_and_confirm(app: &TestApp, sink: &SmtpSink) {
    let body = json!({"email": NEWCOMER.0, "password": NEWCOMER.1, "password_confirm": NEWCOMER.1});
    let r = app.post_json("/register", body).await;
    assert_eq!(r.status(), Status::Ok);
    let mail = sink.wait_for(1, Duration::from_secs(10)).await;
    let link = path_of(&find_link(&mail[0].body_text()));
    assert!(link.starts_with("/confirm/"), "{link}");
    let r = app.get_json(&link).await;
    assert_eq!(r.status(), Status::Ok);
    let (s, v) = app.login(NEWCOMER.0, NEWCOMER.1).await;
    assert_eq!(s, Status::Ok, "{v}");
}

#[rocket::async_test]
async fn webauthn_credentials_written_by_flask_security_read_back_byte_for_byte() {
    let Some(python) = flask::python("Flask-Security databases") else {
        return;
    };
    for b in backends() {
        let url = fresh_database(b).await;
        let sa_url = sqlalchemy_url(b, &url);
        flask_security(&python, &["create", &sa_url, "fsqla_v3"]);
        let theirs = flask_security(&python, &["wan-credential", &sa_url, "fsqla_v3", ADMIN.0]);
        let sink = SmtpSink::start().await;
        let app = flask_app_on_rocket(b, &url, &sink).await;
        let store = app.datastore().webauthn_store().unwrap();
        let hex = |k: &str| theirs[k].as_str().unwrap().to_owned();
        let id: Vec<u8> = (0..hex("credential_id").len() / 2)
            .map(|i| u8::from_str_radix(&hex("credential_id")[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let cred = store
            .find_credential(&id)
            .await
            .unwrap()
            .expect("their credential");
        let user = app.by_email(ADMIN.0, false).await.unwrap();
        assert_eq!(cred.user_id, user.id, "{b:?}");
        assert_eq!(cred.name, "fs key");
        assert_eq!(cred.sign_count, 7);
        assert_eq!(cred.transports, ["usb", "nfc"]);
        assert!(cred.backup_state);
        assert_eq!(cred.device_type, "multi_device");
        assert_eq!(cred.usage, "first");
        assert_eq!(
            cred.extensions.as_deref(),
            Some("{\"credProps\": {\"rk\": true}}")
        );
        let key_hex: String = cred.public_key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(key_hex, hex("public_key"), "{b:?}");
        assert_eq!(store.credentials_of(user.id).await.unwrap().len(), 1);
    }
}
