//! `/change`: changing the password, token callers, and `admin_change_password`.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_tests::flows::{captured, last_template, post, post_field_error};
use security_tests::{backends, token_header};

/// A `/change` body: the current password, the new one and its confirmation.
fn change(password: &str, new: &str, confirm: &str) -> Value {
    json!({"password": password, "new_password": new, "new_password_confirm": confirm})
}

#[rocket::async_test]
async fn change_password() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("c@example.com", "old password 1", &[]).await;
        let token = app.token_login("c@example.com", "old password 1").await;
        let v = app.get_value("/change").await;
        assert_eq!(v["response"]["active_password"], json!(true));
        let new = "new password 2";
        let no_current = json!({"new_password": new, "new_password_confirm": new});
        let cases = [
            (change("wrong", new, new), "password", "Invalid password"),
            // A wrong current password that equals the new one is only a wrong password.
            (
                change("wrong pw 99", "wrong pw 99", "wrong pw 99"),
                "password",
                "Invalid password",
            ),
            (
                change("old password 1", "old password 1", "old password 1"),
                "password",
                "Your new password must be different than your previous password.",
            ),
            (
                change("old password 1", new, "x"),
                "new_password_confirm",
                "Passwords do not match",
            ),
            (no_current, "password", "Password not provided"),
        ];
        for (body, field, msg) in cases {
            post_field_error(&app, "/change", body, field, msg).await;
        }
        let body = change("old password 1", new, new);
        let (s, v) = post(&app, "/change?include_auth_token", body).await;
        assert_eq!(s, Status::Ok, "{v}");
        assert!(v["response"]["user"]["authentication_token"].is_string());
        // This browser stays logged in with a new session; the old auth token is dead
        // (stricter than Flask-Security, which keeps tokens with a token uniquifier).
        assert_eq!(app.status("/session").await, Status::Ok);
        let old_token = app.token_status("/token", &token).await;
        assert_eq!(old_token, Status::Unauthorized);
        let new_token = v["response"]["user"]["authentication_token"].as_str();
        let new_token = app.token_status("/token", new_token.unwrap()).await;
        assert_eq!(new_token, Status::Ok);
        assert_eq!(last_template(&mailer), "change_notice");
        app.drop_session().await;
        assert_eq!(app.login("c@example.com", new).await.0, Status::Ok);
        // Anonymous: 401.
        app.drop_session().await;
        assert_eq!(app.status("/change").await, Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn admin_change_password_and_token_callers_of_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| {
            f.merge(("security.csrf_protect_mechanisms", ["session", "basic"]))
        })
        .await;
        let u = app.user("a@example.com", "old password 1", &[]).await;
        let token = app.token_only("a@example.com", "old password 1").await;
        // A token caller changing the password gets no session cookie.
        let body = change("old password 1", "new password 2", "new password 2");
        let change = app.client.post("/change").header(ContentType::JSON);
        let r = change.header(token_header(&token)).body(body.to_string());
        let r = r.dispatch().await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let cookies: Vec<String> = r.headers().get("Set-Cookie").map(str::to_owned).collect();
        let session_set = cookies.iter().any(|c| c.starts_with("session="));
        assert!(!session_set, "{cookies:?}");
        let dead = app.token_status("/token", &token).await;
        assert_eq!(dead, Status::Unauthorized);
        // admin_change_password: new password works, tokens die, notice mailed.
        let token = app.token_only("a@example.com", "new password 2").await;
        let mut u = app.reload(&u).await;
        security_runtime::admin_change_password(app.state(), &mut u, "admin set 3", true)
            .await
            .unwrap();
        let dead = app.token_status("/token", &token).await;
        assert_eq!(dead, Status::Unauthorized);
        let (s, _) = app.login("a@example.com", "admin set 3").await;
        assert_eq!(s, Status::Ok);
        assert_eq!(last_template(&mailer), "change_notice");
    }
}
