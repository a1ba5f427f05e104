//! Failed-attempt limits (security plan L1, L2, X3): per account and factor in the
//! database, growing waits, a lock at 100 that a password reset or `users unlock` ends,
//! HTTP Basic and second-factor codes counted too, the generic mode that hides it, and
//! the per-address limit that trusts `X-Forwarded-For` only from a configured proxy.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_runtime::datastore::Factor;
use security_tests::flows::{captured_clocked, last_link};
use security_tests::two_factor::{authenticator_user, csrf_of, password_step, post, tf_app};
use security_tests::{backends, basic, csrf_header, path_of, Backend, TestApp};

const EMAIL: &str = "lock@example.com";
const PW: &str = "right password 1";
const TOO_MANY: &str = "Too many failed attempts. Please try again later.";

/// A JSON login from `from` (the peer address): status, `Retry-After`, response.
async fn login_from(
    app: &TestApp,
    csrf: &str,
    password: &str,
    from: Option<&str>,
    headers: &[Header<'static>],
) -> (Status, Option<u64>, Value) {
    let mut req = app
        .client
        .post("/login")
        .header(ContentType::JSON)
        .header(csrf_header(csrf));
    if let Some(a) = from {
        req = req.remote(a.parse::<SocketAddr>().unwrap());
    }
    for h in headers {
        req = req.header(h.clone());
    }
    let body = json!({"email": EMAIL, "password": password});
    let r = req.body(body.to_string()).dispatch().await;
    let s = r.status();
    let wait = r
        .headers()
        .get_one("Retry-After")
        .map(|v| v.parse().unwrap());
    let v: Value = r.into_json().await.unwrap_or(Value::Null);
    (s, wait, v["response"].clone())
}

async fn login(app: &TestApp, csrf: &str, password: &str) -> (Status, Option<u64>, Value) {
    login_from(app, csrf, password, None, &[]).await
}

async fn failures(app: &TestApp, factor: Factor) -> u32 {
    let user = app.by_email(EMAIL, false).await.unwrap();
    app.datastore()
        .failed_attempts(user.id, factor)
        .await
        .unwrap()
        .failures
}

fn assert_throttled(answer: &(Status, Option<u64>, Value), wait: u64, b: Backend) {
    assert_eq!(answer.0, Status::TooManyRequests, "{b:?}: {:?}", answer.2);
    assert_eq!(answer.1, Some(wait), "{b:?}");
    assert_eq!(
        answer.2["field_errors"]["password"],
        json!([TOO_MANY]),
        "{b:?}"
    );
}

#[rocket::async_test]
async fn waits_grow_then_the_hundredth_failure_locks_until_a_reset() {
    for b in backends() {
        let (app, mailer, clock) = captured_clocked(b, |f| f).await;
        app.user(EMAIL, PW, &[]).await;
        let csrf = app.csrf().await;
        // Ten free failures, then a wait of 30 s that doubles with each failure.
        for _ in 0..10 {
            assert_eq!(login(&app, &csrf, "wrong").await.0, Status::BadRequest);
        }
        assert_throttled(&login(&app, &csrf, PW).await, 30, b);
        clock.advance(29);
        assert_throttled(&login(&app, &csrf, PW).await, 1, b);
        clock.advance(1);
        assert_eq!(login(&app, &csrf, "wrong").await.0, Status::BadRequest);
        assert_throttled(&login(&app, &csrf, "wrong").await, 60, b);
        assert_eq!(failures(&app, Factor::Password).await, 11, "{b:?}");
        // On to 100 failures, waiting out each refusal (refusals are not counted).
        let mut refused = 0;
        while failures(&app, Factor::Password).await < 100 {
            // The waits outlast a CSRF token (an hour): a fresh one for each try.
            let csrf = app.csrf().await;
            let (s, wait, v) = login(&app, &csrf, "wrong").await;
            assert!(refused < 100, "{b:?}: {v}");
            match s {
                Status::BadRequest => {}
                Status::TooManyRequests => {
                    refused += 1;
                    assert!(wait.unwrap() <= 3600, "{b:?}: the cap");
                    clock.advance(wait.unwrap());
                }
                other => panic!("{b:?}: {other}"),
            }
        }
        assert_eq!(refused, 89, "{b:?}: one refusal per wait");
        // Locked: the right password is refused, however long one waits.
        clock.advance(3600);
        let csrf = app.csrf().await;
        assert_throttled(&login(&app, &csrf, PW).await, 3600, b);
        clock.advance(30 * 86_400);
        let csrf = app.csrf().await;
        assert_eq!(login(&app, &csrf, PW).await.0, Status::TooManyRequests);
        assert_eq!(failures(&app, Factor::Password).await, 100, "{b:?}");
        // A password reset is a new authenticator: the lock ends.
        let r = app.post_json("/reset", json!({"email": EMAIL})).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let body = json!({"password": "new password 2", "password_confirm": "new password 2"});
        let r = app.post_json(&path_of(&last_link(&mailer)), body).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        app.logout().await;
        let csrf = app.csrf().await;
        let (s, _, v) = login(&app, &csrf, "new password 2").await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
        assert_eq!(failures(&app, Factor::Password).await, 0, "{b:?}");
    }
}

#[rocket::async_test]
async fn a_success_forgets_the_failures() {
    let b = backends()[0];
    let (app, _mailer, _clock) = captured_clocked(b, |f| f).await;
    app.user(EMAIL, PW, &[]).await;
    let csrf = app.csrf().await;
    for _ in 0..9 {
        assert_eq!(login(&app, &csrf, "wrong").await.0, Status::BadRequest);
    }
    assert_eq!(login(&app, &csrf, PW).await.0, Status::Ok);
    assert_eq!(failures(&app, Factor::Password).await, 0);
    app.logout().await;
    let csrf = app.csrf().await;
    for _ in 0..10 {
        assert_eq!(login(&app, &csrf, "wrong").await.0, Status::BadRequest);
    }
    assert_eq!(login(&app, &csrf, PW).await.0, Status::TooManyRequests);
}

#[rocket::async_test]
async fn generic_mode_answers_a_refusal_as_a_failure() {
    let b = backends()[0];
    let (app, _mailer, _clock) =
        captured_clocked(b, |f| f.merge(("security.return_generic_responses", true))).await;
    app.user(EMAIL, PW, &[]).await;
    let csrf = app.csrf().await;
    let mut answers = Vec::new();
    for pw in ["wrong"; 10].into_iter().chain([PW]) {
        answers.push(login(&app, &csrf, pw).await);
    }
    let generic = json!(["Authentication failed - identity or password/passcode invalid"]);
    for (s, wait, v) in &answers {
        assert_eq!((*s, *wait), (Status::BadRequest, None));
        assert_eq!(v["errors"], generic, "{v}");
        assert!(v["field_errors"].get("password").is_none(), "{v}");
    }
    assert_eq!(failures(&app, Factor::Password).await, 10);
}

#[rocket::async_test]
async fn http_basic_counts_and_is_refused_while_waiting() {
    for b in backends() {
        let (app, _mailer, clock) = captured_clocked(b, |f| f).await;
        app.user(EMAIL, PW, &[]).await;
        let basic_status = |pw: &'static str| {
            let app = &app;
            async move {
                let req = app.client.get("/http").header(basic(EMAIL, pw));
                req.dispatch().await.status()
            }
        };
        for _ in 0..10 {
            assert_eq!(basic_status("wrong").await, Status::Unauthorized, "{b:?}");
        }
        assert_eq!(
            basic_status(PW).await,
            Status::Unauthorized,
            "{b:?}: waiting"
        );
        clock.advance(30);
        assert_eq!(basic_status(PW).await, Status::Ok, "{b:?}");
        assert_eq!(failures(&app, Factor::Password).await, 0, "{b:?}");
    }
}

