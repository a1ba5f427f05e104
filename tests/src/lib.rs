//! Shared helpers for the integration tests: a Rocket app per backend, a fresh
//! database per test, and JSON/form client helpers.
//!
//! Every test runs on SQLite. It also runs on PostgreSQL when
//! `SECURITY_TEST_POSTGRES_URL` is set and on MariaDB/MySQL when
//! `SECURITY_TEST_MYSQL_URL` is set; a set URL that cannot be reached fails the test.
#![allow(missing_docs, clippy::unwrap_used)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocket::figment::Figment;
use rocket::http::{ContentType, Header, Status};
use rocket::local::asynchronous::{Client, LocalResponse};
use rocket::serde::json::{json, Json, Value};
use rocket::{get, post, routes, Build, Rocket};
use rocket_db_pools::Database;
use security_runtime::db;
use security_runtime::{
    auth_required, auth_token_required, http_auth_required, permissions_accepted,
    permissions_required, roles_accepted, roles_required, CurrentUser, Mechanism, NewUser,
    Security, SecurityState, User, UserDatastore, UserQuery,
};

pub use databases::{backends, fresh_database, Backend};

#[derive(Database)]
#[database("sec")]
pub struct SqliteDb(db::SqlitePool);

#[derive(Database)]
#[database("sec")]
pub struct PgDb(db::PgPool);

#[derive(Database)]
#[database("sec")]
pub struct MyDb(db::MySqlPool);

/// Test configuration: cheap argon2, a fixed salt and key.
pub fn test_figment(url: &str) -> Figment {
    rocket::Config::figment()
        .merge(("log_level", "off"))
        .merge(("databases.sec.url", url))
        .merge(("databases.sec.max_connections", 8))
        .merge(("security.secret_key", "test-secret-key-0123456789abcdef"))
        .merge(("security.password_salt", "test-password-salt"))
        .merge(("security.argon2_memory_cost", 1024))
        .merge(("security.argon2_time_cost", 1))
        .merge(("security.argon2_parallelism", 1))
}

// ---- the demo views of Flask-Security's conftest ----

#[get("/maybe")]
fn maybe(user: Option<CurrentUser>) -> String {
    match user {
        Some(u) => format!("user {}", u.email),
        None => "anonymous".into(),
    }
}

/// The application's landing page; shows a message the security flows flashed, as a
/// Flask template would with `get_flashed_messages()`.
#[get("/")]
fn index(flash: Option<rocket::request::FlashMessage<'_>>) -> String {
    match flash {
        Some(f) => format!("index [{}] {}", f.kind(), f.message()),
        None => "index".to_owned(),
    }
}

// Views that need a signed-in user.

#[auth_required]
#[get("/profile")]
fn profile(user: CurrentUser) -> String {
    format!("profile {}", user.email)
}

#[auth_required(token, session, basic)]
#[post("/multi")]
fn multi_post(user: CurrentUser) -> String {
    format!("posted {}", user.email)
}

#[auth_token_required]
#[get("/token")]
fn token(user: CurrentUser) -> String {
    format!("token {}", user.email)
}

#[http_auth_required]
#[get("/http")]
fn http(user: CurrentUser) -> String {
    format!("http {}", user.email)
}

#[security_runtime::login_required]
#[get("/login_required")]
fn login_required_view(user: CurrentUser) -> String {
    format!("login_required {}", user.email)
}

#[auth_required]
#[rocket::options("/profile")]
fn profile_options() -> &'static str {
    "options"
}

#[http_auth_required(realm = "My Realm")]
#[get("/http_custom_realm")]
fn http_custom_realm(user: CurrentUser) -> String {
    format!("realm {}", user.email)
}

#[auth_required(session)]
#[get("/session")]
fn session_only(user: CurrentUser) -> String {
    format!("session {}", user.email)
}

#[auth_required(token, session, basic)]
#[get("/multi")]
fn multi(user: CurrentUser) -> Json<Value> {
    Json(json!({"email": user.email, "via": user.authn_via().as_str()}))
}

