//! Helpers of the two-factor tests: an app with two-factor on, its SMTP and SMS
//! listeners and clock, JSON posts that carry the CSRF token themselves (a `GET /login`
//! would end a partial sign-in), and codes from mails, texts and stored secrets.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_runtime::totp::TotpKey;
use security_runtime::Security;

use crate::flows::features;
use crate::sms_server::{SmsServer, ACCOUNT_SID, AUTH_TOKEN};
use crate::smtp::SmtpSink;
use crate::{Backend, Clock, TestApp};

/// The password of every user here.
pub const PW: &str = "a strong pass phrase";

/// Texts through the loopback Twilio-shaped server `sms`, mail to `sink`.
pub fn messaging(f: Figment, sink: &SmtpSink, sms: &SmsServer) -> Figment {
    let sms_config = BTreeMap::from([
        ("ACCOUNT_SID", ACCOUNT_SID.to_owned()),
        ("AUTH_TOKEN", AUTH_TOKEN.to_owned()),
        ("PHONE_NUMBER", "+15005550006".to_owned()),
        ("BASE_URL", sms.base_url()),
    ]);
    f.merge(("security.sms_service", "Twilio"))
        .merge(("security.sms_service_config", sms_config))
        .merge(("security.mail_server", "127.0.0.1"))
        .merge(("security.mail_port", sink.port()))
}

/// Two-factor on (every method), recovery codes on, mail to `sink`, texts to `sms`.
pub fn two_factor(f: Figment, sink: &SmtpSink, sms: &SmsServer) -> Figment {
    let f = features(f)
        .merge(("security.two_factor", true))
        .merge(("security.multi_factor_recovery_codes", true))
        .merge(("security.totp_issuer", "Rocket Test"))
        .merge((
            "security.totp_secrets",
            BTreeMap::from([("1", "tf-secret-one")]),
        ));
    messaging(f, sink, sms)
}

/// A two-factor app on its own clock, with its mail and text listeners.
pub struct Tf {
    /// The app.
    pub app: TestApp,
    /// Its mail.
    pub sink: SmtpSink,
    /// Its texts.
    pub sms: SmsServer,
    /// Its clock.
    pub clock: Clock,
}

impl Tf {
    /// An app with `settings` (given its mail and text listeners), then `tweak`, on its
    /// own clock.
    pub async fn start(
        b: Backend,
        settings: fn(Figment, &SmtpSink, &SmsServer) -> Figment,
        tweak: impl FnOnce(Figment) -> Figment,
    ) -> Tf {
        Tf::start_with(b, settings, tweak, Security::new()).await
    }

    /// [`Tf::start`] with `security` (signal listeners, hooks) under the clock.
    pub async fn start_with(
        b: Backend,
        settings: fn(Figment, &SmtpSink, &SmsServer) -> Figment,
        tweak: impl FnOnce(Figment) -> Figment,
        security: Security,
    ) -> Tf {
        let sink = SmtpSink::start().await;
        let sms = SmsServer::start().await;
        let clock = Clock::new();
        let app = TestApp::with(
            b,
            |f| tweak(settings(f, &sink, &sms)),
            clock.install(security),
        )
        .await;
        Tf {
            app,
            sink,
            sms,
            clock,
        }
    }
}

/// A two-factor app ([`two_factor`] settings, then `tweak`).
pub async fn tf_app(b: Backend, tweak: impl FnOnce(Figment) -> Figment) -> Tf {
    Tf::start(b, two_factor, tweak).await
}

/// A JSON POST carrying `csrf` (no extra `GET /login`, which would end a partial
/// sign-in): (status, `response`).
pub async fn post(app: &TestApp, uri: &str, mut body: Value, csrf: &str) -> (Status, Value) {
    post_with(app, uri, &mut body, csrf, &[]).await
}

