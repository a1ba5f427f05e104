// `within` and `grace` take minutes as literals or `i64` constants; negative `within` is no check.
#![deny(warnings)]

use security_runtime::auth_required;
use ui_tests::requirement_of;

mod config {
    pub const FRESH: i64 = 15;
    pub const NO_CHECK: i64 = -1;
}
const GRACE: i64 = 3;

#[auth_required(within = 10)]
#[rocket::get("/a")]
fn within_only() {}

#[auth_required(token, within = 0, grace = 5)]
#[rocket::get("/b")]
fn always_reauthenticate() {}

#[auth_required(within = -1)]
#[rocket::get("/c")]
fn no_check() {}

#[auth_required(session, within = config::FRESH, grace = GRACE)]
#[rocket::get("/d")]
fn constants() {}

#[auth_required(within = config::NO_CHECK)]
#[rocket::get("/e")]
fn negative_constant() {}

#[auth_required(grace = 2i64, within = 30i64)]
#[rocket::get("/f")]
fn suffixed_any_order() {}

fn main() {
    let _ = rocket::build().mount(
        "/",
        rocket::routes![
            within_only,
            always_reauthenticate,
            no_check,
            constants,
            negative_constant,
            suffixed_any_order
        ],
    );
    let freshness = |handler| {
        let auth = requirement_of(module_path!(), handler).auth.unwrap();
        (auth.within, auth.grace)
    };
    assert_eq!(freshness("within_only"), (Some(10), None));
    assert_eq!(freshness("always_reauthenticate"), (Some(0), Some(5)));
    assert_eq!(freshness("no_check"), (None, None));
    assert_eq!(freshness("constants"), (Some(15), Some(3)));
    assert_eq!(freshness("negative_constant"), (None, None));
    assert_eq!(freshness("suffixed_any_order"), (Some(30), Some(2)));
}
