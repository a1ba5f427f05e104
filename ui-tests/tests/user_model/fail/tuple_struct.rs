// Checks: `UserModel` needs named fields.
use security_runtime::UserModel;

#[derive(UserModel)]
struct AppUser(String, Option<String>, bool, String);

fn main() {}
