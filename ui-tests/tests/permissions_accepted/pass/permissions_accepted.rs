// `#[permissions_accepted]` lists permissions of which one must be held.
#![deny(warnings)]

use security_runtime::{auth_required, permissions_accepted};
use ui_tests::requirement_of;

#[auth_required]
#[permissions_accepted("editor-write", "author-write")]
#[rocket::post("/drafts")]
fn create_draft() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![create_draft]);
    assert_eq!(
        requirement_of(module_path!(), "create_draft").permissions_accepted,
        ["editor-write", "author-write"]
    );
}