/// Plan X3: parallel wrong passwords are each counted, and none gets past the limit.
#[rocket::async_test]
async fn parallel_failures_are_each_counted_and_the_limit_holds() {
    for b in backends() {
        let (app, _mailer, _clock) =
            captured_clocked(b, |f| f.merge(("security.lockout_free_failures", 100))).await;
        app.user(EMAIL, PW, &[]).await;
        let csrf = app.csrf().await;
        let tries = (0..200).map(|_| login(&app, &csrf, "wrong"));
        let answers = join_all(tries).await;
        let processed = answers.iter().filter(|a| a.0 == Status::BadRequest).count();
        let refused = answers
            .iter()
            .filter(|a| a.0 == Status::TooManyRequests)
            .count();
        assert_eq!(processed + refused, 200, "{b:?}: nothing else");
        assert!(processed <= 100, "{b:?}: {processed} checked");
        let counted = failures(&app, Factor::Password).await;
        assert_eq!(counted as usize, processed, "{b:?}");
        // Waits are off (free = 100): the rest of the allowance, then the lock.
        for _ in counted..100 {
            assert_eq!(login(&app, &csrf, "wrong").await.0, Status::BadRequest);
        }
        assert_eq!(
            login(&app, &csrf, PW).await.0,
            Status::TooManyRequests,
            "{b:?}"
        );
        assert_eq!(failures(&app, Factor::Password).await, 100, "{b:?}");
    }
}

