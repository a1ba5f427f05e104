// Checks: a field that is not a Flask-Security user attribute and not skipped.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    last_login_ips: Vec<String>,
}

fn main() {}
