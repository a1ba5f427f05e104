//! Passkeys over HTTP, with a software authenticator (the `passkey` crate, 1Password's)
//! playing the browser: register, list, sign in with an identity hint and without one
//! (discoverable), re-authenticate, delete; each failure answers Flask-Security's
//! message. Beyond Flask-Security: a challenge works once (also 20 at once), and
//! `/wan-verify` takes only the signed-in user's own key.
#![allow(clippy::unwrap_used)]

#[path = "common/passkeys.rs"]
mod passkeys;

use passkeys::SoftKey;
use rocket::figment::Figment;
use rocket::futures::future::join_all;
use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_tests::two_factor::{csrf_of, get, post, signed_in, tf_app, Tf, PW};
use security_tests::{backends, Backend, TestApp};

const ORIGIN: &str = "http://localhost";

async fn wan_app(b: Backend, tweak: impl FnOnce(Figment) -> Figment) -> Tf {
    tf_app(b, |f| tweak(f.merge(("security.webauthn", true)))).await
}

/// Every message of a JSON error response.
fn errors(v: &Value) -> Vec<String> {
    let all = v["errors"].as_array().cloned().unwrap_or_default();
    all.iter()
        .filter_map(|e| e.as_str().map(str::to_owned))
        .collect()
}

/// A user signed in with the password; the CSRF token.
async fn signed_in_user(t: &Tf, email: &str) -> String {
    t.app.user(email, PW, &[]).await;
    t.app.login_csrf(email, PW).await
}

/// Starts a registration: (status, response).
async fn begin_register(t: &Tf, csrf: &str, name: &str, usage: &str) -> (Status, Value) {
    let body = json!({"name": name, "usage": usage});
    post(&t.app, "/wan-register", body, csrf).await
}

/// Registers a key named `name` for the signed-in user: (status, response).
async fn register(
    t: &Tf,
    csrf: &str,
    key: &mut SoftKey,
    name: &str,
    usage: &str,
) -> (Status, Value) {
    let (s, v) = begin_register(t, csrf, name, usage).await;
    assert_eq!(s, Status::Ok, "{v}");
    let credential = key.register(&v["credential_options"], ORIGIN).await;
    let uri = format!("/wan-register/{}", v["wan_state"].as_str().unwrap());
    post(&t.app, &uri, json!({"credential": credential}), csrf).await
}

/// Starts a sign-in (with an identity hint when given): (options, response URI, CSRF).
async fn begin_signin(app: &TestApp, identity: Option<&str>) -> (Value, String, String) {
    let (_, v) = get(app, "/wan-signin").await;
    let csrf = csrf_of(&v);
    let body = match identity {
        Some(i) => json!({"identity": i}),
        None => json!({}),
    };
    let (s, v) = post(app, "/wan-signin", body, &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let uri = format!("/wan-signin/{}", v["wan_state"].as_str().unwrap());
    (v["credential_options"].clone(), uri, csrf_of(&v))
}

/// Signs in with `key`: (status, response).
async fn signin(app: &TestApp, key: &mut SoftKey, identity: Option<&str>) -> (Status, Value) {
    let (options, uri, csrf) = begin_signin(app, identity).await;
    let credential = key.sign_in(&options, ORIGIN).await;
    post(app, &uri, json!({"credential": credential}), &csrf).await
}

#[rocket::async_test]
async fn a_passkey_is_registered_listed_signs_in_and_is_deleted() {
    for b in backends() {
        let t = wan_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "pk@example.com").await;
        let mut key = SoftKey::new();
        let (s, v) = register(&t, &csrf, &mut key, "my key", "first").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        let (_, v) = get(&t.app, "/wan-register").await;
        let listed = &v["registered_credentials"];
        assert_eq!(listed.as_array().map(Vec::len), Some(1), "{v}");
        assert_eq!(listed[0]["name"], "my key");
        assert_eq!(listed[0]["usage"], "first");
        assert!(listed[0]["credential_id"]
            .as_str()
            .is_some_and(|c| !c.contains('=')));
        assert!(listed[0]["lastuse"].is_string(), "{v}");

        // With an identity hint: the options list the user's key.
        t.app.logout().await;
        let (options, _, _) = begin_signin(&t.app, Some("pk@example.com")).await;
        assert_eq!(
            options["allowCredentials"].as_array().map(Vec::len),
            Some(1)
        );
        assert_eq!(options["rpId"], "localhost");
        let (s, v) = signin(&t.app, &mut key, Some("pk@example.com")).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_required"], false);
        assert_eq!(v["post_login_url"], "/");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            "profile pk@example.com"
        );

        // Without one: a discoverable passkey, found by its id.
        t.app.logout().await;
        let (options, _, _) = begin_signin(&t.app, None).await;
        assert_eq!(options["allowCredentials"], json!([]));
        let (s, v) = signin(&t.app, &mut key, None).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            "profile pk@example.com"
        );

        // Deleted: listed no more, and it signs in no more.
        let csrf = csrf_of(&get(&t.app, "/wan-register").await.1);
        let (s, v) = post(&t.app, "/wan-delete", json!({"name": "my key"}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let (_, v) = get(&t.app, "/wan-register").await;
        assert_eq!(v["registered_credentials"], json!([]));
        t.app.logout().await;
        let (s, v) = signin(&t.app, &mut key, None).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(errors(&v), ["Unregistered passkey."], "{v}");
    }
}

