//! Pages from overridable templates, and answers in the request's language: JSON
//! messages, pages and mail through one catalog, `[security.messages]` replacements.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_runtime::messages::{INVALID_PASSWORD, USER_DOES_NOT_EXIST};
use security_runtime::Security;
use security_tests::flows::{captured, features};
use security_tests::{backends, TestApp};

const EMAIL: &str = "matt@lp.com";
const PASSWORD: &str = "password123";

/// A JSON login with a wrong password, with an optional `Accept-Language`; the error.
async fn wrong_password(app: &TestApp, lang: Option<&str>) -> String {
    let headers: Vec<Header<'static>> = lang.into_iter().map(accept_language).collect();
    let body = json!({"email": EMAIL, "password": "wrong-one"});
    let r = app.post_json_with("/login", body, &headers).await;
    assert_eq!(r.status(), Status::BadRequest);
    let v: Value = r.into_json().await.unwrap();
    v["response"]["field_errors"]["password"][0]
        .as_str()
        .unwrap()
        .to_owned()
}

/// An `Accept-Language` header.
fn accept_language(lang: &str) -> Header<'static> {
    Header::new("Accept-Language", lang.to_owned())
}

/// A page as a browser asking for `lang` gets it.
async fn page(app: &TestApp, uri: &str, lang: &str) -> String {
    let r = app
        .client
        .get(uri.to_owned())
        .header(Header::new("Accept-Language", lang.to_owned()))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok, "GET {uri}");
    r.into_string().await.unwrap()
}

#[rocket::async_test]
async fn accept_language_chooses_german_for_json_pages_and_mail_when_negotiating() {
    let b = backends()[0];
    let (app, mailer) = captured(b, |f| f.merge(("security.i18n_negotiate", true))).await;
    app.user(EMAIL, PASSWORD, &[]).await;
    let catalog = &app.state().catalog;
    let german = catalog.gettext("de", INVALID_PASSWORD).to_owned();
    assert_eq!(german, "Ungültiges Passwort");

    // JSON messages.
    assert_eq!(
        wrong_password(&app, Some("de-DE,de;q=0.9,en;q=0.5")).await,
        german
    );
    assert_eq!(
        wrong_password(&app, Some("fr")).await,
        "Mot de passe non valide"
    );
    // An unknown language falls back to the default locale.
    assert_eq!(wrong_password(&app, Some("xx")).await, INVALID_PASSWORD);
    assert_eq!(wrong_password(&app, None).await, INVALID_PASSWORD);

    // Pages: the language attribute, the template's texts and the form errors.
    let html = page(&app, "/login", "de").await;
    assert!(html.contains("<html lang=\"de\">"), "{html}");
    assert!(html.contains("<title>Anmelden</title>"), "{html}");
    let csrf = security_tests::flows::csrf_from(&html);
    let r = app
        .client
        .post("/login")
        .header(ContentType::Form)
        .header(Header::new("Accept-Language", "de"))
        .body(format!("email=nobody@lp.com&password=x&csrf_token={csrf}"))
        .dispatch()
        .await;
    let html = r.into_string().await.unwrap();
    let unknown = catalog.gettext("de", USER_DOES_NOT_EXIST);
    assert_ne!(unknown, USER_DOES_NOT_EXIST);
    assert_eq!(security_tests::flows::page_messages(&html), vec![unknown]);

    // Mail: subject and body of the welcome mail of a German registration.
    let body = json!({"email": "neu@lp.com", "password": "a-long-password-1",
                      "password_confirm": "a-long-password-1"});
    let r = app
        .post_json_with("/register", body, &[accept_language("de")])
        .await;
    assert_eq!(r.status(), Status::Ok);
    let mail = mailer.messages().last().cloned().unwrap();
    assert_eq!(mail.subject, "Willkommen");
    let text = mail.text.unwrap();
    assert!(text.contains("Willkommen, neu@lp.com!"), "{text}");
}

#[rocket::async_test]
async fn without_negotiation_the_default_locale_answers() {
    let b = backends()[0];
    let (app, _) = captured(b, |f| f).await;
    app.user(EMAIL, PASSWORD, &[]).await;
    assert_eq!(wrong_password(&app, Some("de")).await, INVALID_PASSWORD);
    let html = page(&app, "/login", "de").await;
    assert!(html.contains("<html lang=\"en\">"), "{html}");

    // A default locale of German answers in German whatever the request says.
    let (app, _) = captured(b, |f| f.merge(("security.default_locale", "de"))).await;
    app.user(EMAIL, PASSWORD, &[]).await;
    assert_eq!(
        wrong_password(&app, Some("fr")).await,
        "Ungültiges Passwort"
    );
}

