// `#[anonymous_user_required]` alone or with `#[unauth_csrf]`, as Flask-Security's reset views.
#![deny(warnings)]

use security_runtime::guards::requirement::{Requirement, UnauthCsrf};
use security_runtime::{anonymous_user_required, unauth_csrf};
use ui_tests::requirement_of;

#[anonymous_user_required]
#[rocket::get("/forgot")]
fn forgot() {}

#[anonymous_user_required]
#[unauth_csrf]
#[rocket::post("/reset/<token>")]
fn reset(token: &str) -> String {
    token.to_owned()
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![forgot, reset]);
    assert_eq!(
        *requirement_of(module_path!(), "forgot"),
        Requirement {
            anonymous_only: true,
            ..Requirement::NONE
        }
    );
    assert_eq!(
        *requirement_of(module_path!(), "reset"),
        Requirement {
            anonymous_only: true,
            unauth_csrf: Some(UnauthCsrf {
                fall_through: false
            }),
            ..Requirement::NONE
        }
    );
}
