//! `/change`: changing the password, token callers, and `admin_change_password`.
#![allow(clippy::unwrap_used)]

use rocket::http::{ContentType, Status};
use rocket::serde::json::{json, Value};
use security_runtime::UserQuery;
use security_tests::flows::{captured, post};
use security_tests::{backends, field_errors};

#[rocket::async_test]
async fn change_password() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f).await;
        app.user("c@example.com", "old password 1", &[]).await;
        let token = app.token_login("c@example.com", "old password 1").await;
        let r = app.get_json("/change").await;
        let v: Value = r.into_json().await.unwrap();
        assert_eq!(v["response"]["active_password"], json!(true));
        let cases = [
            (
                json!({"password": "wrong", "new_password": "new password 2", "new_password_confirm": "new password 2"}),
                "password",
                "Invalid password",
            ),
            // A wrong current password that equals the new one is only a wrong password.
            (
                json!({"password": "wrong pw 99", "new_password": "wrong pw 99", "new_password_confirm": "wrong pw 99"}),
                "password",
                "Invalid password",
            ),
            (
                json!({"password": "old password 1", "new_password": "old password 1", "new_password_confirm": "old password 1"}),
                "password",
                "Your new password must be different than your previous password.",
            ),
            (
                json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "x"}),
                "new_password_confirm",
                "Passwords do not match",
            ),
            (
                json!({"new_password": "new password 2", "new_password_confirm": "new password 2"}),
                "password",
                "Password not provided",
            ),
        ];
        for (body, field, msg) in cases {
            let (s, v) = post(&app, "/change", body.clone()).await;
            assert_eq!(s, Status::BadRequest, "{body}");
            assert_eq!(
                field_errors(&v, field),
                vec![msg.to_string()],
                "{b:?} {body}"
            );
        }
        let (s, v) = post(&app, "/change?include_auth_token", json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "new password 2"})).await;
        assert_eq!(s, Status::Ok, "{v}");
        assert!(v["response"]["user"]["authentication_token"].is_string());
        // This browser stays logged in with a new session; the old auth token is dead
        // (stricter than Flask-Security, which keeps tokens with a token uniquifier).
        assert_eq!(app.get_json("/session").await.status(), Status::Ok);
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        let new_token = v["response"]["user"]["authentication_token"]
            .as_str()
            .unwrap();
        assert_eq!(
            app.get_with_token("/token", new_token).await.status(),
            Status::Ok
        );
        assert_eq!(mailer.messages().last().unwrap().template, "change_notice");
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(
            app.login("c@example.com", "new password 2").await.0,
            Status::Ok
        );
        // Anonymous: 401.
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        assert_eq!(app.get_json("/change").await.status(), Status::Unauthorized);
    }
}

#[rocket::async_test]
async fn admin_change_password_and_token_callers_of_change() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| {
            f.merge(("security.csrf_protect_mechanisms", ["session", "basic"]))
        })
        .await;
        let mut u = app.user("a@example.com", "old password 1", &[]).await;
        let token = app.token_login("a@example.com", "old password 1").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        // A token caller changing the password gets no session cookie.
        let r = app
            .client
            .post("/change")
            .header(ContentType::JSON)
            .header(rocket::http::Header::new("Authentication-Token", token.clone()))
            .body(json!({"password": "old password 1", "new_password": "new password 2", "new_password_confirm": "new password 2"}).to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let cookies: Vec<String> = r.headers().get("Set-Cookie").map(str::to_owned).collect();
        assert!(
            !cookies.iter().any(|c| c.starts_with("session=")),
            "{cookies:?}"
        );
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        // admin_change_password: new password works, tokens die, notice mailed.
        let token = app.token_login("a@example.com", "new password 2").await;
        app.client
            .post("/logout")
            .header(ContentType::JSON)
            .dispatch()
            .await;
        u = app
            .datastore()
            .find_user(&UserQuery::Id(u.id), false)
            .await
            .unwrap()
            .unwrap();
        security_runtime::admin_change_password(app.state(), &mut u, "admin set 3", true)
            .await
            .unwrap();
        assert_eq!(
            app.get_with_token("/token", &token).await.status(),
            Status::Unauthorized
        );
        assert_eq!(
            app.login("a@example.com", "admin set 3").await.0,
            Status::Ok
        );
        assert_eq!(mailer.messages().last().unwrap().template, "change_notice");
    }
}
