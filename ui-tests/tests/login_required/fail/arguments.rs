// Checks: `login_required` takes no arguments.
use security_runtime::login_required;

#[login_required(within = 5)]
#[rocket::get("/")]
fn index() {}

fn main() {}
