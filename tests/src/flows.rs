//! Helpers shared by the account-flow tests: the flow settings, apps with captured or
//! SMTP mail, JSON posts and their field errors, a browser's view of the HTML pages
//! (forms, CSRF, redirects, flashes), and the mail the flows send.

use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Value;
use security_runtime::mail::CapturingMailer;
use security_runtime::{Security, UserQuery};

use crate::smtp::{ReceivedMail, SmtpSink};
use crate::{field_errors, link_path, Backend, Clock, TestApp};

/// `f` with every account flow of these tests switched on, links built on
/// `https://app.example.com`.
pub fn features(f: Figment) -> Figment {
    let switches = [
        "registerable",
        "recoverable",
        "changeable",
        "change_email",
        "username_enable",
        "change_username",
        "username_recovery",
    ];
    let on = |f: Figment, switch: &&str| f.merge((format!("security.{switch}"), true));
    let f = switches.iter().fold(f, on);
    f.merge(("security.external_url", "https://app.example.com"))
}

/// An app with [`features`] (and `tweak`) whose mail is captured.
pub async fn captured(
    b: Backend,
    tweak: impl FnOnce(Figment) -> Figment,
) -> (TestApp, CapturingMailer) {
    let mailer = CapturingMailer::new();
    let app = TestApp::with(
        b,
        |f| tweak(features(f)),
        Security::new().mail_util(Arc::new(mailer.clone())),
    )
    .await;
    (app, mailer)
}

/// An app with [`captured`]'s settings on its own [`Clock`].
pub async fn captured_clocked(
    b: Backend,
    tweak: impl FnOnce(Figment) -> Figment,
) -> (TestApp, CapturingMailer, Clock) {
    let mailer = CapturingMailer::new();
    let clock = Clock::new();
    let security = clock.install(Security::new().mail_util(Arc::new(mailer.clone())));
    let app = TestApp::with(b, |f| tweak(features(f)), security).await;
    (app, mailer, clock)
}

/// An app with [`features`] (and `tweak`) that mails through `sink`.
pub async fn with_smtp(
    b: Backend,
    sink: &SmtpSink,
    tweak: impl FnOnce(Figment) -> Figment,
) -> TestApp {
    let port = sink.port();
    TestApp::with(
        b,
        move |f| {
            tweak(
                features(f)
                    .merge(("security.mail_server", "127.0.0.1"))
                    .merge(("security.mail_port", port)),
            )
        },
        Security::new(),
    )
    .await
}

/// A fresh [`SmtpSink`] and an app that mails through it (see [`with_smtp`]).
pub async fn smtp_app(b: Backend, tweak: impl FnOnce(Figment) -> Figment) -> (TestApp, SmtpSink) {
    let sink = SmtpSink::start().await;
    let app = with_smtp(b, &sink, tweak).await;
    (app, sink)
}

/// A JSON POST with the session's CSRF token: (status, body).
pub async fn post(app: &TestApp, uri: &str, body: Value) -> (Status, Value) {
    let r = app.post_json(uri, body).await;
    let s = r.status();
    (s, r.into_json().await.unwrap_or(Value::Null))
}

/// The flashed message a security page shows first: `<li class="category">text</li>`.
pub fn flashed(html: &str) -> Option<(String, String)> {
    let rest = html.split("<ul class=\"messages\"><li class=\"").nth(1)?;
    let (category, rest) = rest.split_once("\">")?;
    let (message, _) = rest.split_once("</li>")?;
    Some((category.to_owned(), message.to_owned()))
}

/// GETs a security page as a browser and returns the flashed message it shows.
pub async fn flashed_on(app: &TestApp, uri: &str) -> Option<(String, String)> {
    let r = app.client.get(uri.to_owned()).dispatch().await;
    assert_eq!(r.status(), Status::Ok, "GET {uri}");
    flashed(&r.into_string().await.unwrap_or_default())
}

