//! Example application: SQLite file, seeded admin, a protected page and JSON endpoint.
//!
//! `cargo run -p example-app` then open <http://127.0.0.1:8000/>. Registration,
//! confirmation, password reset and the change flows are on; with no `security.mail_server`
//! configured every mail (with its link) is written to the log. The admin is
//! `admin@example.com` / `change-me-please` unless `ROCKET_EXAMPLE={admin_email="..",
//! admin_password=".."}` (or `[default.example]` in Rocket.toml) says otherwise.

use rocket::fairing::AdHoc;
use rocket::figment::Figment;
use rocket::request::FlashMessage;
use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket};
use rocket_db_pools::{sqlx, Database};
use security_runtime::{CurrentUser, NewUser, Security, SecurityState};

/// The application's database: the security tables live here too.
#[derive(Database)]
#[database("app")]
pub struct Db(sqlx::SqlitePool);

#[get("/")]
fn index(user: Option<CurrentUser>, flash: Option<FlashMessage<'_>>) -> RawHtml<String> {
    // What the security flow that redirected here flashed ("Thank you. Your email has been
    // confirmed.", ...), as a Flask template shows `get_flashed_messages()`.
    let flashed = flash
        .map(|f| {
            format!(
                "<p class=\"{}\">{}</p>",
                security_runtime::html::escape(f.kind()),
                security_runtime::html::escape(f.message())
            )
        })
        .unwrap_or_default();
    let who = match &user {
        Some(u) => format!(
            "<p>Signed in as {}.</p><form method=\"post\" action=\"/logout\">\
             <button>Logout</button></form>",
            security_runtime::html::escape(&u.email)
        ),
        None => "<p><a href=\"/login\">Login</a> · <a href=\"/register\">Register</a> · \
                 <a href=\"/reset\">Forgot password</a></p>"
            .to_owned(),
    };
    RawHtml(format!(
        "<!doctype html><html><body><h1>Example</h1>{flashed}{who}\
         <p><a href=\"/profile\">Profile</a> (session login) · \
         <a href=\"/api/me\">/api/me</a> (token or session) · \
         <a href=\"/admin\">Admin</a> (role admin)</p></body></html>"
    ))
}

/// A protected HTML page (session only, redirects to the login page).
#[security_runtime::auth_required(session)]
#[get("/profile")]
fn profile(user: CurrentUser) -> RawHtml<String> {
    RawHtml(format!(
        "<!doctype html><html><body><h1>Profile</h1><p id=\"email\">{}</p></body></html>",
        security_runtime::html::escape(&user.email)
    ))
}

/// A protected JSON endpoint (auth token or session).
#[security_runtime::auth_required(token, session)]
#[get("/api/me")]
fn me(user: CurrentUser) -> Json<Value> {
    Json(json!({
        "email": user.email,
        "roles": user.roles.iter().map(|r| r.name.clone()).collect::<Vec<_>>(),
        "authn_via": user.authn_via().as_str(),
    }))
}

/// Admins only.
#[security_runtime::auth_required(session, token)]
#[security_runtime::roles_required("admin")]
#[get("/admin")]
fn admin(user: CurrentUser) -> Json<Value> {
    Json(json!({"admin": user.email}))
}

#[derive(serde::Deserialize)]
struct ExampleConfig {
    admin_email: String,
    admin_password: String,
}

/// Creates the admin (and its role) on first start.
async fn seed_admin(rocket: &Rocket<rocket::Orbit>) {
    let Some(state) = rocket.state::<SecurityState>() else {
        return;
    };
    let cfg: ExampleConfig = match rocket.figment().extract_inner("example") {
        Ok(c) => c,
        Err(e) => {
            rocket::error!("example config: {e}");
            return;
        }
    };
    let ds = &state.datastore;
    if let Err(e) = ds
        .find_or_create_role("admin", &["admin-read".into()])
        .await
    {
        rocket::error!("seeding admin role: {e}");
        return;
    }
    let q = security_runtime::UserQuery::Email(cfg.admin_email.clone());
    match ds.find_user(&q, true).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            let hash = match state.hash_password(&cfg.admin_password).await {
                Ok(h) => h,
                Err(e) => {
                    rocket::error!("seeding admin: {e}");
                    return;
                }
            };
            let new = NewUser {
                email: cfg.admin_email.clone(),
                password: Some(hash),
                roles: vec!["admin".into()],
                // Seeded by the operator: no confirmation mail needed.
                confirmed_at: Some(security_runtime::chrono::Utc::now().naive_utc()),
                ..NewUser::default()
            };
            match ds.create_user(new).await {
                Ok(u) => rocket::info!("created admin user {}", u.email),
                Err(e) => rocket::error!("seeding admin: {e}"),
            }
        }
        Err(e) => rocket::error!("seeding admin: {e}"),
    }
}

/// Development defaults; Rocket.toml and `ROCKET_*` variables override them.
fn figment() -> Figment {
    rocket::Config::figment()
        .join(("databases.app.url", "sqlite://example.db?mode=rwc"))
        .join(("security.password_salt", "example-salt-change-me"))
        .join(("security.session_cookie_secure", false))
        .join(("security.csrf_cookie.secure", false))
        .join(("security.registerable", true))
        .join(("security.confirmable", true))
        .join(("security.recoverable", true))
        .join(("security.changeable", true))
        .join(("security.change_email", true))
        .join(("security.trackable", true))
        .join(("security.external_url", "http://127.0.0.1:8000"))
        .join(("example.admin_email", "admin@example.com"))
        .join(("example.admin_password", "change-me-please"))
}

/// The example application.
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(Db::init())
        .attach(Security::new().database::<Db>())
        .attach(AdHoc::on_liftoff("seed admin", |r| Box::pin(seed_admin(r))))
        .mount("/", routes![index, profile, me, admin])
}

#[rocket::launch]
fn rocket() -> _ {
    app(figment())
}
