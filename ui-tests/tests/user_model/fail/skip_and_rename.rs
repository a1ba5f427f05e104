// Checks: `skip` and `rename` contradict each other.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    #[security(skip, rename = "username")]
    nickname: Option<String>,
}

fn main() {}
