// Checks: an anonymous-only handler cannot also require authentication.
use security_runtime::{anonymous_user_required, auth_required};

#[anonymous_user_required]
#[auth_required]
#[rocket::get("/")]
fn index() {}

fn main() {}
