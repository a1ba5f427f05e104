//! Passwordless sign-in over HTTP: `/login` mails a link (real SMTP listener on
//! loopback), `/login/<token>` signs in once, an expired link mails a new one, and a user
//! with a second factor still has to give it (plan M6). 20 parallel uses of one link:
//! one sign-in (plan X2).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rocket::futures::future::join_all;
use rocket::http::Status;
use rocket::serde::json::json;
use security_tests::flows::smtp_app;
use security_tests::two_factor::{csrf_of, get, post, signed_in, PW};
use security_tests::{backends, field_errors, link_path, Clock, TestApp};

/// Asks `/login` for a link (JSON): (status, response).
async fn ask_link(app: &TestApp, email: &str) -> (Status, rocket::serde::json::Value) {
    let (_, v) = get(app, "/login").await;
    post(app, "/login", json!({"email": email}), &csrf_of(&v)).await
}

#[rocket::async_test]
async fn a_mailed_link_signs_in_once_and_an_unknown_address_is_refused() {
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f.merge(("security.passwordless", true))).await;
        app.user("link@example.com", PW, &[]).await;
        let (s, v) = ask_link(&app, "nobody@example.com").await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(
            field_errors(&json!({"response": v}), "email"),
            ["Specified user does not exist"]
        );
        let (s, v) = ask_link(&app, "link@example.com").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        let mail = sink
            .wait_for(1, Duration::from_secs(10))
            .await
            .pop()
            .unwrap();
        assert_eq!(
            mail.header("Subject").as_deref(),
            Some("Login instructions")
        );
        let path = link_path(&mail.body_text());
        assert!(path.starts_with("/login/"), "{path}");
        assert!(!signed_in(&app).await);
        let r = app.client.get(path.clone()).dispatch().await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        assert!(signed_in(&app).await, "{b:?}: the link did not sign in");
        app.logout().await;
        let r = app.client.get(path).dispatch().await;
        assert_eq!(r.headers().get_one("Location"), Some("/login"));
        assert!(!signed_in(&app).await, "{b:?}: a link worked twice");
    }
}

#[rocket::async_test]
async fn one_link_opened_20_times_at_once_signs_in_once() {
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f.merge(("security.passwordless", true))).await;
        app.user("race@example.com", PW, &[]).await;
        ask_link(&app, "race@example.com").await;
        let mail = sink
            .wait_for(1, Duration::from_secs(10))
            .await
            .pop()
            .unwrap();
        let path = link_path(&mail.body_text());
        let gets = (0..20).map(|_| app.client.get(path.clone()).dispatch());
        let signed = join_all(gets)
            .await
            .iter()
            .filter(|r| r.headers().get_one("Location") == Some("/"))
            .count();
        assert_eq!(signed, 1, "{b:?}");
    }
}

#[rocket::async_test]
async fn an_expired_link_mails_a_new_one_and_a_newer_link_voids_older_ones() {
    let clock = Clock::new();
    let b = backends()[0];
    let sink = security_tests::smtp::SmtpSink::start().await;
    let app = TestApp::with(
        b,
        |f| {
            security_tests::flows::features(f)
                .merge(("security.passwordless", true))
                .merge(("security.mail_server", "127.0.0.1"))
                .merge(("security.mail_port", sink.port()))
        },
        clock.install(security_runtime::Security::new()),
    )
    .await;
    app.user("old@example.com", PW, &[]).await;
    ask_link(&app, "old@example.com").await;
    let first = link_path(&sink.wait_for(1, Duration::from_secs(10)).await[0].body_text());
    clock.advance(86_401);
    let r = app.client.get(first.clone()).dispatch().await;
    assert_eq!(r.headers().get_one("Location"), Some("/login"));
    assert!(!signed_in(&app).await);
    let mails = sink.wait_for(2, Duration::from_secs(10)).await;
    let renewed = link_path(&mails[1].body_text());
    assert_ne!(renewed, first);
    clock.advance(5);
    ask_link(&app, "old@example.com").await;
    let newest = link_path(&sink.wait_for(3, Duration::from_secs(10)).await[2].body_text());
    let r = app.client.get(renewed).dispatch().await;
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/login"),
        "an older link worked after a newer one was sent"
    );
    assert!(!signed_in(&app).await);
    let r = app.client.get(newest).dispatch().await;
    assert_eq!(r.headers().get_one("Location"), Some("/"));
}

#[rocket::async_test]
async fn a_user_with_a_second_factor_must_give_it_after_the_link() {
    let t = security_tests::two_factor::tf_app(backends()[0], |f| {
        f.merge(("security.passwordless", true))
    })
    .await;
    // The two-factor helpers sign in with a password: set the method up directly.
    t.app.user("mfa@example.com", PW, &[]).await;
    let mut user = t.app.by_email("mfa@example.com", false).await.unwrap();
    let st = t.app.state();
    let secret = st.totp.as_ref().unwrap().generate_secret();
    st.datastore
        .tf_set(&mut user, "authenticator", Some(&secret), None)
        .await
        .unwrap();
    ask_link(&t.app, "mfa@example.com").await;
    let mail = t
        .sink
        .wait_for(1, Duration::from_secs(10))
        .await
        .pop()
        .unwrap();
    let r = t
        .app
        .client
        .get(link_path(&mail.body_text()))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(r.headers().get_one("Location"), Some("/tf-validate"));
    assert!(
        !signed_in(&t.app).await,
        "a link alone signed a two-factor user in"
    );
}
