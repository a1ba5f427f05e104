// Checks: a role missing from `security-roles.toml` is reported with a suggestion.
use security_runtime::{auth_required, roles_required};

#[auth_required]
#[roles_required("admin", "editr")]
#[rocket::get("/")]
fn index() {}

fn main() {}
