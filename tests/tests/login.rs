//! Login and logout over HTTP, JSON and form, as Flask-Security answers them.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Header, Status};
use rocket::serde::json::{json, Value};
use security_runtime::{Security, UserQuery};
use security_tests::{backends, field_errors, TestApp};

#[rocket::async_test]
async fn json_login_success_envelope_and_session() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let r = app
            .post_json(
                "/login",
                json!({"email": "matt@lp.com", "password": "password123"}),
            )
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(
            r.headers().get_one("Cache-Control"),
            Some("private, no-store")
        );
        let cookie = r.headers().get_one("Set-Cookie").unwrap().to_owned();
        assert!(cookie.starts_with("session="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly") && cookie.contains("Secure"),
            "{cookie}"
        );
        assert!(
            cookie.contains("SameSite=Lax") && !cookie.contains("Expires"),
            "{cookie}"
        );
        let body: Value = r.into_json().await.unwrap();
        assert_eq!(body["meta"], json!({"code": 200}));
        assert_eq!(body["response"]["user"], json!({}));
        assert!(body["response"]["csrf_token"].as_str().is_some());
        assert!(body["response"]["user"]
            .get("authentication_token")
            .is_none());
        let r = app.get_json("/profile").await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "profile matt@lp.com");
        // GET /login when logged in shows the user, never a token.
        let r = app.get_json("/login?include_auth_token").await;
        let body: Value = r.into_json().await.unwrap();
        assert_eq!(body["response"]["user"], json!({}));
        assert_eq!(body["response"]["identity_attributes"], json!(["email"]));
        assert!(!body.to_string().contains("authentication_token"));
        // POST /login while logged in
        let (s, body) = app.login("matt@lp.com", "password123").await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            body["response"]["errors"],
            json!(["You can only access this endpoint when not logged in."])
        );
    }
}

#[rocket::async_test]
async fn login_errors_match_flask_security() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let mut joe = app.user("joe@lp.com", "password123", &[]).await;
        app.datastore().deactivate_user(&mut joe).await.unwrap();
        let cases: Vec<(Value, &str, &str)> = vec![
            (
                json!({"email": "matt@lp.com", "password": "wrong-pass"}),
                "password",
                "Invalid password",
            ),
            (
                json!({"email": "nobody@lp.com", "password": "password123"}),
                "email",
                "Specified user does not exist",
            ),
            (
                json!({"email": "joe@lp.com", "password": "password123"}),
                "email",
                "Account is disabled.",
            ),
            (
                json!({"password": "password123"}),
                "email",
                "Email not provided",
            ),
            (
                json!({"email": "matt@lp.com"}),
                "password",
                "Password not provided",
            ),
            (
                json!({"email": "matt@lp.com", "password": ""}),
                "password",
                "Password not provided",
            ),
            (
                json!({"email": "not-an-email", "password": "x"}),
                "email",
                "Invalid email address",
            ),
            (
                json!({"email": 7, "password": "password123"}),
                "email",
                "Input not appropriate for requested API",
            ),
            (
                json!({"email": "matt@lp.com", "password": ["a"]}),
                "password",
                "Input not appropriate for requested API",
            ),
            (
                json!({"email": "matt@lp.com", "password": "password123", "next": "https://evil.com"}),
                "next",
                "Redirections outside the domain are forbidden",
            ),
        ];
        for (body, field, msg) in cases {
            let r = app.post_json("/login", body.clone()).await;
            assert_eq!(r.status(), Status::BadRequest, "{b:?} {body}");
            let v: Value = r.into_json().await.unwrap();
            assert_eq!(v["meta"]["code"], 400);
            assert_eq!(
                field_errors(&v, field),
                vec![msg.to_string()],
                "{b:?} {body} -> {v}"
            );
            assert!(v["response"]["errors"]
                .as_array()
                .unwrap()
                .contains(&json!(msg)));
            assert!(
                v["response"].get("csrf_token").is_none(),
                "no csrf_token on errors"
            );
        }
        // Still anonymous after all that.
        assert_eq!(
            app.get_json("/profile").await.status(),
            Status::Unauthorized
        );
    }
}

