// Checks: `UserModel` cannot be derived for an enum.
use security_runtime::UserModel;

#[derive(UserModel)]
enum AppUser {
    Admin,
}

fn main() {}
