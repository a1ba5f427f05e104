// Path parameters, query parameters, a data guard and other request guards keep working.
#![deny(warnings)]

use rocket::http::CookieJar;
use rocket::serde::json::Json;
use security_runtime::{auth_required, permissions_required, CurrentUser, User};

#[derive(rocket::serde::Deserialize)]
#[serde(crate = "rocket::serde")]
struct Post {
    title: String,
}

#[auth_required(token, session)]
#[permissions_required("post-write")]
#[rocket::post("/blogs/<blog>/posts/<slug>?<draft>", format = "json", data = "<post>")]
async fn create(
    blog: u32,
    slug: &str,
    draft: Option<bool>,
    cookies: &CookieJar<'_>,
    user: CurrentUser<User>,
    post: Json<Post>,
) -> String {
    let _ = (cookies, &user);
    format!("{blog}/{slug} {draft:?} {}", post.title)
}

#[auth_required]
#[rocket::get("/files/<path..>")]
fn files(path: std::path::PathBuf) -> String {
    path.display().to_string()
}

#[auth_required]
#[rocket::route(PATCH, uri = "/items/<id>", rank = 2)]
fn patch_item(id: i64) -> String {
    id.to_string()
}

fn main() {
    let _ = rocket::build().mount("/", rocket::routes![create, files, patch_item]);
    // `uri!` still sees only the route's own parameters.
    assert_eq!(rocket::uri!(files("a/b")).to_string(), "/files/a/b");
    assert_eq!(rocket::uri!(patch_item(7)).to_string(), "/items/7");
}
