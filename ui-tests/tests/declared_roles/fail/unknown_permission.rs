// Checks: a permission no declared role grants is reported with a suggestion.
use security_runtime::{auth_required, permissions_required};

#[auth_required]
#[permissions_required("post-read", "post-delete")]
#[rocket::get("/")]
fn index() {}

fn main() {}
