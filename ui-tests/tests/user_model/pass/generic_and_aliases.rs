// Generic models derive too, and an alias of the right type is left for rustc to accept.
#![deny(warnings)]

use security_runtime::{RoleModel, UserModel};

type Email = String;

#[derive(UserModel)]
struct AppUser<R: RoleModel> {
    email: Email,
    password: Option<String>,
    active: bool,
    fs_uniquifier: std::string::String,
    roles: Vec<R>,
}

#[derive(RoleModel)]
struct AppRole {
    name: String,
    id: i32,
    description: Option<String>,
    permissions: Vec<String>,
    update_datetime: chrono::NaiveDateTime,
}

fn main() {
    fn is_user_model<U: UserModel>() {}
    is_user_model::<AppUser<AppRole>>();
    is_user_model::<AppUser<security_runtime::Role>>();
}
