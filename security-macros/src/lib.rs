//! Attribute macros and derives for `security-runtime`, the Rocket port of
//! Flask-Security-Too. Use them through `security_runtime`, which re-exports them.
//!
//! # Protecting routes
//!
//! Write the security attributes **above** Rocket's route attribute:
//!
//! ```
//! use security_runtime::{auth_required, permissions_accepted, roles_required};
//!
//! #[auth_required(token, session, within = 10)]
//! #[roles_required("admin")]
//! #[permissions_accepted("user-read", "user-write")]
//! #[rocket::get("/admin/users/<id>")]
//! async fn user(id: i32) -> String {
//!     format!("user {id}")
//! }
//! ```
//!
//! However many are stacked, they combine into one
//! `Requirement` and add one hidden first parameter, a
//! `security_runtime::Guard` request guard that evaluates it, so they work beside any other
//! guard, data guard and path parameter, on `async` and plain handlers. The attributes are
//! sugar: a handler may take `Guard<R>` itself, with `R` implementing `RouteRequirement`.
//!
//! | attribute | parity | requirement |
//! |---|---|---|
//! | [`macro@auth_required`] | `auth_required(*methods, within, grace)` | authenticated by one of the mechanisms |
//! | [`macro@login_required`] | `login_required` | token or session; skipped when `login_disabled` |
//! | [`macro@auth_token_required`] | `auth_token_required` | token only |
//! | [`macro@http_auth_required`] | `http_auth_required(realm)` | HTTP Basic only |
//! | [`macro@roles_required`] / [`macro@roles_accepted`] | same names | all / any of the roles |
//! | [`macro@permissions_required`] / [`macro@permissions_accepted`] | same names | all / any of the permissions |
//! | [`macro@anonymous_user_required`] | same name | the caller must not be authenticated |
//! | [`macro@unauth_csrf`] | `unauth_csrf(fall_through)` | CSRF checked for anonymous callers |
//!
//! The macros only check spelling and shape at compile time; every security decision is
//! made by the runtime. Mistakes are reported together, each at the offending token:
//! unknown or duplicate mechanisms, a `within`/`grace` that is not a whole number of
//! minutes, `grace` without `within`, empty or duplicate role lists, non-string roles, an
//! attribute below the route attribute or on something that is not a handler, two
//! authentication attributes on one handler, `anonymous_user_required` beside an
//! authentication or authorization attribute.
//!
//! # Declared roles
//!
//! An optional `security-roles.toml` next to the application's `Cargo.toml` declares its
//! roles and the permissions they grant:
//!
//! ```toml
//! [roles.admin]
//! description = "Full access"
//! permissions = ["user-read", "user-write"]
//!
//! [roles.reader]
//! permissions = ["user-read"]
//! ```
//!
//! When the file exists, every name in `#[roles_*]` and `#[permissions_*]` must be
//! declared in it (a permission: granted by some role), or the build fails with a
//! did-you-mean error at the name. The environment variable `SECURITY_ROLES_FILE` names
//! another file (relative paths start at the crate's manifest directory), e.g. one shared
//! by a workspace. Cargo rebuilds when the file or the variable changes; it does not
//! notice a file created where there was none, so touch a source file after creating it.
//! The declaration is handed to the runtime's route security report, which compares it
//! with the datastore at launch. Flask-Security has no equivalent.
//!
//! # Models
//!
//! [`macro@UserModel`] and [`macro@RoleModel`] build an application's own user and role
//! types from the runtime's stored `User` and `Role`, field by field.

mod derive_model;
mod diag;
mod roles_file;
mod route_attr;

use proc_macro::TokenStream;

use derive_model::Model;
use route_attr::Kind;

/// Requires an authenticated caller, by any of the listed mechanisms.
///
/// Parity: `flask_security.auth_required(*auth_methods, within=-1, grace=None)`.
///
/// Arguments, in any order:
/// - mechanisms `token`, `session`, `basic`, as identifiers or strings (`"token"`); none
///   means `token, session`. They are always tried in the order token, session, basic,
///   whatever order they are written in.
/// - `within = <minutes>`: freshness. The caller must have authenticated within that many
///   minutes; `0` means always re-authenticate unless inside the grace period; a negative
///   literal (Flask-Security's default `-1`) means no check, as does omitting it. Basic
///   authentication is always fresh.
/// - `grace = <minutes>` (only with `within`, not negative): grace period; omitted means
///   the `freshness_grace_period` setting.
///
/// `within` and `grace` take an integer literal or the path of an `i64` constant
/// (`within = FRESHNESS_MINUTES`); a negative constant `within` also means no check.
///
/// ```
/// use security_runtime::auth_required;
///
/// #[auth_required]
/// #[rocket::get("/dashboard")]
/// fn dashboard() -> &'static str {
///     "dashboard"
/// }
///
/// const FRESH: i64 = 5;
///
/// #[auth_required(token, session, within = FRESH, grace = 0)]
/// #[rocket::post("/change-email", data = "<form>")]
/// async fn change_email(form: String) -> String {
///     form
/// }
/// ```
#[proc_macro_attribute]
pub fn auth_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::AuthRequired, args.into(), item.into()).into()
}