#[rocket::async_test]
async fn generic_responses_hide_which_part_failed() {
    let b = backends()[0];
    let app = TestApp::with(
        b,
        |f| f.merge(("security.return_generic_responses", true)),
        Security::new(),
    )
    .await;
    app.user("matt@lp.com", "password123", &[]).await;
    let mut joe = app.user("joe@lp.com", "password123", &[]).await;
    app.datastore().deactivate_user(&mut joe).await.unwrap();
    let mut bodies = Vec::new();
    for (e, p) in [
        ("matt@lp.com", "wrong-pass"),
        ("nobody@lp.com", "password123"),
        ("joe@lp.com", "password123"),
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
    assert_eq!(
        v["response"]["errors"],
        json!(["Authentication failed - identity or password/passcode invalid"])
    );
}

#[rocket::async_test]
async fn csrf_is_required_on_login() {
    let b = backends()[0];
    let app = TestApp::new(b).await;
    app.user("matt@lp.com", "password123", &[]).await;
    let body = json!({"email": "matt@lp.com", "password": "password123"});
    // No session yet, no token.
    let r = app
        .client
        .post("/login")
        .header(ContentType::JSON)
        .body(body.to_string())
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::BadRequest);
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(
        field_errors(&v, "csrf_token"),
        vec!["The CSRF token is missing."]
    );
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
    assert_eq!(
        field_errors(&v, "csrf_token"),
        vec!["The CSRF token is invalid."]
    );
    // Header form works too (X-CSRF-Token and the configured X-XSRF-Token).
    for h in ["X-CSRF-Token", "X-XSRF-Token"] {
        let tok = app.csrf().await;
        let r = app
            .client
            .post("/login")
            .header(ContentType::JSON)
            .header(Header::new(h, tok))
            .body(body.to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{h}");
        let r = app
            .client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
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
        let app = TestApp::with(b, |f| f.merge((key, val)), Security::new()).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let r = app
            .client
            .post("/login")
            .header(ContentType::JSON)
            .body(json!({"email": "matt@lp.com", "password": "password123"}).to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{key}");
    }
}

#[rocket::async_test]
async fn auth_token_only_when_asked_on_post() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        // Not asked: a login without `include_auth_token` carries no token ...
        let (s, v) = app.login("matt@lp.com", "password123").await;
        assert_eq!(s, Status::Ok);
        assert!(v["response"]["user"].is_object(), "{v}");
        assert!(
            v["response"]["user"].get("authentication_token").is_none(),
            "{v}"
        );
        // ... nor does GET /login, even when asked.
        let r = app.get_json("/login?include_auth_token").await;
        assert_eq!(r.status(), Status::Ok);
        let v: Value = r.into_json().await.unwrap();
        assert!(
            v["response"]
                .get("user")
                .is_none_or(|u| u.get("authentication_token").is_none()),
            "{v}"
        );
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let token = app.token_login("matt@lp.com", "password123").await;
        // itsdangerous format; a leading '.' marks a zlib-compressed payload.
        let parts: Vec<&str> = token.trim_start_matches('.').split('.').collect();
        assert_eq!(parts.len(), 3, "itsdangerous format: {token}");
        let r = app
            .client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let r = app.get_with_token("/token", &token).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        assert_eq!(r.into_string().await.unwrap(), "token matt@lp.com");
    }
}

#[rocket::async_test]
async fn logout_json_and_form() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let (s, _) = app.login("matt@lp.com", "password123").await;
        assert_eq!(s, Status::Ok);
        let r = app
            .client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert_eq!(
            r.headers().get_one("Cache-Control"),
            Some("private, no-store")
        );
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v, json!({"meta": {"code": 200}, "response": {}}));
        assert_eq!(
            app.get_json("/profile").await.status(),
            Status::Unauthorized
        );
        // Logging out when not logged in also succeeds; form logout redirects.
        let r = app.client.post("/logout?next=/after").dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/after"));
        let r = app.client.post("/logout?next=//evil.com").dispatch().await;
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        // GET is not a logout method by default: 405, and a signed-in user stays signed in.
        let (s, _) = app.login("matt@lp.com", "password123").await;
        assert_eq!(s, Status::Ok);
        let r = app.client.get("/logout").dispatch().await;
        assert_eq!(r.status(), Status::MethodNotAllowed);
        assert_eq!(app.get_json("/profile").await.status(), Status::Ok);
    }
}

