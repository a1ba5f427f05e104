//! Passkeys in forms, as the default pages post them (the page's script fills the
//! `credential` field; here the software authenticator does): add a key on
//! `/wan-register`, confirm it is you on `/wan-verify`, remove the key on `/wan-delete`,
//! each answered with Flask-Security's redirect and flashed message. And
//! `wan_allow_user_hints = false`: resident keys required, the identity field gone.
#![allow(clippy::unwrap_used)]

#[path = "common/passkeys.rs"]
mod passkeys;

use passkeys::SoftKey;
use rocket::http::Status;
use rocket::serde::json::Value;
use security_tests::flows::{browser_get, browser_post, csrf_from, flashed_on};
use security_tests::two_factor::{csrf_of, get, post, tf_app, Tf, PW};
use security_tests::{backends, TestApp};

const ORIGIN: &str = "http://localhost";

/// The value of attribute `name` of the first tag that has it, unescaped.
fn attribute(html: &str, name: &str) -> String {
    let raw = html
        .split(&format!("{name}=\""))
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no {name} on the page: {html}"));
    raw.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#39;", "'")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The ceremony form a page shows after its first step: (options, action).
fn ceremony(html: &str, kind: &str) -> (Value, String) {
    assert!(
        html.contains(&format!("data-ceremony=\"{kind}\"")),
        "{html}"
    );
    assert!(html.contains("/fs-static/js/webauthn.js"), "{html}");
    let raw = attribute(html, "data-options");
    let options: Value = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{e}: {raw}"));
    let action = html
        .split("<form id=\"wan-response\" action=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap()
        .to_owned();
    (options, action)
}

async fn form_signed_in(t: &Tf, email: &str) {
    t.app.user(email, PW, &[]).await;
    t.app.login_csrf(email, PW).await;
}

/// Adds a key named `name` through the register page's two forms.
async fn add_key(app: &TestApp, key: &mut SoftKey, name: &str) {
    let (_, _, html) = browser_get(app, "/wan-register").await;
    let csrf = csrf_from(&html);
    let body = format!(
        "name={}&usage=first&csrf_token={csrf}",
        security_tests::flows::form_value(name)
    );
    let (s, _, html) = browser_post(app, "/wan-register", &body).await;
    assert_eq!(s, Status::Ok, "{html}");
    let (options, action) = ceremony(&html, "create");
    let credential = key.register(&options, ORIGIN).await;
    let body = format!(
        "credential={}&csrf_token={csrf}",
        security_tests::flows::form_value(&credential)
    );
    let (s, loc, html) = browser_post(app, &action, &body).await;
    assert_eq!(
        (s, loc.as_deref()),
        (Status::Found, Some("/wan-register")),
        "{html}"
    );
}

#[rocket::async_test]
async fn a_key_is_added_used_to_confirm_and_removed_in_forms() {
    for b in backends() {
        let t = tf_app(b, |f| f.merge(("security.webauthn", true))).await;
        form_signed_in(&t, "forms@example.com").await;
        let mut key = SoftKey::new();
        add_key(&t.app, &mut key, "desk key").await;
        let flash = flashed_on(&t.app, "/wan-register").await;
        let added = "Successfully added the passkey with name: desk key";
        assert_eq!(flash, Some(("info".into(), added.into())), "{b:?}");
        let (_, _, html) = browser_get(&t.app, "/wan-register").await;
        assert!(html.contains("desk key"), "{html}");

        // /wan-verify: the page's button starts the ceremony; the key confirms.
        let (_, _, html) = browser_get(&t.app, "/wan-verify").await;
        let csrf = csrf_from(&html);
        let (s, _, html) = browser_post(&t.app, "/wan-verify", &format!("csrf_token={csrf}")).await;
        assert_eq!(s, Status::Ok, "{html}");
        let (options, action) = ceremony(&html, "get");
        let credential = key.sign_in(&options, ORIGIN).await;
        let body = format!(
            "credential={}&csrf_token={csrf}",
            security_tests::flows::form_value(&credential)
        );
        let (s, loc, _) = browser_post(&t.app, &action, &body).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");

        // /wan-delete: the list's remove button.
        let (_, _, html) = browser_get(&t.app, "/wan-register").await;
        let csrf = csrf_from(&html);
        let body = format!(
            "name={}&csrf_token={csrf}",
            security_tests::flows::form_value("desk key")
        );
        let (s, loc, _) = browser_post(&t.app, "/wan-delete", &body).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/wan-register")));
        let flash = flashed_on(&t.app, "/wan-register").await;
        let removed = "Successfully deleted the passkey with name: desk key";
        assert_eq!(flash, Some(("info".into(), removed.into())), "{b:?}");
        let (_, v) = get(&t.app, "/wan-register").await;
        assert_eq!(v["registered_credentials"], serde_json::json!([]));
        // A name that is not there: back to the page with the message.
        let body = format!("name=gone&csrf_token={csrf}");
        let (s, _, _) = browser_post(&t.app, "/wan-delete", &body).await;
        assert_eq!(s, Status::Found);
        let flash = flashed_on(&t.app, "/wan-register").await;
        let missing = "gone not registered with current user.";
        assert_eq!(flash, Some(("error".into(), missing.into())));
    }
}

#[rocket::async_test]
async fn without_user_hints_keys_must_be_discoverable_and_no_identity_is_asked() {
    let t = tf_app(backends()[0], |f| {
        f.merge(("security.webauthn", true))
            .merge(("security.wan_allow_user_hints", false))
    })
    .await;
    let (_, _, html) = browser_get(&t.app, "/wan-signin").await;
    assert!(!html.contains("name=\"identity\""), "{html}");
    form_signed_in(&t, "nohints@example.com").await;
    let csrf = csrf_of(&get(&t.app, "/wan-register").await.1);
    let body = serde_json::json!({"name": "k", "usage": "first"});
    let (_, v) = post(&t.app, "/wan-register", body, &csrf).await;
    let selection = &v["credential_options"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{v}");
    assert_eq!(selection["requireResidentKey"], true, "{v}");
    let mut key = SoftKey::new();
    let credential = key.register(&v["credential_options"], ORIGIN).await;
    let uri = format!("/wan-register/{}", v["wan_state"].as_str().unwrap());
    let (s, v) = post(
        &t.app,
        &uri,
        serde_json::json!({"credential": credential}),
        &csrf,
    )
    .await;
    assert_eq!(s, Status::Ok, "{v}");
    // An identity given anyway is not used: the options list no key.
    t.app.logout().await;
    let csrf = csrf_of(&get(&t.app, "/wan-signin").await.1);
    let body = serde_json::json!({"identity": "nohints@example.com"});
    let (_, v) = post(&t.app, "/wan-signin", body, &csrf).await;
    assert_eq!(
        v["credential_options"]["allowCredentials"],
        serde_json::json!([]),
        "{v}"
    );
}
