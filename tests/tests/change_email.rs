//! `/change-email`: the mailed link over real SMTP, freshness, JSON and form.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::mail::CapturingMailer;
use security_runtime::{Security, UserQuery};
use security_tests::flows::{
    browser_get, browser_login, browser_post, features, flashed_on, form_csrf, page_messages, post,
    with_smtp,
};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, field_errors, find_link, path_of, TestApp};

#[rocket::async_test]
async fn change_email_through_real_smtp_and_freshness() {
    for b in backends() {
        let sink = SmtpSink::start().await;
        let app = with_smtp(b, &sink, |f| f).await;
        app.user("before@example.com", "password 123", &[]).await;
        app.user("taken@example.com", "password 123", &[]).await;
        app.login("before@example.com", "password 123").await;
        let v: Value = app
            .get_json("/change-email")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(v["response"]["current_email"], json!("before@example.com"));
        let (s, v) = post(&app, "/change-email", json!({"email": "taken@example.com"})).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "email"),
            vec!["taken@example.com is already associated with an account."]
        );
        let (s, v) = post(&app, "/change-email", json!({"email": "after@example.com"})).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let mail = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(mail[0].rcpt_to, vec!["after@example.com"]);
        assert_eq!(
            mail[0].header("Subject").as_deref(),
            Some("Confirm your new email address")
        );
        let path = path_of(&find_link(&mail[0].body_text()));
        // The link works without a login.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let r = app.get_json(&path).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(
            app.login("after@example.com", "password 123").await.0,
            Status::Ok
        );
        assert_eq!(
            app.get_json(&path).await.status(),
            Status::BadRequest,
            "used link"
        );
    }
    // Freshness: 24 h after login, /change-email asks to re-authenticate.
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let c = now.clone();
    let app = TestApp::with(
        backends()[0],
        features,
        Security::new()
            .mail_util(Arc::new(CapturingMailer::new()))
            .clock(move || c.load(Ordering::SeqCst) as f64),
    )
    .await;
    app.user("f@example.com", "password 123", &[]).await;
    app.login("f@example.com", "password 123").await;
    now.fetch_add(24 * 3600 + 3600 + 1, Ordering::SeqCst);
    let r = app.get_json("/change-email").await;
    assert_eq!(r.status(), Status::Unauthorized);
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(v["response"]["reauth_required"], json!(true));
}

/// `/change-email` and its mailed link driven as a browser would, mail through real SMTP.
#[rocket::async_test]
async fn form_mode_change_email_through_real_smtp() {
    for b in backends() {
        let sink = SmtpSink::start().await;
        let app = with_smtp(b, &sink, |f| f).await;
        let me = app.user("before@example.com", "password 123", &[]).await;
        app.user("taken@example.com", "password 123", &[]).await;
        // Anonymous: a browser is sent to the login page, with `next`.
        let (s, loc, _) = browser_get(&app, "/change-email").await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/login?next=%2Fchange-email")),
            "{b:?}"
        );
        browser_login(&app, "email=before%40example.com", "password+123").await;
        let csrf = form_csrf(&app, "/change-email", "email").await;
        // Without the CSRF token: the form again, with Flask-WTF's message; nothing mailed.
        let (s, loc, html) = browser_post(&app, "/change-email", "email=after%40example.com").await;
        assert_eq!((s, loc), (Status::Ok, None), "{b:?}");
        assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
        // Field errors: the form again (200), the message in the page, the input kept.
        for (email, typed, message) in [
            (
                "taken%40example.com",
                "taken@example.com",
                "taken@example.com is already associated with an account.",
            ),
            (
                "before%40example.com",
                "before@example.com",
                "before@example.com is already associated with an account.",
            ),
            ("not+an+email", "not an email", "Invalid email address"),
            ("", "", "Email not provided"),
        ] {
            let (s, loc, html) = browser_post(
                &app,
                "/change-email",
                &format!("email={email}&csrf_token={csrf}"),
            )
            .await;
            assert_eq!((s, loc), (Status::Ok, None), "{b:?} {typed}");
            assert_eq!(page_messages(&html), vec![message], "{b:?} {typed}");
            assert!(
                html.contains(&format!("name=\"email\" id=\"email\" value=\"{typed}\"")),
                "{html}"
            );
        }
        assert!(
            sink.received().is_empty(),
            "{b:?}: no mail for failed forms"
        );
        // Success: the form again with CHANGE_EMAIL_SENT (the normalised address).
        let (s, loc, html) = browser_post(
            &app,
            "/change-email",
            &format!("email=After%40EXAMPLE.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc), (Status::Ok, None), "{b:?} {html}");
        assert_eq!(
            page_messages(&html),
            vec!["Instructions to confirm your new email address have been sent to After@example.com."]
        );
        let mail = sink.wait_for(1, Duration::from_secs(10)).await;
        assert_eq!(mail.len(), 1);
        assert_eq!(mail[0].rcpt_to, vec!["After@example.com"]);
        assert_eq!(
            mail[0].header("Subject").as_deref(),
            Some("Confirm your new email address")
        );
        // Nothing changes before the link is followed.
        assert_eq!(
            browser_get(&app, "/profile").await.2,
            "profile before@example.com"
        );
        let path = path_of(&find_link(&mail[0].body_text()));
        assert!(path.starts_with("/change-email/"), "{path}");
        // The browser follows the link: redirected to POST_LOGIN_VIEW, address changed,
        // still signed in (the session identity is not rotated).
        let (s, loc, _) = browser_get(&app, &path).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let u = app
            .datastore()
            .find_user(&UserQuery::Id(me.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(u.email, "After@example.com");
        assert!(u.confirmed_at.is_some());
        assert_eq!(
            flashed_on(&app, "/change-email").await,
            Some(("success".into(), "Change of email address confirmed".into()))
        );
        assert!(app
            .datastore()
            .find_user(&UserQuery::Email("before@example.com".into()), false)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            browser_get(&app, "/profile").await.2,
            "profile After@example.com"
        );
        // A used link (bound to the old address) is refused; nothing changes. As in
        // Flask-Security, the browser goes back to /change-email with API_ERROR flashed.
        let (s, loc, _) = browser_get(&app, &path).await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/change-email")),
            "{b:?}"
        );
        assert_eq!(
            flashed_on(&app, "/change-email").await,
            Some((
                "error".into(),
                "Input not appropriate for requested API".into()
            ))
        );
        // The new address signs in through the form; the old one does not.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let csrf = form_csrf(&app, "/login", "password").await;
        let (s, loc, html) = browser_post(
            &app,
            "/login",
            &format!("email=before%40example.com&password=password+123&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc), (Status::Ok, None));
        assert_eq!(page_messages(&html), vec!["Specified user does not exist"]);
        browser_login(&app, "email=After%40example.com", "password+123").await;
    }
}
