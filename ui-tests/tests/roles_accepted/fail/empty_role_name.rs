// Checks: an empty role name.
use security_runtime::roles_accepted;

#[roles_accepted("editor", "")]
#[rocket::get("/")]
fn index() {}

fn main() {}