#[security_runtime::login_required]
#[get("/login_required_open")]
fn login_required_open() -> &'static str {
    "login_required_open"
}

#[auth_required(session, within = 5, grace = 0)]
#[get("/fresh")]
fn fresh(user: CurrentUser) -> String {
    format!("fresh {}", user.email)
}

// Views behind role, permission, anonymity and CSRF rules.

#[auth_required(token, session)]
#[permissions_required("full-write", "super")]
#[get("/perms_all")]
fn perms_all() -> &'static str {
    "perms_all"
}

#[roles_required("admin")]
#[post("/roles_only")]
fn roles_only_post() -> &'static str {
    "roles_only_post"
}

#[roles_required("admin")]
#[get("/roles_only")]
fn roles_only() -> &'static str {
    "roles_only"
}

#[auth_required(token, session)]
#[permissions_accepted("full-write", "super")]
#[get("/perms_any")]
fn perms_any() -> &'static str {
    "perms_any"
}

#[auth_required(token, session)]
#[roles_accepted("admin", "editor")]
#[get("/admin_or_editor")]
fn admin_or_editor() -> &'static str {
    "admin_or_editor"
}

#[security_runtime::unauth_csrf(fall_through)]
#[post("/unauth_csrf_fall_through")]
fn unauth_csrf_fall_through(csrf: security_runtime::CsrfStatus) -> &'static str {
    if csrf.valid {
        "csrf valid"
    } else {
        "csrf invalid"
    }
}

#[auth_required(token, session)]
#[roles_required("admin", "editor")]
#[get("/admin_and_editor")]
fn admin_and_editor() -> &'static str {
    "admin_and_editor"
}

#[auth_required(token, session)]
#[roles_required("admin")]
#[get("/admin")]
fn admin() -> &'static str {
    "admin"
}

#[security_runtime::unauth_csrf]
#[post("/unauth_csrf")]
fn unauth_csrf_view() -> &'static str {
    "unauth_csrf"
}

#[security_runtime::anonymous_user_required]
#[get("/anon")]
fn anon() -> &'static str {
    "anon"
}

/// The application's own user model: its payload shapes the JSON `user` object.
#[derive(security_runtime::UserModel)]
pub struct AppUser {
    #[security(payload)]
    pub email: String,
    pub active: bool,
    pub password: Option<String>,
    pub fs_uniquifier: String,
    #[security(payload = "logins")]
    pub login_count: Option<i32>,
    #[security(skip)]
    pub nickname: Option<String>,
}

#[auth_required(token, session)]
#[get("/app_user")]
fn app_user(user: CurrentUser<AppUser>) -> Json<Value> {
    Json(json!({"email": user.email, "nickname": user.nickname, "active": user.active}))
}

/// Two `CurrentUser`s of each kind in one handler: whether each pair is one value
/// (`User`: the guard's, shared; an application type: built per guard), and what
/// `into_inner` hands out. `cached`: whether the user is the auth cache's value, where there is a cache.
#[auth_required(token, session)]
#[get("/current_user_sharing")]
async fn current_user_sharing(
    a: CurrentUser,
    b: CurrentUser,
    c: CurrentUser<AppUser>,
    d: CurrentUser<AppUser>,
    state: &rocket::State<SecurityState>,
) -> Json<Value> {
    let ds = &state.datastore;
    // The cache keeps a user under the identity it was found by.
    let query = match (a.authn_via(), &a.fs_token_uniquifier) {
        (Mechanism::Token, Some(t)) => UserQuery::FsTokenUniquifier(t.clone()),
        _ => UserQuery::FsUniquifier(a.fs_uniquifier.clone()),
    };
    let found = ds.find_user_shared(&query).await.ok().flatten();
    let cached = ds
        .auth_cache_stats()
        .map(|_| found.is_some_and(|f| std::ptr::eq::<User>(&*f, &*a)));
    let shared = std::ptr::eq::<User>(&*a, &*b);
    let app_shared = std::ptr::eq::<AppUser>(&*c, &*d);
    let (owned, app_owned) = (a.into_inner(), c.into_inner());
    Json(json!({
        "shared": shared,
        "cached": cached,
        "app_shared": app_shared,
        "owned": [owned.email, owned.roles.len(), owned.password.is_some()],
        "app_owned": [app_owned.email, app_owned.active],
        "still": b.email,
    }))
}

