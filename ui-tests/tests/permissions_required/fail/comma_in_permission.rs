// Checks: a permission name containing `,` can never match.
use security_runtime::permissions_required;

#[permissions_required("post-read,post-write")]
#[rocket::get("/")]
fn index() {}

fn main() {}
