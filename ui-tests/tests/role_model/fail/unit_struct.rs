// Checks: `RoleModel` needs named fields.
use security_runtime::RoleModel;

#[derive(RoleModel)]
struct AppRole;

fn main() {}
