//! Reproducible benchmark of what the security layer costs, as ratios against a
//! baseline measured in the same run (absolute numbers depend on the machine).
//!
//! ```sh
//! cargo bench -p security-tests --bench auth_overhead               # throughput + login
//! cargo bench -p security-tests --bench auth_overhead -- throughput # one section
//! cargo bench -p security-tests --bench auth_overhead -- login
//! cargo bench -p security-tests --bench auth_overhead -- cache
//! cargo bench -p security-tests --bench auth_overhead -- compile    # slow, see below
//! cargo bench -p security-tests --bench auth_overhead -- all
//! ```
//!
//! Sections:
//! - `throughput`: in-process requests/s through `rocket::local::asynchronous::Client`
//!   (SQLite, release profile) of unprotected routes, token- and session-protected
//!   routes, and a stacked (`auth_required` + `roles_required`) route against the
//!   single-attribute one. Each round runs every case once, interleaved, so that noise
//!   from other processes hits all cases alike; the median of the rounds is reported.
//! - `login`: `POST /login` (JSON, with CSRF token) per second against raw
//!   `PasswordContext::verify_password` calls per second at the same argon2 parameters,
//!   with one and with two concurrent clients; one login does exactly one verify.
//! - `roles`: a user with 20 roles against a user with 1: the session lookup and a
//!   session-protected request, as per-round ratios, without the auth cache (misses).
//! - `cache`: the same handler unprotected, token-, session-protected and stacked, on an
//!   app without the auth cache and one with it, interleaved; ratios and the hit rate.
//! - `compile`: generates two throwaway crates under `/tmp/fst-compile-bench` (100
//!   `#[get]` handlers each; in one every handler also has `#[auth_required]` and
//!   `#[roles_accepted]`), builds them once with `CARGO_TARGET_DIR=/tmp/bench-target`
//!   to warm the dependencies, then times `touch src/main.rs && cargo build` of each,
//!   both incremental and with `CARGO_INCREMENTAL=0`, and reports medians.
//! - `memory`: resident memory with 100,000 users (`BENCH_USERS`) in the auth cache.
//! - `window`: PostgreSQL (`SECURITY_TEST_POSTGRES_URL`) and MariaDB
//!   (`SECURITY_TEST_MYSQL_URL`), whichever are set, two apps on one database: the time
//!   from a write through one to the other's refusal (`BENCH_WRITES`, 200).
//! - `serve` (not part of `all`): runs the same app on `127.0.0.1:$BENCH_PORT` for
//!   `scripts/load.sh`, which measures it over real HTTP with wrk; `serve-bare` runs
//!   Rocket alone with the same handler.
//!
//! Environment: `BENCH_REQUESTS` (requests per case and round, default 2000),
//! `BENCH_ROUNDS` (default 7), `BENCH_COMPILE_ROUNDS` (default 3), `BENCH_CACHE_BACKENDS`
//! (`all`: `cache` on every backend whose URL is set, not only SQLite).
#![allow(missing_docs)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use rand::Rng;
use rocket::figment::Figment;
use rocket::http::{ContentType, Cookie, Header, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};
use rocket::{get, routes, Build, Rocket};
use security_runtime::hashing::PasswordContext;
use security_runtime::{
    auth_required, auth_token_required, roles_required, CurrentUser, NewUser, Security,
    SecurityState,
};
use security_tests::{app, backends, env_usize, fresh_database, test_figment, Backend};

const WARMUP: usize = 200;

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---- identical handlers, with and without protection ----
//
// Ranked ahead of every other route (`bench_routes`), as bare Rocket's only route is:
// otherwise Rocket compares each request with the test app's 24 demo routes first
// (~3,800 instructions, the app's routing, not the security layer's).

#[get("/open")]
fn bench_open() -> &'static str {
    "ok"
}

#[auth_token_required]
#[get("/token")]
fn bench_token() -> &'static str {
    "ok"
}

#[auth_required(session)]
#[get("/session")]
fn bench_session() -> &'static str {
    "ok"
}

/// The test app's stacked `/admin`, at the bench's rank.
#[auth_required(token, session)]
#[roles_required("admin")]
#[get("/admin")]
fn bench_admin() -> &'static str {
    "ok"
}

/// `/bench/token` with the user handed to the handler.
#[auth_token_required]
#[get("/me")]
fn bench_me(user: CurrentUser) -> &'static str {
    if user.active {
        "ok"
    } else {
        "inactive"
    }
}

/// The `/bench` routes, tried before any other.
fn bench_routes() -> Vec<rocket::Route> {
    let mut routes = routes![
        bench_open,
        bench_token,
        bench_me,
        bench_session,
        bench_admin
    ];
    for r in &mut routes {
        r.rank = -20;
    }
    routes
}

/// A Rocket `secret_key` (release builds refuse to launch without one).
fn random_secret_key() -> String {
    let mut rng = rand::thread_rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.gen::<u8>()))
        .collect()
}

/// The test app (demo routes plus `/bench/*`) on a fresh SQLite file, release-ready,
/// with the given argon2 costs.
async fn bench_app(
    m: u32,
    t: u32,
    p: u32,
    tweak: impl FnOnce(Figment) -> Figment,
) -> Rocket<Build> {
    let url = fresh_database(Backend::Sqlite).await;
    bench_app_on(Backend::Sqlite, &url, m, t, p, tweak)
}

