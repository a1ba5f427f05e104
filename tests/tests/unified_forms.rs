//! Unified sign-in in forms, the way a browser without JavaScript uses it: each method set
//! up on the `/us-setup` page (the code step posts to the page's `validate_action`), and
//! each method's code signing in through the `/us-signin` form. And `us_magic_link = false`:
//! the mail carries the code alone and `/us-verify-link` is not mounted.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use rocket::http::Status;
use security_runtime::totp::TotpKey;
use security_tests::flows::{browser_get, browser_post, csrf_from, flashed_on};
use security_tests::two_factor::{code_in, Tf, PW};
use security_tests::unified::{send_code, setup_email, signed_in_user, us_app, us_signin};
use security_tests::{backends, TestApp};

const EMAIL: &str = "forms@example.com";

/// The `/us-setup/<state>` action of the code step on a set-up page.
fn validate_action(html: &str) -> String {
    html.split("<form action=\"/us-setup/")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .map(|state| format!("/us-setup/{state}"))
        .unwrap_or_else(|| panic!("no code step on the page: {html}"))
}

/// Chooses `method` on the set-up page; the page of its code step and its CSRF token.
async fn choose(t: &Tf, method: &str, phone: Option<&str>) -> (String, String) {
    let (_, _, html) = browser_get(&t.app, "/us-setup").await;
    let csrf = csrf_from(&html);
    let mut body = format!("chosen_method={method}&csrf_token={csrf}");
    if let Some(phone) = phone {
        body.push_str(&format!(
            "&phone={}",
            security_tests::flows::form_value(phone)
        ));
    }
    let (s, _, page) = browser_post(&t.app, "/us-setup", &body).await;
    assert_eq!(s, Status::Ok, "{page}");
    (page, csrf)
}

/// Posts `code` to the code step of `page`; the set-up must succeed and say so.
async fn confirm(t: &Tf, page: &str, csrf: &str, code: &str) {
    let body = format!("passcode={code}&csrf_token={csrf}");
    let (s, loc, html) = browser_post(&t.app, &validate_action(page), &body).await;
    assert_eq!(
        (s, loc.as_deref()),
        (Status::Found, Some("/us-setup")),
        "{html}"
    );
    let flash = flashed_on(&t.app, "/us-setup").await;
    assert_eq!(
        flash,
        Some(("info".into(), "Unified sign in setup successful".into()))
    );
    // The set-up's code is used up: sign-ins take the next step's.
    t.clock.advance(30);
}

/// Signs in through the `/us-signin` form; the status and where it sends the browser.
async fn form_signin(app: &TestApp, identity: &str, passcode: &str) -> (Status, Option<String>) {
    let (_, _, html) = browser_get(app, "/us-signin").await;
    let csrf = csrf_from(&html);
    let body = format!(
        "identity={}&passcode={}&csrf_token={csrf}",
        security_tests::flows::form_value(identity),
        security_tests::flows::form_value(passcode)
    );
    let (s, loc, _) = browser_post(app, "/us-signin", &body).await;
    (s, loc)
}

/// Asks for a code with the `/us-signin` form's send-code button.
async fn form_send_code(app: &TestApp, identity: &str, method: &str) {
    let (_, _, html) = browser_get(app, "/us-signin").await;
    let csrf = csrf_from(&html);
    let body = format!(
        "identity={}&chosen_method={method}&csrf_token={csrf}",
        security_tests::flows::form_value(identity)
    );
    let (s, _, page) = browser_post(app, "/us-signin/send-code", &body).await;
    assert_eq!(s, Status::Ok, "{page}");
    assert!(page.contains("name=\"passcode\""), "{page}");
}

