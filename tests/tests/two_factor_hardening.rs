//! What two-factor promises beyond the happy path (the security plan's M, E5, F and X2
//! items): parallel uses of one code, no single-factor way in, fresh sign-ins for
//! changes, CSRF, the remember-this-browser cookie, launch checks, signals.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use rocket::figment::Figment;
use rocket::http::{Accept, ContentType, Cookie, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::{json, Value};
use security_runtime::signals::Signal;
use security_runtime::{Security, SecurityConfig};
use security_tests::sms_server::SmsServer;
use security_tests::smtp::SmtpSink;
use security_tests::two_factor::{
    authenticator_user, code_in, csrf_of, get, password_step, post, signed_in, stored_code, tf_app,
    two_factor, PW,
};
use security_tests::{
    app, backends, basic, fresh_database, link_path, test_figment, Backend, Clock, TestApp,
};

/// A client without a cookie jar of its own, so that many sessions run side by side.
struct Bare {
    client: Client,
    clock: Clock,
    _sink: SmtpSink,
    _sms: SmsServer,
}

async fn bare(b: Backend) -> Bare {
    bare_with(b, |f| f).await
}

async fn bare_with(b: Backend, tweak: impl FnOnce(Figment) -> Figment) -> Bare {
    let (sink, sms, clock) = (
        SmtpSink::start().await,
        SmsServer::start().await,
        Clock::new(),
    );
    let url = fresh_database(b).await;
    let figment = tweak(two_factor(test_figment(&url), &sink, &sms));
    let client = Client::untracked(app(b, figment, clock.install(Security::new())))
        .await
        .unwrap();
    Bare {
        client,
        clock,
        _sink: sink,
        _sms: sms,
    }
}

/// A user of `t` with an authenticator secret: (state, user, stored secret).
async fn authenticator_in<'a>(
    t: &'a Bare,
    email: &str,
) -> (
    &'a security_runtime::SecurityState,
    security_runtime::User,
    String,
) {
    let st = t
        .client
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap();
    let secret = st.totp.as_ref().unwrap().generate_secret();
    let mut user = security_tests::create_user_in(st, email, PW).await;
    st.datastore
        .tf_set(&mut user, "authenticator", Some(&secret), None)
        .await
        .unwrap();
    (st, user, secret)
}

/// One browser's cookies and CSRF token.
#[derive(Clone, Default)]
struct Jar {
    cookies: Vec<Cookie<'static>>,
    csrf: String,
}

impl Jar {
    async fn keep(&mut self, r: LocalResponse<'_>) -> (Status, Value) {
        for c in r.cookies().iter() {
            self.cookies.retain(|k| k.name() != c.name());
            if !c.value().is_empty() {
                self.cookies.push(c.clone().into_owned());
            }
        }
        let s = r.status();
        let v: Value = r.into_json().await.unwrap_or(Value::Null);
        if let Some(t) = v["response"]["csrf_token"].as_str() {
            self.csrf = t.to_owned();
        }
        (s, v["response"].clone())
    }
}

async fn bare_post<'c>(
    client: &'c Client,
    jar: &Jar,
    uri: &str,
    mut body: Value,
) -> LocalResponse<'c> {
    body["csrf_token"] = json!(jar.csrf);
    client
        .post(uri.to_owned())
        .header(ContentType::JSON)
        .cookies(jar.cookies.clone())
        .body(body.to_string())
        .dispatch()
        .await
}

/// A browser that has passed the password step of `email`.
async fn partial_sign_in(client: &Client, email: &str) -> Jar {
    let mut jar = Jar::default();
    jar.keep(client.get("/login").header(Accept::JSON).dispatch().await)
        .await;
    let r = bare_post(
        client,
        &jar,
        "/login",
        json!({"email": email, "password": PW}),
    )
    .await;
    let (s, v) = jar.keep(r).await;
    assert_eq!(
        (s, v["tf_state"].as_str()),
        (Status::Ok, Some("ready")),
        "{v}"
    );
    jar
}

/// How many of the browsers' parallel POSTs of `body` to `uri` succeeded.
async fn successes(client: &Client, jars: &[Jar], uri: &str, body: Value) -> usize {
    let posts = jars.iter().map(|j| bare_post(client, j, uri, body.clone()));
    let answers = rocket::futures::future::join_all(posts).await;
    answers.iter().filter(|r| r.status() == Status::Ok).count()
}

