// Checks: a security attribute written below the route attribute.
use security_runtime::auth_required;

#[rocket::get("/")]
#[auth_required]
fn index() {}

fn main() {
    let _ = rocket::routes![index];
}