/// [`bench_app`] on a given backend and database.
fn bench_app_on(
    backend: Backend,
    url: &str,
    m: u32,
    t: u32,
    p: u32,
    tweak: impl FnOnce(Figment) -> Figment,
) -> Rocket<Build> {
    let figment: Figment = test_figment(url)
        .merge(("secret_key", random_secret_key()))
        .merge(("security.argon2_memory_cost", m))
        .merge(("security.argon2_time_cost", t))
        .merge(("security.argon2_parallelism", p));
    app(backend, tweak(figment), Security::new()).mount("/bench", bench_routes())
}

/// Adds `n` users (no password) in one statement: `bulk-<i>@example.com`, uniquifier
/// `bulk-<i>`.
async fn bulk_users(backend: Backend, url: &str, n: usize) {
    use sqlx::Connection;
    let sql = match backend {
        Backend::Postgres => format!(
            "INSERT INTO \"user\" (email, active, fs_uniquifier, create_datetime, \
             update_datetime) SELECT 'bulk-' || i || '@example.com', true, 'bulk-' || i, \
             now(), now() FROM generate_series(1, {n}) AS i"
        ),
        // Numbers 1..=n from six digit tables (MySQL caps recursive CTEs at 1,000 rows).
        Backend::MySql => {
            assert!(
                n <= 1_000_000,
                "six digit tables make at most 1,000,000 users"
            );
            let digit = "(SELECT 0 AS d UNION ALL SELECT 1 UNION ALL SELECT 2 UNION ALL \
                         SELECT 3 UNION ALL SELECT 4 UNION ALL SELECT 5 UNION ALL SELECT 6 \
                         UNION ALL SELECT 7 UNION ALL SELECT 8 UNION ALL SELECT 9)";
            format!(
                "INSERT INTO `user` (email, active, fs_uniquifier, create_datetime, \
                 update_datetime) SELECT CONCAT('bulk-', i, '@example.com'), 1, \
                 CONCAT('bulk-', i), NOW(6), NOW(6) FROM (SELECT a.d + 10 * b.d + 100 * c.d \
                 + 1000 * e.d + 10000 * f.d + 100000 * g.d + 1 AS i FROM {digit} a, {digit} b, \
                 {digit} c, {digit} e, {digit} f, {digit} g) n WHERE i <= {n}"
            )
        }
        Backend::Sqlite => format!(
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < {n}) \
             INSERT INTO \"user\" (email, active, fs_uniquifier, create_datetime, \
             update_datetime) SELECT 'bulk-' || i || '@example.com', 1, 'bulk-' || i, \
             datetime('now'), datetime('now') FROM c"
        ),
    };
    if backend == Backend::Postgres {
        let mut c = sqlx::PgConnection::connect(url).await.expect("connect");
        sqlx::query(&sql).execute(&mut c).await.expect("bulk users");
    } else if backend == Backend::MySql {
        let mut c = sqlx::MySqlConnection::connect(url).await.expect("connect");
        sqlx::query(&sql).execute(&mut c).await.expect("bulk users");
    } else {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query(&sql).execute(&mut c).await.expect("bulk users");
    }
}

/// The cross-instance window on PostgreSQL (notifications) or MariaDB (change counters
/// read every 100 ms): two apps on one database, each with its cache; A deactivates a
/// user whom B serves from memory, and B is asked until it refuses.
async fn window(backend: Backend) {
    use security_runtime::UserQuery;
    let n = env_usize("BENCH_WRITES", 200);
    let url = fresh_database(backend).await;
    let mut apps = Vec::new();
    for _ in 0..2 {
        let rocket = bench_app_on(backend, &url, 1024, 1, 1, |f| f);
        apps.push(Client::untracked(rocket).await.expect("launch"));
    }
    let (a, b) = (state(&apps[0]), &apps[1]);
    until_serving(b).await;
    let mut windows = Vec::new();
    for i in 0..n {
        let email = format!("w{i}@example.com");
        create_user(a, &email, "correct horse battery", &[]).await;
        let q = UserQuery::Email(email);
        let mut u = a
            .datastore
            .find_user(&q, false)
            .await
            .expect("find")
            .expect("user");
        let token = security_runtime::get_auth_token(a, &u, a.now());
        let get = || async {
            let req = b
                .get("/bench/token")
                .header(Header::new("Authentication-Token", token.clone()));
            req.header(rocket::http::Accept::JSON)
                .dispatch()
                .await
                .status()
        };
        // Until B answers from memory (A's own writes above may still drop its entry).
        let hits = || state(b).datastore.auth_cache_stats().map_or(0, |s| s.hits);
        let (before, asked) = (hits(), Instant::now());
        while hits() == before {
            assert_eq!(get().await, Status::Ok);
            assert!(asked.elapsed() < Duration::from_secs(5), "never cached");
        }
        if backend != Backend::Postgres {
            // The write lands anywhere in B's poll cycle, not just after a read.
            let pause = rand::thread_rng().gen_range(0..150_000);
            tokio::time::sleep(Duration::from_micros(pause)).await;
        }
        let start = Instant::now();
        a.datastore
            .deactivate_user(&mut u)
            .await
            .expect("deactivate");
        while get().await == Status::Ok {
            assert!(start.elapsed() < Duration::from_secs(5), "never refused");
        }
        windows.push(start.elapsed().as_secs_f64() * 1e3);
    }
    windows.sort_by(f64::total_cmp);
    let at = |p: f64| windows[((windows.len() - 1) as f64 * p).round() as usize];
    let how = match backend {
        Backend::Postgres => "PostgreSQL NOTIFY",
        _ => "MariaDB change counters, poll 100 ms",
    };
    println!("\n## Cross-instance window ({how}), {n} writes\n");
    println!("| p50 | p90 | p99 | max |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms |",
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0)
    );
}

/// Resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Resident memory with 100,000 users in the auth cache, against the same app before
/// they were looked up.
async fn memory() {
    use security_runtime::UserQuery;
    let n = env_usize("BENCH_USERS", 100_000);
    let url = fresh_database(Backend::Sqlite).await;
    let client = Client::untracked(bench_app_on(Backend::Sqlite, &url, 1024, 1, 1, |f| f))
        .await
        .expect("launch");
    bulk_users(Backend::Sqlite, &url, n).await;
    let ds = &state(&client).datastore;
    let before = rss_kib();
    for i in 1..=n {
        let q = UserQuery::FsUniquifier(format!("bulk-{i}"));
        assert!(ds.find_user_shared(&q).await.expect("find").is_some());
    }
    let after = rss_kib();
    let stats = ds.auth_cache_stats().expect("cache on");
    for i in 1..=n {
        let q = UserQuery::FsUniquifier(format!("bulk-{i}"));
        ds.find_user_shared(&q).await.expect("find");
    }
    let hits = ds.auth_cache_stats().expect("cache on").hits - stats.hits;
    println!("\n## Memory: {n} users in the auth cache\n");
    println!("| RSS before | RSS after | per user | second pass hits |");
    println!("|---:|---:|---:|---:|");
    println!(
        "| {before} KiB | {after} KiB | {:.0} B | {hits} of {n} |",
        (after.saturating_sub(before) * 1024) as f64 / n as f64
    );
}

/// An untracked local client: every request carries exactly the cookies given to it.
async fn client(m: u32, t: u32, p: u32) -> Client {
    client_with(m, t, p, |f| f).await
}

/// [`client`] with settings of its own.
async fn client_with(m: u32, t: u32, p: u32, tweak: impl FnOnce(Figment) -> Figment) -> Client {
    Client::untracked(bench_app(m, t, p, tweak).await)
        .await
        .expect("launch")
}

fn no_auth_cache(f: Figment) -> Figment {
    f.merge(("security.auth_cache", false))
}

/// Waits until the app's auth cache answers lookups (PostgreSQL: listening; MySQL: the
/// counters read once).
async fn until_serving(client: &Client) {
    let serving = || {
        let stats = state(client).datastore.auth_cache_stats();
        stats.is_some_and(|s| s.serving)
    };
    while !serving() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn state(client: &Client) -> &SecurityState {
    client
        .rocket()
        .state::<SecurityState>()
        .expect("security state")
}

/// Creates a user (roles created when absent); returns its stored hash.
async fn create_user(st: &SecurityState, email: &str, password: &str, roles: &[&str]) -> String {
    for role in roles {
        st.datastore
            .find_or_create_role(role, &[])
            .await
            .expect("role");
    }
    let hash = st.hash_password(password).await.expect("hash");
    st.datastore
        .create_user(NewUser {
            email: email.into(),
            password: Some(hash.clone()),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            ..NewUser::default()
        })
        .await
        .expect("user");
    hash
}

fn owned_cookies(jar: &rocket::http::CookieJar<'_>) -> Vec<Cookie<'static>> {
    jar.iter().map(|c| c.clone().into_owned()).collect()
}

/// `GET /login` as JSON: an anonymous session cookie and its CSRF token.
async fn anonymous_session(client: &Client) -> (Vec<Cookie<'static>>, String) {
    let r = client
        .get("/login")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let cookies = owned_cookies(r.cookies());
    let v: Value = r.into_json().await.expect("json");
    let csrf = v["response"]["csrf_token"]
        .as_str()
        .expect("csrf_token")
        .to_owned();
    (cookies, csrf)
}

/// The body of a JSON login.
fn login_body(email: &str, password: &str, csrf: &str) -> String {
    json!({"email": email, "password": password, "csrf_token": csrf}).to_string()
}

/// Logs in; returns the session cookies and the auth token.
async fn login(client: &Client, email: &str, password: &str) -> (Vec<Cookie<'static>>, String) {
    let (cookies, csrf) = anonymous_session(client).await;
    let r = client
        .post("/login?include_auth_token")
        .header(ContentType::JSON)
        .cookies(cookies)
        .body(login_body(email, password, &csrf))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok, "login of {email}");
    let session = owned_cookies(r.cookies());
    let v: Value = r.into_json().await.expect("json");
    let token = v["response"]["user"]["authentication_token"]
        .as_str()
        .expect("token")
        .to_owned();
    (session, token)
}

// ---- throughput ----

struct Case {
    name: &'static str,
    uri: &'static str,
    header: Option<Header<'static>>,
    cookies: Vec<Cookie<'static>>,
    rates: Vec<f64>,
}

impl Case {
    fn new(name: &'static str, uri: &'static str) -> Self {
        Case {
            name,
            uri,
            header: None,
            cookies: Vec::new(),
            rates: Vec::new(),
        }
    }

    fn token(mut self, token: &str) -> Self {
        self.header = Some(Header::new("Authentication-Token", token.to_owned()));
        self
    }

    fn session(mut self, cookies: &[Cookie<'static>]) -> Self {
        self.cookies = cookies.to_vec();
        self
    }

    /// `n` sequential requests; requests per second.
    async fn run(&self, client: &Client, n: usize) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            let mut req = client.get(self.uri);
            if let Some(h) = &self.header {
                req = req.header(h.clone());
            }
            if !self.cookies.is_empty() {
                req = req.cookies(self.cookies.clone());
            }
            let res = req.dispatch().await;
            assert_eq!(res.status(), Status::Ok, "{}", self.name);
            let body = res.into_bytes().await;
            assert!(body.is_some_and(|b| !b.is_empty()));
        }
        n as f64 / start.elapsed().as_secs_f64()
    }
}

