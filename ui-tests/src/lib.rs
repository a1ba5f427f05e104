//! Compile-fail and compile-pass tests of the security macros; the cases live in `tests/`.
//!
//! The library holds a few protected handlers and models so that `cargo clippy
//! --all-targets` lints code the macros generate, and helpers the pass cases share.

use security_runtime::guards::requirement::Requirement;
use security_runtime::report::route_records;
use security_runtime::{
    anonymous_user_required, auth_required, permissions_accepted, roles_required, unauth_csrf,
    RoleModel, UserModel,
};

/// The requirement the macros generated for `handler` in module `module_path`.
///
/// # Panics
/// When no macro-protected handler of that name is linked in; the pass cases use this to
/// fail loudly.
pub fn requirement_of(module_path: &str, handler: &str) -> &'static Requirement {
    match route_records()
        .find(|record| record.module_path == module_path && record.handler == handler)
    {
        Some(record) => record.requirement,
        None => panic!("no route record for {module_path}::{handler}"),
    }
}

/// A handler demanding fresh authentication, a role and one of two permissions.
#[auth_required(token, session, within = 10)]
#[roles_required("admin")]
#[permissions_accepted("user-read", "user-write")]
#[rocket::get("/admin/users/<id>")]
pub async fn admin_user(id: i32) -> String {
    format!("user {id}")
}

/// A sign-up handler for anonymous callers, with CSRF checked.
#[anonymous_user_required]
#[unauth_csrf(fall_through)]
#[rocket::post("/signup", data = "<form>")]
pub fn signup(form: String) -> String {
    form
}

/// The routes above.
pub fn routes() -> Vec<rocket::Route> {
    rocket::routes![admin_user, signup]
}

/// An application user.
#[derive(Debug, UserModel)]
pub struct AppUser {
    /// Primary key.
    #[security(payload)]
    pub id: i32,
    /// Email.
    #[security(payload = "mail")]
    pub email: String,
    /// Password hash.
    pub password: Option<String>,
    /// Active flag.
    pub active: bool,
    /// Session identity.
    pub fs_uniquifier: String,
    /// Username, under another name.
    #[security(rename = "username")]
    pub nickname: Option<String>,
    /// Roles.
    pub roles: Vec<AppRole>,
    /// Application data the runtime does not know.
    #[security(skip)]
    pub preferences: Vec<String>,
}

/// An application role.
#[derive(Debug, RoleModel)]
pub struct AppRole {
    /// Name.
    pub name: String,
    /// Permissions.
    pub permissions: Vec<String>,
}
