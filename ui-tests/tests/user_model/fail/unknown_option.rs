// Checks: an unknown `#[security]` option.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    #[security(skp)]
    cache: Vec<u8>,
}

fn main() {}