async fn throughput() {
    let n = env_usize("BENCH_REQUESTS", 2000);
    let rounds = env_usize("BENCH_ROUNDS", 7);
    let client = client(1024, 1, 1).await;
    let password = "correct horse battery";
    create_user(state(&client), "admin@example.com", password, &["admin"]).await;
    create_user(state(&client), "tu@example.com", password, &["admin"]).await;
    // A user with its own fs_token_uniquifier: tokens name it, so the token lookup
    // hits on the first query.
    let st = state(&client);
    let mut tu = st
        .datastore
        .find_user(
            &security_runtime::UserQuery::Email("tu@example.com".into()),
            false,
        )
        .await
        .expect("find")
        .expect("tu user");
    st.datastore
        .set_token_uniquifier(&mut tu, None)
        .await
        .expect("token uniquifier");
    let (admin_session, admin_token) = login(&client, "admin@example.com", password).await;
    let (_, tu_token) = login(&client, "tu@example.com", password).await;

    let mut cases = vec![
        Case::new("GET / (demo index, unprotected)", "/"),
        Case::new("GET /token (auth_token_required)", "/token").token(&admin_token),
        Case::new("GET /token, user with fs_token_uniquifier", "/token").token(&tu_token),
        Case::new("GET /profile (auth_required, session cookie)", "/profile")
            .session(&admin_session),
        Case::new(
            "GET /admin (auth_required + roles_required, session)",
            "/admin",
        )
        .session(&admin_session),
        Case::new("GET /bench/open (same handler, unprotected)", "/bench/open"),
        Case::new("GET /bench/token (auth_token_required)", "/bench/token").token(&admin_token),
        Case::new(
            "GET /bench/session (auth_required(session))",
            "/bench/session",
        )
        .session(&admin_session),
    ];
    for case in &cases {
        case.run(&client, WARMUP).await;
    }
    for _ in 0..rounds {
        for case in &mut cases {
            let rate = case.run(&client, n).await;
            case.rates.push(rate);
        }
    }

    println!(
        "\n## Throughput: {n} sequential requests per case and round, {rounds} rounds, median\n"
    );
    println!("| case | req/s (median) | min | max |");
    println!("|---|---:|---:|---:|");
    for c in &cases {
        let min = c.rates.iter().copied().fold(f64::INFINITY, f64::min);
        let max = c.rates.iter().copied().fold(0.0, f64::max);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} |",
            c.name,
            median(&c.rates),
            min,
            max
        );
    }
    let med = |i: usize| median(&cases[i].rates);
    // Per-round ratios, then their median: robust against drift between rounds.
    let ratio = |a: usize, b: usize| {
        let r: Vec<f64> = cases[a]
            .rates
            .iter()
            .zip(&cases[b].rates)
            .map(|(x, y)| x / y)
            .collect();
        median(&r)
    };
    println!("\n| ratio (median of per-round ratios) | value | extra µs/request |");
    println!("|---|---:|---:|");
    for (a, b, label) in [
        (1, 0, "/token ÷ / (demo handlers)"),
        (2, 0, "/token (own fs_token_uniquifier) ÷ /"),
        (3, 0, "/profile session ÷ /"),
        (6, 5, "/bench/token ÷ /bench/open (same handler)"),
        (7, 5, "/bench/session ÷ /bench/open (same handler)"),
        (4, 3, "/admin stacked ÷ /profile single"),
    ] {
        let extra = 1e6 / med(a) - 1e6 / med(b);
        println!("| {label} | {:.3} | {extra:+.1} |", ratio(a, b));
    }
    components(&client, &admin_token, n, rounds).await;
}

