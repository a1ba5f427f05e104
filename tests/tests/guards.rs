//! The guards over HTTP: token, session and basic authentication, the denial matrix,
//! freshness on a controlled clock, CSRF on unsafe methods.
#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocket::http::{Accept, ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_runtime::{Security, UserQuery};
use security_tests::{backends, basic, TestApp};

const UNAUTHN: &str = "You must sign in to view this resource.";
const UNAUTHZ: &str = "You do not have permission to view this resource.";

async fn status_with_token(app: &TestApp, uri: &str, token: Option<&str>) -> Status {
    match token {
        Some(t) => app.get_with_token(uri, t).await.status(),
        None => app.get_json(uri).await.status(),
    }
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
            tokens.push(Some(
                app.token_login(&format!("{who}@lp.com"), "password123")
                    .await,
            ));
            app.client
                .post("/logout")
                .header(ContentType::JSON)
                .dispatch()
                .await;
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
            assert_eq!(app.get_json("/admin").await.status().code, expect, "{who}");
            assert_eq!(app.get_json("/session").await.status(), Status::Ok);
            app.client
                .post("/logout")
                .header(ContentType::JSON)
                .dispatch()
                .await;
        }
    }
}

#[rocket::async_test]
async fn denial_bodies_and_headers() {
    let b = backends()[0];
    let app = TestApp::new(b).await;
    app.user("plain@lp.com", "password123", &[]).await;
    // JSON 401
    let r = app.get_json("/profile").await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert!(r.headers().get_one("WWW-Authenticate").is_none());
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        v,
        json!({"meta": {"code": 401}, "response": {"errors": [UNAUTHN]}})
    );
    // JSON 401 with basic allowed carries WWW-Authenticate.
    let r = app.get_json("/multi").await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert_eq!(
        r.headers().get_one("WWW-Authenticate"),
        Some("Basic realm=\"Login Required\"")
    );
    // HTML: redirect to the login page with next.
    let r = app
        .client
        .get("/profile?a=1")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/login?next=%2Fprofile%3Fa%3D1")
    );
    // Basic-only route, HTML: plain-text 401 with the realm.
    let r = app.client.get("/http").dispatch().await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert_eq!(
        r.headers().get_one("WWW-Authenticate"),
        Some("Basic realm=\"Login Required\"")
    );
    assert_eq!(r.into_string().await.unwrap(), UNAUTHN);
    let r = app.client.get("/http_custom_realm").dispatch().await;
    assert_eq!(
        r.headers().get_one("WWW-Authenticate"),
        Some("Basic realm=\"My Realm\"")
    );
    // 403 JSON body
    app.login("plain@lp.com", "password123").await;
    let r = app.get_json("/admin").await;
    assert_eq!(r.status(), Status::Forbidden);
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        v,
        json!({"meta": {"code": 403}, "response": {"errors": [UNAUTHZ]}})
    );
    // 403 HTML without unauthorized_view
    let r = app
        .client
        .get("/admin")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Forbidden);
}

#[rocket::async_test]
async fn basic_auth_and_mechanism_order() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
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
        let joe_token = app.token_login("joe@lp.com", "password123").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        app.login("matt@lp.com", "password123").await;
        let via = |r: Value| (r["email"].clone(), r["via"].clone());
        let r: Value = app
            .client
            .get("/multi")
            .header(Header::new("Authentication-Token", joe_token.clone()))
            .header(basic("matt@lp.com", "password123"))
            .dispatch()
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(via(r), (json!("joe@lp.com"), json!("token")));
        let r: Value = app
            .client
            .get("/multi")
            .header(basic("joe@lp.com", "password123"))
            .dispatch()
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(via(r), (json!("matt@lp.com"), json!("session")));
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let r: Value = app
            .client
            .get("/multi")
            .header(basic("joe@lp.com", "password123"))
            .dispatch()
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(via(r), (json!("joe@lp.com"), json!("basic")));
        // Query key auth_token works and wins over the header.
        let r = app
            .client
            .get(format!("/token?auth_token={joe_token}"))
            .header(Header::new("Authentication-Token", "garbage"))
            .dispatch()
            .await;
        assert_eq!(r.into_string().await.unwrap(), "token joe@lp.com");
    }
}

