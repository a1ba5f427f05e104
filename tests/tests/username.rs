//! `/change-username` and `/recover-username`, JSON and form.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::UserQuery;
use security_tests::flows::{
    browser_get, browser_login, browser_post, captured, flashed_on, form_csrf, page_messages, post,
    set_username,
};
use security_tests::{backends, field_errors};

#[rocket::async_test]
async fn change_and_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("u@example.com", "password 123", &[]).await;
        app.user("o@example.com", "password 123", &[]).await;
        app.login("o@example.com", "password 123").await;
        post(&app, "/change-username", json!({"username": "taken"})).await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        app.login("u@example.com", "password 123").await;
        let (s, v) = post(&app, "/change-username", json!({"username": "Taken"})).await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "username"),
            vec!["Taken is already associated with an account."]
        );
        let (s, v) = post(&app, "/change-username", json!({"username": "bad name!"})).await;
        assert_eq!(s, Status::BadRequest, "{v}");
        assert_eq!(
            field_errors(&v, "username"),
            vec!["Username can contain only letters and numbers"]
        );
        let (s, v) = post(&app, "/change-username", json!({"username": "newname"})).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(
            mailer.messages().last().unwrap().template,
            "change_username_notice"
        );
        let v: Value = app
            .get_json("/change-username")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(v["response"]["current_username"], json!("newname"));
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        // Log in by username; recover it by mail.
        let (s, _) = post(
            &app,
            "/login",
            json!({"username": "newname", "password": "password 123"}),
        )
        .await;
        assert_eq!(s, Status::Ok);
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        let (s, _) = post(&app, "/recover-username", json!({"email": "u@example.com"})).await;
        assert_eq!(s, Status::Ok);
        let m = mailer.messages();
        let last = m.last().unwrap();
        assert_eq!(last.template, "username_recovery");
        assert!(last.text.as_deref().unwrap().contains("newname"));
    }
}

/// `/change-username` driven as a browser would.
#[rocket::async_test]
async fn form_mode_change_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        let me = app.user("u@example.com", "password 123", &[]).await;
        app.user("o@example.com", "password 123", &[]).await;
        set_username(&app, "o@example.com", "taken").await;
        let (s, loc, _) = browser_get(&app, "/change-username").await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/login?next=%2Fchange-username")),
            "{b:?}"
        );
        browser_login(&app, "email=u%40example.com", "password+123").await;
        let csrf = form_csrf(&app, "/change-username", "username").await;
        let (s, _, html) = browser_post(&app, "/change-username", "username=newname").await;
        assert_eq!(s, Status::Ok, "{b:?}");
        assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
        for (username, typed, message) in [
            (
                "Taken",
                "Taken",
                "Taken is already associated with an account.",
            ),
            (
                "bad+name%21",
                "bad name!",
                "Username can contain only letters and numbers",
            ),
            (
                "ab",
                "ab",
                "Username must be at least 4 characters and less than 32 characters",
            ),
            ("", "", "Username not provided"),
        ] {
            let (s, loc, html) = browser_post(
                &app,
                "/change-username",
                &format!("username={username}&csrf_token={csrf}"),
            )
            .await;
            assert_eq!((s, loc), (Status::Ok, None), "{b:?} {typed}");
            assert_eq!(page_messages(&html), vec![message], "{b:?} {typed}");
            assert!(
                html.contains(&format!(
                    "name=\"username\" id=\"username\" value=\"{}\"",
                    typed
                )),
                "{html}"
            );
        }
        let unchanged = app
            .datastore()
            .find_user(&UserQuery::Id(me.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(unchanged.username, None);
        assert!(
            mailer.messages().is_empty(),
            "{b:?}: no notice for failures"
        );
        // Success: redirect to POST_LOGIN_VIEW, username stored, notice mailed.
        let (s, loc, _) = browser_post(
            &app,
            "/change-username",
            &format!("username=newname&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let changed = app
            .datastore()
            .find_user(&UserQuery::Id(me.id), false)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(changed.username.as_deref(), Some("newname"));
        assert_eq!(
            flashed_on(&app, "/change-username").await,
            Some((
                "success".into(),
                "You successfully changed your username".into()
            ))
        );
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].template.as_str(), m[0].to.as_str()),
            ("change_username_notice", "u@example.com")
        );
        // The new username signs in through the login form.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        browser_login(&app, "username=newname", "password+123").await;
        assert_eq!(
            browser_get(&app, "/profile").await.2,
            "profile u@example.com"
        );
    }
}