/// A user with 20 roles against a user with 1: the session lookup (`find_user` by
/// `fs_uniquifier`) and a session-protected request, interleaved rounds, medians.
async fn roles() {
    use security_runtime::UserQuery;
    let n = env_usize("BENCH_REQUESTS", 2000);
    let rounds = env_usize("BENCH_ROUNDS", 7);
    // Without the auth cache: every lookup is a miss, the case the cost of roles matters.
    let client = client_with(1024, 1, 1, no_auth_cache).await;
    let password = "correct horse battery";
    let many: Vec<String> = (0..20).map(|i| format!("role-{i:02}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    create_user(state(&client), "one@example.com", password, &["role-00"]).await;
    create_user(state(&client), "twenty@example.com", password, &many).await;
    let ds = &state(&client).datastore;
    let mut users = Vec::new();
    for email in ["one@example.com", "twenty@example.com"] {
        let q = UserQuery::Email(email.into());
        let u = ds.find_user(&q, false).await.expect("find").expect("user");
        let (session, _) = login(&client, email, password).await;
        users.push((u.roles.len(), u.fs_uniquifier, session));
    }
    assert_eq!((users[0].0, users[1].0), (1, 20));
    // (lookups/s, requests/s) per user and round.
    let mut rates: Vec<(Vec<f64>, Vec<f64>)> = vec![(Vec::new(), Vec::new()); 2];
    for round in 0..=rounds {
        for (i, (_, uniq, session)) in users.iter().enumerate() {
            let q = UserQuery::FsUniquifier(uniq.clone());
            let start = Instant::now();
            for _ in 0..n {
                assert!(ds.find_user(&q, false).await.expect("find").is_some());
            }
            let lookups = n as f64 / start.elapsed().as_secs_f64();
            let case = Case::new("GET /bench/session", "/bench/session").session(session);
            let requests = case.run(&client, n).await;
            if round > 0 {
                // Round 0 warms up.
                rates[i].0.push(lookups);
                rates[i].1.push(requests);
            }
        }
    }
    println!("\n## Roles: 1 against 20 ({n} per case and round, {rounds} rounds, median)\n");
    println!("| case | 1 role /s | 20 roles /s | 20 ÷ 1 |");
    println!("|---|---:|---:|---:|");
    for (label, pick) in [("`find_user(FsUniquifier)`", 0), ("GET /bench/session", 1)] {
        let get = |i: usize| if pick == 0 { &rates[i].0 } else { &rates[i].1 };
        let per_round: Vec<f64> = get(1).iter().zip(get(0)).map(|(a, b)| a / b).collect();
        let (one, twenty) = (median(get(0)), median(get(1)));
        println!(
            "| {label} | {one:.0} | {twenty:.0} | {:.3} |",
            median(&per_round)
        );
    }
}

/// The auth cache: the same handler unprotected, token- and session-protected, and the
/// stacked route, on an app with the cache and one without, interleaved in each round.
async fn cache(backend: Backend) {
    let n = env_usize("BENCH_REQUESTS", 2000);
    let rounds = env_usize("BENCH_ROUNDS", 7);
    let password = "correct horse battery";
    let mut apps = Vec::new();
    for cached in [false, true] {
        let tweak = move |f: Figment| f.merge(("security.auth_cache", cached));
        let url = fresh_database(backend).await;
        let rocket = bench_app_on(backend, &url, 1024, 1, 1, tweak);
        let client = Client::untracked(rocket).await.expect("launch");
        if cached {
            until_serving(&client).await;
        }
        create_user(state(&client), "admin@example.com", password, &["admin"]).await;
        let (session, token) = login(&client, "admin@example.com", password).await;
        let cases = vec![
            Case::new("open", "/bench/open"),
            Case::new("token", "/bench/token").token(&token),
            Case::new("session", "/bench/session").session(&session),
            Case::new("stacked (/bench/admin)", "/bench/admin").session(&session),
        ];
        for case in &cases {
            case.run(&client, WARMUP).await;
        }
        apps.push((client, cases));
    }
    for _ in 0..rounds {
        for (client, cases) in &mut apps {
            for case in cases.iter_mut() {
                let rate = case.run(client, n).await;
                case.rates.push(rate);
            }
        }
    }
    let per_round = |a: &Case, b: &Case| -> f64 {
        let r: Vec<f64> = a.rates.iter().zip(&b.rates).map(|(x, y)| x / y).collect();
        median(&r)
    };
    println!(
        "\n## Auth cache on {backend:?}: off against on ({n} per case and round, {rounds} rounds)\n"
    );
    println!("| case | off req/s | on req/s | off ÷ open | on ÷ open | on ÷ off |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (off, on) = (&apps[0].1, &apps[1].1);
    for i in 0..off.len() {
        println!(
            "| {} | {:.0} | {:.0} | {:.3} | {:.3} | {:.3} |",
            off[i].name,
            median(&off[i].rates),
            median(&on[i].rates),
            per_round(&off[i], &off[0]),
            per_round(&on[i], &on[0]),
            per_round(&on[i], &off[i]),
        );
    }
    let stats = state(&apps[1].0).datastore.auth_cache_stats();
    let stats = stats.expect("the cache is on");
    let rate = stats.hits as f64 / (stats.hits + stats.misses).max(1) as f64;
    println!(
        "\ncache: {} hits, {} misses (hit rate {:.4}), {} invalidations",
        stats.hits, stats.misses, rate, stats.invalidations
    );
}

/// Where a protected request's time goes: the pieces the guards call, without HTTP.
async fn components(client: &Client, token: &str, n: usize, rounds: usize) {
    use security_runtime::UserQuery;
    let st = state(client);
    let ds = &st.datastore;
    let admin = ds
        .find_user(&UserQuery::Email("admin@example.com".into()), false)
        .await
        .expect("find")
        .expect("admin");
    let uniq = admin.fs_uniquifier.clone();
    let names = [
        "`datastore.ping()` (`SELECT 1`: one query)",
        "`find_user(FsUniquifier)`, hit (user and roles: one joined query)",
        "`find_user(FsTokenUniquifier)`, miss (one query, no row)",
        "`auth_tokens.loads_at` (signature + payload, no DB)",
        "`auth::check_auth_token`, user without fs_token_uniquifier",
    ];
    let mut micros: Vec<Vec<f64>> = vec![Vec::new(); names.len()];
    let now = st.now() as u64;
    let max_age = Some(st.config.token_max_age);
    for _ in 0..rounds {
        for (i, m) in micros.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..n {
                match i {
                    0 => ds.ping().await.expect("ping"),
                    1 => assert!(ds
                        .find_user(&UserQuery::FsUniquifier(uniq.clone()), false)
                        .await
                        .expect("find")
                        .is_some()),
                    2 => assert!(ds
                        .find_user(&UserQuery::FsTokenUniquifier(uniq.clone()), false)
                        .await
                        .expect("find")
                        .is_none()),
                    3 => assert!(st.auth_tokens.loads_at(token, max_age, now).is_ok()),
                    _ => assert!(matches!(
                        security_runtime::auth::check_auth_token(st, token).await,
                        Ok(security_runtime::auth::TokenCheck::Valid(..))
                    )),
                }
            }
            m.push(start.elapsed().as_secs_f64() * 1e6 / n as f64);
        }
    }
    println!("\n| component (no HTTP) | µs/call (median) |");
    println!("|---|---:|");
    for (name, m) in names.iter().zip(&micros) {
        println!("| {name} | {:.1} |", median(m));
    }
}

// ---- logins vs raw argon2 ----

/// Logins per second with `tasks` concurrent clients, `n` logins in all.
async fn logins(client: &Arc<Client>, email: &str, password: &str, n: usize, tasks: usize) -> f64 {
    let (cookies, csrf) = anonymous_session(client).await;
    let body = login_body(email, password, &csrf);
    let start = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let count = n / tasks + usize::from(t < n % tasks);
        let client = client.clone();
        let cookies = cookies.clone();
        let body = body.clone();
        handles.push(tokio::spawn(async move {
            for _ in 0..count {
                // The anonymous session each time: a logged-in session would get 400.
                let r = client
                    .post("/login")
                    .header(ContentType::JSON)
                    .cookies(cookies.clone())
                    .body(body.clone())
                    .dispatch()
                    .await;
                assert_eq!(r.status(), Status::Ok);
                let _ = r.into_bytes().await;
            }
        }));
    }
    for h in handles {
        h.await.expect("login task");
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Raw verifies (or hashes) per second on `threads` OS threads, `n` in all.
fn raw(
    ctx: &PasswordContext,
    password: &str,
    stored: &str,
    n: usize,
    threads: usize,
    hash: bool,
) -> f64 {
    let pw = ctx.normalize(password);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let count = n / threads + usize::from(t < n % threads);
            let pw = &pw;
            s.spawn(move || {
                for _ in 0..count {
                    if hash {
                        assert!(ctx.hash_password(pw).is_ok());
                    } else {
                        assert!(ctx.verify_password(pw, stored));
                    }
                }
            });
        }
    });
    n as f64 / start.elapsed().as_secs_f64()
}

