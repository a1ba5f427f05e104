//! Account lifecycle over HTTP: register, confirm, reset, change password/email/username,
//! recover username; mail through a real SMTP server on loopback where a link is followed.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::mail::CapturingMailer;
use security_runtime::{Security, UserQuery};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, field_errors, find_link, path_of, Backend, TestApp};

fn features(f: Figment) -> Figment {
    f.merge(("security.registerable", true))
        .merge(("security.recoverable", true))
        .merge(("security.changeable", true))
        .merge(("security.change_email", true))
        .merge(("security.username_enable", true))
        .merge(("security.change_username", true))
        .merge(("security.username_recovery", true))
        .merge(("security.external_url", "https://app.example.com"))
}

async fn captured(
    b: Backend,
    tweak: impl FnOnce(Figment) -> Figment,
) -> (TestApp, CapturingMailer) {
    let mailer = CapturingMailer::new();
    let app = TestApp::with(
        b,
        |f| tweak(features(f)),
        Security::new().mail_util(Arc::new(mailer.clone())),
    )
    .await;
    (app, mailer)
}

async fn with_smtp(b: Backend, sink: &SmtpSink, tweak: impl FnOnce(Figment) -> Figment) -> TestApp {
    let port = sink.port();
    TestApp::with(
        b,
        move |f| {
            tweak(
                features(f)
                    .merge(("security.mail_server", "127.0.0.1"))
                    .merge(("security.mail_port", port)),
            )
        },
        Security::new(),
    )
    .await
}

async fn post(app: &TestApp, uri: &str, body: Value) -> (Status, Value) {
    let r = app.post_json(uri, body).await;
    let s = r.status();
    (s, r.into_json().await.unwrap_or(Value::Null))
}

#[rocket::async_test]
async fn register_logs_in_when_not_confirmable() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        let (s, v) = post(
            &app,
            "/register?include_auth_token",
            json!({
                "email": "New@Example.com", "password": "battery staple 9",
                "password_confirm": "battery staple 9",
                // Security plan A4: these are ignored.
                "active": false, "roles": ["admin"], "fs_uniquifier": "x", "id": 99
            }),
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["response"]["user"]["authentication_token"].is_string());
        assert!(v["response"]["csrf_token"].is_string());
        assert_eq!(app.get_json("/profile").await.status(), Status::Ok);
        let u = app
            .datastore()
            .find_user(&UserQuery::Email("New@example.com".into()), false)
            .await
            .unwrap()
            .expect("domain lower-cased, local part kept");
        assert!(u.active && u.roles.is_empty() && u.fs_uniquifier != "x" && u.id != 99);
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].template.as_str(), m[0].to.as_str()),
            ("welcome", "New@example.com")
        );
        assert_eq!(m[0].subject, "Welcome");
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        // Field errors, Flask-Security's messages.
        let cases = [
            (
                json!({"email": "new@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"}),
                "email",
                "new@example.com is already associated with an account.",
            ),
            (
                json!({"email": "b@example.com", "password": "short", "password_confirm": "short"}),
                "password",
                "Password must be at least 8 characters",
            ),
            (
                json!({"email": "b@example.com", "password": "battery staple 9", "password_confirm": "other one 99"}),
                "password_confirm",
                "Passwords do not match",
            ),
            (
                json!({"email": "b@example.com", "password": "battery staple 9"}),
                "password_confirm",
                "Password not provided",
            ),
            (
                json!({"email": "not an email", "password": "battery staple 9", "password_confirm": "battery staple 9"}),
                "email",
                "Invalid email address",
            ),
            (
                json!({"password": "battery staple 9", "password_confirm": "battery staple 9"}),
                "email",
                "Email not provided",
            ),
            (
                json!({"email": "b@example.com", "password": 12345678, "password_confirm": "x"}),
                "password",
                "Input not appropriate for requested API",
            ),
            (
                json!({"email": "b@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9", "username": "ab"}),
                "username",
                "Username must be at least 4 characters and less than 32 characters",
            ),
        ];
        for (body, field, msg) in cases {
            let (s, v) = post(&app, "/register", body.clone()).await;
            assert_eq!(s, Status::BadRequest, "{body}");
            assert_eq!(
                field_errors(&v, field),
                vec![msg.to_string()],
                "{b:?} {body} -> {v}"
            );
        }
        assert!(app
            .datastore()
            .find_user(&UserQuery::Email("b@example.com".into()), true)
            .await
            .unwrap()
            .is_none());
        assert_eq!(
            mailer.messages().len(),
            1,
            "no mail for failed registrations"
        );
    }
}

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

