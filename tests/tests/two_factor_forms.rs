//! Two-factor pages as a browser sees them (HTML forms, no JSON): setting up the
//! authenticator from its QR page, signing in with the code page, recovery codes and
//! `/mf-recovery`, and the `/verify` page. SQLite only; the JSON side of the same flows
//! is in `two_factor.rs`.
#![allow(clippy::unwrap_used)]

use rocket::figment::Figment;
use rocket::http::Status;
use security_runtime::totp::TotpKey;
use security_tests::flows::{
    assert_flashed, assert_redirected, browser_get, browser_post, csrf_from, flashed, flashed_on,
    form_csrf, form_value as enc, page_messages, wait_mail,
};
use security_tests::two_factor::{self, Tf, PW};
use security_tests::{backends, TestApp};

async fn tf_app() -> Tf {
    tf_app_with(|f| f).await
}

async fn tf_app_with(tweak: impl FnOnce(Figment) -> Figment) -> Tf {
    two_factor::tf_app(backends()[0], tweak).await
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let rest = html.split_once(start)?.1;
    Some(rest.split_once(end)?.0)
}

/// Every `<code>` element's text, in order.
fn codes_in(html: &str) -> Vec<String> {
    html.split("<code>")
        .skip(1)
        .filter_map(|s| s.split_once("</code>").map(|(c, _)| c.to_owned()))
        .collect()
}

/// The action of the first form in a page.
fn first_action(html: &str) -> String {
    between(html, "<form action=\"", "\"").unwrap().to_owned()
}

/// Submits the HTML login form (`next` as its hidden field when given); the answer.
async fn form_login(
    app: &TestApp,
    email: &str,
    next: Option<&str>,
) -> (Status, Option<String>, String) {
    let csrf = form_csrf(app, "/login", "password").await;
    let mut body = format!(
        "email={}&password={}&csrf_token={csrf}",
        enc(email),
        enc(PW)
    );
    if let Some(n) = next {
        body.push_str(&format!("&next={}", enc(n)));
    }
    browser_post(app, "/login", &body).await
}

/// A user without a second factor signs in through the form.
async fn form_sign_in(app: &TestApp, email: &str) {
    let answer = form_login(app, email, None).await;
    assert_redirected(&answer, "/", email);
}

async fn signed_in(app: &TestApp) -> bool {
    browser_get(app, "/profile").await.0 == Status::Ok
}

/// Signs out with the log-out form of the menu (a signed-in page's CSRF token).
async fn sign_out(app: &TestApp) {
    let (s, _, html) = browser_get(app, "/change").await;
    assert_eq!(s, Status::Ok, "{html}");
    assert!(
        html.contains("<form action=\"/logout\" method=\"POST\">"),
        "{html}"
    );
    let body = format!("csrf_token={}", csrf_from(&html));
    assert_redirected(&browser_post(app, "/logout", &body).await, "/", "logout");
    assert!(!signed_in(app).await, "still signed in after logging out");
}

/// The page's inline QR image is a base64 SVG.
fn assert_svg(html: &str) {
    use base64::Engine;
    let data = between(html, "<img src=\"data:image/svg+xml;base64,", "\"").unwrap();
    let svg = base64::engine::general_purpose::STANDARD
        .decode(data)
        .unwrap();
    let svg = String::from_utf8(svg).unwrap();
    assert!(svg.contains("<svg"), "{svg}");
}

