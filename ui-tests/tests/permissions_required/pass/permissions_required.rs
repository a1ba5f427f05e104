// `#[permissions_required]` lists permissions that must all be held.
#![deny(warnings)]

use security_runtime::{auth_required, permissions_required};
use ui_tests::requirement_of;

#[auth_required]
#[permissions_required("admin-write", "editor-write")]
#[rocket::put("/settings")]
fn settings() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![settings]);
    assert_eq!(
        requirement_of(module_path!(), "settings").permissions_required,
        ["admin-write", "editor-write"]
    );
}
