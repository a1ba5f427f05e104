//! Login and logout over HTTP, JSON and form, as Flask-Security answers them.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::LocalResponse;
use rocket::serde::json::{json, Value};
use security_runtime::Security;
use security_tests::flows::{browser_get, csrf_from};
use security_tests::{backends, field_errors, TestApp};

const MATT: &str = "matt@lp.com";
const PASSWORD: &str = "password123";

/// A fresh app on `b` with the user `matt@lp.com` (password `password123`).
async fn app_with_matt(b: security_tests::Backend) -> TestApp {
    TestApp::with_user(b, MATT, PASSWORD).await
}

/// A fresh app on `b` where matt has just signed in over JSON (asserted); the answer's body.
async fn matt_signed_in(b: security_tests::Backend) -> (TestApp, Value) {
    let app = app_with_matt(b).await;
    let (s, v) = app.login(MATT, PASSWORD).await;
    assert_eq!(s, Status::Ok);
    (app, v)
}

/// Matt's login body.
fn matt() -> Value {
    json!({"email": MATT, "password": PASSWORD})
}

/// A JSON `POST /login` with `body` as it is (no CSRF token added) and `headers`.
async fn raw_login<'a>(
    app: &'a TestApp,
    body: &Value,
    headers: &[Header<'static>],
) -> LocalResponse<'a> {
    let mut req = app.client.post("/login").header(ContentType::JSON);
    for h in headers {
        req = req.header(h.clone());
    }
    req.body(body.to_string()).dispatch().await
}

/// A form `POST` of `body` to `uri` (no CSRF token added).
async fn form_post<'a>(app: &'a TestApp, uri: String, body: String) -> LocalResponse<'a> {
    app.client
        .post(uri)
        .header(ContentType::Form)
        .body(body)
        .dispatch()
        .await
}

/// The values of the `Set-Cookie` headers of `r`.
fn set_cookies(r: &LocalResponse<'_>) -> Vec<String> {
    r.headers().get("Set-Cookie").map(str::to_owned).collect()
}

#[rocket::async_test]
async fn json_login_success_envelope_and_session() {
    for b in backends() {
        let app = app_with_matt(b).await;
        let r = app.post_json("/login", matt()).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let cache_control = r.headers().get_one("Cache-Control");
        assert_eq!(cache_control, Some("private, no-store"));
        let cookie = r.headers().get_one("Set-Cookie").unwrap().to_owned();
        assert!(cookie.starts_with("session="), "{cookie}");
        let http_only_secure = cookie.contains("HttpOnly") && cookie.contains("Secure");
        assert!(http_only_secure, "{cookie}");
        let lax_no_expiry = cookie.contains("SameSite=Lax") && !cookie.contains("Expires");
        assert!(lax_no_expiry, "{cookie}");
        let body: Value = r.into_json().await.unwrap();
        assert_eq!(body["meta"], json!({"code": 200}));
        assert_eq!(body["response"]["user"], json!({}));
        assert!(body["response"]["csrf_token"].as_str().is_some());
        let user = &body["response"]["user"];
        assert!(user.get("authentication_token").is_none());
        let r = app.get_json("/profile").await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "profile matt@lp.com");
        // GET /login when logged in shows the user, never a token.
        let body = app.get_value("/login?include_auth_token").await;
        assert_eq!(body["response"]["user"], json!({}));
        assert_eq!(body["response"]["identity_attributes"], json!(["email"]));
        assert!(!body.to_string().contains("authentication_token"));
        // POST /login while logged in
        let (s, body) = app.login(MATT, PASSWORD).await;
        assert_eq!(s, Status::BadRequest);
        let only_anonymous = json!(["You can only access this endpoint when not logged in."]);
        assert_eq!(body["response"]["errors"], only_anonymous);
    }
}