#[rocket::async_test]
async fn captured_session_dies_when_uniquifier_rotates() {
    let b = backends()[0];
    let app = TestApp::new(b).await;
    app.user("matt@lp.com", "password123", &[]).await;
    let (s, _) = app.login("matt@lp.com", "password123").await;
    assert_eq!(s, Status::Ok);
    let captured = app.client.cookies().get_private("session").unwrap();
    let r = app
        .client
        .post("/logout")
        .header(ContentType::JSON)
        .dispatch()
        .await;
    assert_eq!(r.status(), Status::Ok);
    // Replaying the captured cookie still carries the user's uniquifier: it is accepted
    // unless the uniquifier rotated. Flask-Security behaves the same (client-side
    // session); rotating the uniquifier is the way to kill every session.
    let replay = |c: rocket::http::Cookie<'static>| {
        app.client
            .get("/profile")
            .header(ContentType::JSON)
            .private_cookie(c)
            .dispatch()
    };
    assert_eq!(replay(captured.clone()).await.status(), Status::Ok);
    let mut user = app
        .datastore()
        .find_user(&UserQuery::Email("matt@lp.com".into()), true)
        .await
        .unwrap()
        .unwrap();
    app.datastore()
        .set_uniquifier(&mut user, None)
        .await
        .unwrap();
    assert_eq!(replay(captured).await.status(), Status::Unauthorized);
}

