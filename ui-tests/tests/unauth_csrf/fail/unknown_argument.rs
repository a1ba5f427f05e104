// Checks: a misspelt `fall_through`.
use security_runtime::unauth_csrf;

#[unauth_csrf(fallthrough)]
#[rocket::post("/")]
fn index() {}

fn main() {}