#[rocket::async_test]
async fn names_are_required_unique_and_plain() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "names@example.com").await;
    let mut key = SoftKey::new();
    let (s, _) = register(&t, &csrf, &mut key, "laptop", "secondary").await;
    assert_eq!(s, Status::Ok);
    for (name, message) in [
        ("", "Nickname for new passkey is required."),
        ("laptop", "laptop is already associated with a passkey."),
        (
            "<b>key</b>",
            "Passkey nicknames can contain only letters, numbers, and limited punctuation.",
        ),
    ] {
        let (s, v) = begin_register(&t, &csrf, name, "first").await;
        assert_eq!(s, Status::BadRequest, "{name}");
        let got = security_tests::field_errors(&json!({"response": v}), "name");
        assert_eq!(got, [message], "{v}");
    }
    let long = "k".repeat(65);
    let (s, v) = begin_register(&t, &csrf, &long, "first").await;
    assert_eq!(s, Status::BadRequest);
    let got = security_tests::field_errors(&json!({"response": v}), "name");
    assert!(
        got.len() == 1 && got[0].starts_with("Value entered must be less than"),
        "{v}"
    );
}

#[rocket::async_test]
async fn a_secondary_key_does_not_sign_in_alone_and_first_factor_can_be_off() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "second@example.com").await;
    let mut key = SoftKey::new();
    let (s, v) = register(&t, &csrf, &mut key, "token", "secondary").await;
    assert_eq!(s, Status::Ok, "{v}");
    t.app.logout().await;
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        errors(&v),
        ["Passkey not registered for this use (first or secondary)"]
    );
    // Without first-factor passkeys a `first` registration becomes `secondary`, and
    // `/wan-signin` answers 404 to whoever has no partial sign-in awaiting a key.
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.wan_allow_as_first_factor", false))
    })
    .await;
    let csrf = signed_in_user(&t, "nofirst@example.com").await;
    let (_, v) = begin_register(&t, &csrf, "key", "first").await;
    let selection = &v["credential_options"]["authenticatorSelection"];
    assert_eq!(selection["userVerification"], "discouraged", "{v}");
    let credential = SoftKey::new()
        .register(&v["credential_options"], ORIGIN)
        .await;
    let uri = format!("/wan-register/{}", v["wan_state"].as_str().unwrap());
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let (_, v) = get(&t.app, "/wan-register").await;
    assert_eq!(v["registered_credentials"][0]["usage"], "secondary", "{v}");
    t.app.logout().await;
    let (s, _) = get(&t.app, "/wan-signin").await;
    assert_eq!(s, Status::NotFound);
}

