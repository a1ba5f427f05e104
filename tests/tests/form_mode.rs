//! Forgot/reset, confirm and change driven as a browser form would: pages, CSRF from the page, redirects, flashes.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use security_runtime::UserQuery;
use security_tests::flows::{captured, csrf_from, flashed_on};
use security_tests::{backends, find_link, path_of};

/// The same flows driven as a browser form would: pages, CSRF from the page, redirects.
#[rocket::async_test]
async fn form_mode_forgot_reset_confirm_and_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f.merge(("security.confirmable", true))).await;
        let mut u = app.user("form@example.com", "old password 1", &[]).await;
        // Resend confirmation through the form; the link redirects a browser to login.
        let html = app
            .client
            .get("/confirm")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/confirm")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r
            .into_string()
            .await
            .unwrap()
            .contains("Confirmation instructions have been sent"));
        let link = find_link(mailer.messages().last().unwrap().text.as_deref().unwrap());
        let r = app.client.get(path_of(&link)).dispatch().await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/login"));
        // The outcome is flashed; the next security page shows it, once.
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "success".into(),
                "Thank you. Your email has been confirmed.".into()
            ))
        );
        assert_eq!(flashed_on(&app, "/login").await, None);
        // A bad link sends the browser back to "send me a new link", with the reason.
        let r = app.client.get("/confirm/not-a-token").dispatch().await;
        assert_eq!(r.status(), Status::Found);
        assert_eq!(r.headers().get_one("Location"), Some("/confirm"));
        assert_eq!(
            flashed_on(&app, "/confirm").await,
            Some(("error".into(), "Invalid confirmation token.".into()))
        );
        u = app
            .datastore()
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        assert!(u.confirmed_at.is_some());
        // Forgot password through the form, then the reset page and its form.
        let html = app
            .client
            .get("/reset")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/reset")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let link = find_link(mailer.messages().last().unwrap().text.as_deref().unwrap());
        let page = app.client.get(path_of(&link)).dispatch().await;
        assert_eq!(page.status(), Status::Ok);
        let html = page.into_string().await.unwrap();
        assert!(html.contains("name=\"password_confirm\""));
        let r = app
            .client
            .post(path_of(&link))
            .header(ContentType::Form)
            .body(format!(
                "password=new+password+2&password_confirm=new+password+2&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/login"));
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "success".into(),
                "You successfully reset your password. Please authenticate using your new password."
                    .into()
            ))
        );
        // The used link, and a forged one, go back to "forgot password" with the reason.
        for bad in [path_of(&link), "/reset/not-a-token".to_owned()] {
            let r = app.client.get(bad.clone()).dispatch().await;
            assert_eq!(r.status(), Status::Found, "{bad}");
            assert_eq!(r.headers().get_one("Location"), Some("/reset"));
            assert_eq!(
                flashed_on(&app, "/reset").await,
                Some(("error".into(), "Invalid reset password token.".into()))
            );
        }
        // Log in with the form, then change the password with the form.
        let html = app
            .client
            .get("/login")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let r = app
            .client
            .post("/login")
            .header(ContentType::Form)
            .body(format!(
                "email=form%40example.com&password=new+password+2&csrf_token={}",
                csrf_from(&html)
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found);
        let html = app
            .client
            .get("/change")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        let csrf = csrf_from(&html);
        let r = app
            .client
            .post("/change")
            .header(ContentType::Form)
            .body(format!(
                "password=wrong&new_password=third+pass+3&new_password_confirm=third+pass+3&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        assert!(r.into_string().await.unwrap().contains("Invalid password"));
        let r = app
            .client
            .post("/change")
            .header(ContentType::Form)
            .body(format!(
                "password=new+password+2&new_password=third+pass+3&new_password_confirm=third+pass+3&csrf_token={csrf}"
            ))
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Found, "{b:?}");
        assert_eq!(r.headers().get_one("Location"), Some("/"));
        assert_eq!(
            app.client.get("/profile").dispatch().await.status(),
            Status::Ok
        );
        // /profile did not read the flash; the landing page (an application route with
        // Rocket's `FlashMessage`) shows it, once.
        for expected in [
            "index [success] You successfully changed your password.",
            "index",
        ] {
            let r = app.client.get("/").dispatch().await;
            assert_eq!(r.into_string().await.unwrap(), expected);
        }
        assert_eq!(flashed_on(&app, "/change").await, None);
    }
}
