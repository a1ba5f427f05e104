// `#[unauth_csrf]`, `(fall_through)` and `(fall_through = bool)`.
#![deny(warnings)]

use security_runtime::unauth_csrf;
use ui_tests::requirement_of;

#[unauth_csrf]
#[rocket::post("/a")]
fn plain() {}

#[unauth_csrf(fall_through)]
#[rocket::post("/b")]
fn fall_through() {}

#[unauth_csrf(fall_through = false)]
#[rocket::post("/c")]
fn explicit_false() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![plain, fall_through, explicit_false]);
    let csrf = |handler| {
        requirement_of(module_path!(), handler)
            .unauth_csrf
            .unwrap()
            .fall_through
    };
    assert!(!csrf("plain"));
    assert!(csrf("fall_through"));
    assert!(!csrf("explicit_false"));
}
