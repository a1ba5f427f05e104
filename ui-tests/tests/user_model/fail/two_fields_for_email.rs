// Checks: two fields mapped to the same user attribute.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    #[security(rename = "email")]
    contact: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
}

fn main() {}
