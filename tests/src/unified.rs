//! Helpers of the unified sign-in tests: an app with unified sign-in on (every method,
//! phone numbers as identities), its mail and text listeners and clock, and the steps
//! that set a method up over HTTP.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rocket::figment::Figment;
use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_runtime::totp::TotpKey;

use crate::flows::features;
use crate::sms_server::SmsServer;
use crate::smtp::{ReceivedMail, SmtpSink};
use crate::two_factor::{code_in, csrf_of, get, messaging, post, Tf, PW};
use crate::{Backend, TestApp};

/// Unified sign-in on (every method; email, username and phone as identities), mail to
/// `sink`, texts to `sms`.
pub fn unified(f: Figment, sink: &SmtpSink, sms: &SmsServer) -> Figment {
    let f = features(f)
        .merge(("security.unified_signin", true))
        .merge((
            "security.user_identity_attributes",
            ["email", "us_phone_number"],
        ))
        .merge(("security.totp_issuer", "Rocket Test"))
        .merge((
            "security.totp_secrets",
            BTreeMap::from([("1", "tf-secret-one")]),
        ));
    messaging(f, sink, sms)
}

/// A unified sign-in app ([`unified`] settings, then `tweak`) on its own clock.
pub async fn us_app(b: Backend, tweak: impl FnOnce(Figment) -> Figment) -> Tf {
    Tf::start(b, unified, tweak).await
}

/// Signs in through `/us-signin` (JSON): (status, response).
pub async fn us_signin(app: &TestApp, identity: &str, passcode: &str) -> (Status, Value) {
    let (_, v) = get(app, "/us-signin").await;
    let csrf = csrf_of(&v);
    let body = json!({"identity": identity, "passcode": passcode});
    post(app, "/us-signin", body, &csrf).await
}

/// A user signed in with the password through `/us-signin`; returns the CSRF token.
pub async fn signed_in_user(t: &Tf, email: &str) -> String {
    t.app.user(email, PW, &[]).await;
    let (s, v) = us_signin(&t.app, email, PW).await;
    assert_eq!(s, Status::Ok, "{v}");
    csrf_of(&v)
}

/// Starts setting up `method` for the signed-in user: the setup answer.
pub async fn start_setup(t: &Tf, csrf: &str, method: &str, phone: Option<&str>) -> Value {
    let body = json!({"chosen_method": method, "phone": phone});
    let (s, v) = post(&t.app, "/us-setup", body, csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["chosen_method"], method);
    assert!(v["state"].is_string(), "{v}");
    v
}

/// Finishes a setup with `code`: (status, response).
pub async fn finish_setup(t: &Tf, csrf: &str, state: &Value, code: &str) -> (Status, Value) {
    let uri = format!("/us-setup/{}", state.as_str().unwrap());
    post(&t.app, &uri, json!({"passcode": code}), csrf).await
}

/// Sets up the authenticator for the signed-in user (the clock then moves to the next
/// step: the set-up's code is used up); returns its key.
pub async fn setup_authenticator(t: &Tf, csrf: &str) -> TotpKey {
    let v = start_setup(t, csrf, "authenticator", None).await;
    assert_eq!(v["authr_issuer"], "Rocket Test");
    let key = TotpKey::from_b32(v["authr_b32key"].as_str().unwrap()).unwrap();
    let code = key.current_code(t.clock.now() as f64);
    let (s, r) = finish_setup(t, csrf, &v["state"], &code).await;
    assert_eq!(s, Status::Ok, "{r}");
    assert_eq!(r["chosen_method"], "authenticator");
    // The set-up's code is used up: the next sign-in takes the next step's.
    t.clock.advance(30);
    key
}

/// Sets up the email method for the signed-in user (the code from the mail).
pub async fn setup_email(t: &Tf, csrf: &str) {
    let before = t.sink.received().len();
    let v = start_setup(t, csrf, "email", None).await;
    let mails = t
        .sink
        .wait_for(before + 1, std::time::Duration::from_secs(10))
        .await;
    let code = code_in(&mails.last().unwrap().body_text());
    let (s, r) = finish_setup(t, csrf, &v["state"], &code).await;
    assert_eq!(s, Status::Ok, "{r}");
    t.clock.advance(30);
}

/// Sets up sms with `phone` for the signed-in user (the code from the text).
pub async fn setup_sms(t: &Tf, csrf: &str, phone: &str) -> Value {
    let before = t.sms.sent().len();
    let v = start_setup(t, csrf, "sms", Some(phone)).await;
    let texts = t.sms.wait_for(before + 1).await;
    let code = code_in(&texts.last().unwrap().body);
    let (s, r) = finish_setup(t, csrf, &v["state"], &code).await;
    assert_eq!(s, Status::Ok, "{r}");
    t.clock.advance(30);
    r
}

/// Asks `/us-signin/send-code` for a code: (status, response).
pub async fn send_code(app: &TestApp, identity: &str, method: &str) -> (Status, Value) {
    let (_, v) = get(app, "/us-signin").await;
    let csrf = csrf_of(&v);
    let body = json!({"identity": identity, "chosen_method": method});
    post(app, "/us-signin/send-code", body, &csrf).await
}

/// A user with the email method set up, signed out, then mailed a sign-in code: that
/// mail (the second the app sent).
pub async fn mailed_code(t: &Tf, email: &str) -> ReceivedMail {
    let csrf = signed_in_user(t, email).await;
    setup_email(t, &csrf).await;
    t.app.logout().await;
    let (s, v) = send_code(&t.app, email, "email").await;
    assert_eq!(s, Status::Ok, "{v}");
    let mails = t.sink.wait_for(2, std::time::Duration::from_secs(10)).await;
    mails.last().cloned().unwrap()
}
