//! Mailed links in `redirect_behavior = "spa"`: opening a reset or change-email link always
//! redirects to the single-page app's views, whatever the `Accept` header says, as
//! Flask-Security 5.9.2's `reset_password` and `change_email_confirm` views do. And a bad
//! reset token on `POST /reset/<token>` answers 400 with the message as a form-level error
//! (`field_errors[""]`). Mail goes through a real SMTP server on loopback.
#![allow(clippy::unwrap_used)]

use rocket::http::{Accept, ContentType, Status};
use rocket::serde::json::json;
use security_runtime::Security;
use security_tests::flows::{post, wait_mail};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, find_link, path_of, Backend, TestApp};

const SPA: &str = "http://spa.example.com";

/// An SMTP sink and an app in SPA mode that mails through it.
async fn spa_app(b: Backend) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let port = sink.port();
    let app = TestApp::with(
        b,
        move |f| {
            f.merge(("security.recoverable", true))
                .merge(("security.change_email", true))
                .merge(("security.redirect_behavior", "spa"))
                .merge(("security.reset_view", format!("{SPA}/reset")))
                .merge(("security.reset_error_view", format!("{SPA}/reset-error")))
                .merge((
                    "security.post_change_email_view",
                    format!("{SPA}/email-changed"),
                ))
                .merge((
                    "security.change_email_error_view",
                    format!("{SPA}/email-error"),
                ))
                .merge(("security.external_url", "https://app.example.com"))
                .merge(("security.mail_server", "127.0.0.1"))
                .merge(("security.mail_port", port))
        },
        Security::new(),
    )
    .await;
    (app, sink)
}

/// The path of the first `https://app.example.com/...` link in mail number `n`.
async fn mailed_path(sink: &SmtpSink, n: usize) -> String {
    let mail = wait_mail(sink, n).await;
    path_of(&find_link(&mail[n - 1].body_text()))
}

/// GETs `path` as a JSON client would and returns the redirect target.
async fn json_get_location(app: &TestApp, path: &str) -> String {
    let r = app
        .client
        .get(path.to_owned())
        .header(Accept::JSON)
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found, "{path}");
    r.headers().get_one("Location").unwrap().to_owned()
}

#[rocket::async_test]
async fn reset_link_redirects_to_the_spa_whatever_accept_says() {
    for b in backends() {
        let (app, sink) = spa_app(b).await;
        app.user("spa@example.com", "old password 1", &[]).await;
        let (s, v) = post(&app, "/reset", json!({"email": "spa@example.com"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        let path = mailed_path(&sink, 1).await;
        let token = path.trim_start_matches("/reset/");
        assert_eq!(
            json_get_location(&app, &path).await,
            format!("{SPA}/reset?token={token}"),
            "{b:?}"
        );
        let bad = json_get_location(&app, "/reset/not-a-token").await;
        assert_eq!(
            bad,
            format!("{SPA}/reset-error?error=Invalid+reset+password+token."),
            "{b:?}"
        );

        // The SPA posts the new password as JSON: a bad token is a form-level error.
        let body = json!({"password": "new password 2", "password_confirm": "new password 2"});
        let (s, v) = post(&app, "/reset/not-a-token", body.clone()).await;
        assert_eq!(s, Status::BadRequest, "{b:?}");
        assert_eq!(
            v["response"]["errors"],
            json!(["Invalid reset password token."])
        );
        assert_eq!(
            v["response"]["field_errors"],
            json!({"": ["Invalid reset password token."]}),
            "{b:?}"
        );
        let (s, v) = post(&app, &path, body).await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
    }
}

#[rocket::async_test]
async fn change_email_link_redirects_to_the_spa_whatever_accept_says() {
    for b in backends() {
        let (app, sink) = spa_app(b).await;
        app.user("before@example.com", "a password 1", &[]).await;
        let (s, _) = app.login("before@example.com", "a password 1").await;
        assert_eq!(s, Status::Ok);
        let (s, v) = post(&app, "/change-email", json!({"email": "after@example.com"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        let path = mailed_path(&sink, 1).await;
        assert_eq!(
            json_get_location(&app, &path).await,
            format!(
                "{SPA}/email-changed?success=Change+of+email+address+confirmed&email=after%40example.com&identity=after%40example.com"
            ),
            "{b:?}"
        );
        let bad = json_get_location(&app, "/change-email/not-a-token").await;
        assert!(
            bad.starts_with(&format!("{SPA}/email-error?error=")),
            "{b:?}: {bad}"
        );
    }
}