#[rocket::async_test]
async fn smtp_refusal_leaves_no_half_registered_user() {
    for b in backends() {
        let sink = SmtpSink::start_refusing().await;
        let app = with_smtp(b, &sink, |f| f.merge(("security.confirmable", true))).await;
        let body = json!({"email": "r@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"});
        let (s, v) = post(&app, "/register", body.clone()).await;
        assert_eq!(s, Status::ServiceUnavailable, "{b:?} {v}");
        assert_eq!(
            v["response"]["errors"],
            json!(["We could not send the email; please try again later."])
        );
        assert!(
            app.datastore()
                .find_user(&UserQuery::Email("r@example.com".into()), true)
                .await
                .unwrap()
                .is_none(),
            "{b:?}: user rolled back"
        );
        // With mail working again the same address registers.
        let ok = SmtpSink::start().await;
        let app2 = with_smtp(b, &ok, |f| f.merge(("security.confirmable", true))).await;
        let (s, _) = post(&app2, "/register", body).await;
        assert_eq!(s, Status::Ok);
    }
}

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

#[rocket::async_test]
async fn change_password() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("c@example.com", "old password 1", &[]).await;
        let token = app.token_login("c@example.com", "old password 1").await;
        let r = app.get_json("/change").await;
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["active_password"], json!(true));
        let cases = [
            (
                json!({"password": "wrong", "new_password": "new password 2", "new_password_confirm": "new password 2"}),
                "password",
                "Invalid password",
            ),
            (
                json!({"password": "old password 1", "new_password": "old password 1", "new_password_confirm": "old password 1"}),
                "password",
                "Your new password must be different than your previous password.",
            ),
            (
                json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "x"}),
                "new_password_confirm",
                "Passwords do not match",
            ),
            (
                json!({"new_password": "new password 2", "new_password_confirm": "new password 2"}),
                "password",
                "Password not provided",
            ),
        ];
        for (body, field, msg) in cases {
            let (s, v) = post(&app, "/change", body.clone()).await;
            assert_eq!(s, Status::BadRequest, "{body}");
            assert_eq!(
                field_errors(&v, field),
                vec![msg.to_string()],
                "{b:?} {body}"
            );
        }
        let (s, v) = post(&app, "/change?include_auth_token", json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "new password 2"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        assert!(v["response"]["user"]["authentication_token"].is_string());
        // This browser stays logged in with a new session; the old auth token is dead
        // (stricter than Flask-Security, which keeps tokens with a token uniquifier).
        assert_eq!(app.get_json("/session").await.status(), Status::Ok);
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        let new_token = v["response"]["user"]["authentication_token"]
            .as_str()
            .unwrap();
        assert_eq!(
            app.get_with_token("/token", new_token).await.status(),
            Status::Ok
        );
        assert_eq!(mailer.messages().last().unwrap().template, "change_notice");
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(
            app.login("c@example.com", "new password 2").await.0,
            Status::Ok
        );
        // Anonymous: 401.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(app.get_json("/change").await.status(), Status::Unauthorized);
    }
}

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

#[rocket::async_test]
async fn change_and_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("u@example.com", "password 123", &[]).await;
        app.user("o@example.com", "password 123", &[]).await;
        app.login("o@example.com", "password 123").await;
        post(&app, "/change-username", json!({"username": "taken"})).await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        app.login("u@example.com", "password 123").await;
        let (s, v) = post(&app, "/change-username", json!({"username": "Taken"})).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "username"),
            vec!["Taken is already associated with an account."]
        );
        let (s, v) = post(&app, "/change-username", json!({"username": "bad name!"})).await;
        assert_eq!(s, Status::BadRequest, "{v}");
        assert_eq!(
            field_errors(&v, "username"),
            vec!["Username can contain only letters and numbers"]
        );
        let (s, v) = post(&app, "/change-username", json!({"username": "newname"})).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            mailer.messages().last().unwrap().template,
            "change_username_notice"
        );
        let v: Value = app
            .get_json("/change-username")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(v["response"]["current_username"], json!("newname"));
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        // Log in by username; recover it by mail.
        let (s, _) = post(
            &app,
            "/login",
            json!({"username": "newname", "password": "password 123"}),
        )
        .await;
        assert_eq!(s, Status::Ok);
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let (s, _) = post(&app, "/recover-username", json!({"email": "u@example.com"})).await;
        assert_eq!(s, Status::Ok);
        let m = mailer.messages();
        let last = m.last().unwrap();
        assert_eq!(last.template, "username_recovery");
        assert!(last.text.as_deref().unwrap().contains("newname"));
    }
}

