// Checks: two payload entries under one key.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    #[security(payload = "name")]
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    #[security(rename = "username", payload = "name")]
    nickname: Option<String>,
}

fn main() {}
