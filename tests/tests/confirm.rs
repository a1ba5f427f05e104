//! `/confirm`: the mailed confirmation link over real SMTP, expiry and resending.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_tests::flows::{
    assert_flashed, assert_mail, assert_redirect, captured_clocked, last_link, last_template,
    mailed_link, post, post_field_error, smtp_app, wait_mail,
};
use security_tests::{assert_errors, backends, field_errors, find_link, path_of};

const PASSWORD: &str = "battery staple 9";

/// A `/register` body for `email` with the test password.
fn registration(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "password_confirm": PASSWORD})
}

#[rocket::async_test]
async fn register_confirm_login_through_real_smtp() {
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f.merge(("security.confirmable", true))).await;
        let (s, v) = post(&app, "/register", registration("conf@example.com")).await;
        assert_eq!(s, Status::Ok, "{v}");
        assert_eq!(v["response"]["user"], json!({}));
        let profile = app.status("/profile").await;
        assert_eq!(profile, Status::Unauthorized, "not logged in");
        let (s, v) = app.login("conf@example.com", PASSWORD).await;
        assert_eq!(s, Status::BadRequest);
        let unconfirmed = field_errors(&v, "email");
        assert_eq!(unconfirmed, vec!["Email requires confirmation."]);
        let mail = wait_mail(&sink, 1).await;
        assert_mail(&mail[0], "conf@example.com", "Welcome");
        let link = find_link(&mail[0].body_text());
        let confirm_link = link.starts_with("https://app.example.com/confirm/");
        assert!(confirm_link, "{link}");
        let r = app.get_json(&path_of(&link)).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let (s, _) = app.login("conf@example.com", PASSWORD).await;
        assert_eq!(s, Status::Ok);
        // Already used: a browser goes back to /confirm with the info flashed, no change.
        assert_redirect(&app, &path_of(&link), "/confirm").await;
        let done = "Your email has already been confirmed.";
        assert_flashed(&app, "/confirm", "info", done).await;
        let r = app.get_json("/confirm/not-a-token").await;
        assert_errors(r, Status::BadRequest, &["Invalid confirmation token."]).await;
    }
}

#[rocket::async_test]
async fn confirmation_expiry_and_resend() {
    let b = backends()[0];
    let confirmable = |f: rocket::figment::Figment| f.merge(("security.confirmable", true));
    let (app, mailer, clock) = captured_clocked(b, confirmable).await;
    post(&app, "/register", registration("e@example.com")).await;
    let link = mailed_link(&mailer, 0);
    clock.advance(2 * 24 * 3600 + 1);
    let r = app.get_json(&link).await;
    // 5.x wording: the address is not shown to the link holder, and no mail is claimed.
    let expired = "You did not confirm your email within 2 days. ";
    assert_errors(r, Status::BadRequest, &[expired]).await;
    // A browser goes back to /confirm with the same message flashed; nothing is mailed.
    assert_redirect(&app, &link, "/confirm").await;
    assert_flashed(&app, "/confirm", "error", expired).await;
    assert_eq!(mailer.messages().len(), 1);
    // Resend: a fresh link that works.
    let (s, v) = post(&app, "/confirm", json!({"email": "e@example.com"})).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert!(v["response"].get("user").is_none());
    assert_eq!(last_template(&mailer), "confirmation_instructions");
    assert_eq!(app.status(&last_link(&mailer)).await, Status::Ok);
    let again = json!({"email": "e@example.com"});
    let done = "Your email has already been confirmed.";
    post_field_error(&app, "/confirm", again, "email", done).await;
    let nobody = json!({"email": "nobody@example.com"});
    let unknown = "Specified user does not exist";
    post_field_error(&app, "/confirm", nobody, "email", unknown).await;
}
