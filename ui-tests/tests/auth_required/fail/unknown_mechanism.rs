// Checks: an unknown mechanism is reported with a suggestion.
use security_runtime::auth_required;

#[auth_required(tokn, session)]
#[rocket::get("/")]
fn index() {}

fn main() {}
