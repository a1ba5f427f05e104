// `#[login_required]` accepts token or session and marks the requirement `login_required`.
#![deny(warnings)]

use security_runtime::guards::requirement::{AuthRequirement, Mechanism, Requirement};
use security_runtime::login_required;
use ui_tests::requirement_of;

#[login_required]
#[rocket::get("/post")]
fn post() -> &'static str {
    "post"
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![post]);
    assert_eq!(
        *requirement_of(module_path!(), "post"),
        Requirement {
            auth: Some(AuthRequirement {
                mechanisms: &[Mechanism::Token, Mechanism::Session],
                login_required: true,
                ..AuthRequirement::DEFAULT
            }),
            ..Requirement::NONE
        }
    );
}
