// Checks: `permissions_accepted` needs at least one permission.
use security_runtime::{auth_required, permissions_accepted};

#[auth_required]
#[permissions_accepted()]
#[rocket::get("/")]
fn index() {}

fn main() {}
