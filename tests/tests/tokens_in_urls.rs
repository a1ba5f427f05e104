//! Tokens in URLs: the masking logger keeps `auth_token` values and mailed-link tokens out
//! of the log (Rocket logs every request line), and `token_in_query = false` refuses
//! query-string tokens. Own test binary: the logger is process-wide.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex, OnceLock};

use rocket::http::{Accept, Header, Status};
use security_runtime::log_filter::MaskingLogger;
use security_runtime::SecurityConfig;
use security_tests::{backends, TestApp};

/// The lines logged by this binary, through the masking logger. Every test calls it
/// before building an app: the first Rocket to launch would install its own logger.
fn masked_lines() -> Arc<Mutex<Vec<String>>> {
    static LINES: OnceLock<Arc<Mutex<Vec<String>>>> = OnceLock::new();
    LINES
        .get_or_init(|| {
            let lines: Arc<Mutex<Vec<String>>> = Arc::default();
            let keep = lines.clone();
            MaskingLogger::new(&SecurityConfig::default(), log::LevelFilter::Info)
                .sink(Arc::new(move |l: &str| {
                    keep.lock().unwrap().push(l.to_owned())
                }))
                .install()
                .unwrap();
            lines
        })
        .clone()
}

#[rocket::async_test]
async fn request_lines_are_logged_without_their_tokens() {
    let lines = masked_lines();
    let b = backends()[0];
    let app = TestApp::configured(b, "security.recoverable", true).await;
    app.user("log@example.com", "a strong pass phrase", &[])
        .await;
    let token = app
        .token_only("log@example.com", "a strong pass phrase")
        .await;
    let uri = format!("/token?auth_token={token}");
    assert_eq!(app.get_json(&uri).await.status(), Status::Ok);
    let link = "/reset/Imxpbmstc2VjcmV0Ig.aBcDeF.secret-part";
    app.client.get(link).dispatch().await;
    let logged = lines.lock().unwrap().join("\n");
    assert!(logged.contains("/token?auth_token=***"), "{logged}");
    assert!(logged.contains("/reset/***"), "{logged}");
    assert!(!logged.contains(&token), "{logged}");
    assert!(!logged.contains("secret-part"), "{logged}");
}

#[rocket::async_test]
async fn query_tokens_can_be_refused() {
    masked_lines();
    for b in backends() {
        let app = TestApp::configured(b, "security.token_in_query", false).await;
        app.user("q@example.com", "a strong pass phrase", &[]).await;
        let token = app
            .token_only("q@example.com", "a strong pass phrase")
            .await;
        let by_query = format!("/token?auth_token={token}");
        assert_eq!(app.status(&by_query).await, Status::Unauthorized, "{b:?}");
        let header = Header::new("Authentication-Token", token.clone());
        let get = |uri: String| app.client.get(uri).header(Accept::JSON);
        let r = get("/token".into()).header(header.clone()).dispatch().await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // Both: the query token makes the request unauthenticated.
        let r = get(by_query).header(header).dispatch().await;
        assert_eq!(r.status(), Status::Unauthorized, "{b:?}");
    }
    // The default reads them, as Flask-Security.
    let app = TestApp::with_user(backends()[0], "d@example.com", "a strong pass phrase").await;
    let token = app
        .token_only("d@example.com", "a strong pass phrase")
        .await;
    assert_eq!(
        app.status(&format!("/token?auth_token={token}")).await,
        Status::Ok
    );
}
