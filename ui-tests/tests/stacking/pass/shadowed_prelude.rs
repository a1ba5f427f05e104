// Generated code names everything by absolute path: shadowing prelude names breaks nothing.
#![deny(warnings)]
#![allow(dead_code, non_camel_case_types)]

type Result = ();
type Option = ();
struct Vec;
struct String;
struct Box;
trait Clone {}
trait Default {}
trait Iterator {}
trait Into {}
// `mod std {}` is left out: Rocket's own macros name `std::` relatively.
mod core {}
mod security_runtime {}
mod inventory {}
mod serde_json {}

const FRESH: i64 = 5;

#[::security_runtime::auth_required(token, within = FRESH, grace = 1)]
#[::security_runtime::roles_required("admin")]
#[::security_runtime::roles_accepted("a", "b")]
#[::security_runtime::permissions_required("p")]
#[::security_runtime::permissions_accepted("q")]
#[::security_runtime::unauth_csrf(fall_through)]
#[::rocket::get("/a")]
fn all_of_them() {}

#[::security_runtime::login_required]
#[::rocket::get("/b")]
fn login() {}

#[::security_runtime::auth_token_required]
#[::rocket::get("/c")]
fn token() {}

#[::security_runtime::http_auth_required(realm = "r")]
#[::rocket::get("/d")]
fn basic() {}

#[::security_runtime::anonymous_user_required]
#[::rocket::get("/e")]
fn anonymous() {}

#[derive(::security_runtime::UserModel)]
struct AppUser {
    #[security(payload)]
    email: ::std::string::String,
    password: ::core::option::Option<::std::string::String>,
    active: bool,
    fs_uniquifier: ::std::string::String,
    roles: ::std::vec::Vec<AppRole>,
    #[security(rename = "username", payload = "name")]
    nickname: ::core::option::Option<::std::string::String>,
    #[security(skip)]
    extra: u8,
}

#[derive(::security_runtime::RoleModel)]
struct AppRole {
    name: ::std::string::String,
    permissions: ::std::vec::Vec<::std::string::String>,
}

fn main() {
    let _ = ::rocket::build().mount(
        "/",
        ::rocket::routes![all_of_them, login, token, basic, anonymous],
    );
}