/// Generic responses: existing and new addresses get the same status and body.
#[rocket::async_test]
async fn generic_mode_does_not_reveal_accounts() {
    let b = backends()[0];
    let (app, mailer) = captured(b, |f| {
        f.merge(("security.return_generic_responses", true))
            .merge(("security.confirmable", true))
    })
    .await;
    app.user("known@example.com", "password 123", &[]).await;
    let strip = |mut v: Value| {
        assert!(v["response"]["csrf_token"].is_string());
        v["response"].as_object_mut().unwrap().remove("csrf_token");
        v
    };
    for (uri, known, unknown) in [
        (
            "/register",
            json!({"email": "known@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"}),
            json!({"email": "fresh@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"}),
        ),
        (
            "/reset",
            json!({"email": "known@example.com"}),
            json!({"email": "missing@example.com"}),
        ),
        (
            "/confirm",
            json!({"email": "known@example.com"}),
            json!({"email": "missing2@example.com"}),
        ),
    ] {
        let (s1, v1) = post(&app, uri, known).await;
        let (s2, v2) = post(&app, uri, unknown).await;
        assert_eq!((s1, s2), (Status::Ok, Status::Ok), "{uri} {v1} {v2}");
        assert_eq!(strip(v1), strip(v2), "{uri}");
    }
    let templates: Vec<String> = mailer.messages().into_iter().map(|m| m.template).collect();
    assert!(
        templates.contains(&"welcome_existing".to_string()),
        "{templates:?}"
    );
}

/// 50 concurrent registrations of one address: exactly one row, no 5xx.
#[rocket::async_test]
async fn concurrent_registrations_of_one_email() {
    for b in backends() {
        let (app, _) = captured(b, |f| f.merge(("security.csrf_enabled", false))).await;
        let body = json!({"email": "same@example.com", "password": "battery staple 9", "password_confirm": "battery staple 9"}).to_string();
        let reqs = (0..50).map(|_| {
            app.client
                .post("/register")
                .header(ContentType::JSON)
                .body(body.clone())
                .dispatch()
        });
        let responses = rocket::futures::future::join_all(reqs).await;
        let mut ok = 0;
        for r in responses {
            let s = r.status();
            assert!(s.code < 500, "{b:?}: {s}");
            if s == Status::Ok {
                ok += 1;
            }
        }
        assert_eq!(ok, 1, "{b:?}");
        // The winner's row is there (the unique index refused the others: one 200 above).
        let u = app
            .datastore()
            .find_user(&UserQuery::Email("same@example.com".into()), false)
            .await
            .unwrap();
        assert!(u.is_some(), "{b:?}");
    }
}

#[rocket::async_test]
async fn html_register_form() {
    let b = backends()[0];
    let (app, _) = captured(b, |f| f).await;
    let page = app.client.get("/register").dispatch().await;
    assert_eq!(page.status(), Status::Ok);
    let html = page.into_string().await.unwrap();
    let csrf = html
        .split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned();
    let r = app
        .client
        .post("/register")
        .header(ContentType::Form)
        .body(format!("email=h%40example.com&password=battery+staple+9&password_confirm=battery+staple+9&csrf_token={csrf}"))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(r.headers().get_one("Location"), Some("/"));
    // Not confirmable: nothing to say.
    app.client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert_eq!(flashed_on(&app, "/login").await, None);
}

