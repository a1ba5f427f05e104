//! The user datastore: the trait every flow talks to, and its SQL implementation.
//!
//! Parity: `flask_security.UserDatastore` and `SQLAlchemyUserDatastore`.
//!
//! Mutating methods take `&mut User` / `&mut Role` and update both the database and the
//! caller's copy, so a flow never works on stale data. Each call is one statement or one
//! transaction: a failure leaves no half-written rows.

use std::collections::BTreeMap;
use std::sync::Arc;

use rocket::async_trait;

use crate::error::{Result, SecurityError};
use crate::model::{Role, User};

mod cache;
mod cached;
mod decode;
mod migrate;
pub mod pool;
mod schema;
mod sessions;
mod sql;
#[cfg(feature = "sqlite")]
mod wal_index;
mod watch;
mod webauthn;

pub use cache::{CacheCheck, CacheStats};
pub use cached::{CacheSettings, CachedDatastore};
pub use migrate::{MigrationInfo, SchemaOrigin, SchemaStatus};
pub use sessions::{NewSeries, RememberUse, SessionBackend, StoredSession};
pub use sql::SqlDatastore;
pub use webauthn::{CredentialUse, NewCredential, SqlWebAuthn, WebAuthnCredential, WebAuthnStore};

/// Which column [`UserDatastore::find_user`] looks in.
///
/// Parity: `find_user(case_insensitive=False, **kwargs)` with one keyword.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserQuery {
    /// By primary key.
    Id(i32),
    /// By email address.
    Email(String),
    /// By username.
    Username(String),
    /// By `fs_uniquifier` (session identity).
    FsUniquifier(String),
    /// By `fs_token_uniquifier` (auth-token identity).
    FsTokenUniquifier(String),
    /// By unified sign-in phone number.
    UsPhoneNumber(String),
}

impl UserQuery {
    /// The searched text; `None` for [`UserQuery::Id`].
    pub fn text(&self) -> Option<&str> {
        match self {
            UserQuery::Id(_) => None,
            UserQuery::Email(v)
            | UserQuery::Username(v)
            | UserQuery::FsUniquifier(v)
            | UserQuery::FsTokenUniquifier(v)
            | UserQuery::UsPhoneNumber(v) => Some(v),
        }
    }
}

/// Fields of a user to create.
///
/// Parity: `UserDatastore.create_user(**kwargs)`; the password must already be hashed
/// (`hash_password`), as in Flask-Security.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Email address (required).
    pub email: String,
    /// Optional username.
    pub username: Option<String>,
    /// Hashed password, or `None` for a password-less user.
    pub password: Option<String>,
    /// Defaults to active, as Flask-Security.
    pub active: Option<bool>,
    /// Confirmation time.
    pub confirmed_at: Option<chrono::NaiveDateTime>,
    /// Uniquifier; a fresh random one when `None`.
    pub fs_uniquifier: Option<String>,
    /// Names of existing roles to grant.
    pub roles: Vec<String>,
}

