// Checks: an empty realm.
use security_runtime::http_auth_required;

#[http_auth_required("")]
#[rocket::get("/")]
fn index() {}

fn main() {}