async fn login_bench() {
    println!("\n## Logins/s (POST /login, JSON + CSRF) vs raw argon2 at the same parameters\n");
    println!(
        "One login = one `verify_and_update` (one argon2 computation, no rehash, no write).\n"
    );
    println!(
        "| argon2 m,t,p | clients/threads | logins/s | raw verify/s | login ÷ raw | raw hash/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    // (m, t, p, operations per round, rounds)
    for (m, t, p, n, rounds) in [(1024, 1, 1, 300, 5), (65_536, 3, 4, 12, 3)] {
        let client = Arc::new(client(m, t, p).await);
        let password = "correct horse battery";
        let email = "user@example.com";
        let stored = create_user(state(&client), email, password, &[]).await;
        let ctx = state(&client).passwords.clone();
        assert!(!ctx.needs_update(&stored));
        // Warm-up: allocator, connections, blocking pool.
        logins(&client, email, password, 4, 2).await;
        raw(&ctx, password, &stored, 2, 2, false);
        for conc in [1usize, 2] {
            let (mut l, mut r, mut h) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                l.push(logins(&client, email, password, n, conc).await);
                r.push(raw(&ctx, password, &stored, n, conc, false));
                h.push(raw(&ctx, password, &stored, n, conc, true));
            }
            let ratios: Vec<f64> = l.iter().zip(&r).map(|(a, b)| a / b).collect();
            println!(
                "| m={m},t={t},p={p} | {conc} | {:.1} | {:.1} | {:.3} | {:.1} |",
                median(&l),
                median(&r),
                median(&ratios),
                median(&h)
            );
        }
    }
}

// ---- compile time ----

const HANDLERS: usize = 100;

