//! The guards over HTTP: token, session and basic authentication, the denial matrix,
//! freshness on a controlled clock, CSRF on unsafe methods.
#![allow(clippy::unwrap_used)]

use rocket::http::{Accept, Status};
use rocket::local::asynchronous::LocalResponse;
use rocket::serde::json::{json, Value};
use security_runtime::Security;
use security_tests::{
    assert_errors, backends, basic, csrf_header, token_header, Backend, Clock, TestApp,
};

const UNAUTHN: &str = "You must sign in to view this resource.";
const UNAUTHZ: &str = "You do not have permission to view this resource.";
const CSRF_MISSING: &str = "The CSRF token is missing.";

async fn status_with_token(app: &TestApp, uri: &str, token: Option<&str>) -> Status {
    match token {
        Some(t) => app.token_status(uri, t).await,
        None => app.status(uri).await,
    }
}

/// A GET as a browser asking for HTML.
async fn html_get<'a>(app: &'a TestApp, uri: &'static str) -> LocalResponse<'a> {
    app.client.get(uri).header(Accept::HTML).dispatch().await
}

/// Asserts a browser asking for HTML is redirected from `uri` to `to`.
async fn assert_html_redirect(app: &TestApp, uri: &'static str, to: &str) {
    let r = html_get(app, uri).await;
    assert_eq!(r.status(), Status::Found, "{uri}");
    assert_eq!(r.headers().get_one("Location"), Some(to), "{uri}");
}

/// The `WWW-Authenticate` header of a GET of `uri` without credentials.
async fn challenge(app: &TestApp, uri: &'static str) -> Option<String> {
    let r = app.client.get(uri).dispatch().await;
    r.headers().get_one("WWW-Authenticate").map(str::to_owned)
}

/// `GET /multi` with `headers`: which user it saw, and through which mechanism.
async fn multi_via(app: &TestApp, headers: Vec<rocket::http::Header<'static>>) -> (Value, Value) {
    let mut req = app.client.get("/multi");
    for h in headers {
        req = req.header(h);
    }
    let r: Value = req.dispatch().await.into_json().await.unwrap();
    (r["email"].clone(), r["via"].clone())
}

