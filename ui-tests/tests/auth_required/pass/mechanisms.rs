// Mechanisms as identifiers or strings, in any order, are tried as token, session, basic.
#![deny(warnings)]

use security_runtime::auth_required;
use security_runtime::guards::requirement::Mechanism;
use ui_tests::requirement_of;

#[auth_required(basic, session, token)]
#[rocket::get("/all")]
fn all() {}

#[auth_required("basic", "token")]
#[rocket::get("/strings")]
fn strings() {}

#[auth_required(session)]
#[rocket::get("/session")]
fn session_only() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![all, strings, session_only]);
    let mechanisms = |handler| {
        requirement_of(module_path!(), handler)
            .auth
            .map(|auth| auth.mechanisms)
            .unwrap_or_default()
    };
    assert_eq!(
        mechanisms("all"),
        [Mechanism::Token, Mechanism::Session, Mechanism::Basic]
    );
    assert_eq!(mechanisms("strings"), [Mechanism::Token, Mechanism::Basic]);
    assert_eq!(mechanisms("session_only"), [Mechanism::Session]);
}
