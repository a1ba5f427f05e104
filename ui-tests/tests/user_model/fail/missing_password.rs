// Checks: a required user attribute (`password`) has no field.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser {
    email: String,
    active: bool,
    fs_uniquifier: String,
}

fn main() {}
