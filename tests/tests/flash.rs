//! The flash cookie: format, attributes, denial flashes, malformed cookies.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_tests::backends;
use security_tests::flows::{captured, flashed, flashed_on, post};

/// The flash cookie: Rocket's format, but the session cookie's SameSite (a Strict cookie
/// would not come back on the redirect after a link clicked in a mail) and HttpOnly;
/// denials flash their reason; a malformed cookie is dropped instead of failing the page.
#[rocket::async_test]
async fn flash_cookie_denials_and_malformed_cookies() {
    let b = backends()[0];
    let (app, _) = captured(b, |f| f).await;

    // An anonymous browser sent to the login page is told why, as Flask-Security does.
    let r = app.client.get("/session").dispatch().await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(
        r.headers().get_one("Location"),
        Some("/login?next=%2Fsession")
    );
    let set: Vec<&str> = r.headers().get("Set-Cookie").collect();
    let flash = set
        .iter()
        .find(|c| c.starts_with("_flash="))
        .unwrap_or_else(|| panic!("no flash cookie in {set:?}"));
    for attr in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=300"] {
        assert!(flash.contains(attr), "{attr} missing from {flash}");
    }
    assert_eq!(
        flashed_on(&app, "/login").await,
        Some((
            "error".into(),
            "You must sign in to view this resource.".into()
        ))
    );

    // A JSON caller gets the 401 body and no flash.
    let r = app.get_json("/session").await;
    assert_eq!(r.status(), Status::Unauthorized);
    assert!(r
        .headers()
        .get("Set-Cookie")
        .all(|c| !c.starts_with("_flash=")));

    // A cookie whose length falls inside a character (Rocket's own reader panics on it),
    // or that is not in the format at all, reads as nothing and is removed.
    for bad in ["1:\u{e9}", "x:abc", "99:abc", ":"] {
        let r = app
            .client
            .get("/login")
            .cookie(rocket::http::Cookie::new("_flash", bad))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{bad:?}");
        let removed = r
            .headers()
            .get("Set-Cookie")
            .any(|c| c.starts_with("_flash=;") || c.starts_with("_flash=\"\";"));
        let html = r.into_string().await.unwrap();
        assert_eq!(flashed(&html), None, "{bad:?}");
        assert!(removed, "{bad:?}");
    }

    // /reset and /reset/<token> are open to signed-in users, as Flask-Security's
    // `forgot_password` and `reset_password` views are (5.9.2).
    app.user("anon@example.com", "battery staple 9", &[]).await;
    let (s, _) = app.login("anon@example.com", "battery staple 9").await;
    assert_eq!(s, Status::Ok);
    let r = app.client.get("/reset").dispatch().await;
    assert_eq!(r.status(), Status::Ok);
    assert!(r.into_string().await.unwrap().contains("name=\"email\""));
    let r = app.get_json("/reset").await;
    assert_eq!(r.status(), Status::Ok);
    let v: Value = r.into_json().await.unwrap();
    assert!(v["response"]["csrf_token"].is_string(), "{v}");
    let r = app.client.get("/reset/some-token").dispatch().await;
    assert_eq!(r.status(), Status::Found);
    assert_eq!(r.headers().get_one("Location"), Some("/reset"));
    let (s, v) = post(
        &app,
        "/reset/some-token",
        json!({"password": "x", "password_confirm": "x"}),
    )
    .await;
    assert_eq!(s, Status::BadRequest);
    assert_eq!(
        v["response"]["errors"],
        json!(["Invalid reset password token."])
    );
}
