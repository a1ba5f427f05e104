// Checks: a security attribute on something that is not a handler.
use security_runtime::auth_required;

#[auth_required]
struct Index;

fn main() {}
