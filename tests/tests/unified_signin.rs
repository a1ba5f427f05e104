//! Unified sign-in over HTTP (JSON): set up email, SMS and the authenticator; sign in with
//! each and with the password through `/us-signin`; magic links from a real SMTP listener
//! on loopback; texts from the loopback Twilio-shaped server; delete a method; the
//! two-factor handoff for `us_mfa_required` methods. And what goes beyond Flask-Security:
//! a code and a magic link work once (also 20 at once), a new code voids the old one, at
//! most 10 wrong passcodes per code window.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rocket::futures::future::join_all;
use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_tests::two_factor::{code_in, csrf_of, get, post, signed_in, PW};
use security_tests::unified::{
    finish_setup, mailed_code, send_code, setup_authenticator, setup_email, setup_sms,
    signed_in_user, start_setup, us_app, us_signin,
};
use security_tests::{backends, field_errors, link_path};

const INVALID: &str = "Password or code submitted is not valid";

fn errors_of(v: &Value, field: &str) -> Vec<String> {
    field_errors(&json!({"response": v}), field)
}

#[rocket::async_test]
async fn get_us_signin_lists_the_methods_and_identity_attributes() {
    let t = us_app(backends()[0], |f| f).await;
    let (s, v) = get(&t.app, "/us-signin").await;
    assert_eq!(s, Status::Ok);
    assert_eq!(
        v["available_methods"],
        json!(["password", "email", "authenticator", "sms"])
    );
    assert_eq!(v["code_methods"], json!(["email", "sms"]));
    assert_eq!(
        v["identity_attributes"],
        json!(["email", "us_phone_number", "username"])
    );
    assert!(v["csrf_token"].is_string());
    assert!(v.get("user").is_none(), "{v}");
}

#[rocket::async_test]
async fn the_password_signs_in_through_us_signin_and_failures_say_why() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        t.app.user("pw@example.com", PW, &[]).await;
        let (s, v) = us_signin(&t.app, "nobody@example.com", PW).await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(
            errors_of(&v, "identity"),
            ["You must specify a valid identity to sign in"]
        );
        let (s, v) = us_signin(&t.app, "pw@example.com", "wrong password here").await;
        assert_eq!(s, Status::BadRequest, "{v}");
        assert_eq!(errors_of(&v, "passcode"), [INVALID]);
        let (s, v) = us_signin(&t.app, "pw@example.com", "123456").await;
        assert_eq!(s, Status::BadRequest, "a code of no method: {v}");
        assert!(!signed_in(&t.app).await);
        let (s, v) = us_signin(&t.app, "PW@example.com", PW).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            "profile pw@example.com"
        );
        assert_eq!(v["tf_required"], false);
        assert!(signed_in(&t.app).await);
    }
}

#[rocket::async_test]
async fn an_authenticator_code_signs_in_once() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "authr@example.com").await;
        let key = setup_authenticator(&t, &csrf).await;
        let (_, v) = get(&t.app, "/us-setup").await;
        assert_eq!(v["active_methods"], json!(["password", "authenticator"]));
        t.app.logout().await;
        let code = key.current_code(t.clock.now() as f64);
        let (s, v) = us_signin(&t.app, "authr@example.com", &code).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        t.app.logout().await;
        let (s, v) = us_signin(&t.app, "authr@example.com", &code).await;
        assert_eq!(
            s,
            Status::BadRequest,
            "{b:?}: a used code signed in again: {v}"
        );
        assert_eq!(errors_of(&v, "passcode"), [INVALID]);
        t.clock.advance(30);
        let next = key.current_code(t.clock.now() as f64);
        let (s, _) = us_signin(&t.app, "authr@example.com", &next).await;
        assert_eq!(s, Status::Ok, "{b:?}: the next step's code");
    }
}

