// Checks: a role model without `name`.
use security_runtime::RoleModel;

#[derive(RoleModel)]
struct AppRole {
    id: i32,
    permissions: Vec<String>,
}

fn main() {}