/// Requires a caller authenticated by token or session; no arguments.
///
/// Parity: `flask_security.login_required`: like `#[auth_required]`, but the check is
/// skipped when the `login_disabled` setting is on.
///
/// ```
/// use security_runtime::login_required;
///
/// #[login_required]
/// #[rocket::get("/post")]
/// fn post() -> &'static str {
///     "post"
/// }
/// ```
#[proc_macro_attribute]
pub fn login_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::LoginRequired, args.into(), item.into()).into()
}

/// Requires a caller authenticated by auth token; no arguments.
///
/// Parity: `flask_security.auth_token_required`, i.e. `#[auth_required(token)]`.
///
/// ```
/// use security_runtime::auth_token_required;
///
/// #[auth_token_required]
/// #[rocket::get("/api/items")]
/// fn items() -> &'static str {
///     "[]"
/// }
/// ```
#[proc_macro_attribute]
pub fn auth_token_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::AuthTokenRequired, args.into(), item.into()).into()
}

/// Requires a caller authenticated by HTTP Basic authentication.
///
/// Parity: `flask_security.http_auth_required(realm)`. Accepted forms:
/// `#[http_auth_required]` (realm from the `default_http_auth_realm` setting),
/// `#[http_auth_required("realm")]`, `#[http_auth_required(realm = "realm")]`.
///
/// ```
/// use security_runtime::http_auth_required;
///
/// #[http_auth_required("Reports")]
/// #[rocket::get("/reports")]
/// fn reports() -> &'static str {
///     "reports"
/// }
/// ```
#[proc_macro_attribute]
pub fn http_auth_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::HttpAuthRequired, args.into(), item.into()).into()
}

/// Requires the caller to hold **every** listed role (string literals, at least one).
///
/// Parity: `flask_security.roles_required(*roles)`. Stack it under an authentication
/// attribute; checked against `security-roles.toml` when that file exists.
///
/// ```
/// use security_runtime::{auth_required, roles_required};
///
/// #[auth_required]
/// #[roles_required("admin", "editor")]
/// #[rocket::get("/dashboard")]
/// fn dashboard() -> &'static str {
///     "dashboard"
/// }
/// ```
#[proc_macro_attribute]
pub fn roles_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::RolesRequired, args.into(), item.into()).into()
}

/// Requires the caller to hold **at least one** of the listed roles.
///
/// Parity: `flask_security.roles_accepted(*roles)`.
///
/// ```
/// use security_runtime::{auth_required, roles_accepted};
///
/// #[auth_required]
/// #[roles_accepted("editor", "author")]
/// #[rocket::post("/posts")]
/// fn create_post() -> &'static str {
///     "created"
/// }
/// ```
#[proc_macro_attribute]
pub fn roles_accepted(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::RolesAccepted, args.into(), item.into()).into()
}

/// Requires the caller to hold **every** listed permission, through any of its roles.
///
/// Parity: `flask_security.permissions_required(*fsperms)`. Permission names cannot
/// contain `,`, as Flask-Security stores them comma-separated.
///
/// ```
/// use security_runtime::{auth_required, permissions_required};
///
/// #[auth_required]
/// #[permissions_required("admin-write", "editor-write")]
/// #[rocket::put("/settings")]
/// fn settings() -> &'static str {
///     "saved"
/// }
/// ```
#[proc_macro_attribute]
pub fn permissions_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::PermissionsRequired, args.into(), item.into()).into()
}

/// Requires the caller to hold **at least one** of the listed permissions.
///
/// Parity: `flask_security.permissions_accepted(*fsperms)`.
///
/// ```
/// use security_runtime::{auth_required, permissions_accepted};
///
/// #[auth_required]
/// #[permissions_accepted("editor-write", "author-write")]
/// #[rocket::post("/drafts")]
/// fn create_draft() -> &'static str {
///     "created"
/// }
/// ```
#[proc_macro_attribute]
pub fn permissions_accepted(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::PermissionsAccepted, args.into(), item.into()).into()
}

