// Checks: `permissions` must be a `Vec<String>`.
use security_runtime::RoleModel;

#[derive(RoleModel)]
struct AppRole {
    name: String,
    permissions: String,
}

fn main() {}