#[rocket::async_test]
async fn a_challenge_works_once_and_not_after_its_minute() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "once@example.com").await;
    // No signature counter (a synced passkey): only the challenge stops a replay.
    let mut key = SoftKey::counterless();
    register(&t, &csrf, &mut key, "key", "first").await;
    t.app.logout().await;
    let (options, uri, csrf) = begin_signin(&t.app, None).await;
    let credential = key.sign_in(&options, ORIGIN).await;
    let (s, _) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::Ok);
    // The same assertion again (a replay within the state's minute): refused.
    t.app.logout().await;
    let csrf = csrf_of(&get(&t.app, "/wan-signin").await.1);
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        errors(&v),
        ["Could not verify passkey: challenge already used."]
    );
    assert!(!signed_in(&t.app).await);
    // A state older than `wan_signin_within` (60 s).
    let (options, uri, csrf) = begin_signin(&t.app, None).await;
    let credential = key.sign_in(&options, ORIGIN).await;
    t.clock.advance(61);
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        errors(&v),
        ["Passkey operations must be completed within 1 minute. Please start over."]
    );
}

#[rocket::async_test]
async fn another_origin_and_a_forged_state_are_refused() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "origin@example.com").await;
    let mut key = SoftKey::new();
    register(&t, &csrf, &mut key, "key", "first").await;
    t.app.logout().await;
    let (options, uri, csrf) = begin_signin(&t.app, None).await;
    let credential = key.sign_in(&options, "http://localhost:8443").await;
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(errors(&v), ["Could not verify passkey: origin mismatch."]);
    let (options, _, csrf) = begin_signin(&t.app, None).await;
    let credential = key.sign_in(&options, ORIGIN).await;
    let body = json!({"credential": credential});
    let (s, v) = post(&t.app, "/wan-signin/forged", body, &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(errors(&v), ["Input not appropriate for requested API"]);
    assert!(!signed_in(&t.app).await);
}

#[rocket::async_test]
async fn one_assertion_sent_20_times_at_once_signs_in_once() {
    for b in backends() {
        let t = wan_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "x2@example.com").await;
        let mut key = SoftKey::counterless();
        register(&t, &csrf, &mut key, "key", "first").await;
        t.app.logout().await;
        let (options, uri, csrf) = begin_signin(&t.app, None).await;
        let credential = key.sign_in(&options, ORIGIN).await;
        let body = json!({"credential": credential, "csrf_token": csrf}).to_string();
        let sends = (0..20).map(|_| {
            t.app
                .client
                .post(uri.clone())
                .header(ContentType::JSON)
                .header(Header::new("X-CSRF-Token", csrf.clone()))
                .body(body.clone())
                .dispatch()
        });
        let statuses: Vec<Status> = join_all(sends).await.iter().map(|r| r.status()).collect();
        let ok = statuses.iter().filter(|s| **s == Status::Ok).count();
        assert_eq!(ok, 1, "{b:?}: {statuses:?}");
    }
}

#[rocket::async_test]
async fn wan_verify_refreshes_with_the_users_own_key_only() {
    for b in backends() {
        let t = wan_app(b, |f| f.merge(("security.freshness", 60))).await;
        let csrf = signed_in_user(&t, "b@example.com").await;
        let mut b_key = SoftKey::new();
        register(&t, &csrf, &mut b_key, "b key", "first").await;
        t.app.logout().await;
        let csrf = signed_in_user(&t, "a@example.com").await;
        let mut a_key = SoftKey::new();
        register(&t, &csrf, &mut a_key, "a key", "secondary").await;
        t.clock.advance(4000);
        let (s, v) = get(&t.app, "/wan-register").await;
        assert_eq!(s, Status::Unauthorized, "{b:?}: stale sign-in not refused");
        assert_eq!(v["reauth_required"], true, "{v}");
        assert_eq!(v["has_webauthn_verify_credential"], true, "{v}");
        // B's key answering A's challenge (a discoverable credential): refused.
        let csrf = csrf_of(&get(&t.app, "/wan-verify").await.1);
        let (s, v) = post(&t.app, "/wan-verify", json!({}), &csrf).await;
        assert_eq!(s, Status::Ok, "{v}");
        let mut options = v["credential_options"].clone();
        assert_eq!(
            options["allowCredentials"].as_array().map(Vec::len),
            Some(1)
        );
        options["allowCredentials"] = json!([]);
        let uri = format!("/wan-verify/{}", v["wan_state"].as_str().unwrap());
        let credential = b_key.sign_in(&options, ORIGIN).await;
        let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?}");
        assert_eq!(errors(&v), ["Credential user handle didn't match"]);
        // A's own key refreshes the sign-in.
        let (_, v) = post(&t.app, "/wan-verify", json!({}), &csrf).await;
        let uri = format!("/wan-verify/{}", v["wan_state"].as_str().unwrap());
        let credential = a_key.sign_in(&v["credential_options"], ORIGIN).await;
        let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let (s, _) = get(&t.app, "/wan-register").await;
        assert_eq!(s, Status::Ok, "{b:?}: not fresh after /wan-verify");
    }
}

