//! A user row written by Flask-Security-Too 5.9.2 with `us_totp_secrets` and
//! `us_phone_number` signs in here through unified sign-in (`/us-signin`), on every backend:
//! with the authenticator code of the key Flask-Security reported (the identity being the
//! phone number typed another way), with the password Flask-Security hashed, with a code of
//! its `email` secret, and with a code texted from its `sms` secret. The same code is refused
//! a second time, and afterwards Flask-Security still signs the user in from the unchanged
//! row.
//!
//! `scripts/flask_security_db.py us-user` writes the row with Flask-Security's own TOTP
//! factory and `us_set`; it runs when `FLASK_SECURITY_PYTHON` names a Python with
//! Flask-Security-Too (and its `mfa` extra: cryptography, qrcode, phonenumbers),
//! Flask-SQLAlchemy, psycopg2 and PyMySQL. Unset, the tests check nothing (and fail under
//! `CI=true`).
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rocket::figment::Figment;
use rocket::http::Status;
use rocket::local::asynchronous::Client;
use rocket::serde::json::{json, Value};
use security_runtime::totp::TotpKey;
use security_runtime::Security;
use security_tests::flask::{self, flask_security, sqlalchemy_url};
use security_tests::sms_server::{SmsServer, ACCOUNT_SID, AUTH_TOKEN};
use security_tests::two_factor::{code_in, csrf_of, get, post, signed_in};
use security_tests::{
    app, backends, field_errors, fresh_database, test_figment, Backend, Clock, TestApp,
};

const MODEL: &str = "fsqla_v3";
const EMAIL: &str = "py-us@example.com";
const PASSWORD: &str = "fs unified password 1";
/// The phone number as given to Flask-Security, and as stored (E.164).
const PHONE_TYPED: &str = "650-555-0123";
const PHONE: &str = "+16505550123";
const TOTP_SECRET: &str = "tf-secret-one";
const ISSUER: &str = "Rocket Test";
const INVALID: &str = "Password or code submitted is not valid";

/// Unified sign-in as the script configures Flask-Security, texts to `sms`.
fn unified(f: Figment, sms: &SmsServer) -> Figment {
    let sms_config = BTreeMap::from([
        ("ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("AUTH_TOKEN", AUTH_TOKEN.to_owned()),
        ("PHONE_NUMBER", "+15005550006".to_owned()),
        ("BASE_URL", sms.base_url()),
    ]);
    f.merge(("security.unified_signin", true))
        .merge((
            "security.totp_secrets",
            BTreeMap::from([("1", TOTP_SECRET)]),
        ))
        .merge(("security.totp_issuer", ISSUER))
        .merge((
            "security.user_identity_attributes",
            ["email", "us_phone_number"],
        ))
        .merge(("security.sms_service", "Twilio"))
        .merge(("security.sms_service_config", sms_config))
}

/// Our app on a database whose one user Flask-Security set up for unified sign-in.
struct Theirs {
    app: TestApp,
    clock: Clock,
    sms: SmsServer,
    /// The answer of `us-user`: `b32` keys per method and the stored columns.
    written: Value,
    /// The database as SQLAlchemy names it.
    sa_url: String,
}

impl Theirs {
    /// The current code of the key Flask-Security reported for `method`.
    fn code(&self, method: &str) -> String {
        let key = TotpKey::from_b32(self.written["b32"][method].as_str().unwrap()).unwrap();
        key.current_code(self.clock.now() as f64)
    }
}

/// Flask-Security writes the user, then our app opens the database.
async fn theirs(python: &str, b: Backend) -> Theirs {
    let url = fresh_database(b).await;
    let sa_url = sqlalchemy_url(b, &url);
    let args = ["us-user", &sa_url, MODEL, EMAIL, PASSWORD, PHONE_TYPED];
    let written = flask_security(python, &args);
    assert_eq!(written["us_phone_number"], PHONE, "{b:?}: {written}");
    let sms = SmsServer::start().await;
    let clock = Clock::new();
    let figment = unified(test_figment(&url), &sms);
    let client = Client::tracked(app(b, figment, clock.install(Security::new())))
        .await
        .unwrap_or_else(|e| panic!("{b:?}: launch failed: {e}"));
    let app = TestApp { client, backend: b };
    Theirs {
        app,
        clock,
        sms,
        written,
        sa_url,
    }
}

/// `GET /us-signin`: the CSRF token of the sign-in form.
async fn signin_csrf(app: &TestApp) -> String {
    let (s, v) = get(app, "/us-signin").await;
    assert_eq!(s, Status::Ok, "{v}");
    csrf_of(&v)
}

/// `POST /us-signin` with `identity` and `passcode`: (status, `response`).
async fn us_signin(app: &TestApp, identity: &str, passcode: &str) -> (Status, Value) {
    let csrf = signin_csrf(app).await;
    let body = json!({"identity": identity, "passcode": passcode, "remember": false});
    post(app, "/us-signin", body, &csrf).await
}

/// Asserts that `identity` with `passcode` signs in as the Flask-Security user.
async fn signs_in(t: &Theirs, identity: &str, passcode: &str, what: &str) {
    let b = t.app.backend;
    let (s, v) = us_signin(&t.app, identity, passcode).await;
    assert_eq!(s, Status::Ok, "{b:?}: {what} refused: {v}");
    // Flask-Security's default user payload is `{}`: ask the session whose it is.
    assert!(v["user"].is_object(), "{b:?}: {v}");
    assert_eq!(v["tf_required"], false, "{b:?}: {v}");
    let r = t.app.get_json("/profile").await;
    assert_eq!(r.status(), Status::Ok, "{b:?}: {what}: not signed in");
    let profile = r.into_string().await.unwrap();
    assert_eq!(profile, format!("profile {EMAIL}"), "{b:?}");
}

/// Asserts that `identity` with `passcode` is refused as a wrong passcode.
async fn refused(t: &Theirs, identity: &str, passcode: &str, what: &str) {
    let b = t.app.backend;
    let (s, v) = us_signin(&t.app, identity, passcode).await;
    assert_eq!(s, Status::BadRequest, "{b:?}: {what} signed in: {v}");
    let errors = field_errors(&json!({ "response": v }), "passcode");
    assert_eq!(errors, [INVALID], "{b:?}: {v}");
    assert!(!signed_in(&t.app).await, "{b:?}: {what}: signed in");
}

#[rocket::async_test]
async fn the_form_offers_what_flask_security_set_up() {
    let Some(python) = flask::python("Flask-Security unified sign-in") else {
        return;
    };
    for b in backends() {
        let t = theirs(&python, b).await;
        let (s, v) = get(&t.app, "/us-signin").await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
        let methods = json!(["password", "email", "authenticator", "sms"]);
        assert_eq!(v["available_methods"], methods, "{b:?}: {v}");
        assert_eq!(v["code_methods"], json!(["email", "sms"]), "{b:?}: {v}");
        let attrs = json!(["email", "us_phone_number"]);
        assert_eq!(v["identity_attributes"], attrs, "{b:?}: {v}");
    }
}

#[rocket::async_test]
async fn their_authenticator_signs_in_by_phone_once() {
    let Some(python) = flask::python("Flask-Security unified sign-in") else {
        return;
    };
    for b in backends() {
        let t = theirs(&python, b).await;
        let code = t.code("authenticator");
        refused(&t, "(650) 555-0123", &wrong(&code), "a wrong code").await;
        signs_in(&t, "(650) 555-0123", &code, "their authenticator code").await;
        t.app.logout().await;
        refused(&t, "+1 650 555 0123", &code, "the same code again").await;
        still_theirs(&python, t).await;
    }
}

/// A six-digit code other than `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 500_000) % 1_000_000)
}

