// Checks: `within` must be a whole number of minutes.
use security_runtime::auth_required;

#[auth_required(within = 1.5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
