// Checks: a role listed twice.
use security_runtime::roles_required;

#[roles_required("admin", "editor", "admin")]
#[rocket::get("/")]
fn index() {}

fn main() {}
