//! Rotating `secret_key`: the new key signs every new auth and CSRF token, and the old
//! one, moved to `secret_key_fallbacks`, only verifies what it signed before.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::json;
use security_runtime::tokens::TokenSerializer;
use security_runtime::{Security, UserQuery};
use security_tests::{backends, TestApp};

const OLD: &str = "the-old-secret-key-0123456789abcdef";
const NEW: &str = "the-new-secret-key-0123456789abcdef";
const EMAIL: &str = "matt@lp.com";

fn serializer(key: &str, salt: &str) -> TokenSerializer {
    TokenSerializer::new(vec![key.as_bytes().to_vec()], salt)
}

fn now() -> u64 {
    security_runtime::chrono::Utc::now().timestamp() as u64
}

#[rocket::async_test]
async fn the_current_key_signs_and_a_fallback_only_verifies() {
    for b in backends() {
        let app = TestApp::with(
            b,
            |f| {
                f.merge(("security.secret_key", NEW))
                    .merge(("security.secret_key_fallbacks", [OLD]))
            },
            Security::new(),
        )
        .await;
        app.user(EMAIL, "password123", &[]).await;

        // A new auth token and a new CSRF token are signed with the new key only.
        let token = app.token_login(EMAIL, "password123").await;
        let by = |key| serializer(key, "remember-salt").loads_at(&token, None, now());
        assert!(by(NEW).is_ok(), "{b:?}");
        assert!(by(OLD).is_err(), "{b:?}: signed with the fallback");
        let csrf = app.csrf().await;
        let csrf_by = |key| serializer(key, "wtf-csrf-token").loads_at(&csrf, None, now());
        assert!(csrf_by(NEW).is_ok() && csrf_by(OLD).is_err(), "{b:?}");

        // A token the old key signed before the rotation is still accepted.
        let user = app
            .datastore()
            .find_user(&UserQuery::Email(EMAIL.into()), false)
            .await
            .unwrap()
            .unwrap();
        let claims = json!({"ver": "5", "uid": user.fs_token_uniquifier, "fs_paa": 1.0, "exp": 0});
        let old_token = serializer(OLD, "remember-salt").dumps_at(&claims, now());
        let status = app.token_status("/token", &old_token).await;
        assert_eq!(status, Status::Ok, "{b:?}");
        // One signed with neither is not.
        let forged =
            serializer("some-other-key-0123456789abcdef", "remember-salt").dumps_at(&claims, now());
        let status = app.token_status("/token", &forged).await;
        assert_eq!(status, Status::Unauthorized, "{b:?}");
    }
}

/// An app on `url` with the flows on, `secret_key` and `fallbacks`, and captured mail.
async fn instance(
    b: security_tests::Backend,
    url: &str,
    key: &str,
    fallbacks: &[&str],
) -> (TestApp, security_runtime::mail::CapturingMailer) {
    let mailer = security_runtime::mail::CapturingMailer::new();
    let figment = security_tests::flows::features(security_tests::test_figment(url))
        .merge(("security.secret_key", key))
        .merge(("security.secret_key_fallbacks", fallbacks));
    let security = Security::new().mail_util(std::sync::Arc::new(mailer.clone()));
    let client =
        rocket::local::asynchronous::Client::tracked(security_tests::app(b, figment, security))
            .await
            .unwrap();
    (TestApp { client, backend: b }, mailer)
}

#[rocket::async_test]
async fn a_link_mailed_before_a_rotation_works_after_it_while_the_old_key_is_a_fallback() {
    for b in backends() {
        let url = security_tests::fresh_database(b).await;
        let (before, mailer) = instance(b, &url, OLD, &[]).await;
        before.user(EMAIL, "password123", &[]).await;
        let r = before.post_json("/reset", json!({"email": EMAIL})).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let text = mailer.messages().last().unwrap().text.clone().unwrap();
        let path = security_tests::path_of(&security_tests::find_link(&text));
        let body = json!({"password": "a new password 1", "password_confirm": "a new password 1"});

        // Rotated without keeping the old key: the link is dead.
        let (forgot, _) = instance(b, &url, NEW, &[]).await;
        let r = forgot.post_json(&path, body.clone()).await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}");
        // Rotated with the old key as a fallback: it works.
        let (after, _) = instance(b, &url, NEW, &[OLD]).await;
        let r = after.post_json(&path, body).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(after.login(EMAIL, "a new password 1").await.0, Status::Ok);
    }
}