#[rocket::async_test]
async fn deactivation_and_uniquifier_rotation_take_effect_at_once() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let token = app.token_login("matt@lp.com", "password123").await;
        assert_eq!(app.get_json("/profile").await.status(), Status::Ok);
        let ds = app.datastore();
        let mut u = ds
            .find_user(&UserQuery::Email("matt@lp.com".into()), true)
            .await
            .unwrap()
            .unwrap();
        ds.deactivate_user(&mut u).await.unwrap();
        assert_eq!(
            app.get_json("/profile").await.status(),
            Status::Unauthorized,
            "{b:?}"
        );
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        ds.activate_user(&mut u).await.unwrap();
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Ok
        );
        // Rotating the token uniquifier kills tokens but not the session identity.
        ds.set_token_uniquifier(&mut u, None).await.unwrap();
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        // A fresh token works, and set_uniquifier does not kill it (decoupled)...
        app.login("matt@lp.com", "password123").await;
        let token2 = app
            .token_login_logged_out("matt@lp.com", "password123")
            .await;
        ds.set_uniquifier(&mut u, None).await.unwrap();
        assert_eq!(
            app.get_with_token("/token", &token2).await.status(),
            Status::Ok
        );
        // ...but the session is dead.
        assert_eq!(
            app.get_json("/session").await.status(),
            Status::Unauthorized
        );
        // Roles removed mid-session: next request is refused.
        ds.find_or_create_role("admin", &[]).await.unwrap();
        ds.add_role_to_user(&mut u, "admin").await.unwrap();
        assert_eq!(
            app.get_with_token("/admin", &token2).await.status(),
            Status::Ok
        );
        ds.remove_role_from_user(&mut u, "admin").await.unwrap();
        assert_eq!(
            app.get_with_token("/admin", &token2).await.status(),
            Status::Forbidden
        );
    }
}

trait LoggedOutLogin {
    async fn token_login_logged_out(&self, e: &str, p: &str) -> String;
}

impl LoggedOutLogin for TestApp {
    async fn token_login_logged_out(&self, e: &str, p: &str) -> String {
        self.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        self.token_login(e, p).await
    }
}

fn clock() -> (Arc<AtomicU64>, Security) {
    let now = Arc::new(AtomicU64::new(1_800_000_000));
    let c = now.clone();
    let sec = Security::new().clock(move || c.load(Ordering::SeqCst) as f64);
    (now, sec)
}

#[rocket::async_test]
async fn token_max_age_and_per_user_expiry() {
    let b = backends()[0];
    let (now, sec) = clock();
    let app = TestApp::with(b, |f| f, sec).await;
    app.user("matt@lp.com", "password123", &[]).await;
    let token = app.token_login("matt@lp.com", "password123").await;
    app.client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    // token_max_age defaults to 15 minutes: valid at the limit, refused a second later.
    now.fetch_add(900, Ordering::SeqCst);
    assert_eq!(
        app.get_with_token("/token", &token).await.status(),
        Status::Ok
    );
    now.fetch_add(1, Ordering::SeqCst);
    assert_eq!(
        app.get_with_token("/token", &token).await.status(),
        Status::Unauthorized
    );

    // TOKEN_EXPIRE_TIMESTAMP: a per-user expiry shorter than max age.
    let (now, sec) = clock();
    let start = now.load(Ordering::SeqCst) as i64;
    let app = TestApp::with(
        b,
        |f| f,
        sec.token_expire_timestamp(move |_| start + 60)
            .augment_auth_token(|_, m| {
                m.insert("tenant".into(), json!("t1"));
            })
            .verify_auth_token(|_, m| m.get("tenant") == Some(&json!("t1"))),
    )
    .await;
    app.user("matt@lp.com", "password123", &[]).await;
    let token = app.token_login("matt@lp.com", "password123").await;
    app.client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    now.fetch_add(59, Ordering::SeqCst);
    assert_eq!(
        app.get_with_token("/token", &token).await.status(),
        Status::Ok
    );
    now.fetch_add(2, Ordering::SeqCst);
    assert_eq!(
        app.get_with_token("/token", &token).await.status(),
        Status::Unauthorized
    );
}

