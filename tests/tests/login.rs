//! Login and logout over HTTP, JSON and form, as Flask-Security answers them.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_tests::{backends, TestApp};

#[rocket::async_test]
async fn json_login_success_envelope_and_session() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let (status, body) = app.login("matt@lp.com", "password123").await;
        assert_eq!(status, Status::Ok, "{b:?} {body}");
        assert_eq!(body["meta"]["code"], 200);
        assert_eq!(body["response"]["user"], json!({}));
        assert!(body["response"]["csrf_token"].as_str().is_some());
        assert!(body["response"]["user"].get("authentication_token").is_none());
        let r = app.get_json("/profile").await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "profile matt@lp.com");
    }
}
