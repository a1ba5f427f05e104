//! Security plan C1: every unsafe route the fairing mounts (enumerated from the running
//! app, every feature on) refuses a request without a CSRF token, from an anonymous
//! browser and from a signed-in one: never a 2xx or a redirect, and the refusal names
//! the CSRF token unless the route refuses the caller before reading the form.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Method, Status};
use security_tests::unified::{signed_in_user, us_app};
use security_tests::{backends, TestApp};

/// The unsafe security routes: (method, path with `x` for each dynamic segment).
fn unsafe_routes(app: &TestApp) -> Vec<(Method, String)> {
    let mut out: Vec<(Method, String)> = app
        .client
        .rocket()
        .routes()
        .filter(|r| {
            r.name
                .as_deref()
                .is_some_and(|n| n.starts_with("security::"))
        })
        .filter(|r| !matches!(r.method, Method::Get | Method::Head | Method::Options))
        .map(|r| {
            let path: Vec<String> = r
                .uri
                .path()
                .split('/')
                .map(|s| {
                    if s.starts_with('<') {
                        "x".to_owned()
                    } else {
                        s.to_owned()
                    }
                })
                .collect();
            (r.method, path.join("/"))
        })
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out.dedup();
    out
}

/// Routes whose state is checked before the form: the refusal is about the state.
const STATE_FIRST: &[&str] = &[
    "POST /confirm/x:",
    "POST /reset/x:",
    "POST /tf-setup/x:",
    "POST /us-setup/x:",
    "POST /tf-validate:",
    "POST /tf-rescue:",
    "POST /tf-select:",
    "POST /mf-recovery:",
];

/// (status, body) of a JSON request with an empty object and no token.
async fn without_token(app: &TestApp, m: Method, path: &str) -> (Status, String) {
    let r = app
        .client
        .req(m, path.to_owned())
        .header(ContentType::JSON)
        .body("{}")
        .dispatch()
        .await;
    (r.status(), r.into_string().await.unwrap_or_default())
}

#[rocket::async_test]
async fn every_unsafe_security_route_refuses_a_request_without_a_csrf_token() {
    let t = us_app(backends()[0], |f| {
        f.merge(("security.two_factor", true))
            .merge(("security.multi_factor_recovery_codes", true))
            .merge(("security.confirmable", true))
            .merge(("security.login_without_confirmation", true))
            .merge(("security.logout_csrf", true))
            .merge(("security.webauthn", true))
    })
    .await;
    let routes = unsafe_routes(&t.app);
    assert!(routes.len() >= 25, "{routes:?}");
    let mut anonymous = Vec::new();
    for (m, path) in &routes {
        anonymous.push(without_token(&t.app, *m, path).await);
    }
    signed_in_user(&t, "csrf@example.com").await;
    let mut unchecked = Vec::new();
    for ((m, path), anon) in routes.iter().zip(&anonymous) {
        let signed = without_token(&t.app, *m, path).await;
        for (who, (s, body)) in [("anonymous", anon), ("signed in", &signed)] {
            assert!(
                s.code >= 400,
                "{m} {path} ({who}) answered {s} without a CSRF token: {body}"
            );
        }
        if !(anon.1.contains("CSRF") || signed.1.contains("CSRF")) {
            unchecked.push(format!("{m} {path}: {} / {}", anon.0, signed.0));
        }
    }
    // Still signed in: no request above changed the session.
    assert_eq!(
        t.app.client.get("/profile").dispatch().await.status(),
        Status::Ok
    );
    // Routes that refuse a missing or bad state (a link's token, a set-up state, a
    // second-factor step not begun) before they read the form; any other route refused
    // without naming the CSRF token is a failure.
    unchecked.retain(|r| !STATE_FIRST.iter().any(|p| r.starts_with(p)));
    assert!(
        unchecked.is_empty(),
        "refused before the CSRF check: {unchecked:#?}"
    );
}
