// `rename` maps a field, `skip` fills it with `Default`, `payload` shapes the JSON `user` object.
#![deny(warnings)]

use chrono::NaiveDateTime;
use security_runtime::{RoleModel, User, UserModel};

#[derive(Debug, Default, PartialEq, serde::Serialize)]
struct Settings {
    theme: String,
}

#[derive(UserModel)]
struct AppUser {
    #[security(payload)]
    id: i32,
    #[security(rename = "email", payload = "email")]
    address: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    #[security(rename = "username")]
    #[security(payload = "name")]
    r#nick: Option<String>,
    #[security(payload)]
    roles: Vec<String>,
    #[security(skip)]
    settings: Settings,
    #[security(skip, payload)]
    visits: u32,
    #[security(rename = "confirmed_at")]
    confirmed: Option<NaiveDateTime>,
}

#[derive(RoleModel)]
struct Unused {
    name: String,
}

fn main() {
    let now = NaiveDateTime::default();
    let user = User {
        id: 7,
        email: "a@example.com".into(),
        username: None,
        password: None,
        active: false,
        fs_uniquifier: "u".into(),
        fs_token_uniquifier: None,
        confirmed_at: None,
        last_login_at: None,
        current_login_at: None,
        last_login_ip: None,
        current_login_ip: None,
        login_count: None,
        tf_primary_method: None,
        tf_totp_secret: None,
        tf_phone_number: None,
        us_phone_number: None,
        us_totp_secrets: None,
        mf_recovery_codes: None,
        create_datetime: now,
        update_datetime: now,
        roles: vec![security_runtime::Role {
            id: 1,
            name: "admin".into(),
            description: None,
            permissions: vec![],
            update_datetime: now,
        }],
    };
    let app = AppUser::from_user(&user);
    assert_eq!(app.address, "a@example.com");
    assert_eq!(app.settings, Settings::default());
    assert_eq!(app.roles, ["admin"]);
    assert_eq!(
        serde_json::Value::Object(app.security_payload()),
        serde_json::json!({
            "id": 7,
            "email": "a@example.com",
            "name": null,
            "roles": ["admin"],
            "visits": 0,
        })
    );
    let _ = (
        app.password,
        app.active,
        app.fs_uniquifier,
        app.r#nick,
        app.confirmed,
    );
    let _ = Unused::from_role;
}