#[rocket::async_test]
async fn twenty_parallel_uses_of_one_code_sign_in_once() {
    for b in backends() {
        // The 19 losers must not void the winner's sign-in before it is looked at: this
        // is about single use, not about the limit of wrong codes.
        let t = bare_with(b, |f| {
            f.merge(("security.two_factor_max_code_failures", 100))
        })
        .await;
        let (st, mut user, secret) = authenticator_in(&t, "race@example.com").await;
        let codes = "aaaa-bbbb-cccc,1111-2222-3333";
        assert!(st
            .datastore
            .swap_recovery_codes(&mut user, None, Some(codes))
            .await
            .unwrap());
        let mut jars = Vec::new();
        for _ in 0..20 {
            jars.push(partial_sign_in(&t.client, "race@example.com").await);
        }
        let key = st.totp.as_ref().unwrap().decrypt(&secret).unwrap();
        let code = key.current_code(t.clock.now() as f64);
        let won = successes(&t.client, &jars, "/tf-validate", json!({"code": code})).await;
        assert_eq!(won, 1, "{b:?}: one TOTP code signed in {won} times");
        let won = successes(
            &t.client,
            &jars,
            "/mf-recovery",
            json!({"code": "aaaa-bbbb-cccc"}),
        )
        .await;
        assert_eq!(won, 1, "{b:?}: one recovery code signed in {won} times");
        let user = st
            .datastore
            .find_user(&security_runtime::UserQuery::Id(user.id), false)
            .await;
        assert_eq!(
            user.unwrap().unwrap().mf_recovery_codes.as_deref(),
            Some("1111-2222-3333")
        );
    }
}

