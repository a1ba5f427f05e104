// Checks: `auth_token_required` takes no arguments.
use security_runtime::auth_token_required;

#[auth_token_required(session)]
#[rocket::get("/")]
fn index() {}

fn main() {}
