// `#[roles_accepted]` lists roles of which one must be held.
#![deny(warnings)]

use security_runtime::{auth_required, roles_accepted};
use ui_tests::requirement_of;

#[auth_required]
#[roles_accepted("editor", "author")]
#[rocket::post("/posts")]
fn create_post() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![create_post]);
    let requirement = requirement_of(module_path!(), "create_post");
    assert_eq!(requirement.roles_accepted, ["editor", "author"]);
    assert!(requirement.roles_required.is_empty());
}