#[rocket::async_test]
async fn a_two_factor_user_has_no_single_factor_way_in() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    authenticator_user(&t, "mfa@example.com").await;
    t.app.user("plain@example.com", PW, &[]).await;
    let multi = |who: &str| t.app.client.get("/multi").header(basic(who, PW));
    // Basic authentication is a password alone: refused for a two-factor user.
    assert_eq!(
        multi("mfa@example.com").dispatch().await.status(),
        Status::Unauthorized
    );
    assert_eq!(
        multi("plain@example.com").dispatch().await.status(),
        Status::Ok
    );
    // An auth token asked for at the password step comes only with the second factor.
    let csrf = t.app.csrf().await;
    let body = json!({"email": "mfa@example.com", "password": PW});
    let (s, v) = post(&t.app, "/login?include_auth_token", body, &csrf).await;
    assert_eq!(s, Status::Ok);
    assert!(v.get("user").is_none(), "{v}");
    assert_eq!(
        t.app.get_json("/token").await.status(),
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn a_password_reset_does_not_skip_the_second_factor() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    authenticator_user(&t, "reset@example.com").await;
    let csrf = t.app.csrf().await;
    let (s, _) = post(
        &t.app,
        "/reset",
        json!({"email": "reset@example.com"}),
        &csrf,
    )
    .await;
    assert_eq!(s, Status::Ok);
    let mails = t.sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    let path = link_path(&mails[0].body_text());
    let body =
        json!({"password": "a new pass phrase 2", "password_confirm": "a new pass phrase 2"});
    let (s, v) = post(&t.app, &path, body, &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let csrf = t.app.csrf().await;
    let body = json!({"email": "reset@example.com", "password": "a new pass phrase 2"});
    let (s, v) = post(&t.app, "/login", body, &csrf).await;
    assert_eq!(s, Status::Ok);
    assert_eq!(v["tf_required"], true, "{v}");
    assert!(!signed_in(&t.app).await);
}

#[rocket::async_test]
async fn changes_need_a_fresh_sign_in_and_a_csrf_token() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    authenticator_user(&t, "stale@example.com").await;
    t.clock.advance(30);
    let code = stored_code(&t, "stale@example.com").await;
    let (_, v) = password_step(&t.app, "stale@example.com").await;
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok, "{v}");
    let csrf = csrf_of(&v);
    // No CSRF token: nothing changes.
    for (uri, body) in [
        ("/tf-setup", json!({"setup": "disable"})),
        ("/mf-recovery-codes", json!({})),
    ] {
        let (s, v) = post(&t.app, uri, body, "forged").await;
        assert_eq!(s, Status::BadRequest, "{uri}: {v}");
    }
    let user = t.app.by_email("stale@example.com", false).await.unwrap();
    assert!(user.tf_primary_method.is_some() && user.mf_recovery_codes.is_none());
    // Just inside `freshness` (24 h) the account views answer; past it plus the grace
    // period (1 h) they ask for re-authentication.
    t.clock.advance(24 * 3600 - 31);
    assert_eq!(get(&t.app, "/mf-recovery-codes").await.0, Status::Ok);
    t.clock.advance(3600 + 2);
    for uri in ["/tf-setup", "/mf-recovery-codes"] {
        let (s, v) = post(&t.app, uri, json!({"setup": "disable"}), &csrf).await;
        assert_eq!(s, Status::Unauthorized, "{uri}: {v}");
        assert_eq!(v["reauth_required"], true, "{uri}: {v}");
    }
    let user = t.app.by_email("stale@example.com", false).await.unwrap();
    assert!(user.tf_primary_method.is_some() && user.mf_recovery_codes.is_none());
    // /verify makes it fresh again, in a new session (a new CSRF token).
    let (_, v) = get(&t.app, "/verify").await;
    let csrf = csrf_of(&v);
    let (s, v) = post(&t.app, "/verify", json!({"password": PW}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_ne!(csrf_of(&v), csrf, "the session was not renewed");
    let (s, _) = post(&t.app, "/mf-recovery-codes", json!({}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn secrets_are_stored_encrypted_and_new_codes_void_the_old() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    let key = authenticator_user(&t, "enc@example.com").await;
    let stored = t.app.by_email("enc@example.com", false).await.unwrap();
    let secret = stored.tf_totp_secret.unwrap();
    assert!(
        !secret.contains(&key.b32()) && secret.contains("\"enckey\""),
        "{secret}"
    );
    let (_, v) = password_step(&t.app, "enc@example.com").await;
    let code = key.current_code(t.clock.now() as f64);
    let (_, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    let csrf = csrf_of(&v);
    let (_, first) = post(&t.app, "/mf-recovery-codes", json!({}), &csrf).await;
    let (_, second) = post(&t.app, "/mf-recovery-codes", json!({}), &csrf).await;
    let old = first["recovery_codes"][0].as_str().unwrap().to_owned();
    assert_ne!(first["recovery_codes"], second["recovery_codes"]);
    t.app.logout().await;
    let (_, v) = password_step(&t.app, "enc@example.com").await;
    let (s, _) = post(&t.app, "/mf-recovery", json!({"code": old}), &csrf_of(&v)).await;
    assert_eq!(
        s,
        Status::BadRequest,
        "a code of the replaced set signed in"
    );
}

/// `POST /tf-validate` with `code` and the CSRF token of `answer`: the raw response (its
/// cookies are looked at).
async fn validate<'a>(app: &'a TestApp, code: &str, answer: &Value) -> LocalResponse<'a> {
    let body = json!({"code": code, "csrf_token": csrf_of(answer)});
    let req = app.client.post("/tf-validate").header(ContentType::JSON);
    req.body(body.to_string()).dispatch().await
}

#[rocket::async_test]
async fn a_remembered_browser_skips_the_code_only_when_allowed() {
    let b = backends()[0];
    let t = tf_app(b, |f| {
        f.merge(("security.two_factor_always_validate", false))
    })
    .await;
    let key = authenticator_user(&t, "rem@example.com").await;
    let sign_in = |remember: bool| {
        let app = &t.app;
        async move {
            let csrf = app.csrf().await;
            let body = json!({"email": "rem@example.com", "password": PW, "remember": remember});
            post(app, "/login", body, &csrf).await
        }
    };
    let (_, v) = sign_in(true).await;
    assert_eq!(v["tf_required"], true);
    let code = key.current_code(t.clock.now() as f64);
    let r = validate(&t.app, &code, &v).await;
    let cookie = r
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("tf_validity="))
        .unwrap()
        .to_owned();
    for attr in ["HttpOnly", "Secure", "SameSite=Strict", "Max-Age=2592000"] {
        assert!(cookie.contains(attr), "{cookie}");
    }
    t.app.logout().await;
    let (_, v) = sign_in(true).await;
    assert_eq!(v["tf_required"], false, "remembered browser: {v}");
    assert!(signed_in(&t.app).await);
    // A cookie past two_factor_login_validity does not count.
    t.app.logout().await;
    t.clock.advance(30 * 24 * 3600 + 1);
    let (_, v) = sign_in(true).await;
    assert_eq!(v["tf_required"], true, "{v}");
}

#[rocket::async_test]
async fn the_remember_cookie_is_not_set_when_every_sign_in_validates() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    let key = authenticator_user(&t, "always@example.com").await;
    let csrf = t.app.csrf().await;
    let body = json!({"email": "always@example.com", "password": PW, "remember": true});
    let (_, v) = post(&t.app, "/login", body, &csrf).await;
    let code = key.current_code(t.clock.now() as f64);
    let r = validate(&t.app, &code, &v).await;
    assert_eq!(r.status(), Status::Ok);
    assert!(r
        .headers()
        .get("Set-Cookie")
        .all(|c| !c.starts_with("tf_validity=")));
}

