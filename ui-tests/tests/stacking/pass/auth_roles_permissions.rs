// Authentication, roles and permissions stacked on one handler combine into one requirement.
#![deny(warnings)]

use security_runtime::guards::requirement::{AuthRequirement, Mechanism, Requirement};
use security_runtime::{
    auth_required, permissions_accepted, permissions_required, roles_accepted, roles_required,
    unauth_csrf,
};
use ui_tests::requirement_of;

#[auth_required(token, session, within = 10)]
#[roles_required("admin")]
#[roles_accepted("editor", "author")]
#[permissions_required("user-read")]
#[permissions_accepted("user-write", "user-delete")]
#[unauth_csrf]
#[rocket::get("/admin")]
async fn admin() -> &'static str {
    "admin"
}

// The same attributes in another order give the same requirement.
#[permissions_accepted("user-write", "user-delete")]
#[unauth_csrf]
#[permissions_required("user-read")]
#[roles_accepted("editor", "author")]
#[roles_required("admin")]
#[auth_required(session, token, within = 10)]
#[rocket::get("/admin2")]
async fn admin_reordered() -> &'static str {
    "admin"
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![admin, admin_reordered]);
    let expected = Requirement {
        auth: Some(AuthRequirement {
            mechanisms: &[Mechanism::Token, Mechanism::Session],
            within: Some(10),
            ..AuthRequirement::DEFAULT
        }),
        roles_required: &["admin"],
        roles_accepted: &["editor", "author"],
        permissions_required: &["user-read"],
        permissions_accepted: &["user-write", "user-delete"],
        unauth_csrf: Some(security_runtime::guards::requirement::UnauthCsrf {
            fall_through: false,
        }),
        ..Requirement::NONE
    };
    assert_eq!(*requirement_of(module_path!(), "admin"), expected);
    assert_eq!(*requirement_of(module_path!(), "admin_reordered"), expected);
}
