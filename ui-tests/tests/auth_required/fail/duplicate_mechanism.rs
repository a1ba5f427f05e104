// Checks: a mechanism listed twice.
use security_runtime::auth_required;

#[auth_required(token, "session", "token")]
#[rocket::get("/")]
fn index() {}

fn main() {}
