// Checks: permissions are string literals.
use security_runtime::permissions_required;

#[permissions_required(42)]
#[rocket::get("/")]
fn index() {}

fn main() {}