/// The messages of one field in a Flask-Security error envelope
/// (`response.field_errors.<field>`), empty when there are none.
pub fn field_errors(body: &Value, field: &str) -> Vec<String> {
    body["response"]["field_errors"][field]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The application routes of the tests.
pub fn demo_routes() -> Vec<rocket::Route> {
    routes![
        index,
        current_user_sharing,
        profile,
        session_only,
        token,
        http,
        http_custom_realm,
        multi,
        multi_post,
        fresh,
        admin,
        admin_and_editor,
        admin_or_editor,
        roles_only,
        perms_all,
        perms_any,
        login_required_view,
        anon,
        unauth_csrf_view,
        unauth_csrf_fall_through,
        roles_only_post,
        maybe,
        login_required_open,
        profile_options,
        app_user
    ]
}

/// Builds the test application for a backend.
pub fn app(backend: Backend, figment: Figment, security: Security) -> Rocket<Build> {
    let r = rocket::custom(figment).mount("/", demo_routes());
    match backend {
        Backend::Sqlite => r
            .attach(SqliteDb::init())
            .attach(security.database::<SqliteDb>()),
        Backend::Postgres => r.attach(PgDb::init()).attach(security.database::<PgDb>()),
        Backend::MySql => r.attach(MyDb::init()).attach(security.database::<MyDb>()),
    }
}

/// The body of the test app's `/profile`: whom the session is signed in as
/// (`profile <email>`), or the denial.
pub async fn whoami(app: &TestApp) -> String {
    let r = app.client.get("/profile").dispatch().await;
    r.into_string().await.unwrap_or_default()
}

/// A running test app.
pub struct TestApp {
    pub client: Client,
    pub backend: Backend,
}

impl TestApp {
    /// A fresh database and app with default test settings.
    pub async fn new(backend: Backend) -> TestApp {
        Self::with(backend, |f| f, Security::new()).await
    }

    /// A fresh database and app; `tweak` adjusts the figment.
    pub async fn with(
        backend: Backend,
        tweak: impl FnOnce(Figment) -> Figment,
        security: Security,
    ) -> TestApp {
        let url = fresh_database(backend).await;
        let figment = tweak(test_figment(&url));
        let client = Client::tracked(app(backend, figment, security))
            .await
            .unwrap_or_else(|e| panic!("{backend:?}: launch failed: {e}"));
        TestApp { client, backend }
    }

    /// A fresh database and app with default test settings and one user without roles.
    pub async fn with_user(backend: Backend, email: &str, password: &str) -> TestApp {
        let app = Self::new(backend).await;
        app.user(email, password, &[]).await;
        app
    }

    /// A fresh database and app with one setting changed (`key` is a full figment key).
    pub async fn configured(
        backend: Backend,
        key: &str,
        value: impl rocket::serde::Serialize,
    ) -> TestApp {
        Self::with(backend, |f| f.merge((key, value)), Security::new()).await
    }

    /// The app's security state.
    pub fn state(&self) -> &SecurityState {
        self.client.rocket().state::<SecurityState>().unwrap()
    }

    /// The app's datastore.
    pub fn datastore(&self) -> Arc<dyn UserDatastore> {
        self.state().datastore.clone()
    }

    /// Creates a user with a password (hashed) and roles (created when absent).
    pub async fn user(&self, email: &str, password: &str, roles: &[(&str, &[&str])]) -> User {
        let st = self.state();
        for (role, perms) in roles {
            let perms: Vec<String> = perms.iter().map(|p| (*p).to_owned()).collect();
            st.datastore
                .find_or_create_role(role, &perms)
                .await
                .unwrap();
        }
        let hash = st.hash_password(password).await.unwrap();
        st.datastore
            .create_user(NewUser {
                email: email.into(),
                password: Some(hash),
                roles: roles.iter().map(|(r, _)| (*r).to_owned()).collect(),
                ..NewUser::default()
            })
            .await
            .unwrap()
    }

    /// The user found by `email`, if any (`case_insensitive` as in `find_user`).
    pub async fn by_email(&self, email: &str, case_insensitive: bool) -> Option<User> {
        let query = UserQuery::Email(email.into());
        self.datastore()
            .find_user(&query, case_insensitive)
            .await
            .unwrap()
    }

    /// `user` as the datastore has it now.
    pub async fn reload(&self, user: &User) -> User {
        let query = UserQuery::Id(user.id);
        self.datastore()
            .find_user(&query, false)
            .await
            .unwrap()
            .unwrap()
    }

    /// `GET /login` as JSON; returns the CSRF token.
    pub async fn csrf(&self) -> String {
        let r = self.get_json("/login").await;
        assert_eq!(r.status(), Status::Ok);
        let v: Value = r.into_json().await.unwrap();
        v["response"]["csrf_token"].as_str().unwrap().to_owned()
    }

    /// JSON POST with the session's CSRF token in the body.
    pub async fn post_json(&self, uri: &str, body: Value) -> LocalResponse<'_> {
        self.post_json_with(uri, body, &[]).await
    }

    /// [`post_json`](Self::post_json) with extra `headers`.
    pub async fn post_json_with(
        &self,
        uri: &str,
        mut body: Value,
        headers: &[Header<'static>],
    ) -> LocalResponse<'_> {
        if body.get("csrf_token").is_none() {
            body["csrf_token"] = json!(self.csrf().await);
        }
        let mut req = self.client.post(uri.to_owned()).header(ContentType::JSON);
        for h in headers {
            req = req.header(h.clone());
        }
        req.body(body.to_string()).dispatch().await
    }

    /// JSON login; returns (status, body).
    pub async fn login(&self, email: &str, password: &str) -> (Status, Value) {
        let r = self
            .post_json("/login", json!({"email": email, "password": password}))
            .await;
        let s = r.status();
        (s, r.into_json().await.unwrap_or(Value::Null))
    }

    /// JSON login; returns the new session's CSRF token (the status is not checked).
    pub async fn login_csrf(&self, email: &str, password: &str) -> String {
        let (_, body) = self.login(email, password).await;
        body["response"]["csrf_token"].as_str().unwrap().to_owned()
    }

    /// JSON login asking for an auth token; returns the token.
    pub async fn token_login(&self, email: &str, password: &str) -> String {
        let r = self
            .post_json(
                "/login?include_auth_token",
                json!({"email": email, "password": password}),
            )
            .await;
        assert_eq!(r.status(), Status::Ok);
        let v: Value = r.into_json().await.unwrap();
        v["response"]["user"]["authentication_token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// JSON `POST /logout`; asserts it succeeded.
    pub async fn logout(&self) {
        let r = self.post_bare("/logout", &[]).await;
        assert_eq!(r.status(), Status::Ok, "logout");
    }

    /// JSON `POST /logout` whose answer is not checked: ends a session if there is one.
    pub async fn drop_session(&self) {
        self.post_bare("/logout", &[]).await;
    }

    /// JSON login asking for an auth token, then [`drop_session`](Self::drop_session):
    /// the token alone identifies the caller afterwards.
    pub async fn token_only(&self, email: &str, password: &str) -> String {
        let token = self.token_login(email, password).await;
        self.drop_session().await;
        token
    }

    /// A POST with a JSON content type, no body and no CSRF token, plus `headers`.
    pub async fn post_bare(&self, uri: &str, headers: &[Header<'static>]) -> LocalResponse<'_> {
        let mut req = self.client.post(uri.to_owned()).header(ContentType::JSON);
        for h in headers {
            req = req.header(h.clone());
        }
        req.dispatch().await
    }

    /// The status of a JSON GET.
    pub async fn status(&self, uri: &str) -> Status {
        self.get_json(uri).await.status()
    }

    /// The status of a GET carrying an auth token (see [`get_with_token`](Self::get_with_token)).
    pub async fn token_status(&self, uri: &str, token: &str) -> Status {
        self.get_with_token(uri, token).await.status()
    }

    /// The JSON body of a JSON GET.
    pub async fn get_value(&self, uri: &str) -> Value {
        self.get_json(uri).await.into_json().await.unwrap()
    }

    /// JSON GET.
    pub async fn get_json(&self, uri: &str) -> LocalResponse<'_> {
        self.client
            .get(uri.to_owned())
            .header(ContentType::JSON)
            .dispatch()
            .await
    }

    /// GET with an auth token header. The client is tracked, so the session cookie goes
    /// along too: log out first to see what the token alone does.
    pub async fn get_with_token(&self, uri: &str, token: &str) -> LocalResponse<'_> {
        self.client
            .get(uri.to_owned())
            .header(ContentType::JSON)
            .header(Header::new("Authentication-Token", token.to_owned()))
            .dispatch()
            .await
    }
}

/// Asserts a JSON answer's status and its `response.errors`, exactly.
pub async fn assert_errors(r: LocalResponse<'_>, status: Status, errors: &[&str]) {
    assert_eq!(r.status(), status);
    let v: Value = r.into_json().await.unwrap();
    assert_eq!(v["response"]["errors"], json!(errors), "{v}");
}

/// An `X-CSRF-Token` header.
pub fn csrf_header(token: &str) -> Header<'static> {
    Header::new("X-CSRF-Token", token.to_owned())
}

/// An `Authentication-Token` header.
pub fn token_header(token: &str) -> Header<'static> {
    Header::new("Authentication-Token", token.to_owned())
}

