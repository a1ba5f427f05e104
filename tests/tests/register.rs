//! `/register`: JSON and form, logging in when not confirmable, generic responses, concurrent registrations, and no half-registered user when mail fails.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_tests::flows::{
    browser_get, browser_post, captured, csrf_from, flashed_on, post, post_field_error, submit,
    with_smtp,
};
use security_tests::smtp::SmtpSink;
use security_tests::{backends, Backend};

const PASSWORD: &str = "battery staple 9";
const API_ERROR: &str = "Input not appropriate for requested API";
const TOO_SHORT: &str = "Username must be at least 4 characters and less than 32 characters";

/// A `/register` body: the address and the password twice.
fn registration(email: &str) -> Value {
    json!({"email": email, "password": PASSWORD, "password_confirm": PASSWORD})
}

/// `base` with `key` set to `value`.
fn with(mut base: Value, key: &str, value: Value) -> Value {
    base[key] = value;
    base
}

/// `base` without `key` (the other keys keep their order).
fn without(mut base: Value, key: &str) -> Value {
    base.as_object_mut().unwrap().shift_remove(key);
    base
}

/// The form fields of a registration of `email` (already form-encoded).
fn form_registration(email: &str) -> String {
    format!("email={email}&password=battery+staple+9&password_confirm=battery+staple+9")
}

#[rocket::async_test]
async fn register_logs_in_when_not_confirmable() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        let mut body = registration("New@Example.com");
        // Security plan A4: these are ignored.
        let ignored = json!({"active": false, "roles": ["admin"], "fs_uniquifier": "x", "id": 99});
        for (k, v) in ignored.as_object().unwrap() {
            body[k] = v.clone();
        }
        let (s, v) = post(&app, "/register?include_auth_token", body).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["response"]["user"]["authentication_token"].is_string());
        assert!(v["response"]["csrf_token"].is_string());
        assert_eq!(app.status("/profile").await, Status::Ok);
        let found = app.by_email("New@example.com", false).await;
        let u = found.expect("domain lower-cased, local part kept");
        assert!(u.active && u.roles.is_empty() && u.fs_uniquifier != "x" && u.id != 99);
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        let sent = (m[0].template.as_str(), m[0].to.as_str());
        assert_eq!(sent, ("welcome", "New@example.com"));
        assert_eq!(m[0].subject, "Welcome");
        app.drop_session().await;
        // Field errors, Flask-Security's messages.
        let b_ = || registration("b@example.com");
        let short =
            json!({"email": "b@example.com", "password": "short", "password_confirm": "short"});
        let taken = "new@example.com is already associated with an account.";
        let cases = [
            (registration("new@example.com"), "email", taken),
            (short, "password", "Password must be at least 8 characters"),
            (
                with(b_(), "password_confirm", json!("other one 99")),
                "password_confirm",
                "Passwords do not match",
            ),
            (
                without(b_(), "password_confirm"),
                "password_confirm",
                "Password not provided",
            ),
            (
                registration("not an email"),
                "email",
                "Invalid email address",
            ),
            (without(b_(), "email"), "email", "Email not provided"),
            (
                with(
                    with(b_(), "password", json!(12345678)),
                    "password_confirm",
                    json!("x"),
                ),
                "password",
                API_ERROR,
            ),
            (with(b_(), "username", json!("ab")), "username", TOO_SHORT),
        ];
        for (body, field, msg) in cases {
            post_field_error(&app, "/register", body, field, msg).await;
        }
        assert!(app.by_email("b@example.com", true).await.is_none());
        let count = mailer.messages().len();
        assert_eq!(count, 1, "no mail for failed registrations");
    }
}

/// An app with confirmation on, mailing through `sink`.
async fn confirmable_smtp(b: Backend, sink: &SmtpSink) -> security_tests::TestApp {
    with_smtp(b, sink, |f| f.merge(("security.confirmable", true))).await
}