#[rocket::async_test]
async fn one_code_sent_20_times_at_once_signs_in_once() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "race@example.com").await;
        let key = setup_authenticator(&t, &csrf).await;
        t.app.logout().await;
        let (_, v) = get(&t.app, "/us-signin").await;
        let csrf = csrf_of(&v);
        let code = key.current_code(t.clock.now() as f64);
        let body = json!({"identity": "race@example.com", "passcode": code, "csrf_token": csrf});
        let posts = (0..20).map(|_| {
            t.app
                .client
                .post("/us-signin")
                .header(ContentType::JSON)
                .header(Header::new("X-CSRF-Token", csrf.clone()))
                .body(body.to_string())
                .dispatch()
        });
        let ok = join_all(posts)
            .await
            .iter()
            .filter(|r| r.status() == Status::Ok)
            .count();
        assert_eq!(ok, 1, "{b:?}: 20 uses of one code");
    }
}

#[rocket::async_test]
async fn a_mailed_code_and_its_magic_link_each_sign_in_and_work_once() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "mail@example.com").await;
        setup_email(&t, &csrf).await;
        t.app.logout().await;
        let (s, v) = send_code(&t.app, "mail@example.com", "email").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(
            v["csrf_token"].is_string() && v.get("user").is_none(),
            "{v}"
        );
        let mail = t
            .sink
            .wait_for(2, Duration::from_secs(10))
            .await
            .pop()
            .unwrap();
        assert_eq!(mail.header("Subject").as_deref(), Some("Verification Code"));
        let text = mail.body_text();
        let code = code_in(&text);
        let link = link_path(&text);
        assert!(
            link.starts_with("/us-verify-link?id=") && link.ends_with(&format!("&code={code}")),
            "{link}"
        );
        let r = t.app.client.get(link.clone()).dispatch().await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        assert!(
            signed_in(&t.app).await,
            "{b:?}: the magic link did not sign in"
        );
        t.app.logout().await;
        let r = t.app.client.get(link.clone()).dispatch().await;
        assert_eq!(r.headers().get_one("Location"), Some("/us-signin"));
        assert!(!signed_in(&t.app).await, "{b:?}: a magic link worked twice");
        let (s, _) = us_signin(&t.app, "mail@example.com", &code).await;
        assert_eq!(
            s,
            Status::BadRequest,
            "{b:?}: the link's code works after it"
        );
        // A new code: the mailed code signs in.
        t.clock.advance(30);
        send_code(&t.app, "mail@example.com", "email").await;
        let mail = t
            .sink
            .wait_for(3, Duration::from_secs(10))
            .await
            .pop()
            .unwrap();
        let (s, v) = us_signin(&t.app, "mail@example.com", &code_in(&mail.body_text())).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn sms_is_set_up_with_a_phone_and_signs_in_by_phone_number() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "sms@example.com").await;
        let r = setup_sms(&t, &csrf, "650-555-0100").await;
        assert_eq!(r["phone"], "+16505550100");
        let (_, v) = get(&t.app, "/us-setup").await;
        assert_eq!(v["phone"], "+16505550100");
        t.app.logout().await;
        let (s, v) = send_code(&t.app, "+1 (650) 555-0100", "sms").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let text = t.sms.wait_for(2).await.pop().unwrap();
        assert_eq!(text.to, "+16505550100");
        let (s, v) = us_signin(&t.app, "6505550100", &code_in(&text.body)).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            "profile sms@example.com"
        );
    }
}

#[rocket::async_test]
async fn a_phone_number_belongs_to_one_user() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "first@example.com").await;
        setup_sms(&t, &csrf, "+16505550111").await;
        t.app.logout().await;
        let csrf = signed_in_user(&t, "second@example.com").await;
        let body = json!({"chosen_method": "sms", "phone": "650 555 0111"});
        let (s, v) = post(&t.app, "/us-setup", body, &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(
            errors_of(&v, "phone"),
            [
                "Identity attribute 'us_phone_number' with value '+16505550111' is already \
              associated with an account."
            ]
        );
        let body = json!({"chosen_method": "sms", "phone": "12"});
        let (_, v) = post(&t.app, "/us-setup", body, &csrf).await;
        assert_eq!(
            errors_of(&v, "phone"),
            ["Phone number not valid e.g. missing country code"]
        );
    }
}

