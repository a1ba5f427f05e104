// Checks: `auth_required` twice; mechanisms go in one attribute.
use security_runtime::auth_required;

#[auth_required(token)]
#[auth_required(session)]
#[rocket::get("/")]
fn index() {}

fn main() {}
