// Checks: `roles_accepted` without a list of roles.
use security_runtime::roles_accepted;

#[roles_accepted]
#[rocket::get("/")]
fn index() {}

fn main() {}