/// Everything Flask-Security's `UserDatastore` offers, async.
///
/// Implemented by [`SqlDatastore`] for SQLite, PostgreSQL and MySQL/MariaDB. An
/// application may implement it for another store.
#[diagnostic::on_unimplemented(
    note = "implement `security_runtime::UserDatastore` or use `security_runtime::SqlDatastore`"
)]
#[async_trait]
pub trait UserDatastore: Send + Sync + 'static {
    /// Applies the shipped migrations that the database lacks (see the README's
    /// "Schema and upgrades"), and returns the schema's state afterwards.
    async fn migrate(&self) -> Result<SchemaStatus>;
    /// The schema's state, changing nothing.
    async fn schema_status(&self) -> Result<SchemaStatus>;
    /// Parity: `create_user`. Errors with `AlreadyExists` when email/username is taken.
    async fn create_user(&self, new: NewUser) -> Result<User>;
    /// Parity: `find_user(case_insensitive, **kwargs)`.
    async fn find_user(&self, query: &UserQuery, case_insensitive: bool) -> Result<Option<User>>;

    /// The user a guard authenticates, shared: by `fs_uniquifier` or
    /// `fs_token_uniquifier`, case-sensitive. A caching datastore answers without a copy;
    /// the default reads through [`UserDatastore::find_user`].
    async fn find_user_shared(&self, query: &UserQuery) -> Result<Option<Arc<User>>> {
        Ok(self.find_user(query, false).await?.map(Arc::new))
    }
    /// [`UserDatastore::find_user_shared`] for one request: `check` says whether the
    /// request already brought the auth cache up to date with other processes' writes
    /// (see [`CacheCheck`]). The default ignores it and calls `find_user_shared`: an
    /// implementation whose `find_user_shared` calls this one must override both.
    async fn find_user_shared_within(
        &self,
        query: &UserQuery,
        check: &CacheCheck,
    ) -> Result<Option<Arc<User>>> {
        let _ = check;
        self.find_user_shared(query).await
    }
    /// Parity: `delete_user`.
    async fn delete_user(&self, user: &User) -> Result<()>;
    /// Stores every mutable column of `user` in one statement.
    ///
    /// Parity: `put(user)` + `commit()`.
    async fn put_user(&self, user: &mut User) -> Result<()>;
    /// [`put_user`](Self::put_user) only while the stored `fs_uniquifier` is still
    /// `expected_uniquifier`; false (nothing written) when it changed meanwhile. A
    /// single-use action that rotates the uniquifier (a password reset, a password change)
    /// therefore succeeds once even when run twice in parallel.
    async fn put_user_if(&self, user: &mut User, expected_uniquifier: &str) -> Result<bool>;
    /// Parity: `create_role`.
    async fn create_role(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
    ) -> Result<Role>;
    /// Parity: `find_role`.
    async fn find_role(&self, name: &str) -> Result<Option<Role>>;
    /// Every role, by name.
    async fn all_roles(&self) -> Result<Vec<Role>>;
    /// Parity: `find_or_create_role`.
    async fn find_or_create_role(&self, name: &str, permissions: &[String]) -> Result<Role> {
        if let Some(r) = self.find_role(name).await? {
            return Ok(r);
        }
        match self.create_role(name, None, permissions).await {
            Ok(r) => Ok(r),
            // Lost a race with another creator: the role exists now.
            Err(crate::SecurityError::AlreadyExists { .. }) => self
                .find_role(name)
                .await?
                .ok_or(crate::SecurityError::NotFound { what: "role" }),
            Err(e) => Err(e),
        }
    }
    /// Parity: `add_role_to_user`; false when the user already had it.
    async fn add_role_to_user(&self, user: &mut User, role: &str) -> Result<bool>;
    /// Parity: `remove_role_from_user`; false when the user did not have it.
    async fn remove_role_from_user(&self, user: &mut User, role: &str) -> Result<bool>;
    /// Parity: `add_permissions_to_role`; false when nothing changed.
    async fn add_permissions_to_role(
        &self,
        role: &mut Role,
        permissions: &[String],
    ) -> Result<bool> {
        let mut next = role.clone();
        for p in permissions {
            if !next.permissions.contains(p) {
                next.permissions.push(p.clone());
            }
        }
        if next.permissions == role.permissions {
            return Ok(false);
        }
        self.put_role(&next).await?;
        *role = next;
        Ok(true)
    }
    /// Parity: `remove_permissions_from_role`; false when nothing changed.
    async fn remove_permissions_from_role(
        &self,
        role: &mut Role,
        permissions: &[String],
    ) -> Result<bool> {
        let mut next = role.clone();
        next.permissions.retain(|p| !permissions.contains(p));
        if next.permissions == role.permissions {
            return Ok(false);
        }
        self.put_role(&next).await?;
        *role = next;
        Ok(true)
    }
    /// Stores the role's description and permissions.
    async fn put_role(&self, role: &Role) -> Result<()>;
    /// Sets `active`; returns whether it changed.
    ///
    /// Reactivating also rotates the user's uniquifiers, in the same write: sessions,
    /// remember cookies and auth tokens from before the deactivation stay dead.
    async fn set_active(&self, user: &mut User, active: bool) -> Result<bool> {
        if user.active == active {
            return Ok(false);
        }
        update(self, user, |u| {
            u.active = active;
            if active {
                u.rotate_identity();
            }
        })
        .await?;
        Ok(true)
    }
    /// Parity: `activate_user`.
    async fn activate_user(&self, user: &mut User) -> Result<bool> {
        self.set_active(user, true).await
    }
    /// Parity: `deactivate_user`.
    async fn deactivate_user(&self, user: &mut User) -> Result<bool> {
        self.set_active(user, false).await
    }
    /// Parity: `toggle_active`.
    async fn toggle_active(&self, user: &mut User) -> Result<bool> {
        let to = !user.active;
        self.set_active(user, to).await
    }
    /// Parity: `set_uniquifier`: a new session identity logs the user out everywhere.
    async fn set_uniquifier(&self, user: &mut User, uniquifier: Option<String>) -> Result<()> {
        let u = uniquifier.unwrap_or_else(new_uniquifier);
        update(self, user, |x| x.fs_uniquifier = u).await
    }
    /// Parity: `set_token_uniquifier`: kills outstanding auth tokens.
    async fn set_token_uniquifier(
        &self,
        user: &mut User,
        uniquifier: Option<String>,
    ) -> Result<()> {
        let u = uniquifier.unwrap_or_else(new_uniquifier);
        update(self, user, |x| x.fs_token_uniquifier = Some(u)).await
    }
    /// Parity: `reset_user_access`: new uniquifiers, two-factor and unified sign-in
    /// reset, in one write.
    async fn reset_user_access(&self, user: &mut User) -> Result<()> {
        update(self, user, |u| {
            u.rotate_identity();
            u.tf_primary_method = None;
            u.tf_totp_secret = None;
            u.tf_phone_number = None;
            u.us_totp_secrets = None;
            u.us_phone_number = None;
        })
        .await
    }
    /// Parity: `tf_set`.
    async fn tf_set(
        &self,
        user: &mut User,
        primary_method: &str,
        totp_secret: Option<&str>,
        phone: Option<&str>,
    ) -> Result<()> {
        update(self, user, |u| {
            u.tf_primary_method = Some(primary_method.to_owned());
            if let Some(s) = totp_secret {
                u.tf_totp_secret = Some(s.to_owned());
            }
            if let Some(p) = phone {
                u.tf_phone_number = Some(p.to_owned());
            }
        })
        .await
    }
    /// Parity: `tf_reset`.
    async fn tf_reset(&self, user: &mut User) -> Result<()> {
        update(self, user, |u| {
            u.tf_primary_method = None;
            u.tf_totp_secret = None;
            u.tf_phone_number = None;
        })
        .await
    }
    /// Parity: `us_get_totp_secrets`.
    fn us_get_totp_secrets(&self, user: &User) -> BTreeMap<String, String> {
        user.us_totp_secrets
            .as_deref()
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_default()
    }
    /// Parity: `us_put_totp_secrets` (`None` clears).
    async fn us_put_totp_secrets(
        &self,
        user: &mut User,
        secrets: Option<&BTreeMap<String, String>>,
    ) -> Result<()> {
        let v = match secrets {
            Some(s) => {
                Some(serde_json::to_string(s).map_err(|e| SecurityError::Invalid(e.to_string()))?)
            }
            None => None,
        };
        update(self, user, |u| u.us_totp_secrets = v).await
    }
    /// Parity: `us_set`: enables a unified sign-in method.
    async fn us_set(
        &self,
        user: &mut User,
        method: &str,
        totp_secret: Option<&str>,
        phone: Option<&str>,
    ) -> Result<()> {
        let mut secrets = self.us_get_totp_secrets(user);
        if let Some(s) = totp_secret {
            secrets.insert(method.to_owned(), s.to_owned());
        }
        let json =
            serde_json::to_string(&secrets).map_err(|e| SecurityError::Invalid(e.to_string()))?;
        update(self, user, |u| {
            if method == "sms" {
                if let Some(p) = phone {
                    u.us_phone_number = Some(p.to_owned());
                }
            }
            u.us_totp_secrets = Some(json);
        })
        .await
    }
    /// Parity: `us_reset(user, method=None)`.
    async fn us_reset(&self, user: &mut User, method: Option<&str>) -> Result<()> {
        let mut secrets = self.us_get_totp_secrets(user);
        if let Some(m) = method {
            secrets.remove(m);
        } else {
            secrets.clear();
        }
        let json = if secrets.is_empty() {
            None
        } else {
            serde_json::to_string(&secrets).ok()
        };
        update(self, user, |u| {
            if method.is_none() || method == Some("sms") {
                u.us_phone_number = None;
            }
            u.us_totp_secrets = json;
        })
        .await
    }
    /// Records `step` as the last TOTP step accepted in `slot`, unless that step or a
    /// later one is recorded already: false then (a replayed code). One conditional
    /// write, so of two parallel uses of a code exactly one succeeds. Claiming
    /// `step - 1` without using it voids every earlier code (a new code was sent).
    async fn claim_step(&self, user: &User, slot: CodeSlot, step: u64) -> Result<bool>;
    /// Replaces the stored recovery codes with `new` if they still equal `expected`;
    /// false when they changed meanwhile (a parallel use). One conditional write.
    async fn swap_recovery_codes(
        &self,
        user: &mut User,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool>;
    /// The user's count of wrong second-factor codes since the last password step, after
    /// `op`. Kept in the database, so a browser cannot reset it by sending an older
    /// session cookie.
    async fn code_failures(&self, user: &User, op: CodeFailures) -> Result<u32>;
    /// The user's count of unified sign-in code tries in the current code window, after
    /// `op`: a count begun before `since` (Unix time) no longer counts, `Add` starts a
    /// new one then, and `Reset` clears only a count begun before `since`. Kept in the
    /// database, shared by every instance.
    async fn us_code_failures(
        &self,
        user: &User,
        op: CodeFailures,
        since: i64,
        now: i64,
    ) -> Result<u32>;
    /// The user's record of consecutive failed attempts with `factor`.
    async fn failed_attempts(&self, user_id: i32, factor: Factor) -> Result<Attempts>;
    /// Stores `next` as the record of `factor` if it still equals `seen`: false when
    /// another request changed it meanwhile. One conditional write, so parallel
    /// attempts are each counted.
    async fn swap_failed_attempts(
        &self,
        user_id: i32,
        factor: Factor,
        seen: Attempts,
        next: Attempts,
    ) -> Result<bool>;
    /// Forgets the failed attempts with `factor` (a success, a reset, an unlock).
    async fn clear_failed_attempts(&self, user_id: i32, factor: Factor) -> Result<()>;
    /// The nonce of the user's latest reset link (`None` before the first).
    async fn reset_nonce(&self, user_id: i32) -> Result<Option<String>>;
    /// Records the nonce of a newly issued reset link: every earlier link dies.
    async fn set_reset_nonce(&self, user_id: i32, nonce: &str) -> Result<()>;
    /// True when the store answers; used by health checks.
    async fn ping(&self) -> Result<()>;
    /// Where this datastore keeps server-side sessions and remember-me series, when it
    /// can (`session_store = "sql"`, the default).
    fn session_backend(&self) -> Option<std::sync::Arc<dyn SessionBackend>> {
        None
    }
    /// Where this datastore keeps WebAuthn credentials, when it can (the SQL datastore:
    /// Flask-Security's `webauthn` table).
    fn webauthn_store(&self) -> Option<std::sync::Arc<dyn WebAuthnStore>> {
        None
    }
    /// The auth cache's counters, when this datastore keeps one ([`CachedDatastore`]).
    fn auth_cache_stats(&self) -> Option<CacheStats> {
        None
    }
}

