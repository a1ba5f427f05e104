//! The sign-in pipeline's refusals seen from the flows that sign in again: a password
//! change whose re-sign-in is refused still stores the password and signs the browser
//! out; a confirmation link does not sign in a deactivated user.
#![allow(clippy::unwrap_used)]

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_runtime::UserQuery;
use security_tests::flows::captured;
use security_tests::{backends, field_errors, TestApp};

const EMAIL: &str = "p@example.com";

async fn stored(app: &TestApp) -> security_runtime::User {
    app.datastore()
        .find_user(&UserQuery::Email(EMAIL.into()), false)
        .await
        .unwrap()
        .unwrap()
}

#[rocket::async_test]
async fn a_refused_re_sign_in_after_change_stores_the_password_and_signs_out() {
    for b in backends() {
        let (app, _) = captured(b, |f| f.merge(("security.confirmable", true))).await;
        let mut u = app.user(EMAIL, "old password 1", &[]).await;
        u.confirmed_at = Some(security_runtime::chrono::Utc::now().naive_utc());
        app.datastore().put_user(&mut u).await.unwrap();
        assert_eq!(app.login(EMAIL, "old password 1").await.0, Status::Ok);
        // The confirmation is withdrawn while the session lives on.
        let mut u = stored(&app).await;
        u.confirmed_at = None;
        app.datastore().put_user(&mut u).await.unwrap();

        let r = app
            .post_json(
                "/change?include_auth_token",
                json!({"password": "old password 1", "new_password": "new password 2",
                       "new_password_confirm": "new password 2"}),
            )
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // No auth token for a user the pipeline refused.
        let v: Value = r.into_json().await.unwrap();
        assert!(v["response"]["user"].is_object(), "{v}");
        assert!(
            v["response"]["user"].get("authentication_token").is_none(),
            "{v}"
        );
        // Signed out: the pipeline refused the unconfirmed account.
        assert_eq!(
            app.get_json("/session").await.status(),
            Status::Unauthorized
        );
        // The new password was stored: a login with it is refused for the confirmation,
        // not for the password.
        let (s, v) = app.login(EMAIL, "new password 2").await;
        assert_eq!(s, Status::BadRequest);
        assert_eq!(
            field_errors(&v, "email"),
            vec!["Email requires confirmation."]
        );
        let (_, v): (Status, Value) = app.login(EMAIL, "old password 1").await;
        assert_eq!(field_errors(&v, "password"), vec!["Invalid password"]);
    }
}

#[rocket::async_test]
async fn a_confirmation_link_does_not_sign_in_a_deactivated_user() {
    for b in backends() {
        let (app, mailer) = captured(b, |f| f.merge(("security.confirmable", true))).await;
        let r = app
            .post_json(
                "/register",
                json!({"email": EMAIL, "password": "pass word 12", "password_confirm": "pass word 12"}),
            )
            .await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        let link =
            security_tests::find_link(&mailer.messages().last().unwrap().text.clone().unwrap());
        let mut u = stored(&app).await;
        u.active = false;
        app.datastore().put_user(&mut u).await.unwrap();

        let r = app.get_json(&security_tests::path_of(&link)).await;
        assert_eq!(r.status(), Status::Ok, "{b:?}");
        // Confirmed, but the pipeline refuses the disabled account a session.
        assert!(stored(&app).await.confirmed_at.is_some());
        assert_eq!(
            app.get_json("/session").await.status(),
            Status::Unauthorized
        );
    }
}

/// An application's own sign-in route (an SSO callback, say) through the public API.
#[rocket::post("/app-login/<email>")]
async fn app_login(
    email: &str,
    session: security_runtime::Session<'_>,
    state: &rocket::State<security_runtime::SecurityState>,
) -> Status {
    let query = UserQuery::Email(email.to_owned());
    let Ok(Some(mut user)) = state.datastore.find_user(&query, false).await else {
        return Status::NotFound;
    };
    match security_runtime::login_user(state, &session, &mut user, false, &["sso"], None, false)
        .await
    {
        Ok(()) => Status::Ok,
        Err(_) => Status::Forbidden,
    }
}

#[rocket::async_test]
async fn the_public_login_user_refuses_a_deactivated_user() {
    let b = backends()[0];
    let url = security_tests::fresh_database(b).await;
    let rocket = security_tests::app(
        b,
        security_tests::test_figment(&url),
        security_runtime::Security::new(),
    )
    .mount("/", rocket::routes![app_login]);
    let app = TestApp {
        client: rocket::local::asynchronous::Client::tracked(rocket)
            .await
            .unwrap(),
        backend: b,
    };
    app.user(EMAIL, "pass word 12", &[]).await;
    let uri = format!("/app-login/{EMAIL}");
    assert_eq!(
        app.client.post(uri.clone()).dispatch().await.status(),
        Status::Ok
    );
    assert_eq!(app.get_json("/session").await.status(), Status::Ok);
    app.logout().await;
    let mut u = stored(&app).await;
    u.active = false;
    app.datastore().put_user(&mut u).await.unwrap();
    let r = app.client.post(uri).dispatch().await;
    assert_eq!(r.status(), Status::Forbidden);
    assert_eq!(
        app.get_json("/session").await.status(),
        Status::Unauthorized
    );
}
