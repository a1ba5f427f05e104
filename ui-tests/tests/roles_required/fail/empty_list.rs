// Checks: `roles_required` needs at least one role.
use security_runtime::roles_required;

#[roles_required()]
#[rocket::get("/")]
fn index() {}

fn main() {}