#[test]
fn launch_names_the_missing_two_factor_setting() {
    let on = SecurityConfig {
        two_factor: true,
        ..SecurityConfig::default()
    };
    assert!(on.validate(true).unwrap_err().contains("totp_secrets"));
    let with_secrets = SecurityConfig {
        totp_secrets: [("1".to_owned(), "s".to_owned())].into(),
        ..on.clone()
    };
    assert!(with_secrets
        .validate(true)
        .unwrap_err()
        .contains("totp_issuer"));
    let codes_alone = SecurityConfig {
        multi_factor_recovery_codes: true,
        ..SecurityConfig::default()
    };
    assert!(codes_alone
        .validate(true)
        .unwrap_err()
        .contains("two_factor"));
    let bad_method = SecurityConfig {
        totp_issuer: Some("x".into()),
        two_factor_enabled_methods: vec!["pigeon".into()],
        ..with_secrets
    };
    assert!(bad_method.validate(true).unwrap_err().contains("pigeon"));
}

#[rocket::async_test]
async fn launch_is_refused_without_totp_settings() {
    let b = backends()[0];
    let url = fresh_database(b).await;
    let figment = test_figment(&url).merge(("security.two_factor", true));
    match Client::tracked(app(b, figment, Security::new())).await {
        Err(e) => assert!(matches!(
            e.kind(),
            rocket::error::ErrorKind::FailedFairings(f) if f.iter().any(|f| f.name == "Security")
        )),
        Ok(_) => panic!("launched with two_factor on and no totp_secrets"),
    }
}

#[rocket::async_test]
async fn two_factor_signals_are_sent_without_codes() {
    let b = backends()[0];
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let keep = seen.clone();
    let sink = SmtpSink::start().await;
    let sms = SmsServer::start().await;
    let security = Security::new().on_signal(move |s| {
        let name = match s {
            Signal::TfCodeConfirmed { method, .. } => format!("confirmed {method}"),
            Signal::TfProfileChanged { method, .. } => format!("changed {method}"),
            Signal::TfDisabled { .. } => "disabled".into(),
            Signal::TfSecurityTokenSent { method, .. } => format!("sent {method}"),
            Signal::MfRecoveryCodeUsed { .. } => "recovery used".into(),
            Signal::UserFailedAuthn { auth_type, .. } => format!("failed {auth_type}"),
            _ => return,
        };
        keep.lock().unwrap().push(name);
    });
    let t = security_tests::TestApp::with(b, |f| two_factor(f, &sink, &sms), security).await;
    t.user("sig@example.com", PW, &[]).await;
    let (_, v) = password_step(&t, "sig@example.com").await;
    let (_, v) = post(&t, "/tf-setup", json!({"setup": "email"}), &csrf_of(&v)).await;
    let code = code_in(&sink.wait_for(1, std::time::Duration::from_secs(5)).await[0].body_text());
    post(&t, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    t.logout().await;
    let (_, v) = password_step(&t, "sig@example.com").await;
    post(&t, "/tf-validate", json!({"code": "000000"}), &csrf_of(&v)).await;
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        ["sent email", "changed email", "sent email", "failed code"]
    );
}

/// The jar's answer to a POST, without keeping its cookies (an old cookie sent again).
async fn replay(client: &Client, jar: &Jar, uri: &str, body: Value) -> (Status, Value) {
    let r = bare_post(client, jar, uri, body).await;
    let s = r.status();
    let v: Value = r.into_json().await.unwrap_or(Value::Null);
    (s, v["response"].clone())
}

