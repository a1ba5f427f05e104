// Checks: a misspelt keyword argument is reported with a suggestion.
use security_runtime::auth_required;

#[auth_required(session, whithin = 5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