#[rocket::async_test]
async fn form_login_redirects_to_next() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let page = app.client.get("/login?next=/profile").dispatch().await;
        assert_eq!(page.status(), Status::Ok);
        assert_eq!(page.content_type(), Some(ContentType::HTML));
        let html = page.into_string().await.unwrap();
        let csrf = html
            .split("name=\"csrf_token\" value=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap()
            .to_owned();
        assert!(html.contains("value=\"/profile\""));
        // Wrong password: the page again, with the message.
        let r = app
            .client
            .post("/login")
            .header(ContentType::Form)
            .body(format!(
                "email=matt%40lp.com&password=nope&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r.into_string().await.unwrap().contains("Invalid password"));
        let r = app
            .client
            .post("/login")
            .header(ContentType::Form)
            .body(format!(
                "email=matt%40lp.com&password=password123&next=%2Fprofile&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/profile"));
        let r = app.client.get("/profile").dispatch().await;
        assert_eq!(r.status(), Status::Ok);
        // Logged in: GET /login redirects to post_login_view.
        let r = app.client.get("/login").dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/"));
    }
}

/// Security plan R1: none of these `next` values leads off-site, in the form body or the
/// query string.
#[rocket::async_test]
async fn open_redirect_vectors_never_leave_the_site() {
    let b = backends()[0];
    let app = TestApp::with(
        b,
        |f| f.merge(("security.csrf_enabled", false)),
        Security::new(),
    )
    .await;
    app.user("matt@lp.com", "password123", &[]).await;
    let vectors = [
        "\\\\\\evil.com",
        " //evil.com",
        "/\\evil.com",
        "\\/evil.com",
        "//evil.com",
        "\t//evil.com",
        "http:///evil.com",
        "https://evil.com",
        "https:evil.com",
        "https://u:p@evil.com",
        "https://evil.com\\.app.com",
        "%5C%5Cevil.com",
        "javascript:alert(1)",
        "http:999999999",
        "/%2F/evil.com",
        "／／evil.com",
    ];
    for v in vectors {
        let enc: String = url_encode(v);
        for in_query in [false, true] {
            let (uri, body) = if in_query {
                (
                    format!("/login?next={enc}"),
                    "email=matt%40lp.com&password=password123".to_owned(),
                )
            } else {
                (
                    "/login".to_owned(),
                    format!("email=matt%40lp.com&password=password123&next={enc}"),
                )
            };
            let r = app
                .client
                .post(uri)
                .header(ContentType::Form)
                .body(body)
                .dispatch()
                .await;
            if r.status() == Status::Found {
                let loc = r.headers().get_one("Location").unwrap().to_owned();
                assert!(
                    loc.starts_with('/') && !loc.starts_with("//") && !loc.starts_with("/\\"),
                    "{v:?} -> {loc}"
                );
                app.client.post("/logout").dispatch().await;
            } else {
                // Only a `next` in the form is refused as a form error (the login page
                // again, saying why); one in the query is ignored and the login succeeds.
                assert!(!in_query, "{v:?}: {}", r.status());
                assert_eq!(r.status(), Status::Ok, "{v:?}");
                let html = r.into_string().await.unwrap();
                assert!(
                    html.contains(security_runtime::messages::INVALID_REDIRECT),
                    "{v:?}: {html}"
                );
            }
            // logout redirect
            let r = app
                .client
                .post(format!("/logout?next={enc}"))
                .dispatch()
                .await;
            let loc = r.headers().get_one("Location").unwrap();
            assert!(
                loc.starts_with('/') && !loc.starts_with("//"),
                "{v:?} -> {loc}"
            );
        }
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[rocket::async_test]
async fn remember_me_restores_the_session() {
    for b in backends() {
        let app = TestApp::new(b).await;
        app.user("matt@lp.com", "password123", &[]).await;
        let r = app
            .post_json(
                "/login",
                json!({"email": "matt@lp.com", "password": "password123", "remember": true}),
            )
            .await;
        assert_eq!(r.status(), Status::Ok);
        let remember = r
            .headers()
            .get("Set-Cookie")
            .find(|c| c.starts_with("remember_token="))
            .unwrap()
            .to_owned();
        assert!(
            remember.contains("Max-Age=31536000") && remember.contains("HttpOnly"),
            "{remember}"
        );
        let rem = app.client.cookies().get_private("remember_token").unwrap();
        // A client with only the remember cookie (browser restarted).
        let fresh = rocket::local::asynchronous::Client::tracked(security_tests::app(
            b,
            app.client.rocket().figment().clone(),
            Security::new(),
        ))
        .await
        .unwrap();
        let r = fresh
            .get("/profile")
            .header(ContentType::JSON)
            .private_cookie(rem.clone())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // After logout the remember cookie is removed.
        let r = app
            .client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert!(r
            .headers()
            .get("Set-Cookie")
            .any(|c| c.starts_with("remember_token=;") || c.starts_with("remember_token=\"\"")));
    }
}

#[rocket::async_test]
async fn trackable_columns_update_on_login() {
    for b in backends() {
        let app = TestApp::with(
            b,
            |f| f.merge(("security.trackable", true)),
            Security::new(),
        )
        .await;
        let u = app.user("matt@lp.com", "password123", &[]).await;
        assert_eq!(u.login_count, Some(0));
        for n in 1..=2 {
            let csrf = app.csrf().await;
            let r = app
                .client
                .post("/login")
                .header(ContentType::JSON)
                .remote(format!("10.0.0.{n}:5000").parse().unwrap())
                .body(
                    json!({"email": "matt@lp.com", "password": "password123", "csrf_token": csrf})
                        .to_string(),
                )
                .dispatch()
                .await;
            assert_eq!(r.status(), Status::Ok);
            app.client
                .post("/logout")
                .header(ContentType::JSON)
                .dispatch()
                .await;
            let r = app
                .datastore()
                .find_user(&UserQuery::Id(u.id), false)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(r.login_count, Some(n), "{b:?}");
            assert!(r.current_login_at.is_some() && r.last_login_at.is_some());
            assert_eq!(r.current_login_ip, Some(format!("10.0.0.{n}")));
            if n == 2 {
                assert_eq!(r.last_login_ip.as_deref(), Some("10.0.0.1"));
            }
        }
    }
}