#[rocket::async_test]
async fn smtp_refusal_leaves_no_half_registered_user() {
    for b in backends() {
        let sink = SmtpSink::start_refusing().await;
        let app = confirmable_smtp(b, &sink).await;
        let body = registration("r@example.com");
        let (s, v) = post(&app, "/register", body.clone()).await;
        assert_eq!(s, Status::ServiceUnavailable, "{b:?} {v}");
        let unsent = json!(["We could not send the email; please try again later."]);
        assert_eq!(v["response"]["errors"], unsent);
        let rolled_back = app.by_email("r@example.com", true).await.is_none();
        assert!(rolled_back, "{b:?}: user rolled back");
        // With mail working again the same address registers.
        let ok = SmtpSink::start().await;
        let app2 = confirmable_smtp(b, &ok).await;
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
    let known = || json!({"email": "known@example.com"});
    for (uri, known, unknown) in [
        (
            "/register",
            registration("known@example.com"),
            registration("fresh@example.com"),
        ),
        ("/reset", known(), json!({"email": "missing@example.com"})),
        (
            "/confirm",
            known(),
            json!({"email": "missing2@example.com"}),
        ),
    ] {
        let (s1, v1) = post(&app, uri, known).await;
        let (s2, v2) = post(&app, uri, unknown).await;
        assert_eq!((s1, s2), (Status::Ok, Status::Ok), "{uri} {v1} {v2}");
        assert_eq!(strip(v1), strip(v2), "{uri}");
    }
    // Mail is queued after the answer in generic mode: the welcome, the owner's notice
    // and the confirmation mail arrive a moment later.
    let mails = mailer.wait_for(3, std::time::Duration::from_secs(10)).await;
    let templates: Vec<String> = mails.into_iter().map(|m| m.template).collect();
    let existing = templates.contains(&"welcome_existing".to_string());
    assert!(existing, "{templates:?}");
}

/// 50 concurrent registrations of one address: exactly one row, no 5xx.
#[rocket::async_test]
async fn concurrent_registrations_of_one_email() {
    for b in backends() {
        let (app, _) = captured(b, |f| f.merge(("security.csrf_enabled", false))).await;
        let body = registration("same@example.com").to_string();
        let reqs = (0..50).map(|_| {
            let register = app.client.post("/register").header(ContentType::JSON);
            register.body(body.clone()).dispatch()
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
        let u = app.by_email("same@example.com", false).await;
        assert!(u.is_some(), "{b:?}");
    }
}

/// Plan X1: 100 parallel registrations of case variants of one address make one row;
/// the others are told the address is taken, and the address stays usable (a reset
/// for it is accepted, where two rows would make it "Specified user does not exist").
#[rocket::async_test]
async fn parallel_case_variants_of_one_address_make_one_row() {
    const VARIANTS: [&str; 4] = [
        "squat@example.com",
        "Squat@example.com",
        "SQUAT@EXAMPLE.COM",
        "sQuAt@Example.Com",
    ];
    for b in backends() {
        let (app, mailer) = captured(b, |f| f.merge(("security.csrf_enabled", false))).await;
        let reqs = (0..100).map(|i| {
            let body = registration(VARIANTS[i % VARIANTS.len()]).to_string();
            let register = app.client.post("/register").header(ContentType::JSON);
            register.body(body).dispatch()
        });
        let mut ok = 0;
        for r in rocket::futures::future::join_all(reqs).await {
            let s = r.status();
            let v: Value = r.into_json().await.unwrap_or(Value::Null);
            match s {
                Status::Ok => ok += 1,
                Status::BadRequest => {
                    let e = v["response"]["field_errors"]["email"][0].as_str().unwrap();
                    assert!(e.ends_with("is already associated with an account."), "{e}");
                }
                other => panic!("{b:?}: {other} {v}"),
            }
        }
        assert_eq!(ok, 1, "{b:?}");
        for variant in VARIANTS {
            let u = app.by_email(variant, true).await;
            assert!(u.is_some(), "{b:?}: {variant}");
        }
        let before = mailer.messages().len();
        let r = app.client.post("/reset").header(ContentType::JSON);
        let r = r.body(json!({"email": "squat@example.com"}).to_string());
        assert_eq!(r.dispatch().await.status(), Status::Ok, "{b:?}");
        assert_eq!(mailer.messages().len(), before + 1, "{b:?}");
    }
}

#[rocket::async_test]
async fn html_register_form() {
    let b = backends()[0];
    let (app, _) = captured(b, |f| f).await;
    let (s, _, page) = browser_get(&app, "/register").await;
    assert_eq!(s, Status::Ok);
    let fields = form_registration("h%40example.com");
    let body = format!("{fields}&csrf_token={}", csrf_from(&page));
    let (s, loc, _) = browser_post(&app, "/register", &body).await;
    assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")));
    // Not confirmable: nothing to say.
    app.drop_session().await;
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
        let (s, _, _) = submit(&app, "/register", &form_registration("c%40example.com")).await;
        assert_eq!(s, Status::Found);
        assert_eq!(mailer.messages().len(), 1);
        let sent = "Thank you. Confirmation instructions have been sent to c@example.com.";
        let expected = flash.then(|| ("success".to_owned(), sent.to_owned()));
        assert_eq!(flashed_on(&app, "/login").await, expected);
    }
}

/// A look-alike of an existing address made with an invisible character is refused,
/// as the email validator Flask-Security uses refuses it, and so are control and
/// direction characters; the real owner's address is untouched.
#[rocket::async_test]
async fn addresses_with_invisible_or_control_characters_are_refused() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("admin@example.com", PASSWORD, &[]).await;
        for lookalike in [
            "admin\u{200b}@example.com",
            "ad\u{200d}min@example.com",
            "\u{202e}nimda@example.com",
            "admin\u{feff}@example.com",
        ] {
            post_field_error(
                &app,
                "/register",
                registration(lookalike),
                "email",
                "Invalid email address",
            )
            .await;
        }
        assert!(mailer.messages().is_empty(), "{b:?}");
        let (s, _) = post(&app, "/register", registration("new@example.com")).await;
        assert_eq!(s, Status::Ok, "{b:?}");
    }
}
