//! Two-factor sign-in over HTTP (JSON), each method end to end: set up, sign out, sign
//! in with the second factor, rescue, disable. Email codes come from a real SMTP
//! listener on loopback, SMS codes from a loopback server that speaks Twilio's Messages
//! API; authenticator codes are computed from the key the setup answer gives.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::totp::TotpKey;
use security_runtime::User;
use security_tests::two_factor::{
    authenticator_user, code_in, csrf_of, get, password_step, post, post_with, signed_in,
    stored_code, tf_app, PW,
};
use security_tests::{backends, field_errors, token_header, TestApp};

#[rocket::async_test]
async fn authenticator_sign_in_needs_the_code_and_a_code_works_once() {
    for b in backends() {
        let t = tf_app(b, |f| f).await;
        let key = authenticator_user(&t, "auth@example.com").await;
        let (s, v) = password_step(&t.app, "auth@example.com").await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_required"], true);
        assert_eq!(v["tf_state"], "ready");
        assert_eq!(v["tf_primary_method"], "authenticator");
        assert_eq!(v["tf_method"], "authenticator");
        assert!(v.get("user").is_none(), "not signed in yet: {v}");
        assert!(!signed_in(&t.app).await, "{b:?}: password alone signs in");
        let csrf = csrf_of(&v);
        let (s, v) = get(&t.app, "/tf-validate").await;
        assert_eq!(s, Status::Ok);
        assert!(v["user"].is_object(), "{v}");
        assert_eq!(v["recovery_options"]["help"], "/tf-rescue");
        assert_eq!(v["recovery_options"]["email"], "/tf-rescue");
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": "000000"}), &csrf).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&json!({"response": v}), "code"),
            ["Invalid code"]
        );
        let code = key.current_code(t.clock.now() as f64);
        let (s, v) = post(
            &t.app,
            "/tf-validate?include_auth_token",
            json!({"code": code}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"]["authentication_token"].is_string(), "{v}");
        assert!(signed_in(&t.app).await);
        // The same code again (same 30 s step) is refused: replay protection.
        t.app.logout().await;
        let (_, v) = password_step(&t.app, "auth@example.com").await;
        let csrf = csrf_of(&v);
        let (s, _) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{b:?}: a used code signed in again");
        // An integer code is read as passlib does (zero-padded), and the next step works.
        t.clock.advance(30);
        let next = key.current_code(t.clock.now() as f64);
        let as_int: u64 = next.parse().unwrap();
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": as_int}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn codes_are_accepted_within_the_window_of_the_method() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    let key = authenticator_user(&t, "win@example.com").await;
    let now = t.clock.now() as f64;
    for (offset, ok) in [
        (-150.0, false),
        (-120.0, true),
        (120.0, true),
        (150.0, false),
    ] {
        let (_, v) = password_step(&t.app, "win@example.com").await;
        let csrf = csrf_of(&v);
        let code = key.current_code(now + offset);
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s == Status::Ok, ok, "offset {offset}: {v}");
        if ok {
            t.app.logout().await;
        }
    }
}

#[rocket::async_test]
async fn ten_wrong_codes_void_the_partial_sign_in() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    let key = authenticator_user(&t, "brute@example.com").await;
    let (_, v) = password_step(&t.app, "brute@example.com").await;
    let csrf = csrf_of(&v);
    let mut failed = Vec::new();
    for i in 0..10 {
        let (_, v) = post(
            &t.app,
            "/tf-validate",
            json!({"code": format!("{:06}", 999_000 + i)}),
            &csrf,
        )
        .await;
        failed.push(v);
    }
    let code = key.current_code(t.clock.now() as f64);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::BadRequest, "{v}");
    assert_eq!(
        v["errors"],
        json!(["You currently do not have permissions to access this page"])
    );
    assert!(!signed_in(&t.app).await);
    // From the password again, once the wait after ten failures is over (lockout), the
    // right code works.
    t.clock.advance(30);
    let (_, v) = password_step(&t.app, "brute@example.com").await;
    let (s, _) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn email_codes_arrive_over_smtp_and_sign_in() {
    for b in backends() {
        let t = tf_app(b, |f| f).await;
        t.app.user("mail@example.com", PW, &[]).await;
        let (_, v) = password_step(&t.app, "mail@example.com").await;
        let csrf = csrf_of(&v);
        let (s, v) = post(&t.app, "/tf-setup", json!({"setup": "email"}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v.get("tf_authr_key").is_none(), "{v}");
        let mails = t.sink.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(mails.len(), 1);
        assert_eq!(
            mails[0].header("Subject").as_deref(),
            Some("Two-Factor Login")
        );
        let code = code_in(&mails[0].body_text());
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        t.app.logout().await;
        t.clock.advance(30);
        let (_, v) = password_step(&t.app, "mail@example.com").await;
        assert_eq!(v["tf_method"], "email", "{v}");
        let mails = t.sink.wait_for(2, std::time::Duration::from_secs(5)).await;
        let code = code_in(&mails[1].body_text());
        // Mailed codes last 300 s.
        t.clock.advance(270);
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(signed_in(&t.app).await);
    }
}

#[rocket::async_test]
async fn sms_codes_go_through_twilios_api_and_sign_in() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    t.app.user("sms@example.com", PW, &[]).await;
    let (_, v) = password_step(&t.app, "sms@example.com").await;
    let csrf = csrf_of(&v);
    let (s, v) = post(
        &t.app,
        "/tf-setup",
        json!({"setup": "sms", "phone": "650 253 0000"}),
        &csrf,
    )
    .await;
    assert_eq!(s, Status::Ok, "{v}");
    let (s, v) = post(
        &t.app,
        "/tf-setup",
        json!({"setup": "sms", "phone": "12"}),
        &csrf,
    )
    .await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        field_errors(&json!({"response": v}), "phone"),
        ["Phone number not valid e.g. missing country code"]
    );
    let texts = t.sms.wait_for(1).await;
    assert_eq!(texts.len(), 1);
    assert_eq!(texts[0].to, "+16502530000");
    assert_eq!(texts[0].from, "+15005550006");
    assert!(
        texts[0].body.starts_with("Use this code to sign in: "),
        "{:?}",
        texts[0]
    );
    // The first setup's code is void: the second POST started another secret; redo.
    let (_, v) = post(
        &t.app,
        "/tf-setup",
        json!({"setup": "sms", "phone": "+1 650 253 0000"}),
        &csrf,
    )
    .await;
    assert_eq!(v["tf_method"], "sms");
    let texts = t.sms.wait_for(2).await;
    let code = code_in(&texts[1].body);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let user = t.app.by_email("sms@example.com", false).await.unwrap();
    assert_eq!(user.tf_phone_number.as_deref(), Some("+16502530000"));
    t.app.logout().await;
    t.clock.advance(30);
    let (_, v) = password_step(&t.app, "sms@example.com").await;
    assert_eq!(v["tf_method"], "sms");
    let texts = t.sms.wait_for(3).await;
    let code = code_in(&texts[2].body);
    let (s, _) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn a_required_second_factor_is_set_up_at_sign_in() {
    for b in backends() {
        let t = tf_app(b, |f| f.merge(("security.two_factor_required", true))).await;
        t.app.user("new@example.com", PW, &[]).await;
        let (s, v) = password_step(&t.app, "new@example.com").await;
        assert_eq!(s, Status::Ok);
        assert_eq!(v["tf_required"], true);
        assert_eq!(v["tf_state"], "setup_from_login");
        assert!(!signed_in(&t.app).await);
        let csrf = csrf_of(&v);
        let (s, v) = get(&t.app, "/tf-setup").await;
        assert_eq!(s, Status::Ok, "{v}");
        assert_eq!(v["tf_required"], true);
        assert_eq!(
            v["tf_available_methods"],
            json!(["email", "authenticator", "sms"])
        );
        assert!(v.get("user").is_none());
        let (s, v) = post(&t.app, "/tf-setup", json!({"setup": "disable"}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "required: no disable {v}");
        let (s, v) = post(
            &t.app,
            "/tf-setup",
            json!({"setup": "authenticator"}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_state_token"], Value::Null, "anonymous setup: {v}");
        let key = TotpKey::from_b32(v["tf_authr_b32key"].as_str().unwrap()).unwrap();
        // Anything else than the setup is still anonymous.
        assert!(!signed_in(&t.app).await);
        let code = key.current_code(t.clock.now() as f64);
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        assert!(signed_in(&t.app).await);
        // Set up and signed in within one step: the next sign-in in that step is not
        // refused as a replay (setup does not use the step up).
        t.app.logout().await;
        let (_, v) = password_step(&t.app, "new@example.com").await;
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
    }
}

#[rocket::async_test]
async fn a_token_user_sets_up_with_the_state_token() {
    for b in backends() {
        // Token callers need no CSRF token here (as `/change`'s token test).
        let t = tf_app(b, |f| {
            f.merge(("security.csrf_protect_mechanisms", ["session", "basic"]))
                .merge(("security.two_factor_setup_within", 60))
        })
        .await;
        t.app.user("tok@example.com", PW, &[]).await;
        t.app.user("other@example.com", PW, &[]).await;
        let token = t.app.token_only("tok@example.com", PW).await;
        let auth = [token_header(&token)];
        let csrf = t.app.csrf().await;
        let (s, v) = post_with(
            &t.app,
            "/tf-setup",
            &mut json!({"setup": "authenticator"}),
            &csrf,
            &auth,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let state = v["tf_state_token"].as_str().unwrap().to_owned();
        let key = TotpKey::from_b32(v["tf_authr_b32key"].as_str().unwrap()).unwrap();
        let code = key.current_code(t.clock.now() as f64);
        // Another user cannot use it.
        let other = t.app.token_only("other@example.com", PW).await;
        let url = format!("/tf-setup/{state}");
        let (s, v) = post_with(
            &t.app,
            &url,
            &mut json!({"code": code}),
            &csrf,
            &[token_header(&other)],
        )
        .await;
        assert_eq!(s, Status::BadRequest, "{v}");
        assert_eq!(
            v["errors"],
            json!(["Input not appropriate for requested API"])
        );
        let (s, v) = post_with(&t.app, &url, &mut json!({"code": "123"}), &csrf, &auth).await;
        assert_eq!(s, Status::BadRequest, "{v}");
        let (s, v) = post_with(&t.app, &url, &mut json!({"code": code}), &csrf, &auth).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(v["tf_method"], "authenticator");
        assert_eq!(v["tf_primary_method"], "authenticator");
        let user = t.app.by_email("tok@example.com", false).await.unwrap();
        assert_eq!(user.tf_primary_method.as_deref(), Some("authenticator"));
        // A state token older than two_factor_setup_within is refused.
        let (_, v) = post_with(
            &t.app,
            "/tf-setup",
            &mut json!({"setup": "email"}),
            &csrf,
            &auth,
        )
        .await;
        let late = v["tf_state_token"].as_str().unwrap().to_owned();
        t.clock.advance(61);
        let (s, v) = post_with(
            &t.app,
            &format!("/tf-setup/{late}"),
            &mut json!({"code": "123456"}),
            &csrf,
            &auth,
        )
        .await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            v["errors"],
            json!(["Setup must be completed within 1 minute. Please start over."])
        );
    }
}

#[rocket::async_test]
async fn rescue_by_mail_help_and_disable() {
    let b = backends()[0];
    let t = tf_app(b, |f| {
        f.merge(("security.two_factor_rescue_mail", "help@example.com"))
    })
    .await;
    let key = authenticator_user(&t, "lost@example.com").await;
    let (_, v) = password_step(&t.app, "lost@example.com").await;
    let csrf = csrf_of(&v);
    let (s, v) = get(&t.app, "/tf-rescue").await;
    assert_eq!(s, Status::Ok);
    assert_eq!(v["recovery_options"]["help"], "/tf-rescue");
    let (s, _) = post(&t.app, "/tf-rescue", json!({"help_setup": "help"}), &csrf).await;
    assert_eq!(s, Status::Ok);
    let mails = t.sink.wait_for(1, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails[0].rcpt_to, ["help@example.com"]);
    assert_eq!(
        mails[0].header("Subject").as_deref(),
        Some("Two-Factor Rescue")
    );
    assert!(mails[0].body_text().contains("lost@example.com"));
    let (s, _) = post(&t.app, "/tf-rescue", json!({"help_setup": "email"}), &csrf).await;
    assert_eq!(s, Status::Ok);
    let mails = t.sink.wait_for(2, std::time::Duration::from_secs(5)).await;
    assert_eq!(mails[1].rcpt_to, ["lost@example.com"]);
    let code = code_in(&mails[1].body_text());
    // The mailed code is the authenticator secret's code.
    assert_eq!(code, key.current_code(t.clock.now() as f64));
    let (s, _) = post(
        &t.app,
        "/tf-rescue",
        json!({"help_setup": "nonsense"}),
        &csrf,
    )
    .await;
    assert_eq!(s, Status::BadRequest);
    let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    // Turning it off: signal, stored, mailed.
    let (s, v) = post(
        &t.app,
        "/tf-setup",
        json!({"setup": "disable"}),
        &csrf_of(&v),
    )
    .await;
    assert_eq!(s, Status::Ok, "{v}");
    let user = t.app.by_email("lost@example.com", false).await.unwrap();
    assert_eq!(user.tf_primary_method, None);
    assert_eq!(user.tf_totp_secret, None);
    let mails = t.sink.wait_for(3, std::time::Duration::from_secs(5)).await;
    assert_eq!(
        mails[2].header("Subject").as_deref(),
        Some("Two-factor sign-in turned off")
    );
    t.app.logout().await;
    let (_, v) = password_step(&t.app, "lost@example.com").await;
    assert_eq!(v["tf_required"], false);
    assert!(signed_in(&t.app).await);
}

#[rocket::async_test]
async fn recovery_codes_sign_in_once_each_and_never_give_a_token() {
    for b in backends() {
        let t = tf_app(b, |f| f).await;
        authenticator_user(&t, "rc@example.com").await;
        t.clock.advance(30);
        let code = stored_code(&t, "rc@example.com").await;
        let (_, v) = password_step(&t.app, "rc@example.com").await;
        let (s, v) = post(&t.app, "/tf-validate", json!({"code": code}), &csrf_of(&v)).await;
        assert_eq!(s, Status::Ok, "{v}");
        let csrf = csrf_of(&v);
        let (s, v) = post(&t.app, "/mf-recovery-codes", json!({}), &csrf).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        let codes: Vec<String> = serde_json::from_value(v["recovery_codes"].clone()).unwrap();
        assert_eq!(codes.len(), 5);
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 14 && c.matches('-').count() == 2),
            "{codes:?}"
        );
        let (_, v) = get(&t.app, "/mf-recovery-codes").await;
        assert_eq!(v["recovery_codes"], json!(codes));
        t.app.logout().await;
        let (_, v) = password_step(&t.app, "rc@example.com").await;
        let csrf = csrf_of(&v);
        let (_, v) = get(&t.app, "/tf-validate").await;
        assert_eq!(
            v["recovery_options"]["recovery_code"], "/mf-recovery",
            "{v}"
        );
        let (s, v) = post(
            &t.app,
            "/mf-recovery",
            json!({"code": "0000-0000-0000"}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&json!({"response": v}), "code"),
            ["Recovery code invalid"]
        );
        let (s, v) = post(
            &t.app,
            "/mf-recovery?include_auth_token",
            json!({"code": codes[0]}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"].is_object(), "{v}");
        assert!(v["user"].get("authentication_token").is_none(), "{v}");
        assert!(signed_in(&t.app).await);
        let mails = t.sink.wait_for(1, std::time::Duration::from_secs(5)).await;
        assert_eq!(
            mails.last().unwrap().header("Subject").as_deref(),
            Some("A recovery code was used")
        );
        t.app.logout().await;
        let (_, v) = password_step(&t.app, "rc@example.com").await;
        let (s, _) = post(
            &t.app,
            "/mf-recovery",
            json!({"code": codes[0]}),
            &csrf_of(&v),
        )
        .await;
        assert_eq!(s, Status::BadRequest, "{b:?}: a recovery code worked twice");
        let (s, _) = post(
            &t.app,
            "/mf-recovery",
            json!({"code": codes[1]}),
            &csrf_of(&v),
        )
        .await;
        assert_eq!(s, Status::Ok);
        let user: User = t.app.by_email("rc@example.com", false).await.unwrap();
        assert_eq!(user.mf_recovery_codes.unwrap().split(',').count(), 3);
    }
}

#[rocket::async_test]
async fn two_factor_views_refuse_the_wrong_state() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    t.app.user("x@example.com", PW, &[]).await;
    let csrf = t.app.csrf().await;
    for uri in [
        "/tf-validate",
        "/tf-rescue",
        "/mf-recovery",
        "/tf-select",
        "/tf-setup",
    ] {
        let (s, v) = post(&t.app, uri, json!({"code": "123456"}), &csrf).await;
        assert_eq!(s, Status::BadRequest, "{uri}: {v}");
        assert_eq!(
            v["errors"],
            json!(["You currently do not have permissions to access this page"]),
            "{uri}"
        );
    }
    // `two_factor` off: no two-factor routes, and no `tf_required` in the login answer.
    let plain = TestApp::with_user(b, "p@example.com", PW).await;
    assert_eq!(plain.status("/tf-setup").await, Status::NotFound);
    let (_, v) = plain.login("p@example.com", PW).await;
    assert!(v["response"].get("tf_required").is_none(), "{v}");
}

#[rocket::async_test]
async fn after_the_password_step_no_protected_route_answers() {
    let b = backends()[0];
    let t = tf_app(b, |f| f).await;
    authenticator_user(&t, "half@example.com").await;
    let (_, v) = password_step(&t.app, "half@example.com").await;
    assert_eq!(v["tf_state"], "ready");
    let routes = security_runtime::protected_routes(t.app.client.rocket());
    assert!(routes.len() >= 5, "{}", routes.len());
    let mut answered = Vec::new();
    // Those that need a signed-in user (anonymous-only routes rightly answer).
    let needs_user = |r: &&security_runtime::ProtectedRoute| {
        let q = r.record.requirement;
        q.auth.is_some()
            || !q.roles_required.is_empty()
            || !q.roles_accepted.is_empty()
            || !q.permissions_required.is_empty()
            || !q.permissions_accepted.is_empty()
    };
    let routes: Vec<_> = routes.iter().filter(needs_user).collect();
    for r in &routes {
        let uri = r.uri.replace("<id>", "1");
        let req = match r.method.as_str() {
            "GET" => t.app.client.get(uri.clone()),
            "POST" => t.app.client.post(uri.clone()),
            "PUT" => t.app.client.put(uri.clone()),
            "DELETE" => t.app.client.delete(uri.clone()),
            _ => continue,
        };
        let s = req.header(ContentType::JSON).dispatch().await.status();
        if s.class().is_success() {
            answered.push(format!("{} {uri}", r.method));
        }
    }
    // The account views too.
    for uri in ["/change", "/change-email", "/mf-recovery-codes", "/verify"] {
        let s = t.app.get_json(uri).await.status();
        if s.class().is_success() {
            answered.push(format!("GET {uri}"));
        }
    }
    assert_eq!(
        answered,
        Vec::<String>::new(),
        "answered after the password alone"
    );
    // The partial sign-in survived the probing.
    let (s, _) = get(&t.app, "/tf-validate").await;
    assert_eq!(s, Status::Ok);
}

#[rocket::async_test]
async fn verify_makes_a_stale_sign_in_fresh_with_this_users_password() {
    for b in backends() {
        let t = tf_app(b, |f| {
            f.merge(("security.two_factor", false))
                .merge(("security.multi_factor_recovery_codes", false))
        })
        .await;
        t.app.user("v@example.com", PW, &[]).await;
        t.app
            .user("w@example.com", "another pass phrase", &[])
            .await;
        let (_, v) = password_step(&t.app, "v@example.com").await;
        let csrf = csrf_of(&v);
        assert_eq!(t.app.status("/fresh").await, Status::Ok);
        t.clock.advance(6 * 60);
        let r = t.app.get_json("/fresh").await;
        assert_eq!(r.status(), Status::Unauthorized);
        let body: Value = r.into_json().await.unwrap();
        assert_eq!(body["response"]["reauth_required"], true, "{body}");
        let (s, v) = get(&t.app, "/verify").await;
        assert_eq!(s, Status::Ok);
        assert!(v["user"].is_object(), "{v}");
        let (s, v) = post(&t.app, "/verify", json!({"password": "wrong"}), &csrf).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&json!({"response": v}), "password"),
            ["Invalid password"]
        );
        let (s, _) = post(
            &t.app,
            "/verify",
            json!({"password": "another pass phrase"}),
            &csrf,
        )
        .await;
        assert_eq!(
            s,
            Status::BadRequest,
            "{b:?}: another account's password refreshed"
        );
        assert_eq!(t.app.status("/fresh").await, Status::Unauthorized);
        let (s, v) = post(
            &t.app,
            "/verify?include_auth_token",
            json!({"password": PW}),
            &csrf,
        )
        .await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert!(v["user"]["authentication_token"].is_string());
        assert_eq!(t.app.status("/fresh").await, Status::Ok, "{b:?}");
        // Anonymous callers are refused.
        t.app.logout().await;
        assert_eq!(t.app.status("/verify").await, Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn a_registration_signs_in_through_the_second_factor_when_one_is_required() {
    let b = backends()[0];
    let t = tf_app(b, |f| f.merge(("security.two_factor_required", true))).await;
    let csrf = t.app.csrf().await;
    let body = json!({"email": "reg@example.com", "password": PW, "password_confirm": PW});
    let (s, v) = post(&t.app, "/register", body, &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["tf_required"], true, "{v}");
    assert_eq!(v["tf_state"], "setup_from_login", "{v}");
    assert!(
        !signed_in(&t.app).await,
        "registered and signed in with one factor"
    );
    let (s, _) = get(&t.app, "/tf-setup").await;
    assert_eq!(s, Status::Ok);
}