/// [`post`] with extra `headers`; `body` gets the token.
pub async fn post_with(
    app: &TestApp,
    uri: &str,
    body: &mut Value,
    csrf: &str,
    headers: &[Header<'static>],
) -> (Status, Value) {
    body["csrf_token"] = json!(csrf);
    let mut req = app
        .client
        .post(uri.to_owned())
        .header(ContentType::JSON)
        .header(Header::new("X-CSRF-Token", csrf.to_owned()));
    for h in headers {
        req = req.header(h.clone());
    }
    let r = req.body(body.to_string()).dispatch().await;
    let s = r.status();
    let v: Value = r.into_json().await.unwrap_or(Value::Null);
    (s, v["response"].clone())
}

/// A JSON GET: (status, `response`).
pub async fn get(app: &TestApp, uri: &str) -> (Status, Value) {
    let r = app.get_json(uri).await;
    let s = r.status();
    let v: Value = r.into_json().await.unwrap_or(Value::Null);
    (s, v["response"].clone())
}

/// Signs in with the password only; (status, response).
pub async fn password_step(app: &TestApp, email: &str) -> (Status, Value) {
    let csrf = app.csrf().await;
    post(
        app,
        "/login",
        json!({"email": email, "password": PW}),
        &csrf,
    )
    .await
}

/// The `csrf_token` of a response.
pub fn csrf_of(v: &Value) -> String {
    v["csrf_token"].as_str().unwrap().to_owned()
}

/// The six-digit code in a mail or text.
pub fn code_in(text: &str) -> String {
    let digits: Vec<char> = text.chars().collect();
    for w in digits.windows(6) {
        if w.iter().all(char::is_ascii_digit) {
            return w.iter().collect();
        }
    }
    panic!("no code in {text}")
}

/// The user's current authenticator code, from the secret stored for them.
pub async fn stored_code(t: &Tf, email: &str) -> String {
    let user = t.app.by_email(email, false).await.unwrap();
    let key = t
        .app
        .state()
        .totp
        .as_ref()
        .unwrap()
        .decrypt(user.tf_totp_secret.as_deref().unwrap())
        .unwrap();
    key.current_code(t.clock.now() as f64)
}

/// Sets up the authenticator for a signed-in session; returns the key.
pub async fn setup_authenticator(t: &Tf, csrf: &str) -> TotpKey {
    let (s, v) = post(&t.app, "/tf-setup", json!({"setup": "authenticator"}), csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["tf_state"], "validating_profile");
    assert_eq!(v["tf_method"], "authenticator");
    assert_eq!(v["tf_authr_issuer"], "Rocket Test");
    assert!(v["tf_state_token"].is_string(), "{v}");
    let b32 = v["tf_authr_b32key"].as_str().unwrap();
    assert!(b32.len() >= 32, "160-bit key: {b32}");
    let uri = v["tf_authr_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/Rocket%20Test:"), "{uri}");
    assert!(
        uri.contains(&format!("secret={b32}&issuer=Rocket%20Test")),
        "{uri}"
    );
    assert_eq!(v["tf_authr_key"].as_str().unwrap().replace('-', ""), b32);
    assert!(v.get("user").is_none(), "{v}");
    TotpKey::from_b32(b32).unwrap()
}

/// True when the app's session is signed in (`/profile` answers).
pub async fn signed_in(app: &TestApp) -> bool {
    app.status("/profile").await == Status::Ok
}

/// A user with the authenticator set up, signed out again; returns the key.
pub async fn authenticator_user(t: &Tf, email: &str) -> TotpKey {
    t.app.user(email, PW, &[]).await;
    let (s, v) = password_step(&t.app, email).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["tf_required"], false, "no method yet: {v}");
    let csrf = csrf_of(&v);
    let key = setup_authenticator(t, &csrf).await;
    let code = key.current_code(t.clock.now() as f64);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let user = t.app.by_email(email, false).await.unwrap();
    assert_eq!(user.tf_primary_method.as_deref(), Some("authenticator"));
    t.app.logout().await;
    key
}
