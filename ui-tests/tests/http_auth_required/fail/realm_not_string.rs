// Checks: the realm must be a string literal.
use security_runtime::http_auth_required;

#[http_auth_required(realm = 42)]
#[rocket::get("/")]
fn index() {}

fn main() {}