/// A clock the tests move by hand, for `Security::clock`; it starts at 1_800_000_000.
#[derive(Clone)]
pub struct Clock(Arc<AtomicU64>);

impl Clock {
    /// A clock at 1_800_000_000 (Unix seconds).
    pub fn new() -> Clock {
        Clock(Arc::new(AtomicU64::new(1_800_000_000)))
    }

    /// The current time in Unix seconds.
    pub fn now(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Moves the clock `secs` seconds on.
    pub fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }

    /// `security` reading the time from this clock.
    pub fn install(&self, security: Security) -> Security {
        let c = self.clone();
        security.clock(move || c.now() as f64)
    }
}

impl Default for Clock {
    fn default() -> Self {
        Self::new()
    }
}

/// A positive number from the environment variable `key` (the benches' knobs), else
/// `default`.
pub fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// Creates a user with a (hashed) password and nothing else, straight in the datastore.
pub async fn create_user_in(state: &SecurityState, email: &str, password: &str) -> User {
    let hash = state.hash_password(password).await.unwrap();
    let new = NewUser {
        email: email.into(),
        password: Some(hash),
        ..NewUser::default()
    };
    state.datastore.create_user(new).await.unwrap()
}

/// The first `https://app.example.com/...` link in a mail's text.
pub fn find_link(text: &str) -> String {
    let start = text
        .find("https://app.example.com/")
        .expect("no link in mail");
    text[start..]
        .split(|c: char| c.is_whitespace() || c == '"' || c == '<')
        .next()
        .unwrap()
        .to_owned()
}

/// The path of a link built from `external_url = "https://app.example.com"`.
pub fn path_of(link: &str) -> String {
    link.trim_start_matches("https://app.example.com")
        .to_owned()
}

/// The path of the first `https://app.example.com/...` link in a mail's text.
pub fn link_path(text: &str) -> String {
    path_of(&find_link(text))
}

/// `Authorization: Basic` header value.
pub fn basic(user: &str, pw: &str) -> Header<'static> {
    use base64::Engine;
    let v = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"));
    Header::new("Authorization", format!("Basic {v}"))
}

pub mod databases;
pub mod flask;
pub mod flows;
pub mod sms_server;
pub mod smtp;
pub mod two_factor;
pub mod unified;
pub mod webdriver;
