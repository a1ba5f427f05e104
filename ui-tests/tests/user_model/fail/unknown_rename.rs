// Checks: `rename` to something that is not a user attribute.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    #[security(rename = "emial")]
    address: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
}

fn main() {}