#[rocket::async_test]
async fn each_method_is_set_up_in_forms_and_its_code_signs_in_through_the_form() {
    for b in backends() {
        let t = us_app(b, |f| f).await;
        t.app.user(EMAIL, PW, &[]).await;
        let (s, loc) = form_signin(&t.app, EMAIL, PW).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");

        // SMS: the phone number in the first form, the texted code in the second.
        let (page, csrf) = choose(&t, "sms", Some("(650) 555-0177")).await;
        assert!(page.contains("A code has been sent"), "{page}");
        let text = t.sms.wait_for(1).await.pop().unwrap();
        assert_eq!(text.to, "+16505550177");
        confirm(&t, &page, &csrf, &code_in(&text.body)).await;

        // Authenticator: the page shows the key (and its QR code) to type the code from.
        let (page, csrf) = choose(&t, "authenticator", None).await;
        assert!(page.contains("src=\"data:image/"), "no QR code: {page}");
        let key = page
            .split("<code>")
            .nth(1)
            .and_then(|r| r.split("</code>").next())
            .unwrap();
        let key = TotpKey::from_b32(&key.replace([' ', '-'], "")).unwrap();
        confirm(&t, &page, &csrf, &key.current_code(t.clock.now() as f64)).await;

        // Email, the third method.
        let (page, csrf) = choose(&t, "email", None).await;
        let mails = t.sink.wait_for(1, Duration::from_secs(10)).await;
        confirm(&t, &page, &csrf, &code_in(&mails[0].body_text())).await;
        let (_, _, html) = browser_get(&t.app, "/us-setup").await;
        for m in ["email", "authenticator", "sms"] {
            assert!(
                html.contains(&format!("id=\"delete_method-{m}\"")),
                "{m}: {html}"
            );
        }

        // Each code signs in through the form.
        t.app.logout().await;
        let code = key.current_code(t.clock.now() as f64);
        let (s, loc) = form_signin(&t.app, EMAIL, &code).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            format!("profile {EMAIL}")
        );

        t.app.logout().await;
        form_send_code(&t.app, "650 555 0177", "sms").await;
        let text = t.sms.wait_for(2).await.pop().unwrap();
        let (s, loc) = form_signin(&t.app, "+1 650-555-0177", &code_in(&text.body)).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            format!("profile {EMAIL}")
        );

        t.app.logout().await;
        t.clock.advance(30);
        form_send_code(&t.app, EMAIL, "email").await;
        let mail = t
            .sink
            .wait_for(2, Duration::from_secs(10))
            .await
            .pop()
            .unwrap();
        let (s, loc) = form_signin(&t.app, EMAIL, &code_in(&mail.body_text())).await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        assert_eq!(
            security_tests::whoami(&t.app).await,
            format!("profile {EMAIL}")
        );

        // A wrong code in the form: the page again with the error, not signed in.
        t.app.logout().await;
        let (_, _, html) = browser_get(&t.app, "/us-signin").await;
        let body = format!(
            "identity={}&passcode=000000&csrf_token={}",
            security_tests::flows::form_value(EMAIL),
            csrf_from(&html)
        );
        let (s, _, page) = browser_post(&t.app, "/us-signin", &body).await;
        assert_eq!(s, Status::Ok, "{b:?}");
        assert!(
            page.contains("Password or code submitted is not valid"),
            "{page}"
        );
        assert_ne!(
            security_tests::whoami(&t.app).await,
            format!("profile {EMAIL}")
        );
    }
}

#[rocket::async_test]
async fn without_magic_links_the_mail_has_the_code_alone_and_no_link_route() {
    let t = us_app(backends()[0], |f| {
        f.merge(("security.us_magic_link", false))
    })
    .await;
    let csrf = signed_in_user(&t, "nolink@example.com").await;
    setup_email(&t, &csrf).await;
    t.app.logout().await;
    let (s, v) = send_code(&t.app, "nolink@example.com", "email").await;
    assert_eq!(s, Status::Ok, "{v}");
    let mail = t
        .sink
        .wait_for(2, Duration::from_secs(10))
        .await
        .pop()
        .unwrap();
    let text = mail.body_text();
    let code = code_in(&text);
    assert!(!text.contains("us-verify-link"), "{text}");
    // The route is gone: a link made by hand finds nothing.
    let uri = format!("/us-verify-link?id=1&code={code}");
    let r = t.app.client.get(uri).dispatch().await;
    assert_eq!(r.status(), Status::NotFound);
    // The code itself still signs in.
    let (s, v) = us_signin(&t.app, "nolink@example.com", &code).await;
    assert_eq!(s, Status::Ok, "{v}");
}
