// Every protected handler is in the route security report, with a readable summary.
#![deny(warnings)]

use security_runtime::report::{format_report, route_records};
use security_runtime::{anonymous_user_required, auth_required, roles_required};

#[auth_required(token, within = 10)]
#[roles_required("admin")]
#[rocket::get("/admin")]
fn admin() {}

#[anonymous_user_required]
#[rocket::get("/signup")]
fn signup() {}

fn main() {
    let ours: Vec<_> = route_records()
        .filter(|record| record.module_path == module_path!())
        .collect();
    let handlers: Vec<_> = ours.iter().map(|record| record.handler).collect();
    assert_eq!(handlers, ["admin", "signup"]);
    let report = format_report(ours);
    assert!(
        report.starts_with("route security report: 2 handlers"),
        "{report}"
    );
    assert!(
        report.contains("auth: token (fresh within 10 min, grace default); roles all of: admin"),
        "{report}"
    );
    assert!(report.contains("anonymous only"), "{report}");
    let _ = rocket::build().mount("/", rocket::routes![admin, signup]);
}
