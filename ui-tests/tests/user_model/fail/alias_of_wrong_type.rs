// Checks: an alias the macro cannot see through is type-checked by rustc at the field.
use security_runtime::UserModel;

type Counter = i64;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    login_count: Counter,
}

fn main() {}