/// The setup page after choosing the authenticator: the QR code and the key shown.
async fn choose_authenticator(app: &TestApp) -> (String, TotpKey) {
    let (s, _, html) = browser_get(app, "/tf-setup").await;
    assert_eq!(s, Status::Ok, "{html}");
    assert!(
        html.contains("<form action=\"/tf-setup\" method=\"POST\">"),
        "{html}"
    );
    for m in ["email", "authenticator", "sms"] {
        let radio = format!("<input type=\"radio\" name=\"setup\" id=\"setup-{m}\" value=\"{m}\"");
        assert!(html.contains(&radio), "{m}: {html}");
    }
    let csrf = csrf_from(&html);
    let body = format!("setup=authenticator&csrf_token={csrf}");
    let (s, loc, html) = browser_post(app, "/tf-setup", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert!(
        html.contains("<img src=\"data:image/svg+xml;base64,"),
        "{html}"
    );
    assert_svg(&html);
    assert!(html.contains("value=\"authenticator\" checked"), "{html}");
    assert!(
        html.contains("<form action=\"/tf-validate\" method=\"POST\">"),
        "{html}"
    );
    assert!(html.contains("name=\"code\""), "{html}");
    let shown = between(&html, "Key: <code>", "</code>").unwrap();
    assert!(shown.contains('-'), "the key is shown in groups: {shown}");
    let b32 = shown.replace('-', "");
    assert!(b32.len() >= 32, "160-bit key: {b32}");
    assert!(html.contains("(Rocket Test, "), "issuer shown: {html}");
    let key = TotpKey::from_b32(&b32).unwrap();
    (html, key)
}

/// Sets the authenticator up for the signed-in browser; returns the key and its b32 form.
async fn setup_authenticator(t: &Tf) -> (TotpKey, String) {
    let (html, key) = choose_authenticator(&t.app).await;
    let b32 = key.b32();
    let code = key.current_code(t.clock.now() as f64);
    let body = format!("code={code}&csrf_token={}", csrf_from(&html));
    let answer = browser_post(&t.app, "/tf-validate", &body).await;
    assert_redirected(&answer, "/tf-setup", "setup code");
    let (s, _, html) = browser_get(&t.app, "/tf-setup").await;
    assert_eq!(s, Status::Ok);
    let expected = (
        "success".to_owned(),
        "You successfully changed your two-factor method.".to_owned(),
    );
    assert_eq!(flashed(&html), Some(expected), "{html}");
    (key, b32)
}

/// A user with the authenticator set up through the pages, signed out again.
async fn authenticator_user(t: &Tf, email: &str) -> TotpKey {
    t.app.user(email, PW, &[]).await;
    form_sign_in(&t.app, email).await;
    let (key, _) = setup_authenticator(t).await;
    sign_out(&t.app).await;
    // A later step: the sign-in code is not the setup's.
    t.clock.advance(30);
    key
}

#[rocket::async_test]
async fn the_authenticator_is_set_up_from_the_qr_page() {
    let t = tf_app().await;
    t.app.user("qr@example.com", PW, &[]).await;
    form_sign_in(&t.app, "qr@example.com").await;
    let (_, b32) = setup_authenticator(&t).await;
    let user = t.app.by_email("qr@example.com", false).await.unwrap();
    assert_eq!(user.tf_primary_method.as_deref(), Some("authenticator"));
    assert!(user.tf_totp_secret.is_some());
    // Once set up, a plain GET never shows the secret again (nor the QR code).
    let (s, _, html) = browser_get(&t.app, "/tf-setup").await;
    assert_eq!(s, Status::Ok);
    assert!(!html.contains(&b32), "{html}");
    assert!(
        !html.contains(&TotpKey::from_b32(&b32).unwrap().pretty()),
        "{html}"
    );
    assert!(!html.contains("data:image/svg+xml"), "{html}");
    assert!(!html.contains("name=\"code\""), "{html}");
    assert!(html.contains("value=\"disable\""), "{html}");
    assert!(
        html.contains("Two-factor authentication is on: authenticator."),
        "{html}"
    );
    // A wrong setup code shows the page again with the error; the method is unchanged.
    let (html, _) = choose_authenticator(&t.app).await;
    let body = format!("code=000000&csrf_token={}", csrf_from(&html));
    let (s, loc, html) = browser_post(&t.app, "/tf-validate", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert_eq!(page_messages(&html), ["Invalid code"]);
    let again = t.app.by_email("qr@example.com", false).await.unwrap();
    assert_eq!(again.tf_totp_secret, user.tf_totp_secret);
}

/// The password step through the form: a redirect to the code page (with `next`).
async fn password_step(app: &TestApp, email: &str, next: Option<&str>) -> String {
    let (s, loc, html) = form_login(app, email, next).await;
    assert_eq!(s, Status::Found, "{html}");
    let loc = loc.unwrap();
    assert!(loc.starts_with("/tf-validate"), "{loc}");
    assert!(!signed_in(app).await, "the password alone signed in");
    loc
}

/// The code page at `uri`: its form's action and CSRF token, after checking its fields.
async fn code_page(app: &TestApp, uri: &str) -> (String, String) {
    let (s, _, html) = browser_get(app, uri).await;
    assert_eq!(s, Status::Ok, "{uri}: {html}");
    assert!(
        html.contains("type=\"text\" name=\"code\" id=\"code\" value=\"\""),
        "{html}"
    );
    assert!(
        html.contains("<form action=\"/tf-rescue\" method=\"POST\">"),
        "{html}"
    );
    assert!(html.contains("name=\"help_setup\""), "{html}");
    assert!(html.contains("value=\"email\""), "{html}");
    (first_action(&html), csrf_from(&html))
}

/// A code that is not `right`.
fn wrong(right: &str) -> String {
    right
        .chars()
        .map(|c| char::from_digit((c.to_digit(10).unwrap() + 1) % 10, 10).unwrap())
        .collect()
}

#[rocket::async_test]
async fn signing_in_with_the_code_page() {
    let t = tf_app().await;
    let key = authenticator_user(&t, "in@example.com").await;
    let loc = password_step(&t.app, "in@example.com", None).await;
    assert_eq!(loc, "/tf-validate");
    let (action, csrf) = code_page(&t.app, &loc).await;
    assert_eq!(action, "/tf-validate");
    let code = key.current_code(t.clock.now() as f64);
    let body = format!("code={}&csrf_token={csrf}", wrong(&code));
    let (s, loc, html) = browser_post(&t.app, &action, &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert!(html.contains("Invalid code"), "{html}");
    assert_eq!(page_messages(&html), ["Invalid code"]);
    assert!(
        html.contains("<form action=\"/tf-rescue\" method=\"POST\">"),
        "{html}"
    );
    assert!(!signed_in(&t.app).await);
    let body = format!("code={code}&csrf_token={csrf}");
    assert_redirected(&browser_post(&t.app, &action, &body).await, "/", "code");
    assert!(signed_in(&t.app).await);
    assert_flashed(&t.app, "/change", "success", "Your code has been confirmed").await;
    // With `next` in the login form, the code page keeps it and the sign-in ends there.
    sign_out(&t.app).await;
    t.clock.advance(30);
    let loc = password_step(&t.app, "in@example.com", Some("/profile")).await;
    assert_eq!(loc, "/tf-validate?next=%2Fprofile");
    let (action, csrf) = code_page(&t.app, &loc).await;
    assert_eq!(action, "/tf-validate?next=%2Fprofile");
    let code = key.current_code(t.clock.now() as f64);
    let body = format!("code={}&csrf_token={csrf}", wrong(&code));
    let (s, _, html) = browser_post(&t.app, &action, &body).await;
    assert_eq!(s, Status::Ok);
    assert_eq!(first_action(&html), action, "the page again keeps next");
    let body = format!("code={code}&csrf_token={csrf}");
    assert_redirected(
        &browser_post(&t.app, &action, &body).await,
        "/profile",
        "next",
    );
    let (s, _, body) = browser_get(&t.app, "/profile").await;
    assert_eq!((s, body.as_str()), (Status::Ok, "profile in@example.com"));
}

/// Generates recovery codes with the page's form; the codes it lists.
async fn generate_codes(app: &TestApp) -> Vec<String> {
    let csrf = form_csrf(app, "/mf-recovery-codes", "csrf_token").await;
    let (_, _, html) = browser_get(app, "/mf-recovery-codes").await;
    assert_eq!(
        codes_in(&html),
        Vec::<String>::new(),
        "none shown yet: {html}"
    );
    assert!(
        html.contains("href=\"/mf-recovery-codes?show_codes=1\""),
        "{html}"
    );
    let body = format!("csrf_token={csrf}");
    let (s, loc, html) = browser_post(app, "/mf-recovery-codes", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    let codes = codes_in(&html);
    assert_eq!(codes.len(), 5, "{html}");
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 14 && c.matches('-').count() == 2),
        "{codes:?}"
    );
    codes
}

#[rocket::async_test]
async fn recovery_codes_page_and_signing_in_with_one() {
    let t = tf_app().await;
    t.app.user("rc@example.com", PW, &[]).await;
    form_sign_in(&t.app, "rc@example.com").await;
    setup_authenticator(&t).await;
    let codes = generate_codes(&t.app).await;
    let (s, _, html) = browser_get(&t.app, "/mf-recovery-codes?show_codes=1").await;
    assert_eq!(s, Status::Ok);
    assert_eq!(codes_in(&html), codes, "{html}");
    let (s, _, html) = browser_get(&t.app, "/mf-recovery-codes").await;
    assert_eq!(s, Status::Ok);
    assert_eq!(codes_in(&html), Vec::<String>::new(), "{html}");
    for c in &codes {
        assert!(!html.contains(c.as_str()), "{c} shown without show_codes");
    }
    sign_out(&t.app).await;
    let loc = password_step(&t.app, "rc@example.com", None).await;
    let (_, _, html) = browser_get(&t.app, &loc).await;
    assert!(html.contains("value=\"recovery_code\""), "{html}");
    // The rescue form's "Use a recovery code" leads to the recovery-code page.
    let body = format!("help_setup=recovery_code&csrf_token={}", csrf_from(&html));
    let answer = browser_post(&t.app, "/tf-rescue", &body).await;
    assert_redirected(&answer, "/mf-recovery", "rescue");
    let csrf = form_csrf(&t.app, "/mf-recovery", "code").await;
    let body = format!("code=0000-0000-0000&csrf_token={csrf}");
    let (s, loc, html) = browser_post(&t.app, "/mf-recovery", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert_eq!(page_messages(&html), ["Recovery code invalid"]);
    let body = format!("code={}&csrf_token={}", codes[0], csrf_from(&html));
    assert_redirected(
        &browser_post(&t.app, "/mf-recovery", &body).await,
        "/",
        "recovery",
    );
    assert!(signed_in(&t.app).await);
    let mails = wait_mail(&t.sink, 1).await;
    let subject = mails.last().map(|m| m.header("Subject"));
    assert_eq!(subject, Some(Some("A recovery code was used".to_owned())));
    let user = t.app.by_email("rc@example.com", false).await.unwrap();
    assert_eq!(user.mf_recovery_codes.unwrap().split(',').count(), 4);
}

/// The `/verify` page at `uri`: its CSRF token, after checking the fields and `next`.
async fn verify_page(app: &TestApp, uri: &str, next: &str) -> String {
    let (s, _, html) = browser_get(app, uri).await;
    assert_eq!(s, Status::Ok, "{uri}: {html}");
    assert!(
        html.contains("<form action=\"/verify\" method=\"POST\">"),
        "{html}"
    );
    assert!(
        html.contains("type=\"password\" name=\"password\" id=\"password\""),
        "{html}"
    );
    let hidden = format!("<input type=\"hidden\" name=\"next\" id=\"next\" value=\"{next}\">");
    assert!(html.contains(&hidden), "{html}");
    csrf_from(&html)
}

#[rocket::async_test]
async fn the_verify_page_asks_for_the_password_again() {
    let t = tf_app().await;
    t.app.user("v@example.com", PW, &[]).await;
    form_sign_in(&t.app, "v@example.com").await;
    let csrf = verify_page(&t.app, "/verify", "").await;
    let body = format!("password=wrong&next=&csrf_token={csrf}");
    let (s, loc, html) = browser_post(&t.app, "/verify", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert!(html.contains("Invalid password"), "{html}");
    assert_eq!(page_messages(&html), ["Invalid password"]);
    let body = format!("password={}&next=&csrf_token={csrf}", enc(PW));
    assert_redirected(&browser_post(&t.app, "/verify", &body).await, "/", "verify");
    let expected = Some((
        "success".to_owned(),
        "Reauthentication successful".to_owned(),
    ));
    assert_eq!(flashed_on(&t.app, "/change").await, expected);
    // `next` from the query lands in the hidden field, and the form's `next` is followed.
    let csrf = verify_page(&t.app, "/verify?next=%2Fprofile", "/profile").await;
    let body = format!("password=wrong&next=%2Fprofile&csrf_token={csrf}");
    let (s, _, html) = browser_post(&t.app, "/verify", &body).await;
    assert_eq!(s, Status::Ok);
    assert!(
        html.contains("name=\"next\" id=\"next\" value=\"/profile\""),
        "{html}"
    );
    let body = format!("password={}&next=%2Fprofile&csrf_token={csrf}", enc(PW));
    assert_redirected(
        &browser_post(&t.app, "/verify", &body).await,
        "/profile",
        "next",
    );
    assert!(signed_in(&t.app).await);
}

#[rocket::async_test]
async fn a_stale_sign_in_is_sent_to_verify_and_back() {
    let t = tf_app().await;
    t.app.user("stale@example.com", PW, &[]).await;
    form_sign_in(&t.app, "stale@example.com").await;
    assert_eq!(browser_get(&t.app, "/fresh").await.0, Status::Ok);
    t.clock.advance(6 * 60);
    let answer = browser_get(&t.app, "/fresh").await;
    assert_redirected(&answer, "/verify?next=%2Ffresh", "stale");
    let csrf = verify_page(&t.app, "/verify?next=%2Ffresh", "/fresh").await;
    let body = format!("password={}&next=%2Ffresh&csrf_token={csrf}", enc(PW));
    assert_redirected(
        &browser_post(&t.app, "/verify", &body).await,
        "/fresh",
        "verify",
    );
    let (s, _, body) = browser_get(&t.app, "/fresh").await;
    assert_eq!((s, body.as_str()), (Status::Ok, "fresh stale@example.com"));
}

#[rocket::async_test]
async fn a_required_method_is_set_up_from_the_login_form() {
    let t = tf_app_with(|f| f.merge(("security.two_factor_required", true))).await;
    t.app.user("req@example.com", PW, &[]).await;
    let answer = form_login(&t.app, "req@example.com", None).await;
    assert_redirected(&answer, "/tf-setup", "required");
    assert!(!signed_in(&t.app).await, "the password alone signed in");
    let (html, key) = choose_authenticator(&t.app).await;
    assert!(
        !html.contains("value=\"disable\""),
        "required: no disable {html}"
    );
    assert!(!signed_in(&t.app).await, "choosing a method signed in");
    let code = key.current_code(t.clock.now() as f64);
    let body = format!("code={}&csrf_token={}", wrong(&code), csrf_from(&html));
    let (s, _, html) = browser_post(&t.app, "/tf-validate", &body).await;
    assert_eq!(s, Status::Ok);
    assert_eq!(page_messages(&html), ["Invalid code"]);
    let body = format!("code={code}&csrf_token={}", csrf_from(&html));
    assert_redirected(
        &browser_post(&t.app, "/tf-validate", &body).await,
        "/",
        "setup",
    );
    assert!(signed_in(&t.app).await);
    let message = "You successfully changed your two-factor method.";
    assert_flashed(&t.app, "/change", "success", message).await;
    let user = t.app.by_email("req@example.com", false).await.unwrap();
    assert_eq!(user.tf_primary_method.as_deref(), Some("authenticator"));
}

#[rocket::async_test]
async fn the_recovery_codes_form_says_why_a_post_without_csrf_did_nothing() {
    let t = tf_app().await;
    t.app.user("nc@example.com", PW, &[]).await;
    form_sign_in(&t.app, "nc@example.com").await;
    setup_authenticator(&t).await;
    let (s, loc, html) = browser_post(&t.app, "/mf-recovery-codes", "").await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert_eq!(codes_in(&html), Vec::<String>::new(), "{html}");
    let user = t.app.by_email("nc@example.com", false).await.unwrap();
    assert_eq!(
        user.mf_recovery_codes, None,
        "codes made without a CSRF token"
    );
    // The page says why nothing happened, as every other form does.
    assert_eq!(page_messages(&html), ["The CSRF token is missing."]);
}

/// Chooses `setup` (with `extra` fields) on the setup page: the page that asks for the
/// code it sent.
async fn choose_code_method(app: &TestApp, setup: &str, extra: &str) -> String {
    let csrf = form_csrf(app, "/tf-setup", "phone").await;
    let body = format!("setup={setup}{extra}&csrf_token={csrf}");
    let (s, loc, html) = browser_post(app, "/tf-setup", &body).await;
    assert_eq!((s, loc), (Status::Ok, None), "{html}");
    assert!(
        html.contains("A code has been sent. Enter it below."),
        "{html}"
    );
    assert!(!html.contains("data:image/svg+xml"), "{html}");
    html
}

/// Posts `code` with the CSRF token of `html` to `/tf-validate`; expects a redirect to `to`.
async fn validate_form(app: &TestApp, html: &str, code: &str, to: &str) {
    let body = format!("code={code}&csrf_token={}", csrf_from(html));
    assert_redirected(&browser_post(app, "/tf-validate", &body).await, to, code);
}

#[rocket::async_test]
async fn mailed_and_texted_codes_through_the_pages_then_disable() {
    let t = tf_app().await;
    t.app.user("codes@example.com", PW, &[]).await;
    form_sign_in(&t.app, "codes@example.com").await;
    // Email: the code arrives over SMTP.
    let html = choose_code_method(&t.app, "email", "").await;
    let mails = wait_mail(&t.sink, 1).await;
    validate_form(
        &t.app,
        &html,
        &two_factor::code_in(&mails[0].body_text()),
        "/tf-setup",
    )
    .await;
    sign_out(&t.app).await;
    t.clock.advance(30);
    let (_, loc, _) = form_login(&t.app, "codes@example.com", None).await;
    assert_eq!(loc.as_deref(), Some("/tf-validate"));
    let (_, _, page) = browser_get(&t.app, "/tf-validate").await;
    let mails = wait_mail(&t.sink, 2).await;
    validate_form(
        &t.app,
        &page,
        &two_factor::code_in(&mails[1].body_text()),
        "/",
    )
    .await;
    // SMS: the code arrives at the Twilio-shaped server.
    let html =
        choose_code_method(&t.app, "sms", &format!("&phone={}", enc("+1 650 253 0000"))).await;
    let texts = t.sms.wait_for(1).await;
    assert_eq!(texts[0].to, "+16502530000");
    validate_form(
        &t.app,
        &html,
        &two_factor::code_in(&texts[0].body),
        "/tf-setup",
    )
    .await;
    let user = t.app.by_email("codes@example.com", false).await.unwrap();
    assert_eq!(user.tf_primary_method.as_deref(), Some("sms"));
    // Disable through the page: flashed, stored, mailed.
    let csrf = form_csrf(&t.app, "/tf-setup", "phone").await;
    let body = format!("setup=disable&csrf_token={csrf}");
    assert_redirected(
        &browser_post(&t.app, "/tf-setup", &body).await,
        "/tf-setup",
        "disable",
    );
    assert_flashed(
        &t.app,
        "/tf-setup",
        "success",
        "You successfully disabled two-factor authorization.",
    )
    .await;
    let user = t.app.by_email("codes@example.com", false).await.unwrap();
    assert_eq!(user.tf_primary_method, None);
    let mails = wait_mail(&t.sink, 3).await;
    assert_eq!(
        mails[2].header("Subject").as_deref(),
        Some("Two-factor sign-in turned off")
    );
}