fn generated_main(protected: bool) -> String {
    let mut s = String::from("//! Generated by tests/benches/auth_overhead.rs.\n");
    if protected {
        s.push_str("use security_runtime::{auth_required, roles_accepted};\n");
    }
    s.push_str("use rocket::{get, routes, Build, Rocket};\n\n");
    for i in 0..HANDLERS {
        if protected {
            s.push_str(
                "#[auth_required(token, session)]\n#[roles_accepted(\"admin\", \"editor\")]\n",
            );
        }
        s.push_str(&format!(
            "#[get(\"/h{i}\")]\nfn h{i}() -> &'static str {{\n    \"h{i}\"\n}}\n\n"
        ));
    }
    let names: Vec<String> = (0..HANDLERS).map(|i| format!("h{i}")).collect();
    s.push_str(&format!(
        "#[rocket::launch]\nfn rocket() -> _ {{\n    rocket::build()\n        \
         .attach(security_runtime::Security::new())\n        .mount(\"/\", routes![{}])\n}}\n",
        names.join(", ")
    ));
    s
}

fn write_if_changed(path: &Path, content: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(content) {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("mkdir");
        }
        std::fs::write(path, content).expect("write");
    }
}

fn touch(path: &Path) {
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open for touch");
    f.set_modified(SystemTime::now()).expect("touch");
}

/// Writes the two throwaway crates; returns the workspace directory.
fn generate_crates() -> PathBuf {
    let root = PathBuf::from("/tmp/fst-compile-bench");
    let runtime = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../security-runtime")
        .canonicalize()
        .expect("security-runtime path");
    let lock = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.lock");
    write_if_changed(
        &root.join("Cargo.toml"),
        "[workspace]\nresolver = \"2\"\nmembers = [\"plain\", \"guarded\"]\n",
    );
    // The workspace's lock (copied each run: cargo prunes it), so the same dependency
    // versions resolve offline.
    std::fs::copy(&lock, root.join("Cargo.lock")).expect("copy Cargo.lock");
    for (name, protected) in [("plain", false), ("guarded", true)] {
        let manifest = format!(
            "[package]\nname = \"fst-bench-{name}\"\nversion = \"0.0.0\"\nedition = \"2021\"\n\
             publish = false\n\n[dependencies]\nsecurity-runtime = {{ path = {:?} }}\n\
             rocket = {{ version = \"0.5.1\", default-features = false, features = [\"json\", \"secrets\"] }}\n",
            runtime.display().to_string()
        );
        write_if_changed(&root.join(name).join("Cargo.toml"), &manifest);
        write_if_changed(
            &root.join(name).join("src/main.rs"),
            &generated_main(protected),
        );
    }
    root
}

fn cargo_build(root: &Path, name: &str, incremental: bool) -> Duration {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let start = Instant::now();
    let status = Command::new(cargo)
        .args(["build", "--offline", "--quiet", "-p"])
        .arg(format!("fst-bench-{name}"))
        .current_dir(root)
        .env("CARGO_TARGET_DIR", "/tmp/bench-target")
        .env("CARGO_INCREMENTAL", if incremental { "1" } else { "0" })
        .status()
        .expect("run cargo");
    assert!(status.success(), "cargo build of {name} failed");
    start.elapsed()
}

fn compile_bench() {
    let rounds = env_usize("BENCH_COMPILE_ROUNDS", 3);
    let root = generate_crates();
    println!(
        "\n## Compile time: {HANDLERS} handlers, dev profile, deps prebuilt in /tmp/bench-target\n"
    );
    println!("| rebuild after `touch src/main.rs` | unprotected s | protected s | protected ÷ unprotected | extra ms/handler |");
    println!("|---|---:|---:|---:|---:|");
    for incremental in [true, false] {
        // Warm: dependencies (and security-runtime, whose incremental setting follows
        // CARGO_INCREMENTAL as a path dependency) built once.
        for name in ["plain", "guarded"] {
            cargo_build(&root, name, incremental);
        }
        let (mut plain, mut guarded) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            for (name, times) in [("plain", &mut plain), ("guarded", &mut guarded)] {
                touch(&root.join(name).join("src/main.rs"));
                times.push(cargo_build(&root, name, incremental).as_secs_f64());
            }
        }
        let (p, g) = (median(&plain), median(&guarded));
        println!(
            "| {} | {p:.2} | {g:.2} | {:.2} | {:.1} |",
            if incremental {
                "incremental (cargo default)"
            } else {
                "CARGO_INCREMENTAL=0 (whole crate)"
            },
            g / p,
            (g - p) * 1000.0 / HANDLERS as f64
        );
    }
}

// ---- a real server on loopback, for scripts/load.sh ----

