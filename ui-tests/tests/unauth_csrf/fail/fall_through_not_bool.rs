// Checks: `fall_through = ...` takes `true` or `false`.
use security_runtime::unauth_csrf;

#[unauth_csrf(fall_through = "yes")]
#[rocket::post("/")]
fn index() {}

fn main() {}
