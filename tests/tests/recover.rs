//! `/reset`: forgot-password mail over real SMTP, the reset link and its expiry.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Status};
use rocket::serde::json::json;
use security_runtime::mail::CapturingMailer;
use security_runtime::Security;
use security_tests::flows::{features, post, with_smtp};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, field_errors, find_link, path_of, TestApp};

#[rocket::async_test]
async fn forgot_and_reset_password_through_real_smtp() {
    for b in backends() {
        let sink = SmtpSink::start().await;
        let app = with_smtp(b, &sink, |f| f).await;
        app.user("reset@example.com", "old password 1", &[]).await;
        let old_token = app.token_login("reset@example.com", "old password 1").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let (s, v) = post(&app, "/reset", json!({"email": "reset@example.com"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        assert_eq!(
            v["response"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            vec!["csrf_token"]
        );
        let mail = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(
            mail[0].header("Subject").as_deref(),
            Some("Password reset instructions")
        );
        let link = find_link(&mail[0].body_text());
        let path = path_of(&link);
        assert!(path.starts_with("/reset/"));
        assert_eq!(app.get_json(&path).await.status(), Status::Ok);
        let (s, v) = post(
            &app,
            &path,
            json!({"password": "new password 2", "password_confirm": "nope nope 2"}),
        )
        .await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "password_confirm"),
            vec!["Passwords do not match"]
        );
        let (s, v) = post(
            &app,
            &path,
            json!({"password": "new password 2", "password_confirm": "new password 2"}),
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            v,
            json!({"meta": {"code": 200}, "response": {}}),
            "no csrf_token, as Flask-Security"
        );
        // Old credentials are dead, the new password works, the link is single-use.
        assert_eq!(
            app.get_with_token("/token", &old_token).await.status(),
            Status::Unauthorized
        );
        assert_eq!(
            app.login("reset@example.com", "old password 1").await.0,
            Status::BadRequest
        );
        assert_eq!(
            app.login("reset@example.com", "new password 2").await.0,
            Status::Ok
        );
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let (s, v) = post(
            &app,
            &path,
            json!({"password": "third password 3", "password_confirm": "third password 3"}),
        )
        .await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            v["response"]["errors"],
            json!(["Invalid reset password token."])
        );
        let notice = sink.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(
            notice[1].header("Subject").as_deref(),
            Some("Your password has been reset")
        );
        // Unknown and inactive addresses; neither gets mail.
        let (s, v) = post(&app, "/reset", json!({"email": "nobody@example.com"})).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "email"),
            vec!["Specified user does not exist"]
        );
        let mut off = app.user("off@example.com", "battery staple 9", &[]).await;
        app.datastore().deactivate_user(&mut off).await.unwrap();
        let (s, v) = post(&app, "/reset", json!({"email": "off@example.com"})).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(field_errors(&v, "email"), vec!["Account is disabled."]);
        assert_eq!(sink.received().len(), 2, "{b:?}");
    }
}

#[rocket::async_test]
async fn reset_link_expires() {
    let b = backends()[0];
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let c = now.clone();
    let mailer = CapturingMailer::new();
    let app = TestApp::with(
        b,
        features,
        Security::new()
            .mail_util(Arc::new(mailer.clone()))
            .clock(move || c.load(Ordering::SeqCst) as f64),
    )
    .await;
    app.user("x@example.com", "old password 1", &[]).await;
    post(&app, "/reset", json!({"email": "x@example.com"})).await;
    let path = path_of(&find_link(mailer.messages()[0].text.as_deref().unwrap()));
    now.fetch_add(24 * 3600, Ordering::SeqCst);
    assert_eq!(
        app.get_json(&path).await.status(),
        Status::Ok,
        "valid at the limit"
    );
    now.fetch_add(1, Ordering::SeqCst);
    let (s, v) = post(
        &app,
        &path,
        json!({"password": "new password 2", "password_confirm": "new password 2"}),
    )
    .await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        v["response"]["errors"],
        json!(["You did not reset your password within 1 day. "])
    );
}
