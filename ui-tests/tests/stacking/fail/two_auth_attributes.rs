// Checks: two authentication attributes on one handler.
use security_runtime::{auth_required, login_required};

#[auth_required(token)]
#[login_required]
#[rocket::get("/")]
fn index() {}

fn main() {}