#[rocket::async_test]
async fn setup_refuses_what_it_cannot_do_and_a_deleted_method_no_longer_signs_in() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        let csrf = signed_in_user(&t, "del@example.com").await;
        let (s, v) = post(&t.app, "/us-setup", json!({}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{v}");
        let (s, v) = post(
            &t.app,
            "/us-setup",
            json!({"chosen_method": "pigeon"}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::BadRequest, "{v}");
        assert_eq!(
            errors_of(&v, "chosen_method"),
            ["Requested method is not valid"]
        );
        let v = start_setup(&t, &csrf, "authenticator", None).await;
        let (s, r) = finish_setup(&t, &csrf, &v["state"], "000000").await;
        assert_eq!(s, Status::BadRequest, "{r}");
        assert_eq!(errors_of(&r, "passcode"), [INVALID]);
        let (s, r) = finish_setup(&t, &csrf, &json!("not-a-state"), "000000").await;
        assert_eq!(s, Status::BadRequest, "{r}");
        let key = setup_authenticator(&t, &csrf).await;
        let (s, v) = post(
            &t.app,
            "/us-setup",
            json!({"delete_method": ["authenticator"]}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["active_methods"], json!(["password"]));
        t.app.logout().await;
        let code = key.current_code(t.clock.now() as f64 + 30.0);
        t.clock.advance(30);
        let (s, _) = us_signin(&t.app, "del@example.com", &code).await;
        assert_eq!(s, Status::BadRequest, "{b:?}: a deleted method signed in");
    }
}

#[rocket::async_test]
async fn an_expired_setup_state_is_refused() {
    let t = us_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "late@example.com").await;
    let v = start_setup(&t, &csrf, "authenticator", None).await;
    let key = security_runtime::totp::TotpKey::from_b32(v["authr_b32key"].as_str().unwrap());
    t.clock.advance(1801);
    let code = key.unwrap().current_code(t.clock.now() as f64);
    let (s, r) = finish_setup(&t, &csrf, &v["state"], &code).await;
    assert_eq!(s, Status::BadRequest, "{r}");
    assert_eq!(
        r["errors"],
        json!(["Setup must be completed within 30 minutes. Please start over."])
    );
}

#[rocket::async_test]
async fn ten_wrong_passcodes_void_codes_until_a_new_one_is_sent() {
    for b in backends() {
        let t = us_app(b, |f| f.merge(("security.lockout_enabled", false))).await;
        let mail = mailed_code(&t, "guess@example.com").await;
        let code = code_in(&mail.body_text());
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..10 {
            let (s, _) = us_signin(&t.app, "guess@example.com", wrong).await;
            assert_eq!(s, Status::BadRequest);
        }
        let (s, _) = us_signin(&t.app, "guess@example.com", &code).await;
        assert_eq!(s, Status::BadRequest, "{b:?}: the 11th try got through");
        // Sent again within its step it is the same code: the tries still count.
        send_code(&t.app, "guess@example.com", "email").await;
        let mails = t.sink.wait_for(3, Duration::from_secs(10)).await;
        assert_eq!(code_in(&mails[2].body_text()), code);
        let (s, _) = us_signin(&t.app, "guess@example.com", &code).await;
        assert_eq!(s, Status::BadRequest, "{b:?}: a resend reset the tries");
        // A new code (the next step) may be tried again.
        t.clock.advance(30);
        send_code(&t.app, "guess@example.com", "email").await;
        let mails = t.sink.wait_for(4, Duration::from_secs(10)).await;
        let (s, v) = us_signin(&t.app, "guess@example.com", &code_in(&mails[3].body_text())).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn a_new_code_voids_the_one_sent_before() {
    let t = us_app(backends()[0], |f| f).await;
    let first = code_in(&mailed_code(&t, "resend@example.com").await.body_text());
    t.clock.advance(30);
    send_code(&t.app, "resend@example.com", "email").await;
    let second = code_in(&t.sink.wait_for(3, Duration::from_secs(10)).await[2].body_text());
    assert_ne!(first, second);
    let (s, _) = us_signin(&t.app, "resend@example.com", &first).await;
    assert_eq!(s, Status::BadRequest, "the older code still works");
    let (s, _) = us_signin(&t.app, "resend@example.com", &second).await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn send_code_refuses_a_method_the_user_lacks_or_that_sends_nothing() {
    let t = us_app(backends()[0], |f| f).await;
    t.app.user("nocode@example.com", PW, &[]).await;
    let (s, v) = send_code(&t.app, "nocode@example.com", "email").await;
    assert_eq!(s, Status::BadRequest, "{v}");
    assert_eq!(
        errors_of(&v, "chosen_method"),
        ["Requested method is not valid"]
    );
    let (s, v) = send_code(&t.app, "nocode@example.com", "authenticator").await;
    assert_eq!(s, Status::BadRequest, "{v}");
    let (s, v) = send_code(&t.app, "ghost@example.com", "email").await;
    assert_eq!(s, Status::BadRequest, "{v}");
    assert_eq!(
        errors_of(&v, "identity"),
        ["You must specify a valid identity to sign in"]
    );
    assert!(t.sink.received().is_empty());
}

#[rocket::async_test]
async fn in_generic_mode_send_code_answers_a_known_and_an_unknown_identity_alike() {
    for b in backends() {
        let t = us_app(b, |f| f.merge(("security.return_generic_responses", true))).await;
        let csrf = signed_in_user(&t, "known@example.com").await;
        setup_email(&t, &csrf).await;
        t.app.logout().await;
        let mut bodies = Vec::new();
        for who in ["known@example.com", "unknown@example.com"] {
            let (_, v) = get(&t.app, "/us-signin").await;
            let csrf = csrf_of(&v);
            let r = t
                .app
                .client
                .post("/us-signin/send-code")
                .header(ContentType::JSON)
                .header(Header::new("X-CSRF-Token", csrf.clone()))
                .body(json!({"identity": who, "chosen_method": "email"}).to_string())
                .dispatch()
                .await;
            assert_eq!(r.status(), Status::Ok, "{b:?} {who}");
            let mut v: Value = r.into_json().await.unwrap();
            v["response"]["csrf_token"] = json!("");
            bodies.push(v);
        }
        assert_eq!(bodies[0], bodies[1], "{b:?}");
        let mails = t.sink.wait_for(2, Duration::from_secs(10)).await;
        assert_eq!(mails.len(), 2, "the known identity got its code");
        let (s, v) = us_signin(&t.app, "unknown@example.com", "000000").await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            v["errors"],
            json!(["Authentication failed - identity or password/passcode invalid"])
        );
    }
}

#[rocket::async_test]
async fn with_two_factor_a_password_goes_on_to_the_second_factor_and_a_code_does_not() {
    for b in backends() {
        let t = us_app(b, |f| f.merge(("security.two_factor", true))).await;
        let csrf = signed_in_user(&t, "mfa@example.com").await;
        let us_key = setup_authenticator(&t, &csrf).await;
        // The two-factor authenticator (its own secret).
        let (s, v) = post(
            &t.app,
            "/tf-setup",
            json!({"setup": "authenticator"}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{v}");
        let tf_key =
            security_runtime::totp::TotpKey::from_b32(v["tf_authr_b32key"].as_str().unwrap())
                .unwrap();
        let code = tf_key.current_code(t.clock.now() as f64);
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s, Status::Ok, "{v}");
        t.app.logout().await;
        let (s, v) = us_signin(&t.app, "mfa@example.com", PW).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_required"], true, "{v}");
        assert_eq!(v["tf_method"], "authenticator");
        assert!(
            !signed_in(&t.app).await,
            "{b:?}: a password alone signed in"
        );
        let (_, v) = get(&t.app, "/us-signin").await;
        assert!(v["csrf_token"].is_string());
        t.clock.advance(30);
        let code = us_key.current_code(t.clock.now() as f64);
        let (s, v) = us_signin(&t.app, "mfa@example.com", &code).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_required"], false, "{v}");
        assert!(signed_in(&t.app).await);
        // A mailed code is in `us_mfa_required` (Flask-Security's default): it goes on to
        // the second factor.
        let csrf = csrf_of(&get(&t.app, "/us-setup").await.1);
        setup_email(&t, &csrf).await;
        t.app.logout().await;
        let (s, v) = send_code(&t.app, "mfa@example.com", "email").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let mails = t.sink.wait_for(2, Duration::from_secs(10)).await;
        let code = code_in(&mails.last().unwrap().body_text());
        let (s, v) = us_signin(&t.app, "mfa@example.com", &code).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            v["tf_required"], true,
            "{b:?}: an email code alone signed in: {v}"
        );
        assert!(!signed_in(&t.app).await, "{b:?}");
    }
}

#[rocket::async_test]
async fn a_username_is_an_identity_and_authn_via_names_the_method_that_matched() {
    use security_runtime::signals::Signal;
    use security_runtime::Security;
    use std::sync::{Arc, Mutex};
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let log = seen.clone();
    let security = Security::new().on_signal(move |s| {
        if let Signal::UserAuthenticated { authn_via, .. } = s {
            log.lock().unwrap().push(authn_via.clone());
        }
    });
    let attrs = ["email", "username", "us_phone_number"];
    let tweak = |f: rocket::figment::Figment| f.merge(("security.user_identity_attributes", attrs));
    let unified = security_tests::unified::unified;
    let t =
        security_tests::two_factor::Tf::start_with(backends()[0], unified, tweak, security).await;
    t.app.user("named@example.com", PW, &[]).await;
    security_tests::flows::set_username(&t.app, "named@example.com", "carol").await;
    let (s, v) = us_signin(&t.app, "carol", PW).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile named@example.com"
    );
    let csrf = csrf_of(&v);
    let key = setup_authenticator(&t, &csrf).await;
    t.app.logout().await;
    let code = key.current_code(t.clock.now() as f64);
    let (s, v) = us_signin(&t.app, "carol", &code).await;
    assert_eq!(s, Status::Ok, "{v}");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            vec!["password".to_owned()],
            vec!["authenticator".to_owned()]
        ]
    );
}

