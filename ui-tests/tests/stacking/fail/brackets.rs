// Checks: a stacked attribute written with brackets instead of parentheses.
use security_runtime::{auth_required, roles_required};

#[auth_required]
#[roles_required["admin"]]
#[rocket::get("/")]
fn index() {}

fn main() {}