#[rocket::async_test]
async fn their_password_and_email_secret_sign_in() {
    let Some(python) = flask::python("Flask-Security unified sign-in") else {
        return;
    };
    for b in backends() {
        let t = theirs(&python, b).await;
        refused(&t, EMAIL, "not the password 9", "a wrong password").await;
        signs_in(&t, EMAIL, PASSWORD, "their password").await;
        t.app.logout().await;
        signs_in(&t, EMAIL, &t.code("email"), "a code of their email secret").await;
    }
}

#[rocket::async_test]
async fn a_code_texted_from_their_sms_secret_signs_in() {
    let Some(python) = flask::python("Flask-Security unified sign-in") else {
        return;
    };
    for b in backends() {
        let t = theirs(&python, b).await;
        let csrf = signin_csrf(&t.app).await;
        let body = json!({"identity": "650.555.0123", "chosen_method": "sms"});
        let (s, v) = post(&t.app, "/us-signin/send-code", body, &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?}: {v}");
        let texts = t.sms.wait_for(1).await;
        assert_eq!(texts.len(), 1, "{b:?}: {texts:?}");
        assert_eq!(texts[0].to, PHONE, "{b:?}");
        let code = code_in(&texts[0].body);
        assert_eq!(code, t.code("sms"), "{b:?}: not their sms secret's code");
        signs_in(&t, "650.555.0123", &code, "the texted code").await;
    }
}

/// After our sign-ins the row is as Flask-Security wrote it, and Flask-Security signs the
/// user in with it again (a code of the wall clock: Flask-Security has no test clock).
async fn still_theirs(python: &str, t: Theirs) {
    let b = t.app.backend;
    let user = t.app.by_email(EMAIL, false).await.unwrap();
    let stored = user.us_totp_secrets.as_deref();
    assert_eq!(stored, t.written["us_totp_secrets"].as_str(), "{b:?}");
    assert_eq!(user.us_phone_number.as_deref(), Some(PHONE), "{b:?}");
    let b32 = t.written["b32"]["authenticator"].as_str().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let code = TotpKey::from_b32(b32)
        .unwrap()
        .current_code(now.as_secs_f64());
    let (sa_url, written) = (t.sa_url.clone(), t.written.clone());
    drop(t);
    let args = ["us-signin", &sa_url, MODEL, "(650) 555-0123", &code];
    let back = flask_security(python, &args);
    assert_eq!(back["status"], 200, "{b:?}: {back}");
    assert_eq!(back["roles"], json!([]), "{b:?}: {back}");
    assert_eq!(back["us_totp_secrets"], written["us_totp_secrets"], "{b:?}");
    assert_eq!(back["us_phone_number"], PHONE, "{b:?}");
}
