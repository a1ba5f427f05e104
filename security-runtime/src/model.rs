//! User and role models.
//!
//! [`User`] and [`Role`] mirror Flask-Security's SQLAlchemy models (`fsqla_v3`), so the
//! same rows are read and written. Applications that want their own types implement (or
//! derive) [`UserModel`] and [`RoleModel`] and build them from these.

use std::sync::Arc;

use chrono::NaiveDateTime;
use serde_json::{Map, Value};

/// A stored user, with its roles loaded.
///
/// Parity: `flask_security.UserMixin` over the `fsqla_v3` user table. Its `Debug`
/// shows `"***"` for the password hash and the two-factor secrets and recovery codes.
#[derive(Clone, PartialEq, Default)]
pub struct User {
    /// Primary key.
    pub id: i32,
    /// Email address; the default identity attribute.
    pub email: String,
    /// Username, when `username_enable` is on.
    pub username: Option<String>,
    /// Password hash (PHC / passlib string); `None` for password-less users.
    pub password: Option<String>,
    /// Inactive users cannot authenticate.
    pub active: bool,
    /// Session identity; rotating it logs the user out everywhere.
    pub fs_uniquifier: String,
    /// Auth-token identity; rotating it kills outstanding auth tokens.
    pub fs_token_uniquifier: Option<String>,
    /// When the email address was confirmed.
    pub confirmed_at: Option<NaiveDateTime>,
    /// Trackable: previous login time.
    pub last_login_at: Option<NaiveDateTime>,
    /// Trackable: this login's time.
    pub current_login_at: Option<NaiveDateTime>,
    /// Trackable: previous login address.
    pub last_login_ip: Option<String>,
    /// Trackable: this login's address.
    pub current_login_ip: Option<String>,
    /// Trackable: number of logins.
    pub login_count: Option<i32>,
    /// Two-factor: primary method (`email`, `authenticator`, `sms`).
    pub tf_primary_method: Option<String>,
    /// Two-factor: TOTP secret.
    pub tf_totp_secret: Option<String>,
    /// Two-factor: phone number.
    pub tf_phone_number: Option<String>,
    /// Unified sign-in: phone number.
    pub us_phone_number: Option<String>,
    /// Unified sign-in: JSON object of method → TOTP secret.
    pub us_totp_secrets: Option<String>,
    /// Recovery codes, comma-joined, each in the clear or a Fernet token. Written only
    /// through [`crate::UserDatastore::swap_recovery_codes`], never by `put_user`.
    pub mf_recovery_codes: Option<String>,
    /// Row creation time (naive UTC).
    pub create_datetime: NaiveDateTime,
    /// Row update time (naive UTC).
    pub update_datetime: NaiveDateTime,
    /// The user's roles.
    pub roles: Vec<Role>,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let hidden = |v: &Option<String>| v.as_ref().map(|_| "***");
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("username", &self.username)
            .field("password", &hidden(&self.password))
            .field("active", &self.active)
            .field("fs_uniquifier", &self.fs_uniquifier)
            .field("confirmed_at", &self.confirmed_at)
            .field("tf_primary_method", &self.tf_primary_method)
            .field("tf_totp_secret", &hidden(&self.tf_totp_secret))
            .field("us_totp_secrets", &hidden(&self.us_totp_secrets))
            .field("mf_recovery_codes", &hidden(&self.mf_recovery_codes))
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

impl User {
    /// New `fs_uniquifier`, and a new `fs_token_uniquifier` when the user has one: every
    /// session, remember cookie and auth token of the user dies once this is stored.
    pub fn rotate_identity(&mut self) {
        self.fs_uniquifier = crate::datastore::new_uniquifier();
        if self.fs_token_uniquifier.is_some() {
            self.fs_token_uniquifier = Some(crate::datastore::new_uniquifier());
        }
    }

    /// Parity: `UserMixin.has_role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r.name == role)
    }

    /// Parity: `UserMixin.has_permission` (through any role).
    pub fn has_permission(&self, permission: &str) -> bool {
        self.roles
            .iter()
            .any(|r| r.permissions.iter().any(|p| p == permission))
    }

    /// The uniquifier auth tokens carry: `fs_token_uniquifier` if set, else `fs_uniquifier`.
    ///
    /// Parity: `UserDatastore.get_token_uniquifier_name` / `UserMixin.get_auth_token`.
    pub fn token_uniquifier(&self) -> &str {
        self.fs_token_uniquifier
            .as_deref()
            .unwrap_or(&self.fs_uniquifier)
    }

    /// Parity: `UserMixin.calc_username` — username if set, else email.
    pub fn calc_username(&self) -> &str {
        self.username.as_deref().unwrap_or(&self.email)
    }
}

/// A stored role.
///
/// Parity: `flask_security.RoleMixin` over the `fsqla_v3` role table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    /// Primary key.
    pub id: i32,
    /// Unique name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Permissions granted by the role (stored comma-separated).
    pub permissions: Vec<String>,
    /// Row update time (naive UTC).
    pub update_datetime: NaiveDateTime,
}

impl Role {
    /// Parity: `RoleMixin.get_permissions`.
    pub fn get_permissions(&self) -> &[String] {
        &self.permissions
    }
}

/// An application's user type, built from the stored [`User`].
///
/// Derive it with `#[derive(UserModel)]`, or implement it by hand.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a security user model",
    note = "add `#[derive(UserModel)]` to `{Self}` or implement `security_runtime::UserModel`"
)]
pub trait UserModel: Sized + Send + Sync + 'static {
    /// Builds the application's user from the stored Flask-Security user.
    fn from_user(user: &User) -> Self;

    /// The application's user for [`CurrentUser`](crate::CurrentUser), from the user
    /// a guard authenticated (shared with the auth cache when the cache answered):
    /// built with [`from_user`](Self::from_user) by default. [`User`] itself shares
    /// the value instead of copying it (its secrets included) on every request. An
    /// override must give what `from_user` gives: `CurrentUser::into_inner` builds
    /// with `from_user` when the value returned here is shared.
    fn from_shared(user: &Arc<User>) -> Arc<Self> {
        Arc::new(Self::from_user(user))
    }

    /// The JSON `user` object of login and other responses.
    ///
    /// Parity: `UserMixin.get_security_payload` (default `{}`).
    fn security_payload(&self) -> Map<String, Value> {
        Map::new()
    }
}

impl UserModel for User {
    fn from_user(user: &User) -> Self {
        user.clone()
    }

    fn from_shared(user: &Arc<User>) -> Arc<User> {
        Arc::clone(user)
    }
}

/// An application's role type, built from the stored [`Role`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a security role model",
    note = "add `#[derive(RoleModel)]` to `{Self}` or implement `security_runtime::RoleModel`"
)]
pub trait RoleModel: Sized + Send + Sync + 'static {
    /// Builds the application's role from the stored role.
    fn from_role(role: &Role) -> Self;
}

impl RoleModel for Role {
    fn from_role(role: &Role) -> Self {
        role.clone()
    }
}

/// Splits Flask-Security's comma-separated permission column (`AsaList`).
pub(crate) fn split_permissions(raw: Option<&str>) -> Vec<String> {
    raw.unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Joins permissions the way Flask-Security stores them.
pub(crate) fn join_permissions(perms: &[String]) -> Option<String> {
    if perms.is_empty() {
        None
    } else {
        Some(perms.join(","))
    }
}
