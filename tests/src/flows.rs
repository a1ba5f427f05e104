//! Helpers shared by the account-flow tests: the flow settings, apps with captured or
//! SMTP mail, JSON posts, and a browser's view of the HTML pages (forms, CSRF, flashes).

use std::sync::Arc;

use rocket::figment::Figment;
use rocket::http::{ContentType, Status};
use rocket::serde::json::Value;
use security_runtime::mail::CapturingMailer;
use security_runtime::{Security, UserQuery};

use crate::smtp::SmtpSink;
use crate::{Backend, TestApp};

pub fn features(f: Figment) -> Figment {
    f.merge(("security.registerable", true))
        .merge(("security.recoverable", true))
        .merge(("security.changeable", true))
        .merge(("security.change_email", true))
        .merge(("security.username_enable", true))
        .merge(("security.change_username", true))
        .merge(("security.username_recovery", true))
        .merge(("security.external_url", "https://app.example.com"))
}

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