/// The body of a POST of `uri` with `headers`, as text.
async fn post_text(
    app: &TestApp,
    uri: &'static str,
    headers: &[rocket::http::Header<'static>],
) -> String {
    let mut req = app.client.post(uri);
    for h in headers {
        req = req.header(h.clone());
    }
    req.dispatch().await.into_string().await.unwrap()
}

/// Security plan A1: every guarded route × every kind of caller.
#[rocket::async_test]
async fn denial_matrix() {
    for b in backends() {
        let app = TestApp::new(b).await;
        let admin: (&str, &[&str]) = ("admin", &["full-write"]);
        let editor: (&str, &[&str]) = ("editor", &["super"]);
        app.user("plain@lp.com", "password123", &[]).await;
        app.user("x@lp.com", "password123", &[admin]).await;
        app.user("y@lp.com", "password123", &[editor]).await;
        app.user("xy@lp.com", "password123", &[admin, editor]).await;
        let mut tokens = Vec::new();
        for who in ["plain", "x", "y", "xy"] {
            let email = format!("{who}@lp.com");
            tokens.push(Some(app.token_only(&email, "password123").await));
        }
        // rows: route; columns: anon, plain, x, y, xy
        let matrix: &[(&str, [u16; 5])] = &[
            ("/profile", [401, 200, 200, 200, 200]),
            ("/token", [401, 200, 200, 200, 200]),
            ("/admin", [401, 403, 200, 403, 200]),
            ("/admin_and_editor", [401, 403, 403, 403, 200]),
            ("/admin_or_editor", [401, 403, 200, 200, 200]),
            ("/roles_only", [403, 403, 200, 403, 200]),
            ("/perms_all", [401, 403, 403, 403, 200]),
            ("/perms_any", [401, 403, 200, 200, 200]),
            ("/session", [401, 401, 401, 401, 401]), // tokens never satisfy session-only
        ];
        let callers: Vec<Option<String>> = std::iter::once(None).chain(tokens).collect();
        assert_eq!(callers.len(), 5, "one caller per matrix column");
        for (route, expect) in matrix {
            for (i, caller) in callers.iter().enumerate() {
                let got = status_with_token(&app, route, caller.as_deref()).await;
                assert_eq!(got.code, expect[i], "{b:?} {route} caller {i}");
            }
        }
        // The same through sessions for the role routes.
        for (who, expect) in [("plain", 403), ("x", 200), ("y", 403), ("xy", 200)] {
            let (s, _) = app.login(&format!("{who}@lp.com"), "password123").await;
            assert_eq!(s, Status::Ok);
            assert_eq!(app.status("/admin").await.code, expect, "{who}");
            assert_eq!(app.status("/session").await, Status::Ok);
            app.drop_session().await;
        }
    }
}

#[rocket::async_test]
async fn denial_bodies_and_headers() {
    let b = backends()[0];
    let app = TestApp::with_user(b, "plain@lp.com", "password123").await;
    // JSON 401
    let r = app.get_json("/profile").await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert!(r.headers().get_one("WWW-Authenticate").is_none());
    let v: Value = r.into_json().await.unwrap();
    let expected = json!({"meta": {"code": 401}, "response": {"errors": [UNAUTHN]}});
    assert_eq!(v, expected);
    // JSON 401 with basic allowed carries WWW-Authenticate.
    let r = app.get_json("/multi").await;
    assert_eq!(r.status(), Status::Unauthorized);
    let login_required = Some("Basic realm=\"Login Required\"");
    assert_eq!(r.headers().get_one("WWW-Authenticate"), login_required);
    // HTML: redirect to the login page with next.
    assert_html_redirect(&app, "/profile?a=1", "/login?next=%2Fprofile%3Fa%3D1").await;
    // Basic-only route, HTML: plain-text 401 with the realm.
    let r = app.client.get("/http").dispatch().await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert_eq!(r.headers().get_one("WWW-Authenticate"), login_required);
    assert_eq!(r.into_string().await.unwrap(), UNAUTHN);
    let realm = challenge(&app, "/http_custom_realm").await;
    assert_eq!(realm.as_deref(), Some("Basic realm=\"My Realm\""));
    // 403 JSON body
    app.login("plain@lp.com", "password123").await;
    let r = app.get_json("/admin").await;
    assert_eq!(r.status(), Status::Forbidden);
    let v: Value = r.into_json().await.unwrap();
    let expected = json!({"meta": {"code": 403}, "response": {"errors": [UNAUTHZ]}});
    assert_eq!(v, expected);
    // 403 HTML without unauthorized_view
    assert_eq!(html_get(&app, "/admin").await.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn basic_auth_and_mechanism_order() {
    for b in backends() {
        let app = TestApp::with_user(b, "matt@lp.com", "password123").await;
        app.user("joe@lp.com", "password123", &[]).await;
        let r = app
            .client
            .get("/http")
            .header(basic("matt@lp.com", "password123"))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "http matt@lp.com");
        for (u, p) in [
            ("matt@lp.com", "wrong"),
            ("nobody@lp.com", "password123"),
            ("", ""),
        ] {
            let r = app.client.get("/http").header(basic(u, p)).dispatch().await;
            assert_eq!(r.status(), Status::Unauthorized, "{u}");
        }
        // Token wins over session wins over basic.
        let joe_token = app.token_only("joe@lp.com", "password123").await;
        app.login("matt@lp.com", "password123").await;
        let joe_basic = || basic("joe@lp.com", "password123");
        let both = vec![
            token_header(&joe_token),
            basic("matt@lp.com", "password123"),
        ];
        let r = multi_via(&app, both).await;
        assert_eq!(r, (json!("joe@lp.com"), json!("token")));
        let r = multi_via(&app, vec![joe_basic()]).await;
        assert_eq!(r, (json!("matt@lp.com"), json!("session")));
        app.drop_session().await;
        let r = multi_via(&app, vec![joe_basic()]).await;
        assert_eq!(r, (json!("joe@lp.com"), json!("basic")));
        // Query key auth_token works and wins over the header.
        let by_query = format!("/token?auth_token={joe_token}");
        let garbage = token_header("garbage");
        let r = app.client.get(by_query).header(garbage).dispatch().await;
        assert_eq!(r.into_string().await.unwrap(), "token joe@lp.com");
    }
}

#[rocket::async_test]
async fn deactivation_and_uniquifier_rotation_take_effect_at_once() {
    for b in backends() {
        let app = TestApp::with_user(b, "matt@lp.com", "password123").await;
        let token = app.token_login("matt@lp.com", "password123").await;
        assert_eq!(app.status("/profile").await, Status::Ok);
        let ds = app.datastore();
        let mut u = app.by_email("matt@lp.com", true).await.unwrap();
        ds.deactivate_user(&mut u).await.unwrap();
        assert_eq!(app.status("/profile").await, Status::Unauthorized, "{b:?}");
        let unauthorized = Status::Unauthorized;
        assert_eq!(app.token_status("/token", &token).await, unauthorized);
        // Reactivation does not revive what was issued before the deactivation.
        ds.activate_user(&mut u).await.unwrap();
        assert_eq!(app.token_status("/token", &token).await, unauthorized);
        // Rotating the token uniquifier kills tokens but not the session identity.
        let token = app.token_only("matt@lp.com", "password123").await;
        assert_eq!(app.token_status("/token", &token).await, Status::Ok);
        ds.set_token_uniquifier(&mut u, None).await.unwrap();
        assert_eq!(app.token_status("/token", &token).await, unauthorized);
        // A fresh token works, and set_uniquifier does not kill it (decoupled)...
        app.login("matt@lp.com", "password123").await;
        app.drop_session().await;
        let token2 = app.token_login("matt@lp.com", "password123").await;
        ds.set_uniquifier(&mut u, None).await.unwrap();
        assert_eq!(app.token_status("/token", &token2).await, Status::Ok);
        // ...but the session is dead.
        assert_eq!(app.status("/session").await, Status::Unauthorized);
        // Roles removed mid-session: next request is refused.
        ds.find_or_create_role("admin", &[]).await.unwrap();
        ds.add_role_to_user(&mut u, "admin").await.unwrap();
        assert_eq!(app.token_status("/admin", &token2).await, Status::Ok);
        ds.remove_role_from_user(&mut u, "admin").await.unwrap();
        assert_eq!(app.token_status("/admin", &token2).await, Status::Forbidden);
    }
}

/// Asserts a token is accepted `valid_for` seconds after it was issued and refused
/// `then` seconds later.
async fn assert_token_expires(app: &TestApp, clock: &Clock, valid_for: u64, then: u64) {
    app.user("matt@lp.com", "password123", &[]).await;
    let token = app.token_only("matt@lp.com", "password123").await;
    clock.advance(valid_for);
    assert_eq!(app.token_status("/token", &token).await, Status::Ok);
    clock.advance(then);
    assert_eq!(
        app.token_status("/token", &token).await,
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn token_max_age_and_per_user_expiry() {
    let b = backends()[0];
    let clock = Clock::new();
    let app = TestApp::with(b, |f| f, clock.install(Security::new())).await;
    // token_max_age defaults to 15 minutes: valid at the limit, refused a second later.
    assert_token_expires(&app, &clock, 900, 1).await;

    // TOKEN_EXPIRE_TIMESTAMP: a per-user expiry shorter than max age.
    let clock = Clock::new();
    let start = clock.now() as i64;
    let sec = clock
        .install(Security::new())
        .token_expire_timestamp(move |_| start + 60)
        .augment_auth_token(|_, m| {
            m.insert("tenant".into(), json!("t1"));
        })
        .verify_auth_token(|_, m| m.get("tenant") == Some(&json!("t1")));
    let app = TestApp::with(b, |f| f, sec).await;
    assert_token_expires(&app, &clock, 59, 2).await;

    // The same without a hook: the token's reading is kept between requests (a memo),
    // its expiry is judged on each.
    let clock = Clock::new();
    let start = clock.now() as i64;
    let sec = clock
        .install(Security::new())
        .token_expire_timestamp(move |_| start + 60);
    let app = TestApp::with(b, |f| f, sec).await;
    assert_token_expires(&app, &clock, 59, 2).await;
}

/// Auth tokens of every payload shape Flask-Security has written, signed by the app:
/// what the guard accepts does not depend on which of its two readers took the token
/// (an app with a `verify_auth_token` hook that accepts all gets the `Value` reader).
#[rocket::async_test]
async fn token_payload_shapes() {
    for hooked in [false, true] {
        let clock = Clock::new();
        let mut sec = clock.install(Security::new());
        if hooked {
            sec = sec.verify_auth_token(|_, _| true);
        }
        let app = TestApp::with(backends()[0], |f| f, sec).await;
        for (payload, want) in token_shapes(&app, clock.now()).await {
            let token = app.state().auth_tokens.dumps_at(&payload, clock.now());
            let got = app.token_status("/token", &token).await;
            assert_eq!(got, want, "hook: {hooked}, {payload}");
        }
    }
}

/// Auth tokens sent again and again (a compressed payload is then read inflated from
/// memory): each names its own user every time, and a token revoked in between is
/// refused. Whether zlib shortens a token's payload depends on its user's random
/// uniquifier, so these users get compressible ones, and one token carries an extra
/// claim (read as a `Value`; the others are read into the typed claims).
#[rocket::async_test]
async fn repeated_tokens_stay_their_users_and_revocable() {
    for b in backends() {
        let clock = Clock::new();
        let app = TestApp::with(b, |f| f, clock.install(Security::new())).await;
        let mut tokens = Vec::new();
        for (i, email) in ["matt@lp.com", "joe@lp.com", "pat@lp.com"]
            .iter()
            .enumerate()
        {
            let mut user = app.user(email, "password123", &[]).await;
            let uid = format!("{i}{}", "ab".repeat(16));
            app.datastore()
                .set_token_uniquifier(&mut user, Some(uid.clone()))
                .await
                .unwrap();
            let mut payload = json!({"ver": "5", "uid": uid, "exp": 0});
            if i == 2 {
                payload["t"] = json!([1]);
            }
            let token = app.state().auth_tokens.dumps_at(&payload, clock.now());
            assert!(token.starts_with('.'), "{b:?}: {token}");
            tokens.push((email, token));
        }
        for _ in 0..3 {
            for (email, token) in &tokens {
                let r = app.get_with_token("/token", token).await;
                assert_eq!(r.status(), Status::Ok, "{b:?}");
                assert_eq!(r.into_string().await.unwrap(), format!("token {email}"));
            }
        }
        let mut joe = app.by_email("joe@lp.com", true).await.unwrap();
        app.datastore()
            .set_token_uniquifier(&mut joe, None)
            .await
            .unwrap();
        let (matt, joe) = (&tokens[0].1, &tokens[1].1);
        assert_eq!(app.token_status("/token", joe).await, Status::Unauthorized);
        assert_eq!(app.token_status("/token", matt).await, Status::Ok);
        clock.advance(901);
        assert_eq!(app.token_status("/token", matt).await, Status::Unauthorized);
    }
}

/// Payloads for `matt@lp.com` (created here) and the status each must get.
async fn token_shapes(app: &TestApp, now: u64) -> Vec<(Value, Status)> {
    let (ok, no) = (Status::Ok, Status::Unauthorized);
    let mut user = app.user("matt@lp.com", "password123", &[]).await;
    // Without a token uniquifier, fs_uniquifier names the user...
    let by_fs = json!({"ver": "5", "uid": user.fs_uniquifier, "exp": 0});
    let token = app.state().auth_tokens.dumps_at(&by_fs, now);
    assert_eq!(app.token_status("/token", &token).await, ok);
    app.datastore()
        .set_token_uniquifier(&mut user, None)
        .await
        .unwrap();
    let uid = user.fs_token_uniquifier.clone().unwrap();
    let mut deep = json!(1);
    for _ in 0..200 {
        deep = json!([deep]);
    }
    vec![
        (json!({"ver": "5", "uid": uid, "fs_paa": now, "exp": 0}), ok),
        (
            json!({"ver": "5", "uid": uid, "exp": now + 60, "fs_paa": "x", "t": [1]}),
            ok,
        ),
        (
            json!({"ver": 4, "uid": uid, "exp": 0.0, "fs_paa": null}),
            ok,
        ),
        (json!({"ver": "5", "uid": uid, "exp": now - 1}), no),
        (json!({"ver": "5", "uid": uid, "exp": -1}), no),
        (json!({"ver": "5", "uid": uid, "exp": "0"}), no),
        (json!({"ver": "5", "uid": uid, "exp": null}), no),
        (json!({"ver": "5", "uid": uid}), no),
        (json!({"uid": uid, "exp": 0}), no),
        (json!({"ver": "5", "uid": "nobody", "exp": 0}), no),
        // Deeper than JSON is read here, in a claim the guard does not use.
        (json!({"ver": "5", "uid": uid, "exp": 0, "x": deep}), no),
        // ...and only while it has no token uniquifier.
        (by_fs, no),
        // Flask-Security 4's `[uid]` and 3's `[?, ?, uid]`; no other list.
        (json!([uid]), ok),
        (json!([1, "x", uid]), ok),
        (json!([uid, 1]), no),
        (json!([uid, "5", 0, null]), no),
        (json!(uid), no),
    ]
}

#[rocket::async_test]
async fn freshness_within_and_grace() {
    let b = backends()[0];
    let clock = Clock::new();
    let app = TestApp::with(b, |f| f, clock.install(Security::new())).await;
    app.user("matt@lp.com", "password123", &[]).await;
    app.login("matt@lp.com", "password123").await;
    // /fresh is within = 5 minutes, grace = 0.
    assert_eq!(app.status("/fresh").await, Status::Ok);
    clock.advance(300);
    assert_eq!(app.status("/fresh").await, Status::Ok, "at the limit");
    clock.advance(1);
    let r = app.get_json("/fresh").await;
    assert_eq!(r.status(), Status::Unauthorized);
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        v["response"],
        json!({
            "errors": ["You must reauthenticate to access this endpoint"],
            "reauth_required": true,
            "unified_signin_enabled": false,
            "has_webauthn_verify_credential": false,
            "oauth_enabled": false,
            "oauth_providers": [],
        })
    );
    // HTML: redirect to /verify with next.
    assert_html_redirect(&app, "/fresh", "/verify?next=%2Ffresh").await;
    // A non-fresh session still passes plain auth_required.
    assert_eq!(app.status("/profile").await, Status::Ok);
}

#[rocket::async_test]
async fn csrf_on_unsafe_methods_of_protected_routes() {
    for b in backends() {
        let app = TestApp::with_user(b, "matt@lp.com", "password123").await;
        let csrf = app.login_csrf("matt@lp.com", "password123").await;
        let r = app.post_bare("/multi", &[]).await;
        assert_errors(r, Status::BadRequest, &[CSRF_MISSING]).await;
        let r = app.post_bare("/multi", &[csrf_header(&csrf)]).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // Another session's token does not fit.
        let other = TestApp::new(b).await;
        other.user("joe@lp.com", "password123", &[]).await;
        let foreign = other.login_csrf("joe@lp.com", "password123").await;
        let r = app.post_bare("/multi", &[csrf_header(&foreign)]).await;
        let mismatch = ["The CSRF tokens do not match."];
        assert_errors(r, Status::BadRequest, &mismatch).await;
    }
}

#[rocket::async_test]
async fn csrf_protect_mechanisms_exempts_tokens() {
    let b = backends()[0];
    let mechanisms = ["session", "basic"];
    let app = TestApp::configured(b, "security.csrf_protect_mechanisms", mechanisms).await;
    app.user("matt@lp.com", "password123", &[]).await;
    let token = app.token_only("matt@lp.com", "password123").await;
    let r = app
        .client
        .post("/multi")
        .header(token_header(&token))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let matt = basic("matt@lp.com", "password123");
    let r = app.client.post("/multi").header(matt).dispatch().await;
    assert_eq!(r.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn csrf_cookie_for_spas() {
    let b = backends()[0];
    let app = TestApp::configured(b, "security.csrf_cookie_name", "XSRF-TOKEN").await;
    app.user("matt@lp.com", "password123", &[]).await;
    let r = app.get_json("/login").await;
    let mut set_cookies = r.headers().get("Set-Cookie");
    let c = set_cookies.find(|c| c.starts_with("XSRF-TOKEN=")).unwrap();
    assert!(
        c.contains("SameSite=Strict") && c.contains("Secure") && !c.contains("HttpOnly"),
        "{c}"
    );
    let tok = c
        .trim_start_matches("XSRF-TOKEN=")
        .split(';')
        .next()
        .unwrap();
    let body = json!({"email": "matt@lp.com", "password": "password123"}).to_string();
    let r = app
        .client
        .post("/login")
        .header(rocket::http::ContentType::JSON)
        .header(rocket::http::Header::new("X-XSRF-Token", tok.to_owned()))
        .body(body)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let r = app.post_bare("/logout", &[]).await;
    let mut set_cookies = r.headers().get("Set-Cookie");
    assert!(set_cookies.any(|c| c.starts_with("XSRF-TOKEN=;") && c.contains("Max-Age=0")));
}

#[rocket::async_test]
async fn custom_denial_hooks() {
    let b = backends()[0];
    let sec = Security::new()
        .unauthn_handler(|_, _| {
            Some(security_runtime::responses::Reply::new(
                Status::ImATeapot,
                security_runtime::responses::ReplyBody::Text("teapot".into()),
            ))
        })
        .render_json(|payload, code| json!({"status": code, "data": payload}));
    let app = TestApp::with(b, |f| f, sec).await;
    let r = app.get_json("/profile").await;
    assert_eq!(r.status(), Status::ImATeapot);
    assert_eq!(r.into_string().await.unwrap(), "teapot");
    let v = app.get_value("/login").await;
    assert_eq!(v["status"], 200);
    assert!(v["data"]["csrf_token"].is_string());
}

#[rocket::async_test]
async fn login_required_anonymous_required_and_unauth_csrf() {
    for b in backends() {
        let app = TestApp::with_user(b, "matt@lp.com", "password123").await;
        for (uri, expected) in [
            ("/login_required", Status::Unauthorized),
            ("/login_required_open", Status::Unauthorized),
            ("/anon", Status::Ok),
        ] {
            assert_eq!(app.status(uri).await, expected, "{b:?} {uri}");
        }
        // unauth_csrf: anonymous POST without a token is refused, with one accepted.
        let r = app.post_bare("/unauth_csrf", &[]).await;
        assert_errors(r, Status::BadRequest, &[CSRF_MISSING]).await;
        let tok = app.csrf().await;
        let r = app.post_bare("/unauth_csrf", &[csrf_header(&tok)]).await;
        assert_eq!(r.status(), Status::Ok);
        let r = app
            .client
            .post("/unauth_csrf_fall_through")
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "fall_through lets it pass");
        app.login("matt@lp.com", "password123").await;
        assert_eq!(app.status("/login_required").await, Status::Ok);
        let r = app.get_json("/anon").await;
        let only_anonymous = ["You can only access this endpoint when not logged in."];
        assert_errors(r, Status::BadRequest, &only_anonymous).await;
        assert_html_redirect(&app, "/anon", "/").await;
    }
    // login_disabled lets everyone through login_required, but not auth_required.
    let app = TestApp::configured(backends()[0], "security.login_disabled", true).await;
    assert_eq!(app.status("/profile").await, Status::Unauthorized);
    let s = app.status("/login_required_open").await;
    assert_eq!(s, Status::Ok, "login_required is skipped");
    let s = app.status("/login_required").await;
    let why = "the handler itself still asks for CurrentUser";
    assert_eq!(s, Status::Unauthorized, "{why}");
    // csrf_ignore_unauth_endpoints skips the anonymous check.
    let key = "security.csrf_ignore_unauth_endpoints";
    let app = TestApp::configured(backends()[0], key, true).await;
    let r = app.client.post("/unauth_csrf").dispatch().await;
    assert_eq!(r.status(), Status::Ok);
}

#[rocket::async_test]
async fn options_requests_are_exempt() {
    let app = TestApp::new(backends()[0]).await;
    // The same attribute that refuses an anonymous GET lets the preflight through.
    assert_eq!(app.status("/profile").await, Status::Unauthorized);
    let options = rocket::http::Method::Options;
    let r = app.client.req(options, "/profile").dispatch().await;
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(r.into_string().await.unwrap(), "options");
}

#[rocket::async_test]
async fn application_user_model_shapes_payload_and_current_user() {
    for b in backends() {
        let app = TestApp::with(
            b,
            |f| f.merge(("security.trackable", true)),
            Security::new().user_model::<security_tests::AppUser>(),
        )
        .await;
        app.user("matt@lp.com", "password123", &[]).await;
        let (s, v) = app.login("matt@lp.com", "password123").await;
        assert_eq!(s, Status::Ok);
        let expected = json!({"email": "matt@lp.com", "logins": 1});
        assert_eq!(v["response"]["user"], expected, "{b:?}");
        let v = app.get_value("/app_user").await;
        let expected = json!({"email": "matt@lp.com", "nickname": null, "active": true});
        assert_eq!(v, expected);
    }
}

#[rocket::async_test]
async fn current_user_shares_the_guards_user() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("share@lp.com", "password123", &[("admin", &[])])
            .await;
        // Where there is an auth cache, the handler's user is its value.
        let cached = app.datastore().auth_cache_stats().map(|_| true);
        if b == Backend::Postgres {
            assert_eq!(cached, Some(true), "PostgreSQL caches");
        }
        let expected = json!({
            "shared": true,
            "cached": cached,
            "app_shared": false,
            "owned": ["share@lp.com", 1, true],
            "app_owned": ["share@lp.com", true],
            "still": "share@lp.com",
        });
        // By session, twice (the second from the auth cache where there is one).
        app.login("share@lp.com", "password123").await;
        for _ in 0..2 {
            let v = app.get_value("/current_user_sharing").await;
            assert_eq!(v, expected, "{b:?}");
        }
        // By token alone.
        app.logout().await;
        let token = app.token_only("share@lp.com", "password123").await;
        let r = app.get_with_token("/current_user_sharing", &token).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_json::<Value>().await.unwrap(), expected, "{b:?}");
    }
}

#[rocket::async_test]
async fn review_fixes_csrf_on_authz_only_routes_fall_through_and_optional_user() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("x@lp.com", "password123", &[("admin", &[])]).await;
        // Optional user: anonymous is fine, not a 401.
        let r = app.client.get("/maybe").dispatch().await;
        assert_eq!(r.status(), Status::Ok);
        assert_eq!(r.into_string().await.unwrap(), "anonymous");
        // fall_through: the handler is told the check failed.
        let fall_through = "/unauth_csrf_fall_through";
        assert_eq!(post_text(&app, fall_through, &[]).await, "csrf invalid");
        let tok = app.csrf().await;
        let valid = post_text(&app, fall_through, &[csrf_header(&tok)]).await;
        assert_eq!(valid, "csrf valid");
        // A roles-only POST still checks CSRF for the session that found the user.
        let csrf = app.login_csrf("x@lp.com", "password123").await;
        let r = app.post_bare("/roles_only", &[]).await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}");
        let r = app.post_bare("/roles_only", &[csrf_header(&csrf)]).await;
        assert_eq!(r.status(), Status::Ok);
        let r = app.client.get("/maybe").dispatch().await;
        assert_eq!(r.into_string().await.unwrap(), "user x@lp.com");
    }
}

#[rocket::async_test]
async fn logout_csrf_when_configured() {
    let app = TestApp::configured(backends()[0], "security.logout_csrf", true).await;
    app.user("x@lp.com", "password123", &[]).await;
    let csrf = app.login_csrf("x@lp.com", "password123").await;
    let r = app.post_bare("/logout", &[]).await;
    assert_eq!(r.status(), Status::BadRequest);
    assert_eq!(app.status("/profile").await, Status::Ok, "still logged in");
    let r = app.post_json("/logout", json!({"csrf_token": csrf})).await;
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(app.status("/profile").await, Status::Unauthorized);
}
