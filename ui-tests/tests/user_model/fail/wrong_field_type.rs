// Checks: a known attribute with the wrong type.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: String,
    fs_uniquifier: String,
}

fn main() {}
