// `#[auth_token_required]` accepts the token mechanism only.
#![deny(warnings)]

use security_runtime::auth_token_required;
use security_runtime::guards::requirement::Mechanism;
use ui_tests::requirement_of;

#[auth_token_required]
#[rocket::get("/api/items")]
async fn items() -> &'static str {
    "[]"
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![items]);
    let auth = requirement_of(module_path!(), "items").auth.unwrap();
    assert_eq!(auth.mechanisms, [Mechanism::Token]);
    assert!(!auth.login_required);
}
