//! What a second factor adds to a sign-in, as a ratio measured in one run.
//!
//! ```sh
//! cargo bench -p security-tests --bench two_factor
//! ```
//!
//! Three cases, run interleaved in each round (so load from other processes hits all of
//! them alike), medians over rounds reported:
//! - `password`: a JSON sign-in of a user without a second factor (`GET /login` for the
//!   CSRF token, `POST /login`), two-factor on;
//! - `two-factor`: the same plus `POST /tf-validate` with the authenticator code (the
//!   app's clock moves one 30 s step per sign-in, as a code works once);
//! - `code check`: what `/tf-validate` adds in crypto, without HTTP: decrypting the stored
//!   secret (PBKDF2-SHA256, 2^14 rounds, as passlib) and checking the code.
//!
//! The result is `two-factor ÷ (password + code check)`: 1.0 means a second-factor
//! sign-in costs one password sign-in plus one code check and nothing else.
//! Argon2 at the crate's defaults. Knobs: `BENCH_SIGNINS` (per case and round, default
//! 20), `BENCH_ROUNDS` (default 5).
#![allow(missing_docs)]

use std::collections::BTreeMap;
use std::time::Instant;

use rocket::http::{ContentType, Cookie, Status};
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};
use security_runtime::{NewUser, Security, SecurityState};
use security_tests::{app, env_usize, fresh_database, test_figment, Backend, Clock};

const PW: &str = "a strong pass phrase";

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

async fn bench_client(clock: &Clock) -> Client {
    let url = fresh_database(Backend::Sqlite).await;
    let secret_key: String = (0..32).map(|i| format!("{:02x}", i * 7 + 3)).collect();
    let d = security_runtime::SecurityConfig::default();
    let figment = test_figment(&url)
        .merge(("secret_key", secret_key))
        .merge(("security.argon2_memory_cost", d.argon2_memory_cost))
        .merge(("security.argon2_time_cost", d.argon2_time_cost))
        .merge(("security.argon2_parallelism", d.argon2_parallelism))
        .merge(("security.two_factor", true))
        // Release builds want a mail server when a flow mails; nothing is mailed here.
        .merge(("security.mail_server", "127.0.0.1"))
        .merge(("security.totp_issuer", "Bench"))
        .merge((
            "security.totp_secrets",
            BTreeMap::from([("1", "bench-totp-secret")]),
        ));
    let rocket = app(Backend::Sqlite, figment, clock.install(Security::new()));
    Client::untracked(rocket).await.expect("launch")
}

fn state(client: &Client) -> &SecurityState {
    client.rocket().state::<SecurityState>().expect("state")
}

async fn create(st: &SecurityState, email: &str, secret: Option<&str>) {
    let hash = st.hash_password(PW).await.expect("hash");
    let new = NewUser {
        email: email.into(),
        password: Some(hash),
        ..NewUser::default()
    };
    let mut user = st.datastore.create_user(new).await.expect("user");
    if let Some(s) = secret {
        st.datastore
            .tf_set(&mut user, "authenticator", Some(s), None)
            .await
            .expect("tf");
    }
}

fn cookies(jar: &rocket::http::CookieJar<'_>) -> Vec<Cookie<'static>> {
    jar.iter().map(|c| c.clone().into_owned()).collect()
}

/// One JSON POST with `cookies`; the answer's cookies and `response`.
async fn post(
    client: &Client,
    uri: &str,
    jar: Vec<Cookie<'static>>,
    body: Value,
) -> (Vec<Cookie<'static>>, Value) {
    let r = client
        .post(uri.to_owned())
        .header(ContentType::JSON)
        .cookies(jar)
        .body(body.to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok, "{uri}");
    let c = cookies(r.cookies());
    let v: Value = r.into_json().await.expect("json");
    (c, v["response"].clone())
}

/// The password step; the session cookies and the next CSRF token.
async fn password_step(client: &Client, email: &str) -> (Vec<Cookie<'static>>, Value) {
    let r = client
        .get("/login")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    let jar = cookies(r.cookies());
    let v: Value = r.into_json().await.expect("json");
    let csrf = v["response"]["csrf_token"].clone();
    post(
        client,
        "/login",
        jar,
        json!({"email": email, "password": PW, "csrf_token": csrf}),
    )
    .await
}

async fn password_sign_in(client: &Client) {
    let (_, v) = password_step(client, "plain@example.com").await;
    assert_eq!(v["tf_required"], false);
}

async fn two_factor_sign_in(client: &Client, clock: &Clock, key: &security_runtime::totp::TotpKey) {
    clock.advance(30);
    let (jar, v) = password_step(client, "mfa@example.com").await;
    assert_eq!(v["tf_state"], "ready");
    let code = key.current_code(clock.now() as f64);
    post(
        client,
        "/tf-validate",
        jar,
        json!({"code": code, "csrf_token": v["csrf_token"]}),
    )
    .await;
}

fn code_check(st: &SecurityState, stored: &str, clock: &Clock) {
    let key = st
        .totp
        .as_ref()
        .expect("totp")
        .decrypt(stored)
        .expect("secret");
    let code = key.current_code(clock.now() as f64);
    assert!(key.verify(&code, clock.now() as f64, 120, None).is_some());
}

/// Seconds per iteration of `f`, `n` times.
macro_rules! per_op {
    ($n:expr, $body:expr) => {{
        let start = Instant::now();
        for _ in 0..$n {
            $body;
        }
        start.elapsed().as_secs_f64() / $n as f64
    }};
}

async fn run() {
    let (n, rounds) = (env_usize("BENCH_SIGNINS", 20), env_usize("BENCH_ROUNDS", 5));
    let clock = Clock::new();
    let client = bench_client(&clock).await;
    let st = state(&client);
    let stored = st.totp.as_ref().expect("totp").generate_secret();
    let key = st
        .totp
        .as_ref()
        .expect("totp")
        .decrypt(&stored)
        .expect("key");
    create(st, "plain@example.com", None).await;
    create(st, "mfa@example.com", Some(&stored)).await;
    let (mut pw, mut tf, mut check) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        pw.push(per_op!(n, password_sign_in(&client).await));
        tf.push(per_op!(n, two_factor_sign_in(&client, &clock, &key).await));
        check.push(per_op!(n, code_check(st, &stored, &clock)));
    }
    let (pw, tf, check) = (median(&mut pw), median(&mut tf), median(&mut check));
    println!("| case | ms per sign-in (median of {rounds} rounds × {n}) |\n|---|---:|");
    println!("| password sign-in | {:.2} |", pw * 1e3);
    println!("| two-factor sign-in | {:.2} |", tf * 1e3);
    println!("| code check alone | {:.2} |", check * 1e3);
    println!(
        "\ntwo-factor ÷ (password + code check) = {:.3}",
        tf / (pw + check)
    );
}

fn main() {
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# two_factor bench, load average at start: {}",
        loadavg().trim()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
    println!("load average at end: {}", loadavg().trim());
}