#[rocket::async_test]
async fn an_old_session_cookie_neither_resets_the_count_nor_outlives_its_step() {
    let b = backends()[0];
    let t = bare(b).await;
    let (st, _, secret) = authenticator_in(&t, "old@example.com").await;
    let key = st.totp.as_ref().unwrap().decrypt(&secret).unwrap();
    // Ten wrong codes, each sent with the cookie of the password step: the count is the
    // server's, so the right code is refused afterwards all the same.
    let jar = partial_sign_in(&t.client, "old@example.com").await;
    for i in 0..10 {
        let body = json!({"code": format!("{:06}", 100_000 + i)});
        let (s, _) = replay(&t.client, &jar, "/tf-validate", body).await;
        assert_eq!(s, Status::BadRequest);
    }
    let code = key.current_code(t.clock.now() as f64);
    let (s, v) = replay(&t.client, &jar, "/tf-validate", json!({"code": code})).await;
    assert_eq!(s, Status::BadRequest, "{v}");
    // A new password step starts a new count.
    let jar = partial_sign_in(&t.client, "old@example.com").await;
    // A partial sign-in older than two_factor_setup_within (30 min) is void.
    t.clock.advance(1801);
    let code = key.current_code(t.clock.now() as f64);
    let (s, v) = replay(&t.client, &jar, "/tf-validate", json!({"code": code})).await;
    assert_eq!(s, Status::BadRequest, "{v}");
}

#[rocket::async_test]
async fn an_old_setup_step_cannot_replace_a_method_set_up_since() {
    let b = backends()[0];
    let sink = SmtpSink::start().await;
    let sms = SmsServer::start().await;
    let url = fresh_database(b).await;
    let figment =
        two_factor(test_figment(&url), &sink, &sms).merge(("security.two_factor_required", true));
    let client = Client::untracked(app(b, figment, Security::new()))
        .await
        .unwrap();
    let st = client
        .rocket()
        .state::<security_runtime::SecurityState>()
        .unwrap();
    security_tests::create_user_in(st, "victim@example.com", PW).await;
    // The attacker's password step, kept.
    let mut old = Jar::default();
    old.keep(client.get("/login").header(Accept::JSON).dispatch().await)
        .await;
    let body = json!({"email": "victim@example.com", "password": PW});
    let (_, v) = old
        .keep(bare_post(&client, &old, "/login", body).await)
        .await;
    assert_eq!(v["tf_state"], "setup_from_login");
    // The victim sets the authenticator up meanwhile.
    let mut jar = Jar::default();
    jar.keep(client.get("/login").header(Accept::JSON).dispatch().await)
        .await;
    let body = json!({"email": "victim@example.com", "password": PW});
    jar.keep(bare_post(&client, &jar, "/login", body).await)
        .await;
    let r = bare_post(
        &client,
        &jar,
        "/tf-setup",
        json!({"setup": "authenticator"}),
    )
    .await;
    let (_, v) = jar.keep(r).await;
    let key = security_runtime::totp::TotpKey::from_b32(v["tf_authr_b32key"].as_str().unwrap());
    let code = key.unwrap().current_code(st.now());
    let (s, _) = jar
        .keep(bare_post(&client, &jar, "/tf-validate", json!({"code": code})).await)
        .await;
    assert_eq!(s, Status::Ok);
    // The attacker's old step is void now.
    let (s, v) = replay(
        &client,
        &old,
        "/tf-setup",
        json!({"setup": "authenticator"}),
    )
    .await;
    assert_eq!(s, Status::BadRequest, "{v}");
}

#[rocket::async_test]
async fn logout_ends_a_partial_sign_in_and_a_token_setup_keeps_no_browser_state() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    authenticator_user(&t, "out@example.com").await;
    password_step(&t.app, "out@example.com").await;
    assert_eq!(get(&t.app, "/tf-validate").await.0, Status::Ok);
    t.app.drop_session().await;
    assert_eq!(get(&t.app, "/tf-validate").await.0, Status::BadRequest);
    // A token caller's setup leaves nothing a browser session could finish.
    t.app.user("tok@example.com", PW, &[]).await;
    let token = t.app.token_only("tok@example.com", PW).await;
    let csrf = t.app.csrf().await;
    let r = t
        .app
        .post_json_with(
            "/tf-setup",
            json!({"setup": "authenticator", "csrf_token": csrf}),
            &[security_tests::token_header(&token)],
        )
        .await;
    let v: Value = r.into_json().await.unwrap();
    let key = security_runtime::totp::TotpKey::from_b32(
        v["response"]["tf_authr_b32key"].as_str().unwrap(),
    );
    let code = key.unwrap().current_code(t.clock.now() as f64);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::BadRequest, "{v}");
    assert!(!signed_in(&t.app).await);
}