/// A user with the authenticator as second factor and a passkey of `usage`, signed out.
async fn two_factor_user_with_passkey(t: &Tf, email: &str, usage: &str) -> SoftKey {
    let totp = security_tests::two_factor::authenticator_user(t, email).await;
    let csrf = t.app.login_csrf(email, PW).await;
    t.clock.advance(30);
    let code = totp.current_code(t.clock.now() as f64);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let mut key = SoftKey::new();
    let (s, v) = register(t, &csrf_of(&v), &mut key, "key", usage).await;
    assert_eq!(s, Status::Ok, "{v}");
    t.app.logout().await;
    key
}

#[rocket::async_test]
async fn a_verified_passkey_is_both_factors_unless_configured_otherwise() {
    let t = wan_app(backends()[0], |f| f).await;
    let mut key = two_factor_user_with_passkey(&t, "mfa@example.com", "first").await;
    // The soft key verifies its user: the passkey is both factors.
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!((s, &v["tf_required"]), (Status::Ok, &json!(false)), "{v}");
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile mfa@example.com"
    );
    // Deactivated: refused.
    t.app.logout().await;
    let mut user = t.app.by_email("mfa@example.com", false).await.unwrap();
    user.active = false;
    t.app.datastore().put_user(&mut user).await.unwrap();
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(errors(&v), ["Account is disabled."]);
    // `wan_allow_as_multi_factor = false`: the second factor is still asked for.
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.wan_allow_as_multi_factor", false))
    })
    .await;
    let mut key = two_factor_user_with_passkey(&t, "mfa@example.com", "first").await;
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!((s, &v["tf_required"]), (Status::Ok, &json!(true)), "{v}");
    assert!(v.get("user").is_none(), "{v}");
    assert!(!signed_in(&t.app).await);
}

#[rocket::async_test]
async fn a_signature_counter_that_goes_back_is_refused() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "count@example.com").await;
    let mut key = SoftKey::new();
    register(&t, &csrf, &mut key, "key", "first").await;
    t.app.logout().await;
    // Two assertions made in turn (counters 1 and 2), posted in the other order.
    let (first_options, first_uri, _) = begin_signin(&t.app, None).await;
    let first = key.sign_in(&first_options, ORIGIN).await;
    let (second_options, second_uri, csrf) = begin_signin(&t.app, None).await;
    let second = key.sign_in(&second_options, ORIGIN).await;
    let (s, v) = post(&t.app, &second_uri, json!({"credential": second}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    t.app.logout().await;
    let csrf = csrf_of(&get(&t.app, "/wan-signin").await.1);
    let (s, v) = post(&t.app, &first_uri, json!({"credential": first}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        errors(&v),
        ["Could not verify passkey: sign count did not increase."]
    );
}

/// A user whose only second factor is a `secondary` key, signed out.
async fn key_user(t: &Tf, email: &str) -> SoftKey {
    let csrf = signed_in_user(t, email).await;
    let mut key = SoftKey::new();
    let (s, v) = register(t, &csrf, &mut key, "security key", "secondary").await;
    assert_eq!(s, Status::Ok, "{v}");
    t.app.logout().await;
    key
}

/// The password step of a user with a second factor: the response.
async fn password_step(t: &Tf, email: &str) -> Value {
    let (s, v) = security_tests::two_factor::password_step(&t.app, email).await;
    assert_eq!((s, &v["tf_required"]), (Status::Ok, &json!(true)), "{v}");
    assert!(v.get("user").is_none(), "{v}");
    v
}

#[rocket::async_test]
async fn a_security_key_is_the_second_factor_and_only_the_users_own() {
    for b in backends() {
        let t = wan_app(b, |f| f).await;
        let mut a_key = key_user(&t, "a@example.com").await;
        let mut b_key = key_user(&t, "b@example.com").await;
        let v = password_step(&t, "a@example.com").await;
        assert_eq!(v["tf_method"], "webauthn", "{v}");
        assert_eq!(v["tf_state"], "ready");
        assert_eq!(v["tf_signin_url"], "/wan-signin");
        let (_, v) = get(&t.app, "/wan-signin").await;
        assert_eq!(v["is_secondary"], true, "{v}");
        // B's key (B is known to the server) answering A's second step: refused.
        let csrf = csrf_of(&v);
        let (s, v) = post(&t.app, "/wan-signin", json!({}), &csrf).await;
        assert_eq!((s, &v["is_secondary"]), (Status::Ok, &json!(true)), "{v}");
        let mut options = v["credential_options"].clone();
        assert_eq!(
            options["allowCredentials"].as_array().map(Vec::len),
            Some(1)
        );
        options["allowCredentials"] = json!([]);
        let uri = format!("/wan-signin/{}", v["wan_state"].as_str().unwrap());
        let credential = b_key.sign_in(&options, ORIGIN).await;
        let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(errors(&v), ["Credential user handle didn't match"]);
        assert!(!signed_in(&t.app).await, "{b:?}: B's key signed someone in");
        // A's own key completes A's sign-in.
        let (s, v) = signin(&t.app, &mut a_key, None).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_required"], false);
        assert_eq!(
            security_tests::whoami(&t.app).await,
            "profile a@example.com"
        );
    }
}

#[rocket::async_test]
async fn a_key_does_not_sign_in_alone_where_it_is_a_second_factor() {
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.wan_allow_as_first_factor", false))
    })
    .await;
    let mut key = key_user(&t, "only2@example.com").await;
    let (s, _) = get(&t.app, "/wan-signin").await;
    assert_eq!(
        s,
        Status::NotFound,
        "no partial sign-in: nothing to use a key for"
    );
    password_step(&t, "only2@example.com").await;
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile only2@example.com"
    );
}