#[rocket::async_test]
async fn html_register_form_flashes_confirmation_sent() {
    let b = backends()[0];
    for flash in [true, false] {
        let (app, mailer) = captured(b, |f| {
            f.merge(("security.confirmable", true))
                .merge(("security.flash_messages", flash))
        })
        .await;
        let csrf = csrf_from(
            &app.client
                .get("/register")
                .dispatch()
                .await
                .into_string()
                .await
                .unwrap(),
        );
        let r = app
        .client
        .post("/register")
        .header(ContentType::Form)
        .body(format!("email=c%40example.com&password=battery+staple+9&password_confirm=battery+staple+9&csrf_token={csrf}"))
        .dispatch()
        .await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(mailer.messages().len(), 1);
        let expected = flash.then(|| {
            (
                "success".to_owned(),
                "Thank you. Confirmation instructions have been sent to c@example.com.".to_owned(),
            )
        });
        assert_eq!(flashed_on(&app, "/login").await, expected);
    }
}

/// The flashed message a security page shows first: `<li class="category">text</li>`.
fn flashed(html: &str) -> Option<(String, String)> {
    let rest = html.split("<ul class=\"messages\"><li class=\"").nth(1)?;
    let (category, rest) = rest.split_once("\">")?;
    let (message, _) = rest.split_once("</li>")?;
    Some((category.to_owned(), message.to_owned()))
}

/// GETs a security page as a browser and returns the flashed message it shows.
async fn flashed_on(app: &TestApp, uri: &str) -> Option<(String, String)> {
    let r = app.client.get(uri.to_owned()).dispatch().await;
    assert_eq!(r.status(), Status::Ok, "GET {uri}");
    flashed(&r.into_string().await.unwrap_or_default())
}

fn csrf_from(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned()
}

