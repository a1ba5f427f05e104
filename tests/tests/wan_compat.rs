//! Passkeys registered through Flask-Security-Too 5.9.2's own `/wan-register` views
//! (verified there by py_webauthn and stored its way: COSE key bytes, the user handle as
//! the ASCII of a hex string) sign in here, Ed25519 and ES256 alike, with and without an
//! identity hint, on every backend. The assertions are signed by
//! `scripts/soft_authenticator.py` (`cryptography`), the authenticator that registered
//! them; the stored counter follows.
//!
//! Runs when `FLASK_SECURITY_PYTHON` is set (`.ci/run` sets it; under `CI=true` a missing
//! one fails).
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};
use security_runtime::Security;
use security_tests::flask::{self, flask_security, run_script, sqlalchemy_url};
use security_tests::two_factor::{csrf_of, get, post};
use security_tests::{app, backends, fresh_database, test_figment, TestApp};

const MODEL: &str = "fsqla_v3";
/// Users `flask_security_db.py create` writes, and the key type each registers.
const USERS: [(&str, &str, &str); 2] = [
    ("admin@example.com", "fs admin password 1", "EdDSA"),
    ("editor@example.com", "fs editor password 2", "ES256"),
];

/// Signs in with the key of `secret` (signature counter `count`): (status, response).
async fn signin(
    app: &TestApp,
    python: &str,
    secret: &Value,
    identity: Option<&str>,
    count: u32,
) -> (Status, Value) {
    let (_, v) = get(app, "/wan-signin").await;
    let body = identity.map_or_else(|| json!({}), |i| json!({"identity": i}));
    let (s, v) = post(app, "/wan-signin", body, &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok, "{v}");
    let options = v["credential_options"].to_string();
    let args = [
        "assert",
        &secret.to_string(),
        &options,
        "http://localhost",
        &count.to_string(),
    ];
    let signed = run_script(python, "soft_authenticator.py", &args);
    let uri = format!("/wan-signin/{}", v["wan_state"].as_str().unwrap());
    post(
        app,
        &uri,
        json!({"credential": signed["credential"]}),
        &csrf_of(&v),
    )
    .await
}

#[rocket::async_test]
async fn passkeys_registered_by_flask_security_sign_in_here() {
    let Some(python) = flask::python("Flask-Security passkeys") else {
        return;
    };
    for b in backends() {
        let url = fresh_database(b).await;
        let sa_url = sqlalchemy_url(b, &url);
        flask_security(&python, &["create", &sa_url, MODEL]);
        let mut secrets = Vec::new();
        for (email, password, alg) in USERS {
            let args = [
                "wan-register",
                &sa_url,
                MODEL,
                email,
                password,
                alg,
                "fs key",
            ];
            let v = flask_security(&python, &args);
            assert_eq!(v["status"], 200, "{b:?} {alg}: Flask-Security refused: {v}");
            secrets.push(v["secret"].clone());
        }
        let figment = test_figment(&url).merge(("security.webauthn", true));
        let client = Client::tracked(app(b, figment, Security::new()))
            .await
            .unwrap_or_else(|e| panic!("{b:?}: launch failed: {e}"));
        let app = TestApp { client, backend: b };
        for ((email, _, alg), secret) in USERS.iter().zip(&secrets) {
            for (count, hint) in [(1, None), (2, Some(*email))] {
                let (s, v) = signin(&app, &python, secret, hint, count).await;
                assert_eq!(s, Status::Ok, "{b:?} {alg} hint {hint:?}: {v}");
                let r = app.client.get("/profile").dispatch().await;
                let who = r.into_string().await.unwrap_or_default();
                assert_eq!(who, format!("profile {email}"), "{b:?} {alg}");
                app.logout().await;
            }
            let user = app.by_email(email, false).await.unwrap();
            let store = app.datastore().webauthn_store().unwrap();
            let creds = store.credentials_of(user.id).await.unwrap();
            assert_eq!(creds.len(), 1, "{b:?}");
            assert_eq!((creds[0].name.as_str(), creds[0].sign_count), ("fs key", 2));
            // A count that does not grow: refused.
            let (s, v) = signin(&app, &python, secret, None, 2).await;
            assert_eq!(s, Status::BadRequest, "{b:?} {alg}: {v}");
            let why = "Could not verify passkey: sign count did not increase.";
            assert_eq!(v["errors"], json!([why]), "{b:?} {alg}");
        }
    }
}
