// `#[auth_required]` and `#[auth_required()]` accept token or session, without freshness.
#![deny(warnings)]

use security_runtime::auth_required;
use security_runtime::guards::requirement::{AuthRequirement, Mechanism, Requirement};
use ui_tests::requirement_of;

#[auth_required]
#[rocket::get("/a")]
fn bare() {}

#[auth_required()]
#[rocket::get("/b")]
async fn empty_parens() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![bare, empty_parens]);
    let expected = Requirement {
        auth: Some(AuthRequirement {
            mechanisms: &[Mechanism::Token, Mechanism::Session],
            ..AuthRequirement::DEFAULT
        }),
        ..Requirement::NONE
    };
    assert_eq!(*requirement_of(module_path!(), "bare"), expected);
    assert_eq!(*requirement_of(module_path!(), "empty_parens"), expected);
}