/// The same flows driven as a browser form would: pages, CSRF from the page, redirects.
#[rocket::async_test]
async fn form_mode_forgot_reset_confirm_and_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f.merge(("security.confirmable", true))).await;
        let mut u = app.user("form@example.com", "old password 1", &[]).await;
        // Resend confirmation through the form; the link redirects a browser to login.
        let html = app
            .client
            .get("/confirm")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/confirm")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r
            .into_string()
            .await
            .unwrap()
            .contains("Confirmation instructions have been sent"));
        let link = find_link(mailer.messages().last().unwrap().text.as_deref().unwrap());
        let r = app.client.get(path_of(&link)).dispatch().await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/login"));
        // The outcome is flashed; the next security page shows it, once.
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "success".into(),
                "Thank you. Your email has been confirmed.".into()
            ))
        );
        assert_eq!(flashed_on(&app, "/login").await, None);
        // A bad link sends the browser back to "send me a new link", with the reason.
        let r = app.client.get("/confirm/not-a-token").dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/confirm"));
        assert_eq!(
            flashed_on(&app, "/confirm").await,
            Some(("error".into(), "Invalid confirmation token.".into()))
        );
        u = app
            .datastore()
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert!(u.confirmed_at.is_some());
        // Forgot password through the form, then the reset page and its form.
        let html = app
            .client
            .get("/reset")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/reset")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let link = find_link(mailer.messages().last().unwrap().text.as_deref().unwrap());
        let page = app.client.get(path_of(&link)).dispatch().await;
        assert_eq!(page.status(), Status::Ok);
        let html = page.into_string().await.unwrap();
        assert!(html.contains("name=\"password_confirm\""));
        let r = app
            .client
            .post(path_of(&link))
            .header(ContentType::Form)
            .body(format!(
                "password=new+password+2&password_confirm=new+password+2&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/login"));
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "success".into(),
                "You successfully reset your password. Please authenticate using your new password."
                    .into()
            ))
        );
        // The used link, and a forged one, go back to "forgot password" with the reason.
        for bad in [path_of(&link), "/reset/not-a-token".to_owned()] {
            let r = app.client.get(bad.clone()).dispatch().await;
            assert_eq!(r.status(), Status::Found, "{bad}");
            assert_eq!(r.headers().get_one("Location"), Some("/reset"));
            assert_eq!(
                flashed_on(&app, "/reset").await,
                Some(("error".into(), "Invalid reset password token.".into()))
            );
        }
        // Log in with the form, then change the password with the form.
        let html = app
            .client
            .get("/login")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/login")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&password=new+password+2&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found);
        let html = app
            .client
            .get("/change")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let csrf = csrf_from(&html);
        let r = app
            .client
            .post("/change")
            .header(ContentType::Form)
            .body(format!(
                "password=wrong&new_password=third+pass+3&new_password_confirm=third+pass+3&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r.into_string().await.unwrap().contains("Invalid password"));
        let r = app
            .client
            .post("/change")
            .header(ContentType::Form)
            .body(format!(
                "password=new+password+2&new_password=third+pass+3&new_password_confirm=third+pass+3&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        assert_eq!(
            app.client.get("/profile").dispatch().await.status(),
            Status::Ok
        );
        // /profile did not read the flash; the landing page (an application route with
        // Rocket's `FlashMessage`) shows it, once.
        for expected in [
            "index [success] You successfully changed your password.",
            "index",
        ] {
            let r = app.client.get("/").dispatch().await;
            assert_eq!(r.into_string().await.unwrap(), expected);
        }
        assert_eq!(flashed_on(&app, "/change").await, None);
    }
}

/// A browser GET (no JSON `Accept`, no JSON body): (status, `Location`, body).
async fn browser_get(app: &TestApp, uri: &str) -> (Status, Option<String>, String) {
    let r = app.client.get(uri.to_owned()).dispatch().await;
    let loc = r.headers().get_one("Location").map(str::to_owned);
    (r.status(), loc, r.into_string().await.unwrap_or_default())
}

/// A browser form POST (`application/x-www-form-urlencoded`): (status, `Location`, body).
async fn browser_post(app: &TestApp, uri: &str, body: &str) -> (Status, Option<String>, String) {
    let r = app
        .client
        .post(uri.to_owned())
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let loc = r.headers().get_one("Location").map(str::to_owned);
    (r.status(), loc, r.into_string().await.unwrap_or_default())
}

/// The CSRF token of the HTML form at `uri`, after checking the form is the one expected.
async fn form_csrf(app: &TestApp, uri: &str, field: &str) -> String {
    let (s, _, html) = browser_get(app, uri).await;
    assert_eq!(s, Status::Ok, "GET {uri}: {html}");
    assert!(
        html.contains(&format!("<form action=\"{uri}\" method=\"POST\">")),
        "{html}"
    );
    assert!(html.contains(&format!("name=\"{field}\"")), "{html}");
    csrf_from(&html)
}

/// Signs in through the HTML login form; `identity` is `email=..` or `username=..`.
async fn browser_login(app: &TestApp, identity: &str, password: &str) {
    let csrf = form_csrf(app, "/login", "password").await;
    let (s, loc, body) = browser_post(
        app,
        "/login",
        &format!("{identity}&password={password}&csrf_token={csrf}"),
    )
    .await;
    assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{body}");
}

/// The messages list of a built-in page.
fn page_messages(html: &str) -> Vec<String> {
    let list = html
        .split("<ul class=\"messages\">")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .unwrap_or_default();
    list.split("<li>")
        .skip(1)
        .map(|m| m.trim_end_matches("</li>").to_owned())
        .collect()
}

async fn set_username(app: &TestApp, email: &str, username: &str) {
    let mut u = app
        .datastore()
        .find_user(&UserQuery::Email(email.into()), false)
        .await
        .unwrap()
        .unwrap();
    u.username = Some(username.into());
    app.datastore().put_user(&mut u).await.unwrap();
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

/// `/change-username` driven as a browser would.
#[rocket::async_test]
async fn form_mode_change_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        let me = app.user("u@example.com", "password 123", &[]).await;
        app.user("o@example.com", "password 123", &[]).await;
        set_username(&app, "o@example.com", "taken").await;
        let (s, loc, _) = browser_get(&app, "/change-username").await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/login?next=%2Fchange-username")),
            "{b:?}"
        );
        browser_login(&app, "email=u%40example.com", "password+123").await;
        let csrf = form_csrf(&app, "/change-username", "username").await;
        let (s, _, html) = browser_post(&app, "/change-username", "username=newname").await;
        assert_eq!(s, Status::Ok, "{b:?}");
        assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
        for (username, typed, message) in [
            (
                "Taken",
                "Taken",
                "Taken is already associated with an account.",
            ),
            (
                "bad+name%21",
                "bad name!",
                "Username can contain only letters and numbers",
            ),
            (
                "ab",
                "ab",
                "Username must be at least 4 characters and less than 32 characters",
            ),
            ("", "", "Username not provided"),
        ] {
            let (s, loc, html) = browser_post(
                &app,
                "/change-username",
                &format!("username={username}&csrf_token={csrf}"),
            )
            .await;
            assert_eq!((s, loc), (Status::Ok, None), "{b:?} {typed}");
            assert_eq!(page_messages(&html), vec![message], "{b:?} {typed}");
            assert!(
                html.contains(&format!(
                    "name=\"username\" id=\"username\" value=\"{}\"",
                    typed
                )),
                "{html}"
            );
        }
        let unchanged = app
            .datastore()
            .find_user(&UserQuery::Id(me.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unchanged.username, None);
        assert!(
            mailer.messages().is_empty(),
            "{b:?}: no notice for failures"
        );
        // Success: redirect to POST_LOGIN_VIEW, username stored, notice mailed.
        let (s, loc, _) = browser_post(
            &app,
            "/change-username",
            &format!("username=newname&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let changed = app
            .datastore()
            .find_user(&UserQuery::Id(me.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.username.as_deref(), Some("newname"));
        assert_eq!(
            flashed_on(&app, "/change-username").await,
            Some((
                "success".into(),
                "You successfully changed your username".into()
            ))
        );
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].template.as_str(), m[0].to.as_str()),
            ("change_username_notice", "u@example.com")
        );
        // The new username signs in through the login form.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        browser_login(&app, "username=newname", "password+123").await;
        assert_eq!(
            browser_get(&app, "/profile").await.2,
            "profile u@example.com"
        );
    }
}

