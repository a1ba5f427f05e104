//! `/confirm`: the mailed confirmation link over real SMTP, expiry and resending.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_runtime::mail::CapturingMailer;
use security_runtime::Security;
use security_tests::flows::{features, flashed_on, post, with_smtp};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, field_errors, find_link, path_of, TestApp};

#[rocket::async_test]
async fn register_confirm_login_through_real_smtp() {
    for b in backends() {
        let sink = SmtpSink::start().await;
        let app = with_smtp(b, &sink, |f| f.merge(("security.confirmable", true))).await;
        let (s, v) = post(
            &app,
            "/register",
            json!({"email": "conf@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"}),
        )
        .await;
        assert_eq!(s, Status::Ok, "{v}");
        assert_eq!(v["response"]["user"], json!({}));
        assert_eq!(
            app.get_json("/profile").await.status(),
            Status::Unauthorized,
            "not logged in"
        );
        let (s, v) = app.login("conf@example.com", "battery staple 9").await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "email"),
            vec!["Email requires confirmation."]
        );
        let mail = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(mail[0].rcpt_to, vec!["conf@example.com"]);
        assert_eq!(mail[0].header("Subject").as_deref(), Some("Welcome"));
        let link = find_link(&mail[0].body_text());
        assert!(
            link.starts_with("https://app.example.com/confirm/"),
            "{link}"
        );
        let r = app.get_json(&path_of(&link)).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let (s, _) = app.login("conf@example.com", "battery staple 9").await;
        assert_eq!(s, Status::Ok);
        // Already used: a browser goes back to /confirm with the info flashed, no change.
        let r = app.client.get(path_of(&link)).dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/confirm"));
        assert_eq!(
            flashed_on(&app, "/confirm").await,
            Some((
                "info".into(),
                "Your email has already been confirmed.".into()
            ))
        );
        let r = app.get_json("/confirm/not-a-token").await;
        assert_eq!(r.status(), Status::BadRequest);
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["Invalid confirmation token."])
        );
    }
}

#[rocket::async_test]
async fn confirmation_expiry_and_resend() {
    let b = backends()[0];
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let c = now.clone();
    let mailer = CapturingMailer::new();
    let app = TestApp::with(
        b,
        |f| features(f).merge(("security.confirmable", true)),
        Security::new()
            .mail_util(Arc::new(mailer.clone()))
            .clock(move || c.load(Ordering::SeqCst) as f64),
    )
    .await;
    post(&app, "/register", json!({"email": "e@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"})).await;
    let link = find_link(mailer.messages()[0].text.as_deref().unwrap());
    now.fetch_add(2 * 24 * 3600 + 1, Ordering::SeqCst);
    let r = app.get_json(&path_of(&link)).await;
    assert_eq!(r.status(), Status::BadRequest);
    let v: Value = r.into_json().await.unwrap();
    // 5.x wording: the address is not shown to the link holder, and no mail is claimed.
    assert_eq!(
        v["response"]["errors"],
        json!(["You did not confirm your email within 2 days. "])
    );
    // A browser goes back to /confirm with the same message flashed; nothing is mailed.
    let r = app.client.get(path_of(&link)).dispatch().await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(r.headers().get_one("Location"), Some("/confirm"));
    assert_eq!(
        flashed_on(&app, "/confirm").await,
        Some((
            "error".into(),
            "You did not confirm your email within 2 days. ".into()
        ))
    );
    assert_eq!(mailer.messages().len(), 1);
    // Resend: a fresh link that works.
    let (s, v) = post(&app, "/confirm", json!({"email": "e@example.com"})).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert!(v["response"].get("user").is_none());
    let m = mailer.messages();
    assert_eq!(m.last().unwrap().template, "confirmation_instructions");
    let link = find_link(m.last().unwrap().text.as_deref().unwrap());
    assert_eq!(app.get_json(&path_of(&link)).await.status(), Status::Ok);
    let (s, v) = post(&app, "/confirm", json!({"email": "e@example.com"})).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        field_errors(&v, "email"),
        vec!["Your email has already been confirmed."]
    );
    let (s, v) = post(&app, "/confirm", json!({"email": "nobody@example.com"})).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        field_errors(&v, "email"),
        vec!["Specified user does not exist"]
    );
}
