// A plain (non-async) handler takes the hidden guard like an async one.
#![deny(warnings)]

use security_runtime::{auth_token_required, roles_required};

#[auth_token_required]
#[roles_required("admin")]
#[rocket::get("/sync")]
fn sync_handler() -> String {
    String::from("sync")
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![sync_handler]);
}
