// `#[http_auth_required]` takes no realm, a realm, or `realm = "..."`; Basic only.
#![deny(warnings)]

use security_runtime::guards::requirement::Mechanism;
use security_runtime::http_auth_required;
use ui_tests::requirement_of;

#[http_auth_required]
#[rocket::get("/a")]
fn default_realm() {}

#[http_auth_required("Reports")]
#[rocket::get("/b")]
fn positional() {}

#[http_auth_required(realm = "Admin area")]
#[rocket::get("/c")]
fn named() {}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![default_realm, positional, named]);
    let realm = |handler| {
        let auth = requirement_of(module_path!(), handler).auth.unwrap();
        assert_eq!(auth.mechanisms, [Mechanism::Basic]);
        auth.realm
    };
    assert_eq!(realm("default_realm"), None);
    assert_eq!(realm("positional"), Some("Reports"));
    assert_eq!(realm("named"), Some("Admin area"));
}
