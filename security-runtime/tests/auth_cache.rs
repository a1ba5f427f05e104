//! The auth cache over HTTP: users that sessions and tokens name are served from memory,
//! yet a change made anywhere (the datastore, `security-cli`, plain SQL, another
//! instance) is refused: on SQLite on the next request, on PostgreSQL once the
//! notification arrives, on MariaDB once the change counters were read (both measured),
//! and never while the channel is down or the counters cannot be read.
//!
//! Runs on SQLite always, on PostgreSQL when `SECURITY_TEST_POSTGRES_URL` is set and on
//! MariaDB when `SECURITY_TEST_MYSQL_URL` is (a set but unreachable URL fails).
#![cfg(feature = "cli")]
#![allow(missing_docs, clippy::unwrap_used)]

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rocket::http::{Accept, ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::{get, routes};
use security_runtime::{
    roles_required, CacheCheck, CacheSettings, CacheStats, CachedDatastore, CurrentUser, NewUser,
    Security, SecurityState, SqlDatastore, User, UserDatastore, UserQuery,
};

#[path = "../../tests/src/databases.rs"]
mod databases;
use databases::{backends, fresh_database, unique, Backend};

#[get("/me")]
fn me(user: CurrentUser) -> String {
    user.email.clone()
}

#[roles_required("editor")]
#[get("/edit")]
fn edit() -> &'static str {
    "edit"
}

async fn pool(url: &str) -> SqlDatastore {
    if url.starts_with("sqlite:") {
        SqlDatastore::from(sqlx::SqlitePool::connect(url).await.unwrap())
    } else if url.starts_with("mysql:") {
        SqlDatastore::from(sqlx::MySqlPool::connect(url).await.unwrap())
    } else {
        SqlDatastore::from(sqlx::PgPool::connect(url).await.unwrap())
    }
}

fn settings(strict: bool) -> CacheSettings {
    CacheSettings {
        capacity: 1000,
        strict,
        // Long enough that B is still deaf when the test has cut its channel and
        // written behind its back (CI runs loaded).
        retry: Duration::from_millis(1000),
        poll: Duration::from_millis(100),
    }
}

/// One server: its datastore (cached when the backend allows) and client.
struct Server {
    ds: Arc<dyn UserDatastore>,
    client: Client,
}

impl Server {
    async fn start(url: &str, strict: bool) -> Server {
        let sql = pool(url).await;
        sql.migrate().await.unwrap();
        let ds = CachedDatastore::over(sql, settings(strict)).await;
        ds.find_or_create_role("editor", &[]).await.unwrap();
        let figment = rocket::Config::figment()
            .merge(("secret_key", "a".repeat(64)))
            .merge(("log_level", "off"))
            .merge(("security.password_salt", "salt"))
            .merge(("security.secret_key", "s".repeat(32)))
            .merge(("security.argon2_memory_cost", 1024));
        let rocket = rocket::custom(figment)
            .mount("/", routes![me, edit])
            .attach(Security::new().datastore(ds.clone()));
        let client = Client::untracked(rocket).await.unwrap();
        Server { ds, client }
    }

    fn stats(&self) -> CacheStats {
        self.ds.auth_cache_stats().unwrap_or_default()
    }

    /// A new user with the `editor` role and an auth token.
    async fn user(&self) -> (User, String) {
        let mut u = self
            .ds
            .create_user(NewUser {
                email: format!("{}@example.com", unique("u")),
                ..NewUser::default()
            })
            .await
            .unwrap();
        self.ds.set_token_uniquifier(&mut u, None).await.unwrap();
        self.ds.add_role_to_user(&mut u, "editor").await.unwrap();
        let state = self.client.rocket().state::<SecurityState>().unwrap();
        let token = security_runtime::get_auth_token(state, &u, state.now());
        (u, token)
    }

    async fn get(&self, path: &str, token: &str) -> Status {
        let header = Header::new("Authentication-Token", token.to_owned());
        let req = self.client.get(path).header(header);
        req.header(rocket::http::Accept::JSON)
            .dispatch()
            .await
            .status()
    }