/// Where [`UserDatastore::claim_step`] records the last single-use thing accepted: the
/// code step of each secret (each has its own codes), and the issue time of the last
/// passwordless link used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSlot {
    /// The two-factor secret (`tf_totp_secret`).
    TwoFactor,
    /// The unified sign-in email secret (codes and magic links).
    UsEmail,
    /// The unified sign-in SMS secret.
    UsSms,
    /// The unified sign-in authenticator secret.
    UsAuthenticator,
    /// Passwordless sign-in links, by issue time (Unix seconds): using one voids it
    /// and every link issued before it.
    LoginLink,
}

impl CodeSlot {
    /// The slot of a unified sign-in method (`email`, `sms`, `authenticator`).
    pub fn unified(method: &str) -> Option<CodeSlot> {
        match method {
            "email" => Some(CodeSlot::UsEmail),
            "sms" => Some(CodeSlot::UsSms),
            "authenticator" => Some(CodeSlot::UsAuthenticator),
            _ => None,
        }
    }

    /// The column that holds the slot's last step.
    pub(crate) fn column(self) -> &'static str {
        match self {
            CodeSlot::TwoFactor => "tf_totp_last_step",
            CodeSlot::UsEmail => "us_email_last_step",
            CodeSlot::UsSms => "us_sms_last_step",
            CodeSlot::UsAuthenticator => "us_authenticator_last_step",
            CodeSlot::LoginLink => "fs_login_link_at",
        }
    }
}