/// Plan L2: rotating `X-Forwarded-For` does not escape the per-address limit unless
/// the peer is a trusted proxy; the per-account count holds either way.
#[rocket::async_test]
async fn the_address_limit_trusts_forwarded_for_only_from_a_trusted_proxy() {
    let b = backends()[0];
    let (app, _mailer, _clock) = captured_clocked(b, |f| {
        f.merge(("security.failed_attempts_per_address", 3))
            .merge(("security.trusted_proxies", vec!["10.0.0.1"]))
    })
    .await;
    app.user(EMAIL, PW, &[]).await;
    app.user("other@example.com", PW, &[]).await;
    let csrf = app.csrf().await;
    let xff = |i: u32| vec![Header::new("X-Forwarded-For", format!("198.51.100.{i}"))];
    // From an untrusted peer, the header is ignored: the fourth failure uses the quota.
    for i in 0..4 {
        let (s, ..) = login_from(&app, &csrf, "wrong", Some("192.0.2.7:4000"), &xff(i)).await;
        assert_eq!(s, Status::BadRequest);
    }
    let (s, wait, _) = login_from(&app, &csrf, PW, Some("192.0.2.7:4000"), &xff(9)).await;
    assert_eq!(s, Status::TooManyRequests);
    assert!(wait.is_some_and(|w| (1..=60).contains(&w)), "{wait:?}");
    // Another address signs in.
    let (s, ..) = login_from(&app, &csrf, PW, Some("192.0.2.8:4000"), &[]).await;
    assert_eq!(s, Status::Ok);
    app.logout().await;
    // Behind the trusted proxy, each forwarded client has its own quota.
    let csrf = app.csrf().await;
    for i in 20..24 {
        let (s, ..) = login_from(&app, &csrf, "wrong", Some("10.0.0.1:80"), &xff(i)).await;
        assert_eq!(s, Status::BadRequest, "client {i}");
    }
    // The sign-in from .8 cleared the account's count; the four since are on it.
    assert_eq!(failures(&app, Factor::Password).await, 4);
}

#[rocket::async_test]
async fn second_factor_codes_are_counted_and_a_new_sign_in_does_not_reset_them() {
    for b in backends() {
        let t = tf_app(b, |f| {
            f.merge(("security.lockout_free_failures", 3))
                .merge(("security.two_factor_max_code_failures", 2))
        })
        .await;
        let key = authenticator_user(&t, EMAIL).await;
        // Two wrong codes end the partial sign-in; a new password step does not give
        // the code factor a clean slate.
        for _ in 0..2 {
            let (s, v) = password_step(&t.app, EMAIL).await;
            assert_eq!(v["tf_required"], true, "{b:?}: {s} {v}");
            let csrf = csrf_of(&v);
            let (s, _) = post(&t.app, "/tf-validate", json!({"code": "000000"}), &csrf).await;
            assert_eq!(s, Status::BadRequest, "{b:?}");
        }
        let (_, v) = password_step(&t.app, EMAIL).await;
        let csrf = csrf_of(&v);
        let (s, _) = post(&t.app, "/tf-validate", json!({"code": "000001"}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?}: the third failure");
        let code = key.current_code(t.clock.now() as f64);
        let r = t
            .app
            .client
            .post("/tf-validate")
            .header(ContentType::JSON)
            .header(csrf_header(&csrf))
            .body(json!({"code": code}).to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::TooManyRequests, "{b:?}");
        assert_eq!(r.headers().get_one("Retry-After"), Some("30"), "{b:?}");
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["field_errors"]["code"], json!([TOO_MANY]));
        assert_eq!(failures(&t.app, Factor::Code).await, 3, "{b:?}");
        assert_eq!(failures(&t.app, Factor::Password).await, 0, "{b:?}");
        t.clock.advance(30);
        let code = key.current_code(t.clock.now() as f64);
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
        assert_eq!(failures(&t.app, Factor::Code).await, 0, "{b:?}");
    }
}