    async fn wait_serving(&self) {
        let start = Instant::now();
        while !self.stats().serving {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "cache never served"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// `security-cli --database-url URL ARGS...`, which must succeed.
fn cli(url: &str, args: &[&str]) {
    let dir = std::env::temp_dir().join(unique("auth-cache-cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_security-cli"))
        .current_dir(&dir)
        .env("ROCKET_SECURITY", "{password_salt=\"salt\"}")
        .env_remove("ROCKET_DATABASES")
        .arg("--database-url")
        .arg(url)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{args:?}: {out:?}");
}

/// Plain SQL on a connection of its own (another process, as far as the server knows).
async fn sql(url: &str, statement: &str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(url).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    } else if url.starts_with("mysql:") {
        let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    } else {
        let mut c = sqlx::PgConnection::connect(url).await.unwrap();
        sqlx::query(statement).execute(&mut c).await.unwrap();
    }
}

#[rocket::async_test]
async fn sqlite_serves_from_memory_and_refuses_cli_and_sql_changes_on_the_next_request() {
    let url = fresh_database(Backend::Sqlite).await;
    let server = Server::start(&url, false).await;
    let [(a, ta), (b, tb), (c, tc), (d, td), (e, te)] = [
        server.user().await,
        server.user().await,
        server.user().await,
        server.user().await,
        server.user().await,
    ];
    for t in [&ta, &tb, &tc, &td, &te] {
        assert_eq!(server.get("/me", t).await, Status::Ok);
        assert_eq!(server.get("/edit", t).await, Status::Ok);
    }
    let before = server.stats();
    for t in [&ta, &tb, &tc, &td, &te] {
        assert_eq!(server.get("/me", t).await, Status::Ok);
    }
    let after = server.stats();
    assert!(before.serving);
    assert_eq!(after.hits - before.hits, 5, "{before:?} {after:?}");
    assert_eq!(after.misses, before.misses);
    // Nothing was committed in between: the WAL index's header answered each check,
    // so the refusals below are that header's doing.
    assert_eq!(after.checks - before.checks, 5, "{before:?} {after:?}");
    assert_eq!(after.quick_checks - before.quick_checks, 5);

    // security-cli, another process: deactivate, reset access, remove a role.
    cli(&url, &["users", "deactivate", &a.email]);
    assert_eq!(server.get("/me", &ta).await, Status::Unauthorized);
    cli(&url, &["users", "reset_access", &b.email]);
    assert_eq!(server.get("/me", &tb).await, Status::Unauthorized);
    cli(&url, &["roles", "remove", &c.email, "editor"]);
    assert_eq!(server.get("/edit", &tc).await, Status::Forbidden);
    assert_eq!(server.get("/me", &tc).await, Status::Ok);

    // Plain SQL: deactivate, rotate the token identity, drop a grant.
    let id = d.id;
    sql(
        &url,
        &format!("UPDATE \"user\" SET active = 0 WHERE id = {id}"),
    )
    .await;
    assert_eq!(server.get("/me", &td).await, Status::Unauthorized);
    let id = e.id;
    sql(
        &url,
        &format!("DELETE FROM roles_users WHERE user_id = {id}"),
    )
    .await;
    assert_eq!(server.get("/edit", &te).await, Status::Forbidden);
    sql(
        &url,
        &format!("UPDATE \"user\" SET fs_token_uniquifier = 'x' WHERE id = {id}"),
    )
    .await;
    assert_eq!(server.get("/me", &te).await, Status::Unauthorized);

    // A REPLACE deletes the old row without a DELETE trigger: inserts count too.
    let mut f = server
        .ds
        .create_user(NewUser {
            email: format!("{}@example.com", unique("f")),
            ..NewUser::default()
        })
        .await
        .unwrap();
    server.ds.set_token_uniquifier(&mut f, None).await.unwrap();
    let state = server.client.rocket().state::<SecurityState>().unwrap();
    let tf = security_runtime::get_auth_token(state, &f, state.now());
    assert_eq!(server.get("/me", &tf).await, Status::Ok);
    assert_eq!(server.get("/me", &tf).await, Status::Ok);
    let id = f.id;
    sql(
        &url,
        &format!(
            "INSERT OR REPLACE INTO \"user\" (id, email, active, fs_uniquifier, \
             fs_token_uniquifier, create_datetime, update_datetime) SELECT id, email, 0, \
             fs_uniquifier, fs_token_uniquifier, create_datetime, update_datetime \
             FROM \"user\" WHERE id = {id}"
        ),
    )
    .await;
    assert_eq!(server.get("/me", &tf).await, Status::Unauthorized);

    // Writes that no guard reads (sessions, passkey challenges) keep the cache.
    let b = server.stats();
    sql(
        &url,
        "INSERT INTO fs_wan_challenge (challenge, expires) VALUES ('c', 1)",
    )
    .await;
    assert_eq!(server.get("/me", &tc).await, Status::Ok);
    assert_eq!(server.get("/me", &tc).await, Status::Ok);
    let s = server.stats();
    assert_eq!(s.invalidations, b.invalidations, "{b:?} {s:?}");
    assert!(s.hits > b.hits);
    // The commit moved the WAL index's header: the first check asked SQLite, the
    // second found the header as that check had left it.
    assert_eq!(s.quick_checks - b.quick_checks, 1, "{b:?} {s:?}");
}

/// Signs `email` in over JSON; the session cookies.
async fn login(server: &Server, email: &str, password: &str) -> Vec<Cookie<'static>> {
    let owned = |r: &rocket::local::asynchronous::LocalResponse<'_>| {
        r.cookies()
            .iter()
            .map(|c| c.clone().into_owned())
            .collect::<Vec<_>>()
    };
    let r = server
        .client
        .get("/login")
        .header(Accept::JSON)
        .dispatch()
        .await;
    let cookies = owned(&r);
    let body: serde_json::Value = serde_json::from_str(&r.into_string().await.unwrap()).unwrap();
    let csrf = body["response"]["csrf_token"].as_str().unwrap().to_owned();
    let body = serde_json::json!({"email": email, "password": password, "csrf_token": csrf});
    let r = server
        .client
        .post("/login")
        .header(ContentType::JSON)
        .cookies(cookies)
        .body(body.to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok, "login of {email}");
    owned(&r)
}

