// Checks: `within` given twice.
use security_runtime::auth_required;

#[auth_required(within = 5, within = 10)]
#[rocket::get("/")]
fn index() {}

fn main() {}
