// Checks: `grace` cannot be negative.
use security_runtime::auth_required;

#[auth_required(within = 10, grace = -5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
