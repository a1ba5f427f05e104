//! Forgot/reset, confirm and change driven as a browser form would: pages, CSRF from the page, redirects, flashes.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use security_tests::backends;
use security_tests::flows::{
    assert_flashed, assert_redirect, assert_redirected, browser_get, browser_post, captured,
    csrf_from, flashed_on, last_link, page_csrf, submit,
};

/// The same flows driven as a browser form would: pages, CSRF from the page, redirects.
#[rocket::async_test]
async fn form_mode_forgot_reset_confirm_and_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f.merge(("security.confirmable", true))).await;
        let u = app.user("form@example.com", "old password 1", &[]).await;
        // Resend confirmation through the form; the link redirects a browser to login.
        let (s, _, html) = submit(&app, "/confirm", "email=form%40example.com").await;
        assert_eq!(s, Status::Ok);
        assert!(html.contains("Confirmation instructions have been sent"));
        let link = last_link(&mailer);
        let answer = browser_get(&app, &link).await;
        assert_redirected(&answer, "/login", b);
        // The outcome is flashed; the next security page shows it, once.
        let confirmed = "Thank you. Your email has been confirmed.";
        assert_flashed(&app, "/login", "success", confirmed).await;
        assert_eq!(flashed_on(&app, "/login").await, None);
        // A bad link sends the browser back to "send me a new link", with the reason.
        assert_redirect(&app, "/confirm/not-a-token", "/confirm").await;
        let invalid = "Invalid confirmation token.";
        assert_flashed(&app, "/confirm", "error", invalid).await;
        assert!(app.reload(&u).await.confirmed_at.is_some());
        // Forgot password through the form, then the reset page and its form.
        let (s, _, _) = submit(&app, "/reset", "email=form%40example.com").await;
        assert_eq!(s, Status::Ok);
        let link = last_link(&mailer);
        let (s, _, html) = browser_get(&app, &link).await;
        assert_eq!(s, Status::Ok);
        assert!(html.contains("name=\"password_confirm\""));
        let fields = "password=new+password+2&password_confirm=new+password+2";
        let body = format!("{fields}&csrf_token={}", csrf_from(&html));
        let answer = browser_post(&app, &link, &body).await;
        assert_redirected(&answer, "/login", b);
        let reset =
            "You successfully reset your password. Please authenticate using your new password.";
        assert_flashed(&app, "/login", "success", reset).await;
        // The used link, and a forged one, go back to "forgot password" with the reason.
        for bad in [link, "/reset/not-a-token".to_owned()] {
            assert_redirect(&app, &bad, "/reset").await;
            let invalid = "Invalid reset password token.";
            assert_flashed(&app, "/reset", "error", invalid).await;
        }
        // Log in with the form, then change the password with the form.
        let login = "email=form%40example.com&password=new+password+2";
        let (s, _, _) = submit(&app, "/login", login).await;
        assert_eq!(s, Status::Found);
        let csrf = page_csrf(&app, "/change").await;
        let change = |current: &str| {
            let new = "new_password=third+pass+3&new_password_confirm=third+pass+3";
            format!("password={current}&{new}&csrf_token={csrf}")
        };
        let (s, _, html) = browser_post(&app, "/change", &change("wrong")).await;
        assert_eq!(s, Status::Ok);
        assert!(html.contains("Invalid password"));
        let answer = browser_post(&app, "/change", &change("new+password+2")).await;
        assert_redirected(&answer, "/", b);
        assert_eq!(browser_get(&app, "/profile").await.0, Status::Ok);
        // /profile did not read the flash; the landing page (an application route with
        // Rocket's `FlashMessage`) shows it, once.
        for expected in [
            "index [success] You successfully changed your password.",
            "index",
        ] {
            assert_eq!(browser_get(&app, "/").await.2, expected);
        }
        assert_eq!(flashed_on(&app, "/change").await, None);
    }
}