#[rocket::async_test]
async fn freshness_within_and_grace() {
    let b = backends()[0];
    let (now, sec) = clock();
    let app = TestApp::with(b, |f| f, sec).await;
    app.user("matt@lp.com", "password123", &[]).await;
    app.login("matt@lp.com", "password123").await;
    // /fresh is within = 5 minutes, grace = 0.
    assert_eq!(app.get_json("/fresh").await.status(), Status::Ok);
    now.fetch_add(300, Ordering::SeqCst);
    assert_eq!(
        app.get_json("/fresh").await.status(),
        Status::Ok,
        "at the limit"
    );
    now.fetch_add(1, Ordering::SeqCst);
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
    let r = app
        .client
        .get("/fresh")
        .header(Accept::HTML)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/verify?next=%2Ffresh")
    );
    // A non-fresh session still passes plain auth_required.
    assert_eq!(app.get_json("/profile").await.status(), Status::Ok);
}

#[rocket::async_test]
async fn csrf_on_unsafe_methods_of_protected_routes() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let (_, body) = app.login("matt@lp.com", "password123").await;
        let csrf = body["response"]["csrf_token"].as_str().unwrap().to_owned();
        let r = app
            .client
            .post("/multi")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}");
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["The CSRF token is missing."])
        );
        let r = app
            .client
            .post("/multi")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", csrf.clone()))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        // Another session's token does not fit.
        let other = TestApp::new(b).await;
        other.user("joe@lp.com", "password123", &[]).await;
        let (_, body) = other.login("joe@lp.com", "password123").await;
        let foreign = body["response"]["csrf_token"].as_str().unwrap().to_owned();
        let r = app
            .client
            .post("/multi")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", foreign))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::BadRequest);
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["The CSRF tokens do not match."])
        );
    }
}

#[rocket::async_test]
async fn csrf_protect_mechanisms_exempts_tokens() {
    let b = backends()[0];
    let app = TestApp::with(
        b,
        |f| f.merge(("security.csrf_protect_mechanisms", ["session", "basic"])),
        Security::new(),
    )
    .await;
    app.user("matt@lp.com", "password123", &[]).await;
    let token = app.token_login("matt@lp.com", "password123").await;
    app.client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    let r = app
        .client
        .post("/multi")
        .header(Header::new("Authentication-Token", token))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let r = app
        .client
        .post("/multi")
        .header(basic("matt@lp.com", "password123"))
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::BadRequest);
}

#[rocket::async_test]
async fn csrf_cookie_for_spas() {
    let b = backends()[0];
    let app = TestApp::with(
        b,
        |f| f.merge(("security.csrf_cookie_name", "XSRF-TOKEN")),
        Security::new(),
    )
    .await;
    app.user("matt@lp.com", "password123", &[]).await;
    let r = app.get_json("/login").await;
    let c = r
        .headers()
        .get("Set-Cookie")
        .find(|c| c.starts_with("XSRF-TOKEN="))
        .unwrap()
        .to_owned();
    assert!(
        c.contains("SameSite=Strict") && c.contains("Secure") && !c.contains("HttpOnly"),
        "{c}"
    );
    let tok = c
        .trim_start_matches("XSRF-TOKEN=")
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let r = app
        .client
        .post("/login")
        .header(ContentType::JSON)
        .header(Header::new("X-XSRF-Token", tok))
        .body(json!({"email": "matt@lp.com", "password": "password123"}).to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    let r = app
        .client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert!(r
        .headers()
        .get("Set-Cookie")
        .any(|c| c.starts_with("XSRF-TOKEN=;") && c.contains("Max-Age=0")));
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
    let r = app.get_json("/login").await;
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(v["status"], 200);
    assert!(v["data"]["csrf_token"].is_string());
}

#[rocket::async_test]
async fn login_required_anonymous_required_and_unauth_csrf() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        assert_eq!(
            app.get_json("/login_required").await.status(),
            Status::Unauthorized
        );
        assert_eq!(
            app.get_json("/login_required_open").await.status(),
            Status::Unauthorized
        );
        assert_eq!(app.get_json("/anon").await.status(), Status::Ok);
        // unauth_csrf: anonymous POST without a token is refused, with one accepted.
        let r = app
            .client
            .post("/unauth_csrf")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}");
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["The CSRF token is missing."])
        );
        let tok = app.csrf().await;
        let r = app
            .client
            .post("/unauth_csrf")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", tok))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let r = app
            .client
            .post("/unauth_csrf_fall_through")
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "fall_through lets it pass");
        app.login("matt@lp.com", "password123").await;
        assert_eq!(app.get_json("/login_required").await.status(), Status::Ok);
        let r = app.get_json("/anon").await;
        assert_eq!(r.status(), Status::BadRequest);
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(
            v["response"]["errors"],
            json!(["You can only access this endpoint when not logged in."])
        );
        let r = app
            .client
            .get("/anon")
            .header(Accept::HTML)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/"));
    }
    // login_disabled lets everyone through login_required, but not auth_required.
    let app = TestApp::with(
        backends()[0],
        |f| f.merge(("security.login_disabled", true)),
        Security::new(),
    )
    .await;
    assert_eq!(
        app.get_json("/profile").await.status(),
        Status::Unauthorized
    );
    let r = app.get_json("/login_required_open").await;
    assert_eq!(r.status(), Status::Ok, "login_required is skipped");
    let r = app.get_json("/login_required").await;
    assert_eq!(
        r.status(),
        Status::Unauthorized,
        "the handler itself still asks for CurrentUser"
    );
    // csrf_ignore_unauth_endpoints skips the anonymous check.
    let app = TestApp::with(
        backends()[0],
        |f| f.merge(("security.csrf_ignore_unauth_endpoints", true)),
        Security::new(),
    )
    .await;
    let r = app.client.post("/unauth_csrf").dispatch().await;
    assert_eq!(r.status(), Status::Ok);
}