#[rocket::async_test]
async fn the_locale_hook_wins_and_a_message_replacement_applies() {
    let b = backends()[0];
    let app = TestApp::with(
        b,
        |f| {
            features(f).merge(("security.i18n_negotiate", true)).merge((
                "security.messages.USER_DOES_NOT_EXIST",
                "No account has that address",
            ))
        },
        Security::new().locale_selector(|req| req.headers().get_one("X-Lang").map(str::to_owned)),
    )
    .await;
    app.user(EMAIL, PASSWORD, &[]).await;
    // The hook's French beats Accept-Language's German.
    let headers = [accept_language("de"), Header::new("X-Lang", "fr")];
    let body = json!({"email": EMAIL, "password": "nope"});
    let r = app.post_json_with("/login", body, &headers).await;
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        v["response"]["field_errors"]["password"][0],
        "Mot de passe non valide"
    );
    // The replacement text answers in English (no catalog translates it).
    let r = app
        .post_json("/login", json!({"email": "who@lp.com", "password": "x"}))
        .await;
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        v["response"]["field_errors"]["email"][0],
        "No account has that address"
    );
}

#[rocket::async_test]
async fn an_unknown_message_name_stops_launch() {
    let url = security_tests::fresh_database(backends()[0]).await;
    let figment =
        security_tests::test_figment(&url).merge(("security.messages.NOT_A_MESSAGE", "x"));
    let rocket = security_tests::app(backends()[0], figment, Security::new());
    assert_security_refused(rocket).await;
}

/// Launch fails in the security fairing.
async fn assert_security_refused(rocket: rocket::Rocket<rocket::Build>) {
    match rocket::local::asynchronous::Client::tracked(rocket).await {
        Err(e) => assert!(matches!(
            e.kind(),
            rocket::error::ErrorKind::FailedFairings(f) if f.iter().any(|f| f.name == "Security")
        )),
        Ok(_) => panic!("launched although the security configuration is wrong"),
    }
}

#[rocket::async_test]
async fn application_templates_replace_pages_and_the_rest_fall_back() {
    let b = backends()[0];
    let dir = std::env::temp_dir().join(format!("sec-templates-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("security")).unwrap();
    std::fs::write(
        dir.join("security/login_user.html"),
        "<!doctype html><title>Acme</title><p>Acme sign-in for {{ lang }}</p>\
         <form action=\"{{ form.action }}\" method=\"POST\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{{ csrf_token }}\"></form>",
    )
    .unwrap();
    let folder = dir.to_str().unwrap().to_owned();
    let app = TestApp::with(
        b,
        move |f| features(f).merge(("security.templates_dir", folder)),
        Security::new().template(
            "security/forgot_password.html",
            "{% extends \"security/base.html\" %}{% block title %}Lost it?{% endblock %}",
        ),
    )
    .await;
    let html = page(&app, "/login", "en").await;
    assert!(html.contains("Acme sign-in for en"), "{html}");
    // The application's login page still works: its form signs in.
    let csrf = security_tests::flows::csrf_from(&html);
    app.user(EMAIL, PASSWORD, &[]).await;
    let r = app
        .client
        .post("/login")
        .header(ContentType::Form)
        .body(format!(
            "email={EMAIL}&password={PASSWORD}&csrf_token={csrf}"
        ))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found);
    app.logout().await;
    // Replaced in code.
    let html = page(&app, "/reset", "en").await;
    assert!(html.contains("<title>Lost it?</title>"), "{html}");
    // Not replaced: the built-in page.
    let html = page(&app, "/register", "en").await;
    assert!(html.contains("name=\"password_confirm\""), "{html}");
    std::fs::remove_dir_all(&dir).unwrap();

    // A template with a syntax error stops launch, naming it.
    let url = security_tests::fresh_database(b).await;
    let rocket = security_tests::app(
        b,
        security_tests::test_figment(&url),
        Security::new().template("security/login_user.html", "{% if %}"),
    );
    assert_security_refused(rocket).await;
}

#[rocket::async_test]
async fn validation_messages_and_durations_are_translated_with_their_values() {
    let b = backends()[0];
    let (app, mailer) = captured(b, |f| {
        f.merge(("security.i18n_negotiate", true))
            .merge(("security.confirmable", true))
    })
    .await;
    let csrf = app.csrf().await;
    let register = |password: &'static str| {
        json!({"email": "kurz@lp.com", "password": password,
               "password_confirm": password, "csrf_token": csrf})
        .to_string()
    };
    let r = app
        .client
        .post("/register")
        .header(ContentType::JSON)
        .header(Header::new("Accept-Language", "de"))
        .body(register("kurz"))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::BadRequest);
    let v: Value = r.into_json().await.unwrap();
    let message = v["response"]["field_errors"]["password"][0]
        .as_str()
        .unwrap();
    let english = "Password must be at least 8 characters";
    assert_ne!(message, english);
    assert!(message.contains('8'), "{message}");

    // The confirmation instructions say how long the link lives, in German.
    let r = app
        .client
        .post("/register")
        .header(ContentType::JSON)
        .header(Header::new("Accept-Language", "de"))
        .body(register("lang genug 12"))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let csrf = app.csrf().await;
    let r = app
        .client
        .post("/confirm")
        .header(ContentType::JSON)
        .header(Header::new("Accept-Language", "de"))
        .body(json!({"email": "kurz@lp.com", "csrf_token": csrf}).to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let text = mailer.messages().last().unwrap().text.clone().unwrap();
    let days = app
        .state()
        .catalog
        .gettext("de", "%(num)d days")
        .replace("%(num)d", "2");
    assert!(text.contains(&days), "{days} not in {text}");
}
