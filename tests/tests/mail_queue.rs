//! The mail queue (`mail_queue`, on with generic responses): a request answers before
//! its mail is sent, known and unknown addresses get the same bytes, and a send the
//! SMTP server refuses is retried until it goes through.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_tests::flows::with_smtp;
use security_tests::smtp::SmtpSink;
use security_tests::{backends, link_path};

/// `/reset` for `email`: status and body without the per-session CSRF token.
async fn reset(app: &security_tests::TestApp, email: &str) -> (Status, Value) {
    let r = app.post_json("/reset", json!({ "email": email })).await;
    let s = r.status();
    let mut v: Value = r.into_json().await.unwrap_or(Value::Null);
    if let Some(response) = v["response"].as_object_mut() {
        response.remove("csrf_token");
    }
    (s, v)
}

#[rocket::async_test]
async fn generic_mode_queues_mail_and_retries_a_refused_send() {
    let b = backends()[0];
    // The server refuses the first two sends: the queue's third try delivers.
    let sink = SmtpSink::start_refusing_first(2).await;
    let app = with_smtp(b, &sink, |f| {
        f.merge(("security.return_generic_responses", true))
            .merge(("security.mail_queue_retry_ms", 20))
    })
    .await;
    app.user("queued@example.com", "password 12345", &[]).await;
    let known = reset(&app, "queued@example.com").await;
    let unknown = reset(&app, "nobody@example.com").await;
    assert_eq!(known.0, Status::Ok, "{:?}", known.1);
    assert_eq!(
        known, unknown,
        "the same answer for a known and an unknown address"
    );
    let mails = sink.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(mails.len(), 1, "delivered on the third try");
    assert!(mails[0].rcpt_to.iter().any(|r| r == "queued@example.com"));
    // The link in the queued mail works.
    let path = link_path(&mails[0].body_text());
    assert_eq!(app.status(&path).await, Status::Ok);
}

#[rocket::async_test]
async fn without_generic_responses_mail_is_sent_in_the_request() {
    let b = backends()[0];
    let sink = SmtpSink::start_refusing().await;
    let app = with_smtp(b, &sink, |f| f).await;
    app.user("direct@example.com", "password 12345", &[]).await;
    // The refusal reaches the client, as Flask-Security reports a failed send.
    let (s, _) = reset(&app, "direct@example.com").await;
    assert_eq!(s, Status::ServiceUnavailable);
    // `mail_queue = true` queues it instead: the client is not told.
    let app = with_smtp(b, &sink, |f| f.merge(("security.mail_queue", true))).await;
    app.user("direct@example.com", "password 12345", &[]).await;
    let (s, _) = reset(&app, "direct@example.com").await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn generic_mode_answers_no_sooner_than_its_floor_for_any_address() {
    let b = backends()[0];
    let sink = SmtpSink::start().await;
    let app = with_smtp(b, &sink, |f| {
        f.merge(("security.return_generic_responses", true))
            .merge(("security.generic_response_floor_ms", 300))
            .merge(("security.confirmable", true))
    })
    .await;
    app.user("floor@example.com", "password 12345", &[]).await;
    for (uri, email) in [
        ("/reset", "floor@example.com"),
        ("/reset", "nobody@example.com"),
        ("/confirm", "floor@example.com"),
        ("/recover-username", "nobody@example.com"),
    ] {
        let start = std::time::Instant::now();
        let (s, _) = {
            let r = app.post_json(uri, json!({ "email": email })).await;
            (r.status(), r.into_string().await)
        };
        let took = start.elapsed();
        assert_eq!(s, Status::Ok, "{uri} {email}");
        // A floor, not a speed claim: the answer is held at least this long.
        assert!(
            took >= Duration::from_millis(300),
            "{uri} {email}: {took:?}"
        );
    }
}