/// The CSRF token of the (first) form in a page.
pub fn csrf_from(html: &str) -> String {
    html.split("name=\"csrf_token\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap()
        .to_owned()
}

/// A browser GET (no JSON `Accept`, no JSON body): (status, `Location`, body).
pub async fn browser_get(app: &TestApp, uri: &str) -> (Status, Option<String>, String) {
    let r = app.client.get(uri.to_owned()).dispatch().await;
    let loc = r.headers().get_one("Location").map(str::to_owned);
    (r.status(), loc, r.into_string().await.unwrap_or_default())
}

/// A browser form POST (`application/x-www-form-urlencoded`): (status, `Location`, body).
pub async fn browser_post(
    app: &TestApp,
    uri: &str,
    body: &str,
) -> (Status, Option<String>, String) {
    let r = app
        .client
        .post(uri.to_owned())
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await;
    let loc = r.headers().get_one("Location").map(str::to_owned);
    (r.status(), loc, r.into_string().await.unwrap_or_default())
}

/// The CSRF token of the HTML form at `uri`, after checking the form is the one expected.
pub async fn form_csrf(app: &TestApp, uri: &str, field: &str) -> String {
    let (s, _, html) = browser_get(app, uri).await;
    assert_eq!(s, Status::Ok, "GET {uri}: {html}");
    assert!(
        html.contains(&format!("<form action=\"{uri}\" method=\"POST\">")),
        "{html}"
    );
    assert!(html.contains(&format!("name=\"{field}\"")), "{html}");
    csrf_from(&html)
}

/// Signs in through the HTML login form; `identity` is `email=..` or `username=..`.
pub async fn browser_login(app: &TestApp, identity: &str, password: &str) {
    let csrf = form_csrf(app, "/login", "password").await;
    let (s, loc, body) = browser_post(
        app,
        "/login",
        &format!("{identity}&password={password}&csrf_token={csrf}"),
    )
    .await;
    assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{body}");
}

/// The messages list of a built-in page.
pub fn page_messages(html: &str) -> Vec<String> {
    let list = html
        .split("<ul class=\"messages\">")
        .nth(1)
        .and_then(|s| s.split("</ul>").next())
        .unwrap_or_default();
    list.split("<li>")
        .skip(1)
        .map(|m| m.trim_end_matches("</li>").to_owned())
        .collect()
}

/// Gives the user `email` a username, straight in the datastore.
pub async fn set_username(app: &TestApp, email: &str, username: &str) {
    let mut u = app
        .datastore()
        .find_user(&UserQuery::Email(email.into()), false)
        .await
        .unwrap()
        .unwrap();
    u.username = Some(username.into());
    app.datastore().put_user(&mut u).await.unwrap();
}

/// Asserts a JSON POST is refused (400) with exactly `msg` on `field`.
pub async fn post_field_error(app: &TestApp, uri: &str, body: Value, field: &str, msg: &str) {
    let (s, v) = post(app, uri, body).await;
    assert_eq!(s, Status::BadRequest, "{uri} {v}");
    assert_eq!(field_errors(&v, field), vec![msg.to_owned()], "{uri} {v}");
}

/// Asserts a browser GET of `uri` is redirected to `to`.
pub async fn assert_redirect(app: &TestApp, uri: &str, to: &str) {
    assert_redirected(&browser_get(app, uri).await, to, uri);
}

/// Asserts a browser answer (of [`browser_get`] or [`browser_post`]) is a redirect to `to`.
pub fn assert_redirected(answer: &(Status, Option<String>, String), to: &str, what: impl Debug) {
    let (s, loc, body) = answer;
    let expected = (Status::Found, Some(to));
    assert_eq!((*s, loc.as_deref()), expected, "{what:?}: {body}");
}

/// Asserts the message flashed on the page at `uri`.
pub async fn assert_flashed(app: &TestApp, uri: &str, category: &str, message: &str) {
    let expected = Some((category.to_owned(), message.to_owned()));
    assert_eq!(flashed_on(app, uri).await, expected, "{uri}");
}

/// The CSRF token of the page at `uri`, read as a browser would (the status is not checked).
pub async fn page_csrf(app: &TestApp, uri: &str) -> String {
    let (_, _, html) = browser_get(app, uri).await;
    csrf_from(&html)
}

/// Submits the form at `uri` with `fields`, and the CSRF token its page shows.
pub async fn submit(app: &TestApp, uri: &str, fields: &str) -> (Status, Option<String>, String) {
    let csrf = page_csrf(app, uri).await;
    browser_post(app, uri, &format!("{fields}&csrf_token={csrf}")).await
}

/// The CSRF token of the form at `uri` (checked as [`form_csrf`] does), after asserting
/// that posting `fields` without it shows the form again (200) saying the token is
/// missing; also returns that answer's `Location` header, if any.
pub async fn csrf_required_form(
    app: &TestApp,
    uri: &str,
    field: &str,
    fields: &str,
) -> (String, Option<String>) {
    let csrf = form_csrf(app, uri, field).await;
    let (s, loc, html) = browser_post(app, uri, fields).await;
    assert_eq!(s, Status::Ok, "{uri}");
    assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
    (csrf, loc)
}

/// For each `(sent, typed, message)`: posting `field=sent` to the form at `uri` shows the
/// form again (200, no redirect) with `message` and the input `typed` kept.
pub async fn assert_form_errors(
    app: &TestApp,
    uri: &str,
    (field, csrf): (&str, &str),
    cases: &[(&str, &str, &str)],
    what: impl Debug,
) {
    for (sent, typed, message) in cases {
        let body = format!("{field}={sent}&csrf_token={csrf}");
        let (s, loc, html) = browser_post(app, uri, &body).await;
        assert_eq!((s, loc), (Status::Ok, None), "{what:?} {typed}");
        assert_eq!(page_messages(&html), vec![*message], "{what:?} {typed}");
        let kept = format!("name=\"{field}\" id=\"{field}\" value=\"{typed}\"");
        assert!(html.contains(&kept), "{html}");
    }
}

/// The path of the link in the captured mail number `n` (from 0).
pub fn mailed_link(mailer: &CapturingMailer, n: usize) -> String {
    link_path(mailer.messages()[n].text.as_deref().unwrap())
}

/// The path of the link in the last captured mail.
pub fn last_link(mailer: &CapturingMailer) -> String {
    link_path(mailer.messages().last().unwrap().text.as_deref().unwrap())
}

/// The template of the last captured mail.
pub fn last_template(mailer: &CapturingMailer) -> String {
    mailer.messages().last().unwrap().template.clone()
}

/// Asserts there is exactly one captured mail, made from `template` and sent to `to`.
pub fn assert_one_mail(mailer: &CapturingMailer, template: &str, to: &str) {
    let m = mailer.messages();
    assert_eq!(m.len(), 1);
    assert_eq!((m[0].template.as_str(), m[0].to.as_str()), (template, to));
}

/// Waits (up to 10 s) for `n` mails to reach `sink`; returns what arrived.
pub async fn wait_mail(sink: &SmtpSink, n: usize) -> Vec<ReceivedMail> {
    sink.wait_for(n, Duration::from_secs(10)).await
}

/// Asserts a mail's recipients are exactly `[to]` and its subject is `subject`.
pub fn assert_mail(mail: &ReceivedMail, to: &str, subject: &str) {
    assert_eq!(mail.rcpt_to, vec![to]);
    assert_eq!(mail.header("Subject").as_deref(), Some(subject));
}

/// `s` as a form value (`application/x-www-form-urlencoded`).
pub fn form_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