/// A class of credential whose failed attempts are counted per account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Factor {
    /// Passwords (login, HTTP Basic, `/verify`, `/change`).
    Password,
    /// One-time codes: second-factor codes and recovery codes.
    Code,
    /// Unified sign-in codes (email, SMS, authenticator, magic links): counted apart
    /// from `Code`, so a visitor who knows only an address cannot lock the second
    /// factor of a user who has the password.
    Passcode,
}

/// Consecutive failed attempts with one factor and when the last one was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Failures since the last success.
    pub failures: u32,
    /// Unix time of the last failure (0 when none).
    pub last_at: i64,
}

/// Applies `change` to a copy of `user`, stores it, and only then updates `user`.
pub(crate) async fn update<D, F>(ds: &D, user: &mut User, change: F) -> Result<()>
where
    D: UserDatastore + ?Sized,
    F: FnOnce(&mut User) + Send,
{
    let mut next = user.clone();
    change(&mut next);
    ds.put_user(&mut next).await?;
    *user = next;
    Ok(())
}

/// What [`UserDatastore::code_failures`] does to the count before reading it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeFailures {
    /// Nothing.
    Read,
    /// One more wrong code.
    Add,
    /// Back to 0 (a new password step, or a code accepted).
    Reset,
}

/// A fresh random uniquifier: 32 hex characters (uuid4 hex in Flask-Security).
pub fn new_uniquifier() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}
