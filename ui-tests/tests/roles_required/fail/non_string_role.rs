// Checks: roles are string literals, not identifiers.
use security_runtime::roles_required;

#[roles_required("admin", editor)]
#[rocket::get("/")]
fn index() {}

fn main() {}