/// `/recover-username` driven as a browser would.
#[rocket::async_test]
async fn form_mode_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("r@example.com", "password 123", &[]).await;
        set_username(&app, "r@example.com", "recoverme").await;
        let csrf = form_csrf(&app, "/recover-username", "email").await;
        let (s, _, html) = browser_post(&app, "/recover-username", "email=r%40example.com").await;
        assert_eq!(s, Status::Ok, "{b:?}");
        assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
        for (email, typed, message) in [
            (
                "nobody%40example.com",
                "nobody@example.com",
                "Specified user does not exist",
            ),
            ("r%40", "r@", "Invalid email address"),
            ("", "", "Email not provided"),
        ] {
            let (s, loc, html) = browser_post(
                &app,
                "/recover-username",
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
        assert!(mailer.messages().is_empty(), "{b:?}: nothing mailed");
        // Success: the username is mailed and the browser goes to the login page
        // (Flask-Security also flashes USERNAME_RECOVERY_REQUEST there).
        let (s, loc, _) = browser_post(
            &app,
            "/recover-username",
            &format!("email=R%40Example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/login")),
            "{b:?}"
        );
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "info".into(),
                "If registered, your username will be sent to your email.".into()
            ))
        );
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].template.as_str(), m[0].to.as_str()),
            ("username_recovery", "r@example.com")
        );
        assert!(m[0].text.as_deref().unwrap().contains("recoverme"));
        // A disabled account gets Flask-Security's message, and no mail.
        let mut u = app
            .datastore()
            .find_user(&UserQuery::Email("r@example.com".into()), false)
            .await
            .unwrap()
            .unwrap();
        u.active = false;
        app.datastore().put_user(&mut u).await.unwrap();
        let (s, _, html) = browser_post(
            &app,
            "/recover-username",
            &format!("email=r%40example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!(s, Status::Ok);
        assert_eq!(page_messages(&html), vec!["Account is disabled."]);
        assert_eq!(mailer.messages().len(), 1);
        // Signed in: `anonymous_user_required` sends a browser to POST_LOGIN_VIEW.
        app.user("in@example.com", "password 123", &[]).await;
        browser_login(&app, "email=in%40example.com", "password+123").await;
        let (s, loc, _) = browser_get(&app, "/recover-username").await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let (s, loc, _) = browser_post(
            &app,
            "/recover-username",
            &format!("email=in%40example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let (s, v) = post(
            &app,
            "/recover-username",
            json!({"email": "in@example.com"}),
        )
        .await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(
            v["response"]["errors"],
            json!(["You can only access this endpoint when not logged in."])
        );
        assert_eq!(mailer.messages().len(), 1, "{b:?}: nothing mailed");
    }
}

#[rocket::async_test]
async fn admin_change_password_and_token_callers_of_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| {
            f.merge(("security.csrf_protect_mechanisms", ["session", "basic"]))
        })
        .await;
        let mut u = app.user("a@example.com", "old password 1", &[]).await;
        let token = app.token_login("a@example.com", "old password 1").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        // A token caller changing the password gets no session cookie.
        let r = app
            .client
            .post("/change")
            .header(ContentType::JSON)
            .header(rocket::http::Header::new("Authentication-Token", token.clone()))
            .body(json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "new password 2"}).to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let cookies: Vec<String> = r.headers().get("Set-Cookie").map(str::to_owned).collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("session=")),
            "{cookies:?}"
        );
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        // admin_change_password: new password works, tokens die, notice mailed.
        let token = app.token_login("a@example.com", "new password 2").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        u = app
            .datastore()
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        security_runtime::admin_change_password(app.state(), &mut u, "admin set 3", true)
            .await
            .unwrap();
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        assert_eq!(
            app.login("a@example.com", "admin set 3").await.0,
            Status::Ok
        );
        assert_eq!(mailer.messages().last().unwrap().template, "change_notice");
    }
}

