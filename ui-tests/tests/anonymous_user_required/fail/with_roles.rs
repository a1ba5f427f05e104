// Checks: an anonymous-only handler cannot require roles.
use security_runtime::{anonymous_user_required, roles_accepted};

#[roles_accepted("admin")]
#[anonymous_user_required]
#[rocket::get("/")]
fn index() {}

fn main() {}
