//! Generic responses on timing (security plan T3): does a request take as long for a
//! registered identity as for an unknown one?
//!
//! ```sh
//! cargo bench -p security-tests --bench generic_timing
//! ```
//!
//! With `return_generic_responses` on, each flow that an anonymous client (or a signed-in
//! one, for `/change-email`; `/us-signin/send-code` with unified sign-in) can probe for registered addresses is timed for a known and an
//! unknown identity: `BENCH_PAIRS` (200) interleaved pairs after `BENCH_WARMUP` (20) warm-up
//! pairs, the order inside a pair alternating, medians compared. Mail goes over SMTP to a
//! listener on loopback. Two configurations run in the same process: mail queued (the
//! default with generic responses) and `mail_queue = false` (mail sent inside the request)
//! as the baseline. Argon2 at the crate's defaults; the mail cap is lifted, so every known
//! request issues and mails its link.
#![allow(missing_docs)]

use std::time::Instant;

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::NewUser;
use security_tests::flows::with_smtp;
use security_tests::smtp::SmtpSink;
use security_tests::{env_usize, Backend, TestApp};

const PW: &str = "a strong pass phrase";

/// One probe: its URL and the bodies for a known and an unknown identity (`i` numbers
/// the request, for identities that must be new each time).
struct Case {
    uri: &'static str,
    known: fn(usize) -> Value,
    unknown: fn(usize) -> Value,
}

const ANONYMOUS: [Case; 5] = [
    Case {
        uri: "/reset",
        known: |_| json!({"email": "known@example.com"}),
        unknown: |_| json!({"email": "nobody@example.com"}),
    },
    Case {
        uri: "/confirm",
        known: |_| json!({"email": "unconfirmed@example.com"}),
        unknown: |_| json!({"email": "nobody@example.com"}),
    },
    Case {
        uri: "/recover-username",
        known: |_| json!({"email": "known@example.com"}),
        unknown: |_| json!({"email": "nobody@example.com"}),
    },
    Case {
        uri: "/register",
        known: |_| json!({"email": "known@example.com", "password": "another pass phrase 7", "password_confirm": "another pass phrase 7"}),
        unknown: |i| json!({"email": format!("new{i}@example.com"), "password": "another pass phrase 7", "password_confirm": "another pass phrase 7"}),
    },
    Case {
        uri: "/us-signin/send-code",
        known: |_| json!({"identity": "known@example.com", "chosen_method": "email"}),
        unknown: |_| json!({"identity": "nobody@example.com", "chosen_method": "email"}),
    },
];

const SIGNED_IN: Case = Case {
    uri: "/change-email",
    known: |_| json!({"email": "known@example.com"}),
    unknown: |_| json!({"email": "free@example.com"}),
};

fn settings(f: Figment, queued: bool) -> Figment {
    let d = security_runtime::SecurityConfig::default();
    f.merge(("security.return_generic_responses", true))
        .merge(("security.confirmable", true))
        .merge(("security.mail_queue", queued))
        .merge(("security.mail_max_per_hour", u32::MAX))
        .merge(("security.unified_signin", true))
        .merge(("security.totp_issuer", "Bench"))
        .merge((
            "security.totp_secrets",
            std::collections::BTreeMap::from([("1", "bench-totp-secret")]),
        ))
        .merge(("security.argon2_memory_cost", d.argon2_memory_cost))
        .merge(("security.argon2_time_cost", d.argon2_time_cost))
        .merge(("security.argon2_parallelism", d.argon2_parallelism))
}

/// An app mailing through `sink`, with its users: `known@` (confirmed, with the unified
/// sign-in email method) and `unconfirmed@`.
async fn bench_app(sink: &SmtpSink, queued: bool) -> TestApp {
    let app = with_smtp(Backend::Sqlite, sink, |f| settings(f, queued)).await;
    let st = app.state();
    let hash = st.hash_password(PW).await.expect("hash");
    let mut known = st
        .datastore
        .create_user(NewUser {
            email: "known@example.com".into(),
            password: Some(hash),
            confirmed_at: Some(security_runtime::chrono::Utc::now().naive_utc()),
            ..NewUser::default()
        })
        .await
        .expect("user");
    let secret = st.totp.as_ref().expect("totp").generate_secret();
    st.datastore
        .us_set(&mut known, "email", Some(&secret), None)
        .await
        .expect("email method");
    app.user("unconfirmed@example.com", PW, &[]).await;
    app
}

