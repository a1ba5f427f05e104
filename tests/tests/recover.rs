//! `/reset`: forgot-password mail over real SMTP, the reset link and its expiry.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_tests::flows::{
    captured_clocked, mailed_link, post, post_field_error, smtp_app, wait_mail,
};
use security_tests::{backends, link_path};

/// A `/reset/<token>` body: the new password and its confirmation.
fn new_password(password: &str, confirm: &str) -> Value {
    json!({"password": password, "password_confirm": confirm})
}

#[rocket::async_test]
async fn forgot_and_reset_password_through_real_smtp() {
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f).await;
        app.user("reset@example.com", "old password 1", &[]).await;
        let old_token = app.token_only("reset@example.com", "old password 1").await;
        let (s, v) = post(&app, "/reset", json!({"email": "reset@example.com"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        let keys: Vec<&String> = v["response"].as_object().unwrap().keys().collect();
        assert_eq!(keys, vec!["csrf_token"]);
        let mail = wait_mail(&sink, 1).await;
        let subject = mail[0].header("Subject");
        assert_eq!(subject.as_deref(), Some("Password reset instructions"));
        let path = link_path(&mail[0].body_text());
        assert!(path.starts_with("/reset/"));
        assert_eq!(app.status(&path).await, Status::Ok);
        let mismatch = new_password("new password 2", "nope nope 2");
        post_field_error(
            &app,
            &path,
            mismatch,
            "password_confirm",
            "Passwords do not match",
        )
        .await;
        let body = new_password("new password 2", "new password 2");
        let (s, v) = post(&app, &path, body).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let bare = json!({"meta": {"code": 200}, "response": {}});
        assert_eq!(v, bare, "no csrf_token, as Flask-Security");
        // Old credentials are dead, the new password works, the link is single-use.
        let old = app.token_status("/token", &old_token).await;
        assert_eq!(old, Status::Unauthorized);
        let (s, _) = app.login("reset@example.com", "old password 1").await;
        assert_eq!(s, Status::BadRequest);
        let (s, _) = app.login("reset@example.com", "new password 2").await;
        assert_eq!(s, Status::Ok);
        app.drop_session().await;
        let body = new_password("third password 3", "third password 3");
        let (s, v) = post(&app, &path, body).await;
        assert_eq!(s, Status::BadRequest);
        let used = json!(["Invalid reset password token."]);
        assert_eq!(v["response"]["errors"], used);
        let notice = wait_mail(&sink, 2).await;
        let subject = notice[1].header("Subject");
        assert_eq!(subject.as_deref(), Some("Your password has been reset"));
        // Unknown and inactive addresses; neither gets mail.
        let nobody = json!({"email": "nobody@example.com"});
        let unknown = "Specified user does not exist";
        post_field_error(&app, "/reset", nobody, "email", unknown).await;
        let mut off = app.user("off@example.com", "battery staple 9", &[]).await;
        app.datastore().deactivate_user(&mut off).await.unwrap();
        let off = json!({"email": "off@example.com"});
        post_field_error(&app, "/reset", off, "email", "Account is disabled.").await;
        assert_eq!(sink.received().len(), 2, "{b:?}");
    }
}

#[rocket::async_test]
async fn reset_link_expires() {
    let b = backends()[0];
    let (app, mailer, clock) = captured_clocked(b, |f| f).await;
    app.user("x@example.com", "old password 1", &[]).await;
    post(&app, "/reset", json!({"email": "x@example.com"})).await;
    let path = mailed_link(&mailer, 0);
    clock.advance(24 * 3600);
    assert_eq!(app.status(&path).await, Status::Ok, "valid at the limit");
    clock.advance(1);
    let body = new_password("new password 2", "new password 2");
    let (s, v) = post(&app, &path, body).await;
    assert_eq!(s, Status::BadRequest);
    let expired = json!(["You did not reset your password within 1 day. "]);
    assert_eq!(v["response"]["errors"], expired);
}
