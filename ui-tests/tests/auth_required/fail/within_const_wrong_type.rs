// Checks: a `within` constant must be an `i64`; rustc points at the path.
use security_runtime::auth_required;

const FRESH: i32 = 10;

#[auth_required(within = FRESH)]
#[rocket::get("/")]
fn index() {}

fn main() {}
