//! Example application: SQLite file, seeded admin, a protected page and JSON endpoint.
//!
//! `cargo run -p example-app` then open <http://127.0.0.1:8000/>. Registration,
//! confirmation, password reset, the change flows, two-factor sign-in (authenticator app
//! or mailed code, at `/tf-setup`), recovery codes, `/verify` and unified sign-in (`/us-signin`
//! with the password, a mailed code or magic link, or an authenticator code set up at
//! `/us-setup`) are on; with no `security.mail_server`
//! configured every mail (with its link) is written to the log. The admin is
//! `admin@example.com` / `change-me-please` unless `ROCKET_EXAMPLE={admin_email="..",
//! admin_password=".."}` (or `[default.example]` in Rocket.toml) says otherwise.

use rocket::figment::Figment;
use rocket::request::FlashMessage;
use rocket::response::content::RawHtml;
use rocket::serde::json::{json, Json, Value};
use rocket::{get, routes, Build, Rocket};
use rocket_db_pools::Database;
use security_runtime::{CurrentUser, NewUser, Security, SecurityState};

/// The application's database: the security tables live here too.
#[derive(Database)]
#[database("app")]
pub struct Db(security_runtime::db::SqlitePool);

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
/// Seeds the admin role and user: runs at ignition, before the launch-time role check,
/// so `undeclared_roles = "refuse"` starts on a fresh database.
async fn seed_admin(
    state: &SecurityState,
    figment: &Figment,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cfg: ExampleConfig = figment.extract_inner("example")?;
    let ds = &state.datastore;
    ds.find_or_create_role("admin", &["admin-read".into()])
        .await?;
    let q = security_runtime::UserQuery::Email(cfg.admin_email.clone());
    if ds.find_user(&q, true).await?.is_some() {
        return Ok(());
    }
    let new = NewUser {
        email: cfg.admin_email.clone(),
        password: Some(state.hash_password(&cfg.admin_password).await?),
        roles: vec!["admin".into()],
        // Seeded by the operator: no confirmation mail needed.
        confirmed_at: Some(security_runtime::chrono::Utc::now().naive_utc()),
        ..NewUser::default()
    };
    match ds.create_user(new).await {
        Ok(u) => rocket::info!("created admin user {}", u.email),
        // Another instance seeded it meanwhile.
        Err(security_runtime::SecurityError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(())
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
        .join(("security.undeclared_roles", "refuse"))
        .join(("security.i18n_negotiate", true))
        .join(("security.external_url", "http://127.0.0.1:8000"))
        // Two-factor sign-in with an authenticator app or a mailed code, recovery codes,
        // and `/verify` (on whenever `freshness` is): set a method up at /tf-setup.
        .join(("security.two_factor", true))
        .join((
            "security.two_factor_enabled_methods",
            ["authenticator", "email"],
        ))
        .join(("security.multi_factor_recovery_codes", true))
        .join(("security.totp_issuer", "Rocket Security Example"))
        .join((
            "security.totp_secrets",
            std::collections::BTreeMap::from([("1", "example-totp-secret-change-me")]),
        ))
        // Unified sign-in: one form for the password, a mailed code (with a magic link) or
        // an authenticator code; methods are set up at /us-setup.
        .join(("security.unified_signin", true))
        .join((
            "security.us_enabled_methods",
            ["password", "email", "authenticator"],
        ))
        // Passkeys, to sign in alone or as the second factor: add one at /wan-register,
        // then sign in at /wan-signin. Browsers offer WebAuthn on http://localhost (not on
        // 127.0.0.1: a relying party id is a host name).
        .join(("security.webauthn", true))
        .join(("security.wan_rp_name", "Rocket Security Example"))
        .join(("example.admin_email", "admin@example.com"))
        .join(("example.admin_password", "change-me-please"))
}

/// The example application.
pub fn app(figment: Figment) -> Rocket<Build> {
    rocket::custom(figment)
        .attach(Db::init())
        .attach(
            Security::new()
                .database::<Db>()
                .seed(|state, figment| Box::pin(seed_admin(state, figment))),
        )
        .mount("/", routes![index, profile, me, admin])
}

#[rocket::launch]
fn rocket() -> _ {
    let figment = figment();
    // Rocket logs every request line: this logger writes them with auth tokens and mailed
    // link tokens masked (Rocket keeps a logger that is already installed).
    if let Ok(cfg) = security_runtime::SecurityConfig::from_figment(&figment) {
        let logger = security_runtime::log_filter::MaskingLogger::new(&cfg, log::LevelFilter::Info);
        let _ = logger.install();
    }
    app(figment)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use rocket::http::{ContentType, Status};
    use rocket::local::asynchronous::{Client, LocalResponse};
    use rocket::serde::json::{json, Value};

    use super::*;

    /// The example's settings on a fresh SQLite file, with cheap hashing.
    fn fresh() -> Figment {
        let n: u64 = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        let path = std::env::temp_dir().join(format!("example-app-{n:x}.db"));
        figment()
            .merge(("log_level", "off"))
            .merge((
                "databases.app.url",
                format!("sqlite://{}?mode=rwc", path.display()),
            ))
            .merge(("security.argon2_memory_cost", 1024))
            .merge(("security.argon2_time_cost", 1))
            .merge(("security.argon2_parallelism", 1))
    }

    /// A JSON GET on `client`.
    async fn get_json<'c>(client: &'c Client, uri: &'static str) -> LocalResponse<'c> {
        client.get(uri).header(ContentType::JSON).dispatch().await
    }

    /// Signs the seeded admin in over JSON: the status and the answer.
    async fn sign_in_admin(client: &Client) -> (Status, Value) {
        let v: Value = get_json(client, "/login").await.into_json().await.unwrap();
        let csrf = v["response"]["csrf_token"].as_str().unwrap().to_owned();
        let body = json!({"email": "admin@example.com", "password": "change-me-please", "csrf_token": csrf});
        let r = client
            .post("/login")
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
            .await;
        let s = r.status();
        (s, r.into_json().await.unwrap_or(Value::Null))
    }

    #[rocket::async_test]
    async fn a_fresh_database_is_seeded_before_the_strict_role_check() {
        // `undeclared_roles = "refuse"` and `/admin` needs the role `admin`: launch only
        // succeeds when the seed hook has created it first.
        let client = Client::tracked(app(fresh())).await.unwrap();
        let (s, _) = sign_in_admin(&client).await;
        assert_eq!(s, Status::Ok);
        let r = get_json(&client, "/admin").await;
        assert_eq!(r.status(), Status::Ok);
        assert_eq!(
            r.into_json::<Value>().await.unwrap(),
            json!({"admin": "admin@example.com"})
        );
    }

    #[rocket::async_test]
    async fn two_factor_recovery_codes_and_verify_are_on() {
        let client = Client::tracked(app(fresh())).await.unwrap();
        let (_, v) = sign_in_admin(&client).await;
        assert_eq!(v["response"]["tf_required"], false, "{v}");
        let csrf = v["response"]["csrf_token"].as_str().unwrap().to_owned();
        let body = json!({"setup": "authenticator", "csrf_token": csrf});
        let r = client
            .post("/tf-setup")
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
            .await;
        let v: Value = r.into_json().await.unwrap();
        let uri = v["response"]["tf_authr_uri"].as_str().unwrap_or_default();
        assert!(
            uri.starts_with("otpauth://totp/Rocket%20Security%20Example:"),
            "{v}"
        );
        for uri in ["/verify", "/mf-recovery-codes", "/tf-setup"] {
            assert_eq!(get_json(&client, uri).await.status(), Status::Ok, "{uri}");
        }
    }

    #[rocket::async_test]
    async fn unified_sign_in_takes_the_password_and_offers_codes() {
        let client = Client::tracked(app(fresh())).await.unwrap();
        let v: Value = get_json(&client, "/us-signin")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(
            v["response"]["available_methods"],
            json!(["password", "email", "authenticator"])
        );
        assert_eq!(v["response"]["code_methods"], json!(["email"]));
        let csrf = v["response"]["csrf_token"].as_str().unwrap().to_owned();
        let body = json!({"identity": "admin@example.com", "passcode": "change-me-please", "csrf_token": csrf});
        let r = client
            .post("/us-signin")
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
            .await;
        assert_eq!(r.status(), Status::Ok);
        let v: Value = get_json(&client, "/us-setup")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(v["response"]["active_methods"], json!(["password"]), "{v}");
        assert_eq!(
            v["response"]["setup_methods"],
            json!(["email", "authenticator"])
        );
    }

    #[rocket::async_test]
    async fn passkeys_are_on_as_first_and_second_factor() {
        let client = Client::tracked(app(fresh())).await.unwrap();
        let v: Value = get_json(&client, "/wan-signin")
            .await
            .into_json()
            .await
            .unwrap();
        assert_eq!(v["response"]["is_secondary"], false, "{v}");
        let csrf = v["response"]["csrf_token"].as_str().unwrap().to_owned();
        let body = json!({"identity": "admin@example.com", "csrf_token": csrf});
        let r = client
            .post("/wan-signin")
            .header(ContentType::JSON)
            .body(body.to_string())
            .dispatch()
            .await;
        let v: Value = r.into_json().await.unwrap();
        let options = &v["response"]["credential_options"];
        assert_eq!(options["rpId"], "localhost", "{v}");
        assert_eq!(
            options["allowCredentials"],
            json!([]),
            "no passkey yet: {v}"
        );
        // The pages' script is served.
        let r = client.get("/fs-static/js/webauthn.js").dispatch().await;
        assert_eq!(r.status(), Status::Ok);
        assert_eq!(r.content_type(), Some(ContentType::JavaScript));
        // A signed-in user may add one, for signing in or as the second factor.
        let (s, _) = sign_in_admin(&client).await;
        assert_eq!(s, Status::Ok);
        let html = client
            .get("/wan-register")
            .dispatch()
            .await
            .into_string()
            .await
            .unwrap();
        assert!(
            html.contains("value=\"first\"") && html.contains("value=\"secondary\""),
            "{html}"
        );
    }

    #[rocket::async_test]
    async fn pages_answer_in_the_browsers_language() {
        let client = Client::tracked(app(fresh())).await.unwrap();
        for (lang, expected) in [("de-DE,de;q=0.9", "de"), ("fr", "fr"), ("xx", "en")] {
            let r = client
                .get("/login")
                .header(rocket::http::Header::new("Accept-Language", lang))
                .dispatch()
                .await;
            assert_eq!(r.status(), Status::Ok);
            let html = r.into_string().await.unwrap();
            assert!(
                html.contains(&format!("<html lang=\"{expected}\">")),
                "{lang}: {html}"
            );
        }
    }

    #[rocket::async_test]
    async fn a_failing_seed_hook_stops_the_launch() {
        let broken = fresh().merge(("example", json!({"admin_email": 5})));
        match Client::tracked(app(broken)).await {
            Err(e) => assert!(matches!(
                e.kind(),
                rocket::error::ErrorKind::FailedFairings(f) if f.iter().any(|f| f.name == "Security")
            )),
            Ok(_) => panic!("launched although the seed hook failed"),
        }
    }
}
