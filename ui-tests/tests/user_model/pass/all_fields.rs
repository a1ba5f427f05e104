// Every known user attribute, each with the runtime `User`'s type, is filled from the user.
#![deny(warnings)]

use chrono::NaiveDateTime;
use security_runtime::{Role, User, UserModel};

#[derive(UserModel)]
struct AppUser {
    id: i32,
    email: String,
    username: Option<String>,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    fs_token_uniquifier: Option<String>,
    confirmed_at: Option<NaiveDateTime>,
    last_login_at: Option<NaiveDateTime>,
    current_login_at: Option<NaiveDateTime>,
    last_login_ip: Option<String>,
    current_login_ip: Option<String>,
    login_count: Option<i32>,
    tf_primary_method: Option<String>,
    tf_totp_secret: Option<String>,
    tf_phone_number: Option<String>,
    us_phone_number: Option<String>,
    us_totp_secrets: Option<String>,
    create_datetime: NaiveDateTime,
    update_datetime: NaiveDateTime,
    roles: Vec<Role>,
}

fn main() {
    let now = NaiveDateTime::default();
    let role = Role {
        id: 1,
        name: "admin".into(),
        description: None,
        permissions: vec!["user-read".into()],
        update_datetime: now,
    };
    let user = User {
        id: 7,
        email: "a@example.com".into(),
        username: Some("a".into()),
        password: Some("$argon2id$...".into()),
        active: true,
        fs_uniquifier: "u".into(),
        fs_token_uniquifier: None,
        confirmed_at: Some(now),
        last_login_at: None,
        current_login_at: None,
        last_login_ip: None,
        current_login_ip: Some("127.0.0.1".into()),
        login_count: Some(3),
        tf_primary_method: None,
        tf_totp_secret: None,
        tf_phone_number: None,
        us_phone_number: None,
        us_totp_secrets: None,
        mf_recovery_codes: None,
        create_datetime: now,
        update_datetime: now,
        roles: vec![role.clone()],
    };
    let app = AppUser::from_user(&user);
    assert_eq!(app.id, 7);
    assert_eq!(app.email, "a@example.com");
    assert_eq!(app.username.as_deref(), Some("a"));
    assert!(app.active);
    assert_eq!(app.login_count, Some(3));
    assert_eq!(app.current_login_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!(app.roles, [role]);
    assert!(app.security_payload().is_empty());
    let _ = (
        app.password,
        app.fs_uniquifier,
        app.fs_token_uniquifier,
        app.confirmed_at,
        app.last_login_at,
        app.current_login_at,
        app.last_login_ip,
        app.tf_primary_method,
        app.tf_totp_secret,
        app.tf_phone_number,
        app.us_phone_number,
        app.us_totp_secrets,
        app.create_datetime,
        app.update_datetime,
    );
}