#[rocket::async_test]
async fn with_a_code_and_a_key_the_user_chooses_at_tf_select() {
    let t = wan_app(backends()[0], |f| f).await;
    let mut key = two_factor_user_with_passkey(&t, "both@example.com", "secondary").await;
    let v = password_step(&t, "both@example.com").await;
    assert_eq!(v["tf_select"], true, "{v}");
    assert_eq!(v["tf_setup_methods"], json!(["authenticator", "webauthn"]));
    let (_, v) = get(&t.app, "/tf-select").await;
    let csrf = csrf_of(&v);
    let (s, v) = post(&t.app, "/tf-select", json!({"which": "webauthn"}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["tf_method"], "webauthn");
    assert_eq!(v["tf_signin_url"], "/wan-signin");
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile both@example.com"
    );
}

#[rocket::async_test]
async fn a_state_token_works_only_for_the_ceremony_that_issued_it() {
    let t = wan_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "kinds@example.com").await;
    let mut key = SoftKey::new();
    register(&t, &csrf, &mut key, "key", "first").await;
    // A re-authentication state posted as a registration's: refused, nothing stored.
    let (_, v) = post(&t.app, "/wan-verify", json!({}), &csrf).await;
    let state = v["wan_state"].as_str().unwrap().to_owned();
    let mut other = SoftKey::new();
    let (_, begun) = begin_register(&t, &csrf, "other", "first").await;
    let credential = other.register(&begun["credential_options"], ORIGIN).await;
    let uri = format!("/wan-register/{state}");
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(errors(&v), ["Input not appropriate for requested API"]);
    let (_, v) = get(&t.app, "/wan-register").await;
    assert_eq!(
        v["registered_credentials"].as_array().map(Vec::len),
        Some(1)
    );
    // A sign-in state at /wan-verify, and a verify state at /wan-signin: refused.
    let (_, v) = post(&t.app, "/wan-verify", json!({}), &csrf).await;
    let verify_state = v["wan_state"].as_str().unwrap().to_owned();
    let credential = key.sign_in(&v["credential_options"], ORIGIN).await;
    t.app.logout().await;
    let (_, _, anon_csrf) = begin_signin(&t.app, None).await;
    let uri = format!("/wan-signin/{verify_state}");
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &anon_csrf).await;
    assert_eq!(
        (s, errors(&v)),
        (
            Status::BadRequest,
            vec!["Input not appropriate for requested API".to_owned()]
        )
    );
}

