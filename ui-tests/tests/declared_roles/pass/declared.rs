// Declared roles and permissions pass the check and reach the report.
#![deny(warnings)]

use security_runtime::report::declared_roles;
use security_runtime::{auth_required, permissions_accepted, roles_accepted, roles_required};

#[auth_required]
#[roles_required("admin")]
#[roles_accepted("editor", "reader")]
#[permissions_accepted("post-read", "user-write")]
#[rocket::get("/")]
fn index() {}

#[auth_required]
#[rocket::get("/other")]
fn other() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![index, other]);
    let crate_name = module_path!();
    let ours: Vec<_> = declared_roles()
        .filter(|declared| declared.crate_name() == crate_name)
        .collect();
    assert_eq!(ours.len(), 1, "one declaration per crate");
    let declared = ours[0];
    assert!(declared.source.ends_with("security-roles.toml"));
    let names: Vec<_> = declared.roles.iter().map(|role| role.name).collect();
    assert_eq!(names, ["admin", "editor", "reader"]);
    let admin = declared.role("admin").unwrap();
    assert_eq!(admin.description, Some("Full access"));
    assert_eq!(admin.permissions, ["user-read", "user-write"]);
    assert_eq!(
        declared.permissions(),
        ["post-read", "post-write", "user-read", "user-write"]
    );
}