/// Seconds for one JSON POST of `body` with `csrf`; the status must be 200.
async fn timed(app: &TestApp, uri: &str, mut body: Value, csrf: &str) -> f64 {
    body["csrf_token"] = json!(csrf);
    let start = Instant::now();
    let r = app
        .client
        .post(uri)
        .header(ContentType::JSON)
        .body(body.to_string())
        .dispatch()
        .await;
    let status = r.status();
    let answer = r.into_string().await.unwrap_or_default();
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(status, Status::Ok, "{uri} {body}: {answer}");
    secs
}

/// The pause after each timed request (`BENCH_SETTLE_MS`, 50; 0 for none), so that work a
/// request queued after its answer (mail) is done before the next one is timed: without it
/// a known identity's mail is sent while the following request runs, and that request is
/// measured slower.
fn settle() -> std::time::Duration {
    let ms = std::env::var("BENCH_SETTLE_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    std::time::Duration::from_millis(ms)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Medians (known, unknown) in seconds over `pairs` interleaved pairs.
async fn probe(app: &TestApp, case: &Case, csrf: &str, warmup: usize, pairs: usize) -> (f64, f64) {
    let (mut known, mut unknown) = (Vec::new(), Vec::new());
    for i in 0..warmup + pairs {
        let k = (case.known)(i);
        let u = (case.unknown)(i);
        let (tk, tu) = if i % 2 == 0 {
            let tk = timed(app, case.uri, k, csrf).await;
            tokio::time::sleep(settle()).await;
            (tk, timed(app, case.uri, u, csrf).await)
        } else {
            let tu = timed(app, case.uri, u, csrf).await;
            tokio::time::sleep(settle()).await;
            (timed(app, case.uri, k, csrf).await, tu)
        };
        tokio::time::sleep(settle()).await;
        if i >= warmup {
            known.push(tk);
            unknown.push(tu);
        }
    }
    (median(&mut known), median(&mut unknown))
}

fn row(uri: &str, (known, unknown): (f64, f64)) {
    let delta = (known - unknown) / unknown * 100.0;
    println!(
        "| `{uri}` | {:.3} | {:.3} | {delta:+.1} % |",
        known * 1e3,
        unknown * 1e3
    );
}

async fn run(queued: bool, warmup: usize, pairs: usize) {
    let label = if queued {
        "mail queued (default with generic responses)"
    } else {
        "mail_queue = false (mail sent in the request)"
    };
    println!("\n### {label}\n");
    println!("| request | known ms (median) | unknown ms (median) | Δ |\n|---|---:|---:|---:|");
    // A listener and an app per request kind: the listener keeps at most 1,000 messages.
    let mut mails = 0;
    for case in ANONYMOUS.iter().chain([&SIGNED_IN]) {
        let sink = SmtpSink::start().await;
        let app = bench_app(&sink, queued).await;
        let csrf = if case.uri == SIGNED_IN.uri {
            app.login_csrf("known@example.com", PW).await
        } else {
            app.csrf().await
        };
        row(case.uri, probe(&app, case, &csrf, warmup, pairs).await);
        mails += sink.received().len();
    }
    println!("\nmails received by the SMTP listeners: {mails}");
}

fn main() {
    let loadavg = || std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "# generic_timing bench, load average at start: {}",
        loadavg().trim()
    );
    let (warmup, pairs) = (env_usize("BENCH_WARMUP", 20), env_usize("BENCH_PAIRS", 200));
    println!(
        "{pairs} interleaved pairs per request after {warmup} warm-up pairs, {} ms pause after each request",
        settle().as_millis()
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        run(true, warmup, pairs).await;
        // `BENCH_BASELINE=0` skips the baseline (mail sent inside the request).
        if std::env::var("BENCH_BASELINE").as_deref() != Ok("0") {
            run(false, warmup, pairs).await;
        }
    });
    println!("load average at end: {}", loadavg().trim());
}
