//! Security plan L3: mails anyone can trigger to one address are capped per hour
//! (`mail_max_per_hour`, 5), while every request still answers as if the mail went.
#![allow(clippy::unwrap_used)]

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_tests::flows::captured_clocked;
use security_tests::{backends, TestApp};

/// `n` parallel JSON posts of `{"email": email}` to `uri`: each status and body.
async fn flood(app: &TestApp, uri: &str, email: &str, n: usize) -> Vec<(Status, Value)> {
    let body = json!({ "email": email }).to_string();
    let posts = (0..n).map(|_| {
        let req = app.client.post(uri.to_owned()).header(ContentType::JSON);
        req.body(body.clone()).dispatch()
    });
    let mut out = Vec::new();
    for r in join_all(posts).await {
        let s = r.status();
        let mut v: Value = r.into_json().await.unwrap_or(Value::Null);
        // Each answer carries a fresh CSRF token (each request is a new session).
        if let Some(response) = v["response"].as_object_mut() {
            response.remove("csrf_token");
        }
        out.push((s, v));
    }
    out
}

fn mails_to(mailer: &security_runtime::mail::CapturingMailer, to: &str, template: &str) -> usize {
    let all = mailer.messages();
    all.iter()
        .filter(|m| m.to == to && m.template == template)
        .count()
}

#[rocket::async_test]
async fn a_thousand_reset_requests_send_five_mails_and_all_answer_200() {
    let b = backends()[0];
    let no_csrf = |f: rocket::figment::Figment| f.merge(("security.csrf_enabled", false));
    let (app, mailer, clock) = captured_clocked(b, no_csrf).await;
    app.user("flood@example.com", "password 12345", &[]).await;
    let mut answers = Vec::new();
    for _ in 0..10 {
        answers.extend(flood(&app, "/reset", "flood@example.com", 100).await);
    }
    let first = answers[0].clone();
    assert_eq!(first.0, Status::Ok, "{:?}", first.1);
    let odd = answers.iter().find(|a| **a != first);
    assert!(odd.is_none(), "one answer for all: {first:?} {odd:?}");
    assert_eq!(
        mails_to(&mailer, "flood@example.com", "reset_instructions"),
        5
    );
    // Case does not make a new address; another address has its own cap.
    flood(&app, "/reset", "FLOOD@example.com", 1).await;
    assert_eq!(mailer.messages().len(), 5);
    app.user("other@example.com", "password 12345", &[]).await;
    flood(&app, "/reset", "other@example.com", 1).await;
    assert_eq!(
        mails_to(&mailer, "other@example.com", "reset_instructions"),
        1
    );
    // An hour later (the five went at one instant of the test clock) the window is empty.
    clock.advance(3600);
    let again = flood(&app, "/reset", "flood@example.com", 3).await;
    assert!(again.iter().all(|a| *a == first));
    assert_eq!(
        mails_to(&mailer, "flood@example.com", "reset_instructions"),
        8
    );
}

#[rocket::async_test]
async fn confirmation_resends_are_capped_too() {
    for b in backends() {
        let (app, mailer, _clock) = captured_clocked(b, |f| {
            f.merge(("security.csrf_enabled", false))
                .merge(("security.confirmable", true))
        })
        .await;
        let pw = "battery staple 9";
        let body = json!({"email": "c@example.com", "password": pw, "password_confirm": pw});
        let r = app.client.post("/register").header(ContentType::JSON);
        let r = r.body(body.to_string()).dispatch().await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let answers = flood(&app, "/confirm", "c@example.com", 50).await;
        assert!(answers.iter().all(|a| a.0 == Status::Ok), "{b:?}");
        let sent = mails_to(&mailer, "c@example.com", "confirmation_instructions");
        assert_eq!(sent, 5, "{b:?}: the registration's mail and 4 resends");
    }
}