#[rocket::async_test]
async fn without_two_factor_and_first_factor_keys_a_key_is_still_the_second_factor() {
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.two_factor", false))
            .merge(("security.multi_factor_recovery_codes", false))
            .merge(("security.wan_allow_as_first_factor", false))
    })
    .await;
    let mut key = key_user(&t, "keyonly@example.com").await;
    let v = password_step(&t, "keyonly@example.com").await;
    assert_eq!(v["tf_signin_url"], "/wan-signin", "{v}");
    let (s, v) = signin(&t.app, &mut key, None).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile keyonly@example.com"
    );
}

#[rocket::async_test]
async fn a_code_is_not_taken_before_the_user_chose_the_code_method() {
    let t = wan_app(backends()[0], |f| f).await;
    let _key = two_factor_user_with_passkey(&t, "choose@example.com", "secondary").await;
    let v = password_step(&t, "choose@example.com").await;
    assert_eq!(v["tf_select"], true, "{v}");
    // A fresh step: the code itself is good, only the state is wrong.
    t.clock.advance(30);
    let code = security_tests::two_factor::stored_code(&t, "choose@example.com").await;
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    assert_eq!(s, Status::BadRequest, "{v}");
    let denied = "You currently do not have permissions to access this page";
    assert_eq!(errors(&v), [denied]);
    assert!(!signed_in(&t.app).await);
    // Once the code method is chosen, the same code signs in.
    let v = password_step(&t, "choose@example.com").await;
    let body = json!({"which": "authenticator"});
    let (s, v) = post(&t.app, "/tf-select", body, &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok, "{v}");
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert!(signed_in(&t.app).await);
}

#[rocket::async_test]
async fn a_configured_rp_id_and_origin_are_used_and_another_origin_refused() {
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.wan_rp_id", "example.com"))
            .merge(("security.wan_origin", "https://login.example.com"))
    })
    .await;
    let csrf = signed_in_user(&t, "rp@example.com").await;
    let (_, v) = begin_register(&t, &csrf, "key", "first").await;
    assert_eq!(v["credential_options"]["rp"]["id"], "example.com", "{v}");
    let mut key = SoftKey::new();
    let origin = "https://login.example.com";
    let credential = key.register(&v["credential_options"], origin).await;
    let uri = format!("/wan-register/{}", v["wan_state"].as_str().unwrap());
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    t.app.logout().await;
    // Another page under the same RP id (its browser signs for `example.com` too).
    let (options, uri, csrf) = begin_signin(&t.app, None).await;
    assert_eq!(options["rpId"], "example.com");
    let credential = key.sign_in(&options, "https://shop.example.com").await;
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(errors(&v), ["Could not verify passkey: origin mismatch."]);
    let (options, uri, csrf) = begin_signin(&t.app, None).await;
    let credential = key.sign_in(&options, origin).await;
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
}

#[rocket::async_test]
async fn wan_allow_as_verify_limits_the_keys_that_re_authenticate() {
    let t = wan_app(backends()[0], |f| {
        f.merge(("security.wan_allow_as_verify", ["first"]))
            .merge(("security.freshness", 60))
    })
    .await;
    let csrf = signed_in_user(&t, "verifyfirst@example.com").await;
    let mut key = SoftKey::new();
    register(&t, &csrf, &mut key, "second", "secondary").await;
    t.clock.advance(4000);
    let (s, v) = get(&t.app, "/wan-register").await;
    assert_eq!(s, Status::Unauthorized);
    assert_eq!(v["has_webauthn_verify_credential"], false, "{v}");
    let csrf = csrf_of(&get(&t.app, "/wan-verify").await.1);
    let (_, v) = post(&t.app, "/wan-verify", json!({}), &csrf).await;
    assert_eq!(
        v["credential_options"]["allowCredentials"],
        json!([]),
        "{v}"
    );
    let uri = format!("/wan-verify/{}", v["wan_state"].as_str().unwrap());
    let credential = key.sign_in(&v["credential_options"], ORIGIN).await;
    let (s, v) = post(&t.app, &uri, json!({"credential": credential}), &csrf).await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        errors(&v),
        ["Passkey not registered for this use (first or secondary)"]
    );
}
