// Checks: `within` takes a literal or a constant's path, not an expression.
use security_runtime::auth_required;

#[auth_required(within = 60 * 24)]
#[rocket::get("/")]
fn index() {}

fn main() {}
