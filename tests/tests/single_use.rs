//! Single use under concurrency, and revocation that sticks: a reset link used 20 times at
//! once resets once; 20 password changes on one session at once store one; reactivating a
//! user does not revive the sessions and tokens from before the deactivation.
#![allow(clippy::unwrap_used)]

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_tests::flows::{captured, last_link};
use security_tests::{backends, csrf_header, path_of, TestApp};

const PW: &str = "old password 1";

/// `n` parallel JSON POSTs of `body` to `uri` with `csrf`: the statuses and bodies.
async fn parallel(
    app: &TestApp,
    uri: &str,
    body: Value,
    csrf: &str,
    n: usize,
) -> Vec<(Status, Value)> {
    let posts = (0..n).map(|_| {
        let req = app.client.post(uri.to_owned()).header(ContentType::JSON);
        req.header(csrf_header(csrf))
            .body(body.to_string())
            .dispatch()
    });
    let mut out = Vec::new();
    for r in join_all(posts).await {
        let s = r.status();
        out.push((s, r.into_json().await.unwrap_or(Value::Null)));
    }
    out
}

#[rocket::async_test]
async fn twenty_parallel_uses_of_one_reset_link_reset_once() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("race@example.com", PW, &[]).await;
        let csrf = app.csrf().await;
        let r = app
            .post_json("/reset", json!({"email": "race@example.com"}))
            .await;
        assert_eq!(r.status(), Status::Ok);
        let path = path_of(&last_link(&mailer));
        let body = json!({"password": "new password 2", "password_confirm": "new password 2"});
        let answers = parallel(&app, &path, body, &csrf, 20).await;
        let ok = answers.iter().filter(|(s, _)| *s == Status::Ok).count();
        assert_eq!(ok, 1, "{b:?}: {answers:?}");
        let used = json!(["Invalid reset password token."]);
        for (s, v) in answers.iter().filter(|(s, _)| *s != Status::Ok) {
            assert_eq!(
                (*s, &v["response"]["errors"]),
                (Status::BadRequest, &used),
                "{b:?}"
            );
        }
        let notices = mailer
            .messages()
            .iter()
            .filter(|m| m.template == "reset_notice")
            .count();
        assert_eq!(notices, 1, "{b:?}");
    }
}

#[rocket::async_test]
async fn twenty_parallel_password_changes_on_one_session_store_one() {
    for b in backends() {
        let (app, _) = captured(b, |f| f).await;
        app.user("change@example.com", PW, &[]).await;
        let csrf = app.login_csrf("change@example.com", PW).await;
        let body = json!({"password": PW, "new_password": "new password 2",
            "new_password_confirm": "new password 2"});
        let answers = parallel(&app, "/change", body, &csrf, 20).await;
        let ok = answers.iter().filter(|(s, _)| *s == Status::Ok).count();
        assert_eq!(ok, 1, "{b:?}: {answers:?}");
    }
}

#[rocket::async_test]
async fn reactivation_does_not_revive_old_sessions_or_tokens() {
    for b in backends() {
        let app = TestApp::with_user(b, "back@example.com", PW).await;
        let token = app.token_login("back@example.com", PW).await;
        assert_eq!(app.status("/profile").await, Status::Ok);
        let mut user = app.by_email("back@example.com", false).await.unwrap();
        let ds = app.datastore();
        assert!(ds.deactivate_user(&mut user).await.unwrap());
        assert_eq!(app.status("/profile").await, Status::Unauthorized);
        assert!(ds.activate_user(&mut user).await.unwrap());
        assert_eq!(
            app.status("/profile").await,
            Status::Unauthorized,
            "{b:?}: session revived"
        );
        assert_eq!(
            app.token_status("/token", &token).await,
            Status::Unauthorized,
            "{b:?}"
        );
        // Signing in again works.
        assert_eq!(app.login("back@example.com", PW).await.0, Status::Ok);
    }
}

/// Issue 11, item 4: a reset link dies when a newer one is issued and when the email
/// changes (through the mailed change-email link).
#[rocket::async_test]
async fn a_reset_link_dies_with_a_newer_link_or_an_email_change() {
    const INVALID: &str = "Invalid reset password token.";
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("bound@example.com", PW, &[]).await;
        let request = || app.post_json("/reset", json!({"email": "bound@example.com"}));
        assert_eq!(request().await.status(), Status::Ok);
        let older = path_of(&last_link(&mailer));
        assert_eq!(request().await.status(), Status::Ok);
        let newer = path_of(&last_link(&mailer));
        assert_ne!(older, newer);
        let body = json!({"password": "new password 2", "password_confirm": "new password 2"});
        let r = app.post_json(&older, body.clone()).await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}: the older link");
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["errors"], json!([INVALID]), "{b:?}");
        // The newer link is good until the email changes.
        assert_eq!(app.status(&newer).await, Status::Ok, "{b:?}");
        app.login("bound@example.com", PW).await;
        let r = app
            .post_json("/change-email", json!({"email": "moved@example.com"}))
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(mailer.messages().last().unwrap().to, "moved@example.com");
        let confirm = path_of(&last_link(&mailer));
        assert!(app.status(&confirm).await.code < 400, "{b:?}");
        assert!(app.by_email("moved@example.com", false).await.is_some());
        app.logout().await;
        let r = app.post_json(&newer, body).await;
        assert_eq!(
            r.status(),
            Status::BadRequest,
            "{b:?}: mailed to the old address"
        );
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["errors"], json!([INVALID]), "{b:?}");
    }
}
