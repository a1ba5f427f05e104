//! `/change-email`: the mailed link over real SMTP, freshness, JSON and form.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::json;
use security_tests::flows::{
    assert_flashed, assert_form_errors, assert_mail, assert_redirect, assert_redirected,
    browser_get, browser_login, browser_post, captured_clocked, csrf_required_form, form_csrf,
    page_messages, post, post_field_error, smtp_app, wait_mail,
};
use security_tests::{backends, link_path};

const SUBJECT: &str = "Confirm your new email address";

/// The `/change-email` form's refusals: (sent, shown again, message).
const FORM_ERRORS: [(&str, &str, &str); 4] = [
    ("taken%40example.com", "taken@example.com", TAKEN),
    (
        "before%40example.com",
        "before@example.com",
        "before@example.com is already associated with an account.",
    ),
    ("not+an+email", "not an email", "Invalid email address"),
    ("", "", "Email not provided"),
];
const TAKEN: &str = "taken@example.com is already associated with an account.";

#[rocket::async_test]
async fn change_email_through_real_smtp_and_freshness() {
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f).await;
        app.user("before@example.com", "password 123", &[]).await;
        app.user("taken@example.com", "password 123", &[]).await;
        app.login("before@example.com", "password 123").await;
        let v = app.get_value("/change-email").await;
        assert_eq!(v["response"]["current_email"], json!("before@example.com"));
        let taken = json!({"email": "taken@example.com"});
        post_field_error(&app, "/change-email", taken, "email", TAKEN).await;
        let (s, v) = post(&app, "/change-email", json!({"email": "after@example.com"})).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let mail = wait_mail(&sink, 1).await;
        assert_mail(&mail[0], "after@example.com", SUBJECT);
        let path = link_path(&mail[0].body_text());
        // The link works without a login.
        app.drop_session().await;
        assert_eq!(app.status(&path).await, Status::Ok, "{b:?}");
        let (s, _) = app.login("after@example.com", "password 123").await;
        assert_eq!(s, Status::Ok);
        assert_eq!(app.status(&path).await, Status::BadRequest, "used link");
    }
    // Freshness: 24 h after login, /change-email asks to re-authenticate.
    let (app, _, clock) = captured_clocked(backends()[0], |f| f).await;
    app.user("f@example.com", "password 123", &[]).await;
    app.login("f@example.com", "password 123").await;
    // Used every 12 hours, so the session does not end idle first.
    for _ in 0..2 {
        clock.advance(12 * 3600);
        assert_eq!(app.status("/profile").await, Status::Ok);
    }
    clock.advance(3600 + 1);
    let r = app.get_json("/change-email").await;
    assert_eq!(r.status(), Status::Unauthorized);
    let v: rocket::serde::json::Value = r.into_json().await.unwrap();
    assert_eq!(v["response"]["reauth_required"], json!(true));
}

/// `/change-email` and its mailed link driven as a browser would, mail through real SMTP.
#[rocket::async_test]
async fn form_mode_change_email_through_real_smtp() {
    const FORM: &str = "/change-email";
    for b in backends() {
        let (app, sink) = smtp_app(b, |f| f).await;
        let me = app.user("before@example.com", "password 123", &[]).await;
        app.user("taken@example.com", "password 123", &[]).await;
        // Anonymous: a browser is sent to the login page, with `next`.
        assert_redirect(&app, FORM, "/login?next=%2Fchange-email").await;
        browser_login(&app, "email=before%40example.com", "password+123").await;
        // Without the CSRF token: the form again, with Flask-WTF's message; nothing mailed.
        let without = "email=after%40example.com";
        let (csrf, loc) = csrf_required_form(&app, FORM, "email", without).await;
        assert_eq!(loc, None, "{b:?}");
        // Field errors: the form again (200), the message in the page, the input kept.
        assert_form_errors(&app, FORM, ("email", &csrf), &FORM_ERRORS, b).await;
        let nothing = sink.received().is_empty();
        assert!(nothing, "{b:?}: no mail for failed forms");
        // Success: the form again with CHANGE_EMAIL_SENT (the normalised address).
        let body = format!("email=After%40EXAMPLE.com&csrf_token={csrf}");
        let (s, loc, html) = browser_post(&app, FORM, &body).await;
        assert_eq!((s, loc), (Status::Ok, None), "{b:?} {html}");
        let sent =
            "Instructions to confirm your new email address have been sent to After@example.com.";
        assert_eq!(page_messages(&html), vec![sent]);
        let mail = wait_mail(&sink, 1).await;
        assert_eq!(mail.len(), 1);
        assert_mail(&mail[0], "After@example.com", SUBJECT);
        // Nothing changes before the link is followed.
        let profile = browser_get(&app, "/profile").await.2;
        assert_eq!(profile, "profile before@example.com");
        let path = link_path(&mail[0].body_text());
        assert!(path.starts_with("/change-email/"), "{path}");
        // The browser follows the link: redirected to POST_LOGIN_VIEW, address changed,
        // still signed in (the session identity is not rotated).
        let answer = browser_get(&app, &path).await;
        assert_redirected(&answer, "/", b);
        let u = app.reload(&me).await;
        assert_eq!(u.email, "After@example.com");
        assert!(u.confirmed_at.is_some());
        let confirmed = "Change of email address confirmed";
        assert_flashed(&app, FORM, "success", confirmed).await;
        assert!(app.by_email("before@example.com", false).await.is_none());
        let profile = browser_get(&app, "/profile").await.2;
        assert_eq!(profile, "profile After@example.com");
        // A used link (bound to the old address) is refused; nothing changes. As in
        // Flask-Security, the browser goes back to /change-email with API_ERROR flashed.
        let answer = browser_get(&app, &path).await;
        assert_redirected(&answer, FORM, b);
        let api_error = "Input not appropriate for requested API";
        assert_flashed(&app, FORM, "error", api_error).await;
        // The new address signs in through the form; the old one does not.
        app.drop_session().await;
        let csrf = form_csrf(&app, "/login", "password").await;
        let old = format!("email=before%40example.com&password=password+123&csrf_token={csrf}");
        let (s, loc, html) = browser_post(&app, "/login", &old).await;
        assert_eq!((s, loc), (Status::Ok, None));
        assert_eq!(page_messages(&html), vec!["Specified user does not exist"]);
        browser_login(&app, "email=After%40example.com", "password+123").await;
    }
}
