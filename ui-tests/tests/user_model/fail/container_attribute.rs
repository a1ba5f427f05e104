// Checks: `#[security]` belongs on fields, not on the struct.
use security_runtime::UserModel;

#[derive(UserModel)]
#[security(skip)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
}

fn main() {}