#[rocket::async_test]
async fn login_errors_match_flask_security() {
    const API: &str = "Input not appropriate for requested API";
    for b in backends() {
        let app = app_with_matt(b).await;
        let mut joe = app.user("joe@lp.com", PASSWORD, &[]).await;
        app.datastore().deactivate_user(&mut joe).await.unwrap();
        let evil_next = json!({"email": MATT, "password": PASSWORD, "next": "https://evil.com"});
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"email": MATT, "password": "wrong-pass"}),
                "password",
                "Invalid password",
            ),
            (
                json!({"email": "nobody@lp.com", "password": PASSWORD}),
                "email",
                "Specified user does not exist",
            ),
            (
                json!({"email": "joe@lp.com", "password": PASSWORD}),
                "email",
                "Account is disabled.",
            ),
            (json!({"password": PASSWORD}), "email", "Email not provided"),
            (json!({"email": MATT}), "password", "Password not provided"),
            (
                json!({"email": MATT, "password": ""}),
                "password",
                "Password not provided",
            ),
            (
                json!({"email": "not-an-email", "password": "x"}),
                "email",
                "Invalid email address",
            ),
            (json!({"email": 7, "password": PASSWORD}), "email", API),
            (json!({"email": MATT, "password": ["a"]}), "password", API),
            (
                evil_next,
                "next",
                "Redirections outside the domain are forbidden",
            ),
        ];
        for (body, field, msg) in cases {
            let r = app.post_json("/login", body.clone()).await;
            assert_eq!(r.status(), Status::BadRequest, "{b:?} {body}");
            let v: Value = r.into_json().await.unwrap();
            assert_eq!(v["meta"]["code"], 400);
            let what = format!("{b:?} {body} -> {v}");
            assert_eq!(field_errors(&v, field), vec![msg.to_string()], "{what}");
            let errors = v["response"]["errors"].as_array().unwrap();
            assert!(errors.contains(&json!(msg)));
            let no_csrf = v["response"].get("csrf_token").is_none();
            assert!(no_csrf, "no csrf_token on errors");
        }
        // Still anonymous after all that.
        assert_eq!(app.status("/profile").await, Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn generic_responses_hide_which_part_failed() {
    let b = backends()[0];
    let app = TestApp::configured(b, "security.return_generic_responses", true).await;
    app.user(MATT, PASSWORD, &[]).await;
    let mut joe = app.user("joe@lp.com", PASSWORD, &[]).await;
    app.datastore().deactivate_user(&mut joe).await.unwrap();
    let mut bodies = Vec::new();
    for (e, p) in [
        (MATT, "wrong-pass"),
        ("nobody@lp.com", PASSWORD),
        ("joe@lp.com", PASSWORD),
    ] {
        let r = app
            .post_json("/login", json!({"email": e, "password": p}))
            .await;
        assert_eq!(r.status(), Status::BadRequest);
        bodies.push(r.into_string().await.unwrap());
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(bodies[1], bodies[2]);
    let v: Value = serde_json::from_str(&bodies[0]).unwrap();
    let generic = "Authentication failed - identity or password/passcode invalid";
    assert_eq!(v["response"]["errors"], json!([generic]));
}

#[rocket::async_test]
async fn csrf_is_required_on_login() {
    let b = backends()[0];
    let app = app_with_matt(b).await;
    let body = matt();
    // No session yet, no token.
    let r = raw_login(&app, &body, &[]).await;
    assert_eq!(r.status(), Status::BadRequest);
    let v: Value = r.into_json().await.unwrap();
    let errors = field_errors(&v, "csrf_token");
    assert_eq!(errors, vec!["The CSRF token is missing."]);
    // A forged token, with a session in place.
    app.csrf().await;
    let mut forged = body.clone();
    forged["csrf_token"] = json!("IjAwMDAi.abc.def");
    let v: Value = app
        .post_json("/login", forged)
        .await
        .into_json()
        .await
        .unwrap();
    let errors = field_errors(&v, "csrf_token");
    assert_eq!(errors, vec!["The CSRF token is invalid."]);
    // Header form works too (X-CSRF-Token and the configured X-XSRF-Token).
    for h in ["X-CSRF-Token", "X-XSRF-Token"] {
        let tok = app.csrf().await;
        let r = raw_login(&app, &body, &[Header::new(h, tok)]).await;
        assert_eq!(r.status(), Status::Ok, "{h}");
        app.logout().await;
    }
}

#[rocket::async_test]
async fn csrf_can_be_turned_off_or_skipped_for_anonymous() {
    let b = backends()[0];
    for key in [
        "security.csrf_enabled",
        "security.csrf_ignore_unauth_endpoints",
    ] {
        let val = key.ends_with("endpoints");
        let app = TestApp::configured(b, key, val).await;
        app.user(MATT, PASSWORD, &[]).await;
        let r = raw_login(&app, &matt(), &[]).await;
        assert_eq!(r.status(), Status::Ok, "{key}");
    }
}

#[rocket::async_test]
async fn auth_token_only_when_asked_on_post() {
    for b in backends() {
        // Not asked: a login without `include_auth_token` carries no token ...
        let (app, v) = matt_signed_in(b).await;
        let user = &v["response"]["user"];
        assert!(user.is_object(), "{v}");
        assert!(user.get("authentication_token").is_none(), "{v}");
        // ... nor does GET /login, even when asked.
        let r = app.get_json("/login?include_auth_token").await;
        assert_eq!(r.status(), Status::Ok);
        let v: Value = r.into_json().await.unwrap();
        let user = v["response"].get("user");
        let no_token = user.is_none_or(|u| u.get("authentication_token").is_none());
        assert!(no_token, "{v}");
        app.drop_session().await;
        let token = app.token_login(MATT, PASSWORD).await;
        // itsdangerous format; a leading '.' marks a zlib-compressed payload.
        let parts: Vec<&str> = token.trim_start_matches('.').split('.').collect();
        assert_eq!(parts.len(), 3, "itsdangerous format: {token}");
        app.logout().await;
        let r = app.get_with_token("/token", &token).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "token matt@lp.com");
    }
}

#[rocket::async_test]
async fn logout_json_and_form() {
    for b in backends() {
        let (app, _) = matt_signed_in(b).await;
        let r = app.post_bare("/logout", &[]).await;
        assert_eq!(r.status(), Status::Ok);
        let cache_control = r.headers().get_one("Cache-Control");
        assert_eq!(cache_control, Some("private, no-store"));
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v, json!({"meta": {"code": 200}, "response": {}}));
        assert_eq!(app.status("/profile").await, Status::Unauthorized);
        // Logging out when not logged in also succeeds; form logout redirects.
        let r = app.client.post("/logout?next=/after").dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/after"));
        let r = app.client.post("/logout?next=//evil.com").dispatch().await;
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        // GET is not a logout method by default: 405, and a signed-in user stays signed in.
        let (s, _) = app.login(MATT, PASSWORD).await;
        assert_eq!(s, Status::Ok);
        let r = app.client.get("/logout").dispatch().await;
        assert_eq!(r.status(), Status::MethodNotAllowed);
        assert_eq!(app.status("/profile").await, Status::Ok);
    }
}