/// `/recover-username` driven as a browser would.
#[rocket::async_test]
async fn form_mode_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("r@example.com", "password 123", &[]).await;
        set_username(&app, "r@example.com", "recoverme").await;
        let csrf = form_csrf(&app, "/recover-username", "email").await;
        let (s, _, html) = browser_post(&app, "/recover-username", "email=r%40example.com").await;
        assert_eq!(s, Status::Ok, "{b:?}");
        assert_eq!(page_messages(&html), vec!["The CSRF token is missing."]);
        for (email, typed, message) in [
            (
                "nobody%40example.com",
                "nobody@example.com",
                "Specified user does not exist",
            ),
            ("r%40", "r@", "Invalid email address"),
            ("", "", "Email not provided"),
        ] {
            let (s, loc, html) = browser_post(
                &app,
                "/recover-username",
                &format!("email={email}&csrf_token={csrf}"),
            )
            .await;
            assert_eq!((s, loc), (Status::Ok, None), "{b:?} {typed}");
            assert_eq!(page_messages(&html), vec![message], "{b:?} {typed}");
            assert!(
                html.contains(&format!("name=\"email\" id=\"email\" value=\"{typed}\"")),
                "{html}"
            );
        }
        assert!(mailer.messages().is_empty(), "{b:?}: nothing mailed");
        // Success: the username is mailed and the browser goes to the login page
        // (Flask-Security also flashes USERNAME_RECOVERY_REQUEST there).
        let (s, loc, _) = browser_post(
            &app,
            "/recover-username",
            &format!("email=R%40Example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!(
            (s, loc.as_deref()),
            (Status::Found, Some("/login")),
            "{b:?}"
        );
        assert_eq!(
            flashed_on(&app, "/login").await,
            Some((
                "info".into(),
                "If registered, your username will be sent to your email.".into()
            ))
        );
        let m = mailer.messages();
        assert_eq!(m.len(), 1);
        assert_eq!(
            (m[0].template.as_str(), m[0].to.as_str()),
            ("username_recovery", "r@example.com")
        );
        assert!(m[0].text.as_deref().unwrap().contains("recoverme"));
        // A disabled account gets Flask-Security's message, and no mail.
        let mut u = app
            .datastore()
            .find_user(&UserQuery::Email("r@example.com".into()), false)
            .await
            .unwrap()
            .unwrap();
        u.active = false;
        app.datastore().put_user(&mut u).await.unwrap();
        let (s, _, html) = browser_post(
            &app,
            "/recover-username",
            &format!("email=r%40example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!(s, Status::Ok);
        assert_eq!(page_messages(&html), vec!["Account is disabled."]);
        assert_eq!(mailer.messages().len(), 1);
        // Signed in: `anonymous_user_required` sends a browser to POST_LOGIN_VIEW.
        app.user("in@example.com", "password 123", &[]).await;
        browser_login(&app, "email=in%40example.com", "password+123").await;
        let (s, loc, _) = browser_get(&app, "/recover-username").await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let (s, loc, _) = browser_post(
            &app,
            "/recover-username",
            &format!("email=in%40example.com&csrf_token={csrf}"),
        )
        .await;
        assert_eq!((s, loc.as_deref()), (Status::Found, Some("/")), "{b:?}");
        let (s, v) = post(
            &app,
            "/recover-username",
            json!({"email": "in@example.com"}),
        )
        .await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        assert_eq!(
            v["response"]["errors"],
            json!(["You can only access this endpoint when not logged in."])
        );
        assert_eq!(mailer.messages().len(), 1, "{b:?}: nothing mailed");
    }
}
