// Checks: a payload field must be `Serialize`; rustc points at its type.
use security_runtime::UserModel;

#[derive(Default)]
struct Secret;

#[derive(UserModel)]
struct AppUser {
    email: String,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    #[security(skip, payload)]
    secret: Secret,
}

fn main() {}
