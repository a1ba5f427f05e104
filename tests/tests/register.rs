//! `/register`: JSON and form, logging in when not confirmable, generic responses, concurrent registrations, and no half-registered user when mail fails.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::UserQuery;
use security_tests::flows::{captured, csrf_from, flashed_on, post, with_smtp};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, field_errors};

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