/// A session-cookie `GET path` on `server`.
async fn get_with(server: &Server, path: &str, session: &[Cookie<'static>]) -> Status {
    let req = server.client.get(path).header(Accept::JSON);
    req.cookies(session.to_vec()).dispatch().await.status()
}

/// A request brings the cache up to date with other processes' writes once, at its
/// first cached lookup: a session request (the stored session, then its user) makes one
/// change check, not one per lookup; a write committed before a request is still
/// refused by it. Within one `CacheCheck`, later lookups rely on the first check.
#[rocket::async_test]
async fn a_request_checks_for_other_processes_writes_once() {
    let url = fresh_database(Backend::Sqlite).await;
    let server = Server::start(&url, false).await;
    let state = server.client.rocket().state::<SecurityState>().unwrap();
    let password = "correct horse battery";
    let email = format!("{}@example.com", unique("once"));
    let mut u = server
        .ds
        .create_user(NewUser {
            email: email.clone(),
            password: Some(state.hash_password(password).await.unwrap()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    server.ds.add_role_to_user(&mut u, "editor").await.unwrap();
    let session = login(&server, &email, password).await;
    assert_eq!(get_with(&server, "/me", &session).await, Status::Ok);
    assert_eq!(get_with(&server, "/edit", &session).await, Status::Ok);

    let before = server.stats();
    assert_eq!(get_with(&server, "/me", &session).await, Status::Ok);
    assert_eq!(get_with(&server, "/edit", &session).await, Status::Ok);
    let after = server.stats();
    assert_eq!(after.checks - before.checks, 2, "{before:?} {after:?}");
    assert_eq!(after.hits - before.hits, 2, "users from memory");
    assert_eq!(after.session_hits - before.session_hits, 2, "sessions too");
    let token = security_runtime::get_auth_token(state, &u, state.now());
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    let before = server.stats();
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    assert_eq!(server.stats().checks - before.checks, 1);

    // A session ended by another process between two requests: the next one sees it.
    sql(&url, "UPDATE fs_session SET created = 0").await;
    assert_eq!(
        get_with(&server, "/me", &session).await,
        Status::Unauthorized
    );
    let session = login(&server, &email, password).await;
    assert_eq!(get_with(&server, "/me", &session).await, Status::Ok);
    assert_eq!(get_with(&server, "/me", &session).await, Status::Ok);
    // The user deactivated by another process between two requests: refused.
    let id = u.id;
    let active = |on: u8| format!("UPDATE \"user\" SET active = {on} WHERE id = {id}");
    sql(&url, &active(0)).await;
    assert_eq!(
        get_with(&server, "/me", &session).await,
        Status::Unauthorized
    );

    // One check, two lookups: the second relies on the first (both take effect where
    // the check was made); a new check sees the write made between them.
    sql(&url, &active(1)).await;
    let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
    let check = CacheCheck::new();
    let before = server.stats();
    let first = server.ds.find_user_shared_within(&q, &check).await.unwrap();
    assert!(first.unwrap().active);
    sql(&url, &active(0)).await;
    let second = server.ds.find_user_shared_within(&q, &check).await.unwrap();
    assert!(second.unwrap().active, "the request's own check");
    assert_eq!(server.stats().checks - before.checks, 1);
    let next = server
        .ds
        .find_user_shared_within(&q, &CacheCheck::new())
        .await;
    assert!(!next.unwrap().unwrap().active, "a new check sees the write");
    assert_eq!(server.stats().checks - before.checks, 2);

    // A check is per cache: another datastore handed the same `CacheCheck` makes its own.
    let other = Server::start(&fresh_database(Backend::Sqlite).await, false).await;
    let (v, _) = other.user().await;
    let q2 = UserQuery::FsUniquifier(v.fs_uniquifier.clone());
    let both = CacheCheck::new();
    let (a0, b0) = (server.stats().checks, other.stats().checks);
    server.ds.find_user_shared_within(&q, &both).await.unwrap();
    other.ds.find_user_shared_within(&q2, &both).await.unwrap();
    other.ds.find_user_shared_within(&q2, &both).await.unwrap();
    let made = (server.stats().checks - a0, other.stats().checks - b0);
    assert_eq!(made, (1, 1));
}

/// Every write of the datastore drops the cache before it returns (no lookup between:
/// the SQLite change check runs only at lookups, so this is the datastore's own
/// invalidation), and the next lookup reads the database.
#[rocket::async_test]
async fn every_datastore_write_drops_the_cache_before_it_returns() {
    use security_runtime::datastore::{Attempts, CodeFailures, CodeSlot, Factor};
    let url = fresh_database(Backend::Sqlite).await;
    let server = Server::start(&url, false).await;
    let ds = server.ds.clone();
    let (mut u, _) = server.user().await;
    let mut role = ds.find_role("editor").await.unwrap().unwrap();
    let perms = ["p".to_owned()];
    let secrets = std::collections::BTreeMap::from([("email".to_owned(), "s".to_owned())]);
    let uniquifier = u.fs_uniquifier.clone();
    let seen = Attempts::default();
    let next = Attempts {
        failures: 1,
        last_at: 1,
    };
    macro_rules! drops {
        ($($write:expr),* $(,)?) => {{
            let mut names = Vec::new();
            $(
                let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
                ds.find_user_shared(&q).await.unwrap();
                ds.find_user_shared(&q).await.unwrap();
                let before = ds.auth_cache_stats().unwrap();
                let _ = $write;
                let after = ds.auth_cache_stats().unwrap();
                assert!(
                    after.invalidations > before.invalidations,
                    "{} kept the cache", stringify!($write)
                );
                let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
                ds.find_user_shared(&q).await.unwrap();
                assert_eq!(ds.auth_cache_stats().unwrap().hits, after.hits);
                names.push(stringify!($write));
            )*
            names.len()
        }};
    }
    let n = drops!(
        ds.put_user(&mut u).await,
        ds.put_user_if(&mut u, &uniquifier).await,
        ds.create_role(&unique("r"), None, &[]).await,
        ds.find_or_create_role("editor", &[]).await,
        ds.add_role_to_user(&mut u, "editor").await,
        ds.remove_role_from_user(&mut u, "editor").await,
        ds.add_permissions_to_role(&mut role, &perms).await,
        ds.remove_permissions_from_role(&mut role, &perms).await,
        ds.put_role(&role).await,
        ds.set_active(&mut u, false).await,
        ds.activate_user(&mut u).await,
        ds.deactivate_user(&mut u).await,
        ds.toggle_active(&mut u).await,
        ds.set_uniquifier(&mut u, None).await,
        ds.set_token_uniquifier(&mut u, None).await,
        ds.reset_user_access(&mut u).await,
        ds.tf_set(&mut u, "authenticator", Some("x"), None).await,
        ds.tf_reset(&mut u).await,
        ds.us_put_totp_secrets(&mut u, Some(&secrets)).await,
        ds.us_set(&mut u, "sms", Some("y"), Some("+16505550177"))
            .await,
        ds.us_reset(&mut u, None).await,
        ds.swap_recovery_codes(&mut u, None, Some("a,b")).await,
        ds.migrate().await,
        ds.create_user(NewUser {
            email: format!("{}@example.com", unique("v")),
            ..NewUser::default()
        })
        .await,
    );
    assert_eq!(n, 24);

    // Writes of columns no cached user holds (counters, code steps, the reset nonce)
    // keep the cache, here and through the triggers (the next lookup, which runs the
    // change check, still hits).
    macro_rules! keeps {
        ($($write:expr),* $(,)?) => {{
            let mut n = 0;
            $(
                let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
                ds.find_user_shared(&q).await.unwrap();
                let before = ds.auth_cache_stats().unwrap();
                $write.unwrap();
                ds.find_user_shared(&q).await.unwrap();
                let after = ds.auth_cache_stats().unwrap();
                assert_eq!(after.invalidations, before.invalidations, "{}", stringify!($write));
                assert_eq!(after.hits, before.hits + 1, "{}", stringify!($write));
                n += 1;
            )*
            n
        }};
    }
    let n = keeps!(
        ds.claim_step(&u, CodeSlot::TwoFactor, 7).await,
        ds.code_failures(&u, CodeFailures::Add).await,
        ds.us_code_failures(&u, CodeFailures::Add, 0, 1).await,
        ds.swap_failed_attempts(u.id, Factor::Password, seen, next)
            .await,
        ds.clear_failed_attempts(u.id, Factor::Password).await,
        ds.set_reset_nonce(u.id, "n").await,
    );
    assert_eq!(n, 6);

    // `find_user` always reads the database (single-use token checks, read-modify-write).
    let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
    let hits = ds.auth_cache_stats().unwrap().hits;
    ds.find_user(&q, false).await.unwrap().unwrap();
    assert_eq!(ds.auth_cache_stats().unwrap().hits, hits);

    let n = drops!(ds.delete_user(&u).await);
    assert_eq!(n, 1);
}

/// Server-side sessions: served from memory, dropped by every write of the session
/// store, and a session ended or changed by plain SQL (another instance) is seen on the
/// next load.
#[rocket::async_test]
async fn stored_sessions_are_cached_and_every_change_is_seen() {
    use security_runtime::datastore::StoredSession;
    let url = fresh_database(Backend::Sqlite).await;
    let server = Server::start(&url, false).await;
    let store = server.ds.session_backend().unwrap();
    let session = |user: &str| StoredSession {
        user: Some(user.into()),
        data: "{}".into(),
        created: 1,
        last_seen: 1,
    };
    let hits = |s: &Server| s.stats().session_hits;
    let misses = |s: &Server| s.stats().session_misses;
    for id in ["a", "b", "c", "d", "e"] {
        store.insert_session(id, &session(id)).await.unwrap();
        assert!(store.load_session(id).await.unwrap().is_some());
    }
    // (Each insert counts as a change, so only the last one loaded is still cached.)
    store.load_session("a").await.unwrap();
    let h = hits(&server);
    assert_eq!(store.load_session("a").await.unwrap(), Some(session("a")));
    assert_eq!(hits(&server), h + 1);

    // Each write of the store drops what it changed before it returns.
    store.touch_session("a", 5).await.unwrap();
    assert_eq!(store.load_session("a").await.unwrap().unwrap().last_seen, 5);
    store
        .update_session("b", Some("z"), "{\"k\":1}", 6)
        .await
        .unwrap();
    let b = store.load_session("b").await.unwrap().unwrap();
    assert_eq!(
        (b.user.as_deref(), b.data.as_str()),
        (Some("z"), "{\"k\":1}")
    );
    store.delete_session("c").await.unwrap();
    assert!(store.load_session("c").await.unwrap().is_none());
    store.delete_user_sessions("d").await.unwrap();
    assert!(store.load_session("d").await.unwrap().is_none());
    store.purge(100, 100, 100).await.unwrap();
    assert!(store.load_session("e").await.unwrap().is_none());

    // Another process ends one session and changes another: seen on the next load.
    store.insert_session("f", &session("f")).await.unwrap();
    store.insert_session("g", &session("g")).await.unwrap();
    for id in ["f", "f", "g", "g"] {
        store.load_session(id).await.unwrap();
    }
    let m = misses(&server);
    sql(&url, "DELETE FROM fs_session WHERE fs_uniquifier = 'f'").await;
    assert!(store.load_session("f").await.unwrap().is_none());
    sql(
        &url,
        "UPDATE fs_session SET fs_uniquifier = 'x' WHERE fs_uniquifier = 'g'",
    )
    .await;
    let g = store.load_session("g").await.unwrap().unwrap();
    assert_eq!(g.user.as_deref(), Some("x"));
    assert!(misses(&server) > m);

    // A user change leaves the sessions cached, and a session change the users.
    let (_, token) = server.user().await;
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    store.insert_session("h", &session("h")).await.unwrap();
    store.load_session("h").await.unwrap();
    let before = server.stats();
    sql(&url, "UPDATE role SET description = 'd'").await;
    store.load_session("h").await.unwrap();
    assert_eq!(server.stats().session_hits, before.session_hits + 1);
    sql(
        &url,
        "UPDATE fs_session SET last_seen = 2 WHERE fs_uniquifier = 'h'",
    )
    .await;
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    assert!(
        server.stats().hits > before.hits,
        "{before:?} {:?}",
        server.stats()
    );
}

/// Lookups running while the user is deactivated: once the write has returned, none
/// of them sees the active user again.
#[rocket::async_test]
async fn lookups_racing_a_write_never_bring_the_old_user_back() {
    for backend in [Backend::Sqlite]
        .into_iter()
        .chain(backends().into_iter().filter(|b| *b == Backend::Postgres))
    {
        let url = fresh_database(backend).await;
        let server = Server::start(&url, false).await;
        server.wait_serving().await;
        for _ in 0..20 {
            let (mut u, _) = server.user().await;
            let q = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
            let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut readers = Vec::new();
            for _ in 0..4 {
                let (ds, q, done) = (server.ds.clone(), q.clone(), done.clone());
                readers.push(tokio::spawn(async move {
                    let mut stale_after_write = 0;
                    loop {
                        let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                        let user = ds.find_user_shared(&q).await.unwrap().unwrap();
                        if finished && user.active {
                            stale_after_write += 1;
                        }
                        if finished {
                            return stale_after_write;
                        }
                        tokio::task::yield_now().await;
                    }
                }));
            }
            tokio::task::yield_now().await;
            server.ds.deactivate_user(&mut u).await.unwrap();
            done.store(true, std::sync::atomic::Ordering::SeqCst);
            for r in readers {
                assert_eq!(r.await.unwrap(), 0, "{backend:?}");
            }
            let user = server.ds.find_user_shared(&q).await.unwrap().unwrap();
            assert!(!user.active, "{backend:?}");
        }
        assert!(server.stats().hits > 0, "{backend:?}: {:?}", server.stats());
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

/// Two PostgreSQL servers on one database: a write through A is refused by B once
/// the notification arrives (the window measured), B refuses while its channel is cut
/// and serves again once resynchronised; in strict mode B keeps no cache and refuses on
/// the very next request.
#[rocket::async_test]
async fn postgres_instances_follow_each_other_through_notifications() {
    if !backends().contains(&Backend::Postgres) {
        return;
    }
    let url = fresh_database(Backend::Postgres).await;
    let a = Server::start(&url, false).await;
    let b = Server::start(&url, false).await;
    b.wait_serving().await;

    // The window between A's write and B's refusal.
    let windows = windows(&a, &b, 20, Duration::from_millis(100)).await;
    println!(
        "cross-instance window over {} writes: p50 {:?}, p99 {:?}",
        windows.len(),
        percentile(&windows, 0.5),
        percentile(&windows, 0.99)
    );
    assert!(b.stats().hits > 0, "{:?}", b.stats());

    // Cut B's channel: B stops serving from memory at once and refuses a write made
    // while it cannot hear of it.
    let (mut u, token) = a.user().await;
    assert_eq!(b.get("/me", &token).await, Status::Ok);
    assert_eq!(b.get("/me", &token).await, Status::Ok);
    let pid = b.stats().listener_pid.expect("B listens");
    sql(&url, &format!("SELECT pg_terminate_backend({pid})")).await;
    let start = Instant::now();
    while b.stats().listener_pid.is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B never saw the cut"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let hits = b.stats().hits;
    let id = u.id;
    sql(
        &url,
        &format!("UPDATE \"user\" SET active = false WHERE id = {id}"),
    )
    .await;
    assert_eq!(b.get("/me", &token).await, Status::Unauthorized);
    assert_eq!(
        b.stats().hits,
        hits,
        "served from memory with the channel down"
    );
    assert!(!b.stats().serving);
    a.ds.activate_user(&mut u).await.unwrap();
    // Resynchronised: B listens again, on a new connection, and serves from memory.
    b.wait_serving().await;
    assert_ne!(b.stats().listener_pid, Some(pid));
    // (The notification of an earlier write, such as creating this user, may still be
    // on its way and drop what B's first lookup cached: look until one is a hit.)
    let (_, token) = a.user().await;
    from_memory(&b, &token).await;

    // A session ended through A: B stops finding it once notified.
    let (sa, sb) = (
        a.ds.session_backend().unwrap(),
        b.ds.session_backend().unwrap(),
    );
    let stored = security_runtime::datastore::StoredSession {
        user: Some("u".into()),
        data: "{}".into(),
        created: 1,
        last_seen: 1,
    };
    sa.insert_session("s1", &stored).await.unwrap();
    let hits = b.stats().session_hits;
    let start = Instant::now();
    while b.stats().session_hits == hits {
        sb.load_session("s1").await.unwrap().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B never served the session from memory"
        );
    }
    sa.delete_session("s1").await.unwrap();
    let start = Instant::now();
    while sb.load_session("s1").await.unwrap().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "B kept the session"
        );
    }

    // Strict: no cache, the next request after A's write is refused.
    let strict = Server::start(&url, true).await;
    assert!(strict.ds.auth_cache_stats().is_none());
    let (mut u, token) = a.user().await;
    assert_eq!(strict.get("/me", &token).await, Status::Ok);
    a.ds.deactivate_user(&mut u).await.unwrap();
    assert_eq!(strict.get("/me", &token).await, Status::Unauthorized);
}

#[rocket::async_test]
async fn an_in_memory_sqlite_database_keeps_no_cache() {
    for url in [
        "sqlite::memory:",
        "sqlite:file:authcachemem?mode=memory&cache=shared",
    ] {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        let ds = CachedDatastore::over(SqlDatastore::from(pool), settings(false)).await;
        assert!(ds.auth_cache_stats().is_none(), "{url}");
    }
}

/// The change counters of migration 10 (users, sessions) on MySQL or MariaDB.
async fn versions(url: &str) -> (i64, i64) {
    use sqlx::Connection;
    let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
    sqlx::query_as(
        "SELECT (SELECT n FROM fs_auth_version WHERE id = 1), \
                (SELECT n FROM fs_auth_version WHERE id = 2)",
    )
    .fetch_one(&mut c)
    .await
    .unwrap()
}

/// Waits until `server` answers `path` with `want` for `token` (5 s at most).
async fn until(server: &Server, path: &str, token: &str, want: Status) -> Duration {
    let start = Instant::now();
    while server.get(path, token).await != want {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{path} never answered {want}"
        );
    }
    start.elapsed()
}

/// Asks `server` for `/me` with `token` until it answers from memory (5 s at most).
async fn from_memory(server: &Server, token: &str) {
    let (hits, start) = (server.stats().hits, Instant::now());
    while server.stats().hits == hits {
        assert_eq!(server.get("/me", token).await, Status::Ok);
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never served from memory"
        );
    }
}

/// Waits `quiet` for what earlier writes drop in `server`'s cache (a notification on its
/// way, three poll periods), then until it answers `token` from memory: a refusal after
/// the next write then comes from that write.
async fn settle(server: &Server, token: &str, quiet: Duration) {
    tokio::time::sleep(quiet).await;
    from_memory(server, token).await;
}

/// Once `server` answers `token` from memory (settled for MySQL's three periods), runs
/// `statement` behind its back and waits until it answers `path` with `want`.
async fn behind_settled(
    server: &Server,
    url: &str,
    token: &str,
    statement: &str,
    path: &str,
    want: Status,
) {
    settle(server, token, MYSQL_QUIET).await;
    sql(url, statement).await;
    until(server, path, token, want).await;
}

/// `n` users made through `a` and deactivated through `a`, each once `b` serves it from
/// memory (settled for `quiet`): the times until `b` refused each, sorted.
async fn windows(a: &Server, b: &Server, n: usize, quiet: Duration) -> Vec<Duration> {
    let mut windows = Vec::new();
    for _ in 0..n {
        let (mut u, token) = a.user().await;
        settle(b, &token, quiet).await;
        let start = Instant::now();
        a.ds.deactivate_user(&mut u).await.unwrap();
        until(b, "/me", &token, Status::Unauthorized).await;
        windows.push(start.elapsed());
    }
    windows.sort();
    windows
}

/// Three poll periods of the tests' MySQL cache (100 ms) and a little more.
const MYSQL_QUIET: Duration = Duration::from_millis(350);

/// Two servers on one MariaDB (or MySQL) database: a write through A, or by plain SQL,
/// is refused by B once B has read the change counters (the window measured); writes of
/// columns no cached user holds leave the counters alone; B serves nothing while it
/// cannot read them and again once it can; in strict mode B keeps no cache.
#[rocket::async_test]
async fn mysql_instances_follow_each_other_through_the_change_counters() {
    if !backends().contains(&Backend::MySql) {
        return;
    }
    let url = fresh_database(Backend::MySql).await;
    let a = Server::start(&url, false).await;
    let b = Server::start(&url, false).await;
    b.wait_serving().await;

    let windows = windows(&a, &b, 10, MYSQL_QUIET).await;
    let (p50, max) = (percentile(&windows, 0.5), percentile(&windows, 1.0));
    println!(
        "MariaDB cross-instance window over {} writes (poll 100 ms): p50 {p50:?}, max {max:?}",
        windows.len()
    );
    // At most three periods and a read are promised; ten leave room for a loaded CI.
    assert!(max < Duration::from_secs(1), "{windows:?}");

    // Plain SQL: deactivate, drop a grant, rotate the token identity.
    let (d, td) = a.user().await;
    let (e, te) = a.user().await;
    let deactivate = format!("UPDATE `user` SET active = 0 WHERE id = {}", d.id);
    behind_settled(&b, &url, &td, &deactivate, "/me", Status::Unauthorized).await;
    assert_eq!(b.get("/edit", &te).await, Status::Ok);
    let id = e.id;
    let ungrant = format!("DELETE FROM roles_users WHERE user_id = {id}");
    behind_settled(&b, &url, &te, &ungrant, "/edit", Status::Forbidden).await;
    let rotate = format!("UPDATE `user` SET fs_token_uniquifier = 'x' WHERE id = {id}");
    behind_settled(&b, &url, &te, &rotate, "/me", Status::Unauthorized).await;

    // What the counters count: a change of case too (the collation calls it equal), not
    // the failed-attempt counters; session changes in their own row.
    let v = versions(&url).await;
    sql(
        &url,
        &format!("UPDATE `user` SET fs_failed_passwords = 3 WHERE id = {id}"),
    )
    .await;
    assert_eq!(versions(&url).await, v);
    sql(
        &url,
        &format!("UPDATE `user` SET email = UPPER(email) WHERE id = {id}"),
    )
    .await;
    let w = versions(&url).await;
    assert_eq!((w.0, w.1), (v.0 + 1, v.1));
    let store = a.ds.session_backend().unwrap();
    let stored = security_runtime::datastore::StoredSession {
        user: Some("u".into()),
        data: "{}".into(),
        created: 1,
        last_seen: 1,
    };
    store.insert_session("m1", &stored).await.unwrap();
    store.touch_session("m1", 2).await.unwrap();
    store.delete_session("m1").await.unwrap();
    assert_eq!(versions(&url).await, (w.0, w.1 + 2));

    // The counters cannot be read: B stops serving from memory, and serves again once
    // they can be.
    let (_, token) = a.user().await;
    until(&b, "/me", &token, Status::Ok).await;
    sql(&url, "RENAME TABLE fs_auth_version TO fs_auth_version_away").await;
    let start = Instant::now();
    while b.stats().serving {
        assert!(start.elapsed() < Duration::from_secs(5), "B kept serving");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let hits = b.stats().hits;
    assert_eq!(b.get("/me", &token).await, Status::Ok);
    assert_eq!(b.get("/me", &token).await, Status::Ok);
    assert_eq!(
        b.stats().hits,
        hits,
        "served from memory without the counters"
    );
    sql(&url, "RENAME TABLE fs_auth_version_away TO fs_auth_version").await;
    b.wait_serving().await;
    from_memory(&b, &token).await;

    // Strict: no cache, the next request after A's write is refused.
    let strict = Server::start(&url, true).await;
    assert!(strict.ds.auth_cache_stats().is_none());
    let (mut u, token) = a.user().await;
    assert_eq!(strict.get("/me", &token).await, Status::Ok);
    a.ds.deactivate_user(&mut u).await.unwrap();
    assert_eq!(strict.get("/me", &token).await, Status::Unauthorized);
}

/// The names of the methods of `pub trait <name>` in `src`.
fn trait_methods(src: &str, name: &str) -> Vec<String> {
    let start = src
        .find(&format!("pub trait {name}"))
        .unwrap_or_else(|| panic!("trait {name} not found"));
    let body = &src[start..];
    let body = &body[..body.find("\n}\n").expect("end of the trait")];
    body.lines()
        .filter_map(|line| {
            let line = line.trim_start();
            let rest = line
                .strip_prefix("async fn ")
                .or_else(|| line.strip_prefix("fn "))?;
            let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
            Some(rest[..end].to_owned())
        })
        .collect()
}

/// Every method of `UserDatastore` and `SessionBackend` is either a read or a write
/// that the tests above check to drop the cache (`drops!`, the session writes) or to
/// keep it (`keeps!`): a method added to either trait fails here until it is put in
/// one of those places. (`CachedDatastore` must also write it out: its impls deny
/// `clippy::missing_trait_methods`.)
#[test]
fn every_datastore_method_is_checked_for_the_cache() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/datastore");
    // This file without whitespace, so a call split over lines is found too; only the
    // calls inside `drops!(..)`, `keeps!(..)` and the session store test count (a call
    // in some set-up elsewhere checks nothing).
    let this: String = include_str!("auth_cache.rs").split_whitespace().collect();
    let sessions_test = "fnstored_sessions_are_cached_and_every_change_is_seen";
    let mut checked = String::new();
    for open in ["drops!(", "keeps!(", sessions_test] {
        for (at, _) in this.match_indices(open) {
            let rest = &this[at..];
            let close = if open == sessions_test { "#[" } else { ");" };
            checked.push_str(&rest[..rest.find(close).expect("end of the checks")]);
        }
    }
    let sample =
        "pub trait T {\n    /// Not fn this.\n    async fn wipe(&self);\n    fn ping(&self);\n}\n";
    assert_eq!(trait_methods(sample, "T"), ["wipe", "ping"]);
    // Reads (a lookup is served or passed through) and remember-me series, which are
    // never cached.
    const UNCACHED: &[&str] = &[
        "schema_status",
        "find_user",
        "find_user_shared",
        "find_user_shared_within",
        "find_role",
        "all_roles",
        "us_get_totp_secrets",
        "failed_attempts",
        "reset_nonce",
        "ping",
        "session_backend",
        "webauthn_store",
        "auth_cache_stats",
        "load_session",
        "load_session_within",
        "insert_series",
        "check_series",
        "rotate_series",
        "delete_series",
    ];
    let mut all = Vec::new();
    for (file, name, receiver) in [
        ("mod.rs", "UserDatastore", "ds"),
        ("sessions.rs", "SessionBackend", "store"),
    ] {
        let src = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let methods = trait_methods(&src, name);
        assert!(methods.len() > 5, "{name}: {methods:?}");
        for m in &methods {
            let tested = checked.contains(&format!("{receiver}.{m}("));
            assert!(
                UNCACHED.contains(&m.as_str()) || tested,
                "{name}::{m} is neither a read nor checked to drop or keep the auth cache"
            );
        }
        all.extend(methods);
    }
    for m in UNCACHED {
        assert!(all.iter().any(|a| a == m), "{m} is no method any more");
    }
}

/// An application user without the `TRIGGER` privilege (a managed MySQL, binary logging
/// without `log_bin_trust_function_creators`): migration 10 goes on without its triggers,
/// the application starts, and the cache stays off, every lookup exact, until the script
/// is run by a user who may create triggers.
#[rocket::async_test]
async fn mysql_without_the_trigger_privilege_runs_uncached() {
    if !backends().contains(&Backend::MySql) {
        return;
    }
    let url = fresh_database(Backend::MySql).await;
    let (base, db) = url.rsplit_once('/').unwrap();
    let name = unique("fs_nt");
    sql(
        &url,
        &format!("CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'"),
    )
    .await;
    sql(
        &url,
        &format!("GRANT ALL PRIVILEGES ON `{db}`.* TO '{name}'@'%'"),
    )
    .await;
    sql(
        &url,
        &format!("REVOKE TRIGGER ON `{db}`.* FROM '{name}'@'%'"),
    )
    .await;
    let (scheme, host) = base.split_once("://").unwrap();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let limited = format!("{scheme}://{name}:pw@{host}/{db}");

    let server = Server::start(&limited, false).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (mut u, token) = server.user().await;
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    assert_eq!(server.get("/me", &token).await, Status::Ok);
    let stats = server.stats();
    assert!(!stats.serving && stats.hits == 0, "{stats:?}");
    server.ds.deactivate_user(&mut u).await.unwrap();
    assert_eq!(server.get("/me", &token).await, Status::Unauthorized);
    let status = server.ds.schema_status().await.unwrap();
    assert_eq!(status.version(), security_runtime::SchemaStatus::latest());

    // The script run later by a user who may create triggers: the cache serves.
    let script = include_str!("../migrations/mysql/0010_auth_changes.sql");
    let code: Vec<&str> = script.lines().filter(|l| !l.starts_with("--")).collect();
    for statement in code.join("\n").split(';').map(str::trim) {
        if !statement.is_empty() {
            sql(&url, statement).await;
        }
    }
    server.wait_serving().await;
    let (_, token) = server.user().await;
    from_memory(&server, &token).await;
    sql(&url, &format!("DROP USER '{name}'@'%'")).await;
}

/// MySQL's change triggers lock a counter row per statement: a purge deleting many
/// sessions and requests touching and rewriting theirs meet there in both orders, and
/// InnoDB picks deadlock victims. Every write must still land (it runs again). (The
/// expired sessions sort before the live ones, so the purge holds the counter while it
/// scans the rows being touched.)
#[rocket::async_test]
async fn mysql_session_writes_racing_purges_all_land() {
    use security_runtime::datastore::StoredSession;
    if !backends().contains(&Backend::MySql) {
        return;
    }
    let url = fresh_database(Backend::MySql).await;
    let server = Server::start(&url, false).await;
    let store = server.ds.session_backend().unwrap();
    let session = |last_seen: i64| StoredSession {
        user: Some("u".into()),
        data: "{}".into(),
        created: 1_000,
        last_seen,
    };
    for i in 0..16 {
        store
            .insert_session(&format!("zlive{i}"), &session(1_000))
            .await
            .unwrap();
    }
    let mut writers = Vec::new();
    for i in 0..16 {
        let store = store.clone();
        writers.push(tokio::spawn(async move {
            let id = format!("zlive{i}");
            for n in 0..40 {
                store.touch_session(&id, 2_000 + n).await?;
                store
                    .update_session(&id, Some("u"), "{\"n\":1}", 3_000 + n)
                    .await?;
            }
            Ok::<_, security_runtime::SecurityError>(())
        }));
    }
    for round in 0..20 {
        for i in 0..20 {
            let id = format!("aold{round}-{i}");
            store.insert_session(&id, &session(1)).await.unwrap();
        }
        store.purge(500, 0, 0).await.unwrap();
    }
    for w in writers {
        w.await.unwrap().unwrap();
    }
    for i in 0..16 {
        let s = store
            .load_session(&format!("zlive{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.last_seen, 3_039);
    }
}
