// Checks: `grace` is meaningless when `within = -1` disables the freshness check.
use security_runtime::auth_required;

#[auth_required(within = -1, grace = 5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
