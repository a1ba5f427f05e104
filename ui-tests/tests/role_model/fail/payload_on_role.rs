// Checks: `payload` only exists for user models.
use security_runtime::RoleModel;

#[derive(RoleModel)]
struct AppRole {
    #[security(payload)]
    name: String,
}

fn main() {}
