// Checks: a security attribute on a function that is not a Rocket route.
use security_runtime::auth_required;

#[auth_required]
fn helper() {}

fn main() {}
