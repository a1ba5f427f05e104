//! `/change-username` and `/recover-username`, JSON and form.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::json;
use security_tests::backends;
use security_tests::flows::{
    assert_flashed, assert_form_errors, assert_one_mail, assert_redirect, assert_redirected,
    browser_get, browser_login, browser_post, captured, csrf_required_form, last_template,
    page_messages, post, post_field_error, set_username,
};

const PASSWORD: &str = "password 123";
const CHANGE: &str = "/change-username";
const RECOVER: &str = "/recover-username";

/// The `/change-username` form's refusals: (sent, shown again, message).
const CHANGE_ERRORS: [(&str, &str, &str); 4] = [
    ("Taken", "Taken", TAKEN),
    ("bad+name%21", "bad name!", BAD_NAME),
    ("ab", "ab", TOO_SHORT),
    ("", "", "Username not provided"),
];

const TAKEN: &str = "Taken is already associated with an account.";
const BAD_NAME: &str = "Username can contain only letters and numbers";
const TOO_SHORT: &str = "Username must be at least 4 characters and less than 32 characters";

/// The `/recover-username` form's refusals: (sent, shown again, message).
const RECOVER_ERRORS: [(&str, &str, &str); 3] = [
    (
        "nobody%40example.com",
        "nobody@example.com",
        "Specified user does not exist",
    ),
    ("r%40", "r@", "Invalid email address"),
    ("", "", "Email not provided"),
];

#[rocket::async_test]
async fn change_and_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("u@example.com", PASSWORD, &[]).await;
        app.user("o@example.com", PASSWORD, &[]).await;
        app.login("o@example.com", PASSWORD).await;
        post(&app, CHANGE, json!({"username": "taken"})).await;
        app.drop_session().await;
        app.login("u@example.com", PASSWORD).await;
        for (username, msg) in [("Taken", TAKEN), ("bad name!", BAD_NAME)] {
            let body = json!({"username": username});
            post_field_error(&app, CHANGE, body, "username", msg).await;
        }
        let (s, v) = post(&app, CHANGE, json!({"username": "newname"})).await;
        assert_eq!(s, Status::Ok, "{b:?} {v}");
        assert_eq!(last_template(&mailer), "change_username_notice");
        let v = app.get_value(CHANGE).await;
        assert_eq!(v["response"]["current_username"], json!("newname"));
        app.drop_session().await;
        // Log in by username; recover it by mail.
        let by_username = json!({"username": "newname", "password": PASSWORD});
        let (s, _) = post(&app, "/login", by_username).await;
        assert_eq!(s, Status::Ok);
        app.drop_session().await;
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
        let me = app.user("u@example.com", PASSWORD, &[]).await;
        app.user("o@example.com", PASSWORD, &[]).await;
        set_username(&app, "o@example.com", "taken").await;
        assert_redirect(&app, CHANGE, "/login?next=%2Fchange-username").await;
        browser_login(&app, "email=u%40example.com", "password+123").await;
        let (csrf, _) = csrf_required_form(&app, CHANGE, "username", "username=newname").await;
        assert_form_errors(&app, CHANGE, ("username", &csrf), &CHANGE_ERRORS, b).await;
        assert_eq!(app.reload(&me).await.username, None);
        let nothing = mailer.messages().is_empty();
        assert!(nothing, "{b:?}: no notice for failures");
        // Success: redirect to POST_LOGIN_VIEW, username stored, notice mailed.
        let body = format!("username=newname&csrf_token={csrf}");
        let answer = browser_post(&app, CHANGE, &body).await;
        assert_redirected(&answer, "/", b);
        let changed = app.reload(&me).await;
        assert_eq!(changed.username.as_deref(), Some("newname"));
        let done = "You successfully changed your username";
        assert_flashed(&app, CHANGE, "success", done).await;
        assert_one_mail(&mailer, "change_username_notice", "u@example.com");
        // The new username signs in through the login form.
        app.drop_session().await;
        browser_login(&app, "username=newname", "password+123").await;
        let profile = browser_get(&app, "/profile").await.2;
        assert_eq!(profile, "profile u@example.com");
    }
}

/// `/recover-username` driven as a browser would.
#[rocket::async_test]
async fn form_mode_recover_username() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("r@example.com", PASSWORD, &[]).await;
        set_username(&app, "r@example.com", "recoverme").await;
        let (csrf, _) = csrf_required_form(&app, RECOVER, "email", "email=r%40example.com").await;
        assert_form_errors(&app, RECOVER, ("email", &csrf), &RECOVER_ERRORS, b).await;
        assert!(mailer.messages().is_empty(), "{b:?}: nothing mailed");
        // Success: the username is mailed and the browser goes to the login page
        // (Flask-Security also flashes USERNAME_RECOVERY_REQUEST there).
        let body = format!("email=R%40Example.com&csrf_token={csrf}");
        let answer = browser_post(&app, RECOVER, &body).await;
        assert_redirected(&answer, "/login", b);
        let requested = "If registered, your username will be sent to your email.";
        assert_flashed(&app, "/login", "info", requested).await;
        assert_one_mail(&mailer, "username_recovery", "r@example.com");
        let m = mailer.messages();
        assert!(m[0].text.as_deref().unwrap().contains("recoverme"));
        // A disabled account gets Flask-Security's message, and no mail.
        let mut u = app.by_email("r@example.com", false).await.unwrap();
        u.active = false;
        app.datastore().put_user(&mut u).await.unwrap();
        let body = format!("email=r%40example.com&csrf_token={csrf}");
        let (s, _, html) = browser_post(&app, RECOVER, &body).await;
        assert_eq!(s, Status::Ok);
        assert_eq!(page_messages(&html), vec!["Account is disabled."]);
        assert_eq!(mailer.messages().len(), 1);
        // Signed in: `anonymous_user_required` sends a browser to POST_LOGIN_VIEW.
        app.user("in@example.com", PASSWORD, &[]).await;
        browser_login(&app, "email=in%40example.com", "password+123").await;
        let answer = browser_get(&app, RECOVER).await;
        assert_redirected(&answer, "/", b);
        let body = format!("email=in%40example.com&csrf_token={csrf}");
        let answer = browser_post(&app, RECOVER, &body).await;
        assert_redirected(&answer, "/", b);
        let (s, v) = post(&app, RECOVER, json!({"email": "in@example.com"})).await;
        assert_eq!(s, Status::BadRequest, "{b:?} {v}");
        let only_anonymous = json!(["You can only access this endpoint when not logged in."]);
        assert_eq!(v["response"]["errors"], only_anonymous);
        assert_eq!(mailer.messages().len(), 1, "{b:?}: nothing mailed");
    }
}
