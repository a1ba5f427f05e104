// Checks: a stacked attribute written below the route attribute.
use security_runtime::{auth_required, permissions_accepted};

#[auth_required]
#[rocket::get("/")]
#[permissions_accepted("post-read")]
fn index() {}

fn main() {}
