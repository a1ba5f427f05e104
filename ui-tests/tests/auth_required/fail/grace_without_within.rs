// Checks: `grace` without `within` has nothing to extend.
use security_runtime::auth_required;

#[auth_required(token, grace = 5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