/// Serves the bench app on `127.0.0.1:$BENCH_PORT` (default 8765) with the users of the
/// throughput section; `scripts/load.sh` logs in with curl and drives it with wrk.
///
/// `BENCH_BACKEND` (`sqlite`, `postgres`: `SECURITY_TEST_POSTGRES_URL`, `mysql`:
/// `SECURITY_TEST_MYSQL_URL`),
/// `BENCH_AUTH_CACHE` (`1`/`0`), `BENCH_USERS` (other users in the table, default 100),
/// `BENCH_ROLES` (roles of the admin user, default 1), `BENCH_TOKEN_PAYLOAD`
/// (`compressed`/`plain`: the kind of auth token the admin's sign-ins get).
async fn serve() {
    let port = env_usize("BENCH_PORT", 8765);
    let backend = match std::env::var("BENCH_BACKEND").as_deref() {
        Ok("postgres") => Backend::Postgres,
        Ok("mysql") => Backend::MySql,
        _ => Backend::Sqlite,
    };
    let cache = std::env::var("BENCH_AUTH_CACHE").map_or(true, |v| v != "0");
    let url = fresh_database(backend).await;
    let rocket = bench_app_on(backend, &url, 1024, 1, 1, |f| {
        f.merge(("address", "127.0.0.1"))
            .merge(("port", port))
            .merge(("security.auth_cache", cache))
            // Plain-HTTP loopback: curl would not send a `Secure` cookie back.
            .merge(("security.session_cookie_secure", false))
    })
    .mount("/bench", routes![bench_stats])
    .ignite()
    .await
    .expect("ignite");
    bulk_users(backend, &url, env_usize("BENCH_USERS", 100)).await;
    let roles: Vec<String> = (1..env_usize("BENCH_ROLES", 1))
        .map(|i| format!("role-{i:02}"))
        .collect();
    let mut roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    roles.insert(0, "admin");
    let st = rocket.state::<SecurityState>().expect("security state");
    create_user(st, "admin@example.com", "correct horse battery", &roles).await;
    match std::env::var("BENCH_TOKEN_PAYLOAD").as_deref() {
        Ok("compressed") => token_payload_kind(st, true).await,
        Ok("plain") => token_payload_kind(st, false).await,
        _ => {}
    }
    println!("serving on http://127.0.0.1:{port}/ (admin@example.com / correct horse battery)");
    rocket.launch().await.expect("launch");
}

/// Gives the admin a token uniquifier whose auth tokens itsdangerous compresses, or
/// one whose tokens it does not: that depends on the uniquifier (about one in nine
/// compress), so a sign-in's token is of either kind by chance.
async fn token_payload_kind(st: &SecurityState, compressed: bool) {
    let q = security_runtime::UserQuery::Email("admin@example.com".into());
    let ds = &st.datastore;
    let mut admin = ds.find_user(&q, false).await.expect("find").expect("admin");
    for _ in 0..1000 {
        ds.set_token_uniquifier(&mut admin, None)
            .await
            .expect("rotate");
        let sample = security_runtime::get_auth_token(st, &admin, st.now());
        if sample.starts_with('.') == compressed {
            return;
        }
    }
    panic!("no token uniquifier in 1,000 gives that kind of token");
}

/// The auth cache's counters and the session cookies decrypted, for `scripts/load.sh`.
#[get("/stats")]
fn bench_stats(st: &rocket::State<SecurityState>) -> String {
    let cache = match st.datastore.auth_cache_stats() {
        Some(s) => format!(
            "{} {} {} {} {}",
            s.hits, s.misses, s.invalidations, s.checks, s.quick_checks
        ),
        None => "0 0 0 0 0".into(),
    };
    let decrypted = st.sessions.cookie_decryptions();
    format!(
        "{cache} {}",
        decrypted.map_or("-".into(), |n| n.to_string())
    )
}

#[get("/bench/open")]
fn bare_open() -> &'static str {
    "open"
}

/// Rocket alone, the same handler and nothing else: the limit of the machine.
async fn serve_bare() {
    let port = env_usize("BENCH_PORT", 8765);
    let figment = rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("secret_key", random_secret_key()))
        .merge(("address", "127.0.0.1"))
        .merge(("port", port));
    let rocket = rocket::custom(figment).mount("/", routes![bare_open]);
    rocket.launch().await.expect("launch");
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants = |s: &str| args.iter().any(|a| a == s || a == "all");
    let sections: Vec<&str> = [
        "throughput",
        "login",
        "compile",
        "roles",
        "cache",
        "memory",
        "window",
    ]
    .into_iter()
    .filter(|s| wants(s))
    .collect();
    let serving = args.iter().any(|a| a == "serve" || a == "serve-bare");
    let sections = if sections.is_empty() && !serving {
        vec!["throughput", "login"]
    } else {
        sections
    };
    println!(
        "# auth_overhead ({} profile, {} CPUs)",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    // Other processes skew absolute numbers (ratios less so): show how busy the box was.
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("load average at start: {}", loadavg().trim());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    if sections.contains(&"throughput") {
        runtime.block_on(throughput());
    }
    if sections.contains(&"login") {
        runtime.block_on(login_bench());
    }
    if sections.contains(&"roles") {
        runtime.block_on(roles());
    }
    if sections.contains(&"cache") {
        // SQLite; every backend set with `BENCH_CACHE_BACKENDS=all`.
        let all = std::env::var("BENCH_CACHE_BACKENDS").is_ok_and(|v| v == "all");
        for backend in backends() {
            if all || backend == Backend::Sqlite {
                runtime.block_on(cache(backend));
            }
        }
    }
    if sections.contains(&"memory") {
        runtime.block_on(memory());
    }
    if sections.contains(&"window") {
        for backend in backends().into_iter().filter(|b| *b != Backend::Sqlite) {
            runtime.block_on(window(backend));
        }
    }
    if sections.contains(&"compile") {
        compile_bench();
    }
    println!("\nload average at end: {}", loadavg().trim());
    if args.iter().any(|a| a == "serve") {
        runtime.block_on(serve());
    }
    if args.iter().any(|a| a == "serve-bare") {
        runtime.block_on(serve_bare());
    }
}