#[rocket::async_test]
async fn us_verify_refreshes_a_stale_sign_in_with_each_method_and_only_the_users_own() {
    for b in backends() {
        let t = us_app(b, |f| f.merge(("security.freshness", 60))).await;
        let other = signed_in_user(&t, "other@example.com").await;
        let other_key = setup_authenticator(&t, &other).await;
        t.app.logout().await;
        let csrf = signed_in_user(&t, "verify@example.com").await;
        let key = setup_authenticator(&t, &csrf).await;
        setup_email(&t, &csrf).await;
        t.clock.advance(4000);
        let r = t.app.get_json("/us-setup").await;
        assert_eq!(r.status(), Status::Unauthorized, "{b:?}");
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["reauth_required"], true);
        assert_eq!(v["response"]["unified_signin_enabled"], true);
        let (s, v) = get(&t.app, "/us-verify").await;
        assert_eq!(s, Status::Ok);
        let csrf = csrf_of(&v);
        assert_eq!(v["code_methods"], json!(["email"]));
        assert!(v["user"].is_object(), "{v}");
        // Another user's code never refreshes this sign-in.
        let theirs = other_key.current_code(t.clock.now() as f64);
        let (s, v) = post(&t.app, "/us-verify", json!({"passcode": theirs}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        let code = key.current_code(t.clock.now() as f64);
        let (s, v) = post(&t.app, "/us-verify", json!({"passcode": code}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(t.app.get_json("/us-setup").await.status(), Status::Ok);
        // An emailed code, asked for through /us-verify/send-code.
        t.clock.advance(4000);
        let csrf = csrf_of(&get(&t.app, "/us-verify").await.1);
        let body = json!({"chosen_method": "email"});
        let (s, v) = post(&t.app, "/us-verify/send-code", body, &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let mails = t.sink.wait_for(3, Duration::from_secs(10)).await;
        let text = mails.last().unwrap().body_text();
        assert!(!text.contains("/us-verify-link"), "no magic link: {text}");
        let (s, v) = post(
            &t.app,
            "/us-verify",
            json!({"passcode": code_in(&text)}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        // And the password.
        t.clock.advance(4000);
        let csrf = csrf_of(&get(&t.app, "/us-verify").await.1);
        let (s, v) = post(&t.app, "/us-verify", json!({"passcode": PW}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn browsers_get_the_pages_and_are_sent_to_us_verify_and_us_signin() {
    let t = us_app(backends()[0], |f| {
        f.merge(("security.us_signin_replaces_login", true))
            .merge(("security.freshness", 60))
    })
    .await;
    let r = t.app.client.get("/profile").dispatch().await;
    assert_eq!(r.status(), Status::Found);
    let to = r.headers().get_one("Location").unwrap().to_owned();
    assert!(to.starts_with("/us-signin?next="), "{to}");
    let r = t.app.client.get("/us-signin").dispatch().await;
    let html = r.into_string().await.unwrap();
    assert!(
        html.contains("name=\"identity\"") && html.contains("name=\"passcode\""),
        "{html}"
    );
    assert!(
        html.contains("formaction=\"/us-signin/send-code\""),
        "{html}"
    );
    let csrf = security_tests::flows::csrf_from(&html);
    t.app.user("page@example.com", PW, &[]).await;
    let body = format!(
        "identity=page%40example.com&passcode={}&csrf_token={csrf}",
        PW.replace(' ', "+")
    );
    let (s, loc, _) = security_tests::flows::browser_post(&t.app, "/us-signin", &body).await;
    assert_eq!(s, Status::Found);
    assert_eq!(loc.as_deref(), Some("/"));
    let r = t.app.client.get("/us-setup").dispatch().await;
    let html = r.into_string().await.unwrap();
    assert!(html.contains("value=\"authenticator\""), "{html}");
    t.clock.advance(4000);
    let r = t.app.client.get("/us-setup").dispatch().await;
    let to = r.headers().get_one("Location").unwrap().to_owned();
    assert!(to.starts_with("/us-verify?next="), "{to}");
    let r = t.app.client.get("/us-verify").dispatch().await;
    assert!(r.into_string().await.unwrap().contains("name=\"passcode\""));
}

#[rocket::async_test]
async fn in_forms_a_method_is_set_up_removed_and_a_code_is_asked_for() {
    use security_tests::flows::{browser_get, browser_post, csrf_from, flashed_on};
    let t = us_app(backends()[0], |f| f).await;
    t.app.user("form@example.com", PW, &[]).await;
    let (_, _, html) = browser_get(&t.app, "/us-signin").await;
    let csrf = csrf_from(&html);
    let body = format!(
        "identity=form%40example.com&passcode={}&csrf_token={csrf}",
        PW.replace(' ', "+")
    );
    let (s, _, _) = browser_post(&t.app, "/us-signin", &body).await;
    assert_eq!(s, Status::Found);
    let (_, _, html) = browser_get(&t.app, "/us-setup").await;
    let csrf = csrf_from(&html);
    let body = format!("chosen_method=email&csrf_token={csrf}");
    let (s, _, html) = browser_post(&t.app, "/us-setup", &body).await;
    assert_eq!(s, Status::Ok, "{html}");
    let action = html
        .split("<form action=\"/us-setup/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|state| format!("/us-setup/{state}"))
        .expect("the code step's form");
    let mails = t.sink.wait_for(1, Duration::from_secs(10)).await;
    let code = code_in(&mails[0].body_text());
    let (s, loc, _) = browser_post(
        &t.app,
        &action,
        &format!("passcode={code}&csrf_token={csrf}"),
    )
    .await;
    assert_eq!(s, Status::Found);
    assert_eq!(loc.as_deref(), Some("/us-setup"));
    let flash = flashed_on(&t.app, "/us-setup").await;
    assert_eq!(
        flash,
        Some(("info".into(), "Unified sign in setup successful".into()))
    );
    // Two methods removed in one form (repeated `delete_method` fields).
    let key = setup_authenticator(&t, &csrf).await;
    let body = format!("delete_method=email&delete_method=authenticator&csrf_token={csrf}");
    let (s, _, _) = browser_post(&t.app, "/us-setup", &body).await;
    assert_eq!(s, Status::Found);
    let (_, v) = get(&t.app, "/us-setup").await;
    assert_eq!(v["active_methods"], json!(["password"]), "{v}");
    assert!(key.b32().len() >= 32);
    // A visitor asks for a code in the form: the page says it was sent (none exists now).
    t.app.logout().await;
    let (_, _, html) = browser_get(&t.app, "/us-signin").await;
    let csrf = csrf_from(&html);
    let body = format!("identity=form%40example.com&chosen_method=email&csrf_token={csrf}");
    let (s, _, html) = browser_post(&t.app, "/us-signin/send-code", &body).await;
    assert_eq!(s, Status::Ok);
    assert!(html.contains("Requested method is not valid"), "{html}");
}

#[rocket::async_test]
async fn a_code_lives_for_its_window_and_no_longer() {
    let t = us_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "window@example.com").await;
    let key = setup_authenticator(&t, &csrf).await;
    t.app.logout().await;
    // `us_token_validity` = 120 s: a code is accepted 4 steps later, not 5.
    let start = t.clock.now();
    let code = key.current_code(start as f64);
    t.clock.advance(150 - start % 30);
    let (s, _) = us_signin(&t.app, "window@example.com", &code).await;
    assert_eq!(s, Status::BadRequest, "a code 5 steps old was accepted");
    let code = key.current_code(t.clock.now() as f64 - 120.0);
    let (s, v) = us_signin(&t.app, "window@example.com", &code).await;
    assert_eq!(s, Status::Ok, "a code 4 steps old was refused: {v}");
}

#[rocket::async_test]
async fn us_verify_takes_a_texted_code() {
    let t = us_app(backends()[0], |f| f.merge(("security.freshness", 60))).await;
    let csrf = signed_in_user(&t, "smsverify@example.com").await;
    setup_sms(&t, &csrf, "+16505550122").await;
    t.clock.advance(4000);
    let csrf = csrf_of(&get(&t.app, "/us-verify").await.1);
    let body = json!({"chosen_method": "sms"});
    let (s, v) = post(&t.app, "/us-verify/send-code", body, &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let text = t.sms.wait_for(2).await.pop().unwrap();
    let body = json!({"passcode": code_in(&text.body)});
    let (s, v) = post(&t.app, "/us-verify", body, &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(t.app.get_json("/us-setup").await.status(), Status::Ok);
}

#[rocket::async_test]
async fn the_code_that_confirmed_a_setup_does_not_sign_in() {
    let t = us_app(backends()[0], |f| f).await;
    let csrf = signed_in_user(&t, "setupcode@example.com").await;
    let v = start_setup(&t, &csrf, "authenticator", None).await;
    let key = security_runtime::totp::TotpKey::from_b32(v["authr_b32key"].as_str().unwrap());
    let code = key.unwrap().current_code(t.clock.now() as f64);
    let (s, r) = finish_setup(&t, &csrf, &v["state"], &code).await;
    assert_eq!(s, Status::Ok, "{r}");
    t.app.logout().await;
    let (s, _) = us_signin(&t.app, "setupcode@example.com", &code).await;
    assert_eq!(s, Status::BadRequest, "the set-up's code signed in");
}

#[rocket::async_test]
async fn a_magic_link_opened_while_signed_in_changes_nothing() {
    let t = us_app(backends()[0], |f| f).await;
    let mail = mailed_code(&t, "linked@example.com").await;
    let link = link_path(&mail.body_text());
    signed_in_user(&t, "other@example.com").await;
    let r = t.app.client.get(link.clone()).dispatch().await;
    assert_eq!(r.headers().get_one("Location"), Some("/"));
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile other@example.com"
    );
    t.app.logout().await;
    let r = t.app.client.get(link).dispatch().await;
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/"),
        "the link was used up"
    );
    assert_eq!(
        security_tests::whoami(&t.app).await,
        "profile linked@example.com"
    );
}

#[rocket::async_test]
async fn wrong_codes_lock_out_with_429_and_their_own_count() {
    for b in backends() {
        let t = us_app(b, |f| {
            f.merge(("security.lockout_free_failures", 3))
                .merge(("security.us_max_code_failures", 50))
        })
        .await;
        let csrf = signed_in_user(&t, "locked@example.com").await;
        let key = setup_authenticator(&t, &csrf).await;
        t.app.logout().await;
        let code = key.current_code(t.clock.now() as f64);
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..3 {
            let (s, _) = us_signin(&t.app, "locked@example.com", wrong).await;
            assert_eq!(s, Status::BadRequest, "{b:?}");
        }
        let (_, v) = get(&t.app, "/us-signin").await;
        let r = t
            .app
            .client
            .post("/us-signin")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", csrf_of(&v)))
            .body(json!({"identity": "locked@example.com", "passcode": code}).to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::TooManyRequests, "{b:?}");
        assert!(r.headers().get_one("Retry-After").is_some());
        // The second factor's count (`code`) is untouched; the password still works.
        let user = t.app.by_email("locked@example.com", false).await.unwrap();
        let ds = t.app.datastore();
        let codes = ds
            .failed_attempts(user.id, security_runtime::datastore::Factor::Code)
            .await
            .unwrap();
        assert_eq!(codes.failures, 0, "{b:?}");
        let (s, v) = us_signin(&t.app, "locked@example.com", PW).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn codes_an_anonymous_caller_sends_are_capped_per_address() {
    let t = us_app(backends()[0], |f| {
        f.merge(("security.mail_max_per_hour", 2))
    })
    .await;
    let csrf = signed_in_user(&t, "capped@example.com").await;
    setup_email(&t, &csrf).await;
    t.app.logout().await;
    for _ in 0..4 {
        let (s, v) = send_code(&t.app, "capped@example.com", "email").await;
        assert_eq!(s, Status::Ok, "{v}");
    }
    // The set-up's mail and two codes: the rest answered alike and went nowhere.
    t.sink.wait_for(3, Duration::from_secs(10)).await;
    tokio_sleep().await;
    assert_eq!(t.sink.received().len(), 3);
    // The cap is the address's: another one still gets its code.
    let csrf = signed_in_user(&t, "free@example.com").await;
    setup_email(&t, &csrf).await;
    t.app.logout().await;
    let (s, v) = send_code(&t.app, "free@example.com", "email").await;
    assert_eq!(s, Status::Ok, "{v}");
    let mails = t.sink.wait_for(5, Duration::from_secs(10)).await;
    let to = mails[4].header("To").unwrap_or_default();
    assert!(to.contains("free@example.com"), "{to}");
}

async fn tokio_sleep() {
    rocket::tokio::time::sleep(Duration::from_millis(300)).await;
}