#[rocket::async_test]
async fn options_requests_are_exempt() {
    let app = TestApp::new(backends()[0]).await;
    // The same attribute that refuses an anonymous GET lets the preflight through.
    assert_eq!(
        app.get_json("/profile").await.status(),
        Status::Unauthorized
    );
    let r = app
        .client
        .req(rocket::http::Method::Options, "/profile")
        .dispatch()
        .await;
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
        assert_eq!(
            v["response"]["user"],
            json!({"email": "matt@lp.com", "logins": 1}),
            "{b:?}"
        );
        let v: Value = app.get_json("/app_user").await.into_json().await.unwrap();
        assert_eq!(
            v,
            json!({"email": "matt@lp.com", "nickname": null, "active": true})
        );
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
        let r = app
            .client
            .post("/unauth_csrf_fall_through")
            .dispatch()
            .await;
        assert_eq!(r.into_string().await.unwrap(), "csrf invalid");
        let tok = app.csrf().await;
        let r = app
            .client
            .post("/unauth_csrf_fall_through")
            .header(Header::new("X-CSRF-Token", tok))
            .dispatch()
            .await;
        assert_eq!(r.into_string().await.unwrap(), "csrf valid");
        // A roles-only POST still checks CSRF for the session that found the user.
        let (_, body) = app.login("x@lp.com", "password123").await;
        let csrf = body["response"]["csrf_token"].as_str().unwrap().to_owned();
        let r = app
            .client
            .post("/roles_only")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::BadRequest, "{b:?}");
        let r = app
            .client
            .post("/roles_only")
            .header(ContentType::JSON)
            .header(Header::new("X-CSRF-Token", csrf))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let r = app.client.get("/maybe").dispatch().await;
        assert_eq!(r.into_string().await.unwrap(), "user x@lp.com");
    }
}

#[rocket::async_test]
async fn logout_csrf_when_configured() {
    let app = TestApp::with(
        backends()[0],
        |f| f.merge(("security.logout_csrf", true)),
        Security::new(),
    )
    .await;
    app.user("x@lp.com", "password123", &[]).await;
    let (_, body) = app.login("x@lp.com", "password123").await;
    let csrf = body["response"]["csrf_token"].as_str().unwrap().to_owned();
    let r = app
        .client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::BadRequest);
    assert_eq!(
        app.get_json("/profile").await.status(),
        Status::Ok,
        "still logged in"
    );
    let r = app
        .client
        .post("/logout")
        .header(ContentType::JSON)
        .body(json!({"csrf_token": csrf}).to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    assert_eq!(
        app.get_json("/profile").await.status(),
        Status::Unauthorized
    );
}
