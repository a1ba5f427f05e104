// `#[roles_required]` lists roles that must all be held, in written order.
#![deny(warnings)]

use security_runtime::{auth_required, roles_required};
use ui_tests::requirement_of;

#[auth_required]
#[roles_required("admin", "editor")]
#[rocket::get("/dashboard")]
fn dashboard() {}

#[roles_required("admin")]
#[rocket::get("/alone")]
fn alone() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![dashboard, alone]);
    assert_eq!(
        requirement_of(module_path!(), "dashboard").roles_required,
        ["admin", "editor"]
    );
    let alone = requirement_of(module_path!(), "alone");
    assert_eq!(alone.roles_required, ["admin"]);
    assert!(alone.auth.is_none());
}