/// The flash cookie: Rocket's format, but the session cookie's SameSite (a Strict cookie
/// would not come back on the redirect after a link clicked in a mail) and HttpOnly;
/// denials flash their reason; a malformed cookie is dropped instead of failing the page.
#[rocket::async_test]
async fn flash_cookie_denials_and_malformed_cookies() {
    let b = backends()[0];
    let (app, _) = captured(b, |f| f).await;

    // An anonymous browser sent to the login page is told why, as Flask-Security does.
    let r = app.client.get("/session").dispatch().await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/login?next=%2Fsession")
    );
    let set: Vec<&str> = r.headers().get("Set-Cookie").collect();
    let flash = set
        .iter()
        .find(|c| c.starts_with("_flash="))
        .unwrap_or_else(|| panic!("no flash cookie in {set:?}"));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(flash.contains(attr), "{attr} missing from {flash}");
    }
    assert_eq!(
        flashed_on(&app, "/login").await,
        Some((
            "error".into(),
            "You must sign in to view this resource.".into()
        ))
    );

    // A JSON caller gets the 401 body and no flash.
    let r = app.get_json("/session").await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert!(r
        .headers()
        .get("Set-Cookie")
        .all(|c| !c.starts_with("_flash=")));

    // A cookie whose length falls inside a character (Rocket's own reader panics on it),
    // or that is not in the format at all, reads as nothing and is removed.
    for bad in ["1:\u{e9}", "x:abc", "99:abc", ":"] {
        let r = app
            .client
            .get("/login")
            .cookie(rocket::http::Cookie::new("_flash", bad))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{bad:?}");
        let removed = r
            .headers()
            .get("Set-Cookie")
            .any(|c| c.starts_with("_flash=;") || c.starts_with("_flash=\"\";"));
        let html = r.into_string().await.unwrap();
        assert_eq!(flashed(&html), None, "{bad:?}");
        assert!(removed, "{bad:?}");
    }

    // /reset and /reset/<token> are open to signed-in users, as Flask-Security's
    // `forgot_password` and `reset_password` views are (5.9.2).
    app.user("anon@example.com", "battery staple 9", &[]).await;
    let (s, _) = app.login("anon@example.com", "battery staple 9").await;
    assert_eq!(s, Status::Ok);
    let r = app.client.get("/reset").dispatch().await;
    assert_eq!(r.status(), Status::Ok);
    assert!(r.into_string().await.unwrap().contains("name=\"email\""));
    let r = app.get_json("/reset").await;
    assert_eq!(r.status(), Status::Ok);
    let v: Value = r.into_json().await.unwrap();
    assert!(v["response"]["csrf_token"].is_string(), "{v}");
    let r = app.client.get("/reset/some-token").dispatch().await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(r.headers().get_one("Location"), Some("/reset"));
    let (s, v) = post(
        &app,
        "/reset/some-token",
        json!({"password": "x", "password_confirm": "x"}),
    )
    .await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        v["response"]["errors"],
        json!(["Invalid reset password token."])
    );
}