#[rocket::async_test]
async fn captured_session_dies_when_uniquifier_rotates() {
    let b = backends()[0];
    let (app, _) = matt_signed_in(b).await;
    let captured = app.client.cookies().get_private("session").unwrap();
    // Rotating the uniquifier kills every session of the user, as in Flask-Security
    // (logout ends one session: tests/tests/sessions.rs).
    let replay = |c: rocket::http::Cookie<'static>| {
        let profile = app.client.get("/profile").header(ContentType::JSON);
        profile.private_cookie(c).dispatch()
    };
    assert_eq!(replay(captured.clone()).await.status(), Status::Ok);
    let mut user = app.by_email(MATT, true).await.unwrap();
    let ds = app.datastore();
    ds.set_uniquifier(&mut user, None).await.unwrap();
    assert_eq!(replay(captured).await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn form_login_redirects_to_next() {
    for b in backends() {
        let app = app_with_matt(b).await;
        let page = app.client.get("/login?next=/profile").dispatch().await;
        assert_eq!(page.status(), Status::Ok);
        assert_eq!(page.content_type(), Some(ContentType::HTML));
        let html = page.into_string().await.unwrap();
        let csrf = csrf_from(&html);
        assert!(html.contains("value=\"/profile\""));
        // Wrong password: the page again, with the message.
        let wrong = format!("email=matt%40lp.com&password=nope&csrf_token={csrf}");
        let r = form_post(&app, "/login".into(), wrong).await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r.into_string().await.unwrap().contains("Invalid password"));
        let right = "email=matt%40lp.com&password=password123&next=%2Fprofile";
        let r = form_post(&app, "/login".into(), format!("{right}&csrf_token={csrf}")).await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/profile"));
        let r = app.client.get("/profile").dispatch().await;
        assert_eq!(r.status(), Status::Ok);
        // Logged in: GET /login redirects to post_login_view.
        let (s, loc, _) = browser_get(&app, "/login").await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")));
    }
}

