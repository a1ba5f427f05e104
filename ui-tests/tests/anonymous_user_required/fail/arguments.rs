// Checks: `anonymous_user_required` takes no arguments.
use security_runtime::anonymous_user_required;

#[anonymous_user_required(redirect = "/")]
#[rocket::get("/")]
fn index() {}

fn main() {}
