// Checks: two `roles_required` on one handler; one attribute lists all roles.
use security_runtime::roles_required;

#[roles_required("admin")]
#[roles_required("editor")]
#[rocket::get("/")]
fn index() {}

fn main() {}