/// Security plan R1: none of these `next` values leads off-site, in the form body or the
/// query string.
#[rocket::async_test]
async fn open_redirect_vectors_never_leave_the_site() {
    let b = backends()[0];
    let app = TestApp::configured(b, "security.csrf_enabled", false).await;
    app.user(MATT, PASSWORD, &[]).await;
    let credentials = "email=matt%40lp.com&password=password123";
    for v in VECTORS {
        let enc: String = url_encode(v);
        for in_query in [false, true] {
            let (uri, body) = if in_query {
                (format!("/login?next={enc}"), credentials.to_owned())
            } else {
                ("/login".to_owned(), format!("{credentials}&next={enc}"))
            };
            let r = form_post(&app, uri, body).await;
            if r.status() == Status::Found {
                let loc = r.headers().get_one("Location").unwrap().to_owned();
                let on_site = loc.starts_with('/') && !loc.starts_with("//");
                assert!(on_site && !loc.starts_with("/\\"), "{v:?} -> {loc}");
                app.client.post("/logout").dispatch().await;
            } else {
                // Only a `next` in the form is refused as a form error (the login page
                // again, saying why); one in the query is ignored and the login succeeds.
                assert!(!in_query, "{v:?}: {}", r.status());
                assert_eq!(r.status(), Status::Ok, "{v:?}");
                let html = r.into_string().await.unwrap();
                let why = security_runtime::messages::INVALID_REDIRECT;
                assert!(html.contains(why), "{v:?}: {html}");
            }
            // logout redirect
            let r = app
                .client
                .post(format!("/logout?next={enc}"))
                .dispatch()
                .await;
            let loc = r.headers().get_one("Location").unwrap();
            let on_site = loc.starts_with('/') && !loc.starts_with("//");
            assert!(on_site, "{v:?} -> {loc}");
        }
    }
}

/// `next` values an attacker could try.
#[rustfmt::skip]
const VECTORS: [&str; 16] = [
    "\\\\\\evil.com", " //evil.com", "/\\evil.com", "\\/evil.com",
    "//evil.com", "\t//evil.com", "http:///evil.com",
    "https://evil.com", "https:evil.com", "https://u:p@evil.com", "https://evil.com\\.app.com",
    "%5C%5Cevil.com", "javascript:alert(1)", "http:999999999", "/%2F/evil.com", "／／evil.com",
];

/// Percent-encodes every byte but RFC 3986's unreserved characters.
fn url_encode(s: &str) -> String {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || b"-_.~".contains(&b);
    s.bytes()
        .map(|b| match b {
            b if unreserved(b) => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[rocket::async_test]
async fn remember_me_restores_the_session() {
    for b in backends() {
        let app = app_with_matt(b).await;
        let mut body = matt();
        body["remember"] = json!(true);
        let r = app.post_json("/login", body).await;
        assert_eq!(r.status(), Status::Ok);
        let cookies = set_cookies(&r);
        let remember = cookies
            .iter()
            .find(|c| c.starts_with("remember_token="))
            .unwrap();
        let lasting = remember.contains("Max-Age=2592000") && remember.contains("HttpOnly");
        assert!(lasting, "{remember}");
        let rem = app.client.cookies().get_private("remember_token").unwrap();
        // A client with only the remember cookie (browser restarted).
        let figment = app.client.rocket().figment().clone();
        let restarted = security_tests::app(b, figment, Security::new());
        let fresh = rocket::local::asynchronous::Client::tracked(restarted)
            .await
            .unwrap();
        let profile = fresh.get("/profile").header(ContentType::JSON);
        let r = profile.private_cookie(rem.clone()).dispatch().await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // After logout the remember cookie is removed.
        let r = app.post_bare("/logout", &[]).await;
        let removed =
            |c: &String| c.starts_with("remember_token=;") || c.starts_with("remember_token=\"\"");
        assert!(set_cookies(&r).iter().any(removed));
    }
}

#[rocket::async_test]
async fn trackable_columns_update_on_login() {
    for b in backends() {
        let app = TestApp::configured(b, "security.trackable", true).await;
        let u = app.user(MATT, PASSWORD, &[]).await;
        assert_eq!(u.login_count, Some(0));
        for n in 1..=2 {
            let mut body = matt();
            body["csrf_token"] = json!(app.csrf().await);
            let r = app
                .client
                .post("/login")
                .header(ContentType::JSON)
                .remote(format!("10.0.0.{n}:5000").parse().unwrap())
                .body(body.to_string())
                .dispatch()
                .await;
            assert_eq!(r.status(), Status::Ok);
            app.drop_session().await;
            let r = app.reload(&u).await;
            assert_eq!(r.login_count, Some(n), "{b:?}");
            assert!(r.current_login_at.is_some() && r.last_login_at.is_some());
            assert_eq!(r.current_login_ip, Some(format!("10.0.0.{n}")));
            if n == 2 {
                assert_eq!(r.last_login_ip.as_deref(), Some("10.0.0.1"));
            }
        }
    }
}