/// Refuses authenticated callers; no arguments. Cannot be combined with authentication,
/// role or permission attributes.
///
/// Parity: `flask_security.anonymous_user_required`.
///
/// ```
/// use security_runtime::{anonymous_user_required, unauth_csrf};
///
/// #[anonymous_user_required]
/// #[unauth_csrf]
/// #[rocket::post("/signup")]
/// fn signup() -> &'static str {
///     "welcome"
/// }
/// ```
#[proc_macro_attribute]
pub fn anonymous_user_required(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::AnonymousUserRequired, args.into(), item.into()).into()
}

/// Checks CSRF for anonymous callers of an endpoint that does not require authentication.
///
/// Parity: `flask_security.unauth_csrf(fall_through=False)`. Accepted forms:
/// `#[unauth_csrf]`, `#[unauth_csrf(fall_through)]`, `#[unauth_csrf(fall_through = true)]`.
/// With `fall_through` a CSRF failure lets the request through, marked not CSRF-valid.
///
/// ```
/// use security_runtime::unauth_csrf;
///
/// #[unauth_csrf(fall_through)]
/// #[rocket::post("/contact", data = "<message>")]
/// fn contact(message: String) -> String {
///     message
/// }
/// ```
#[proc_macro_attribute]
pub fn unauth_csrf(args: TokenStream, item: TokenStream) -> TokenStream {
    route_attr::expand(Kind::UnauthCsrf, args.into(), item.into()).into()
}

/// Implements `UserModel` for a struct with named fields, building it from the stored
/// Flask-Security user.
///
/// Each field holds the user attribute of the same name, or the one named by
/// `#[security(rename = "...")]`. Required: `email: String`, `password: Option<String>`,
/// `active: bool`, `fs_uniquifier: String`. Optional, with the runtime `User`'s types:
/// `id: i32`, `username`, `fs_token_uniquifier`, `last_login_ip`, `current_login_ip`,
/// `tf_primary_method`, `tf_totp_secret`, `tf_phone_number`, `us_phone_number`,
/// `us_totp_secrets`, `mf_recovery_codes` (all `Option<String>`), `confirmed_at`, `last_login_at`,
/// `current_login_at` (`Option<NaiveDateTime>`), `login_count: Option<i32>`,
/// `create_datetime`, `update_datetime` (`NaiveDateTime`), and `roles`: `Vec<R>` with
/// `R: RoleModel`, or `Vec<String>` for the role names.
///
/// Field options:
/// - `#[security(skip)]`: not read from the user; filled with `Default::default()`.
/// - `#[security(rename = "email")]`: the user attribute this field holds.
/// - `#[security(payload)]` / `#[security(payload = "key")]`: include the field (through
///   `serde_json::to_value`, so it must be `Serialize`) in `security_payload()`, the JSON
///   `user` object, under the field's name or `key`. Parity:
///   `UserMixin.get_security_payload`.
///
/// ```
/// use security_runtime::{RoleModel, UserModel};
///
/// #[derive(UserModel)]
/// struct AppUser {
///     #[security(payload)]
///     id: i32,
///     #[security(payload = "email")]
///     email: String,
///     password: Option<String>,
///     active: bool,
///     fs_uniquifier: String,
///     #[security(rename = "username")]
///     nickname: Option<String>,
///     roles: Vec<AppRole>,
///     #[security(skip)]
///     preferences: Vec<String>,
/// }
///
/// #[derive(RoleModel)]
/// struct AppRole {
///     name: String,
///     permissions: Vec<String>,
/// }
/// ```
#[proc_macro_derive(UserModel, attributes(security))]
pub fn derive_user_model(input: TokenStream) -> TokenStream {
    derive_model::expand(Model::User, input.into()).into()
}

/// Implements `RoleModel` for a struct with named fields, building it from the stored role.
///
/// Required: `name: String`. Optional: `id: i32`, `description: Option<String>`,
/// `permissions: Vec<String>`, `update_datetime: NaiveDateTime`. Field options `skip` and
/// `rename` work as for [`macro@UserModel`].
///
/// ```
/// use security_runtime::RoleModel;
///
/// #[derive(RoleModel)]
/// struct AppRole {
///     #[security(rename = "name")]
///     title: String,
///     description: Option<String>,
///     #[security(skip)]
///     members_cached: usize,
/// }
/// ```
#[proc_macro_derive(RoleModel, attributes(security))]
pub fn derive_role_model(input: TokenStream) -> TokenStream {
    derive_model::expand(Model::Role, input.into()).into()
}
