//! WebAuthn credentials ([`WebAuthnStore`]) and their SQL implementation over
//! Flask-Security's credentials table (`web_authn`, as Flask-SQLAlchemy names a
//! `WebAuthn` model's table, or migration 7's `webauthn`), so a database written by
//! Flask-Security keeps its passkeys.
//!
//! Parity: `WebAuthnUserDatastore` (`create_webauthn`, `find_webauthn`,
//! `delete_webauthn`, `set_webauthn_user_handle`) and `FsWebAuthnMixin`'s columns.

use chrono::NaiveDateTime;
use rocket::async_trait;

#[allow(unused_imports)]
use super::sql::{Dialect, SqlDatastore};
use crate::error::{Result, SecurityError};

/// A stored credential, as Flask-Security stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebAuthnCredential {
    /// Row id.
    pub id: i32,
    /// The owner.
    pub user_id: i32,
    /// The name the user gave it (unique per user).
    pub name: String,
    /// The credential id (raw bytes).
    pub credential_id: Vec<u8>,
    /// The COSE public key (CBOR bytes, py_webauthn's `credential_public_key`).
    pub public_key: Vec<u8>,
    /// The authenticator's signature counter at the last use (0: it keeps none).
    pub sign_count: i64,
    /// Transports the browser reported (`usb`, `nfc`, `ble`, `internal`, `hybrid`).
    pub transports: Vec<String>,
    /// The backup-state flag of the last use.
    pub backup_state: bool,
    /// `single_device` or `multi_device`.
    pub device_type: String,
    /// The client extension results of the registration, as a JSON string.
    pub extensions: Option<String>,
    /// When it was registered.
    pub create_datetime: NaiveDateTime,
    /// When it was last used.
    pub lastuse_datetime: NaiveDateTime,
    /// `first` (signs in alone) or `secondary` (second factor only).
    pub usage: String,
}

/// A credential to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewCredential {
    /// The owner.
    pub user_id: i32,
    /// Its name (unique per user).
    pub name: String,
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The COSE public key.
    pub public_key: Vec<u8>,
    /// The signature counter at registration.
    pub sign_count: i64,
    /// Reported transports.
    pub transports: Vec<String>,
    /// The backup-state flag.
    pub backup_state: bool,
    /// `single_device` or `multi_device`.
    pub device_type: String,
    /// Client extension results (JSON string).
    pub extensions: Option<String>,
    /// `first` or `secondary`.
    pub usage: String,
    /// Registration time.
    pub now: NaiveDateTime,
}

/// What a use of a credential records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialUse {
    /// The counter the check was made against (the stored one).
    pub seen_sign_count: i64,
    /// The counter of this use.
    pub sign_count: i64,
    /// The backup-state flag of this use.
    pub backup_state: bool,
    /// When.
    pub now: NaiveDateTime,
}

/// Storage of WebAuthn credentials.
#[async_trait]
pub trait WebAuthnStore: Send + Sync + 'static {
    /// Stores a new credential; `AlreadyExists` when its id is registered already.
    async fn create_credential(&self, new: &NewCredential) -> Result<WebAuthnCredential>;
    /// The credential with this id.
    async fn find_credential(&self, credential_id: &[u8]) -> Result<Option<WebAuthnCredential>>;
    /// The user's credentials, oldest first.
    async fn credentials_of(&self, user_id: i32) -> Result<Vec<WebAuthnCredential>>;
    /// Records a use while the stored counter is still `seen_sign_count`: false (nothing
    /// written) when another use changed it meanwhile. One conditional write.
    async fn record_use(&self, id: i32, used: &CredentialUse) -> Result<bool>;
    /// Deletes the user's credential named `name`; false when there is none.
    async fn delete_credential(&self, user_id: i32, name: &str) -> Result<bool>;
    /// The user's WebAuthn user handle (`fs_webauthn_user_handle`), set to `new` first
    /// when it has none; the stored value either way.
    async fn user_handle(&self, user_id: i32, new: &str) -> Result<String>;
    /// The user whose WebAuthn user handle is `handle`.
    async fn user_of_handle(&self, handle: &str) -> Result<Option<i32>>;
    /// Marks a challenge (its SHA-256 hex digest) answered until `expires`: false when it
    /// was already. Forgets challenges expired by `now`.
    async fn use_challenge(&self, digest: &str, expires: i64, now: i64) -> Result<bool>;
}

/// Flask-Security's `AsaList`: a comma-joined string (`""` is the empty list).
fn join_list(items: &[String]) -> String {
    items.join(",")
}

fn split_list(s: Option<String>) -> Vec<String> {
    s.map(|s| {
        s.split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_owned)
            .collect()
    })
    .unwrap_or_default()
}

#[derive(sqlx::FromRow)]
struct CredentialRow {
    id: i32,
    user_id: i32,
    name: String,
    credential_id: Vec<u8>,
    public_key: Vec<u8>,
    sign_count: Option<i32>,
    transports: Option<String>,
    backup_state: bool,
    device_type: String,
    extensions: Option<String>,
    create_datetime: NaiveDateTime,
    lastuse_datetime: NaiveDateTime,
    usage: String,
}

impl From<CredentialRow> for WebAuthnCredential {
    fn from(r: CredentialRow) -> Self {
        WebAuthnCredential {
            id: r.id,
            user_id: r.user_id,
            name: r.name,
            credential_id: r.credential_id,
            public_key: r.public_key,
            sign_count: i64::from(r.sign_count.unwrap_or(0)),
            transports: split_list(r.transports),
            backup_state: r.backup_state,
            device_type: r.device_type,
            extensions: r.extensions,
            create_datetime: r.create_datetime,
            lastuse_datetime: r.lastuse_datetime,
            usage: r.usage,
        }
    }
}

/// The counter as the `sign_count` column (Integer) holds it.
fn counter(n: i64) -> Result<i32> {
    i32::try_from(n).map_err(|_| SecurityError::Invalid("sign count out of range".into()))
}

const COLUMNS: &str = "id, user_id, name, credential_id, public_key, sign_count, transports, \
                       backup_state, device_type, extensions, create_datetime, \
                       lastuse_datetime, \"usage\"";

/// [`WebAuthnStore`] over a [`SqlDatastore`]: the credentials' table is found on first
/// use and kept (`web_authn` in a database Flask-Security wrote, else `webauthn`).
#[derive(Debug)]
pub struct SqlWebAuthn {
    ds: SqlDatastore,
    table: std::sync::OnceLock<&'static str>,
}

impl SqlWebAuthn {
    /// The store of `ds`.
    pub fn new(ds: SqlDatastore) -> SqlWebAuthn {
        SqlWebAuthn {
            ds,
            table: std::sync::OnceLock::new(),
        }
    }

    async fn table(&self) -> Result<&'static str> {
        if let Some(t) = self.table.get() {
            return Ok(t);
        }
        let ds = &self.ds;
        let t: &'static str = super::sql::dispatch!(ds, table())?;
        Ok(self.table.get_or_init(|| t))
    }
}

#[async_trait]
impl WebAuthnStore for SqlWebAuthn {
    async fn create_credential(&self, new: &NewCredential) -> Result<WebAuthnCredential> {
        let (ds, t) = (&self.ds, self.table().await?);
        super::sql::dispatch!(ds, create_credential(t, new))
    }

    async fn find_credential(&self, credential_id: &[u8]) -> Result<Option<WebAuthnCredential>> {
        let (ds, t) = (&self.ds, self.table().await?);
        super::sql::dispatch!(ds, find_credential(t, credential_id))
    }

    async fn credentials_of(&self, user_id: i32) -> Result<Vec<WebAuthnCredential>> {
        let (ds, t) = (&self.ds, self.table().await?);
        super::sql::dispatch!(ds, credentials_of(t, user_id))
    }

    async fn record_use(&self, id: i32, used: &CredentialUse) -> Result<bool> {
        let (ds, t) = (&self.ds, self.table().await?);
        super::sql::dispatch!(ds, record_use(t, id, used))
    }

    async fn delete_credential(&self, user_id: i32, name: &str) -> Result<bool> {
        let (ds, t) = (&self.ds, self.table().await?);
        super::sql::dispatch!(ds, delete_credential(t, user_id, name))
    }

    async fn user_handle(&self, user_id: i32, new: &str) -> Result<String> {
        let ds = &self.ds;
        super::sql::dispatch!(ds, user_handle(user_id, new))
    }

    async fn user_of_handle(&self, handle: &str) -> Result<Option<i32>> {
        let ds = &self.ds;
        super::sql::dispatch!(ds, user_of_handle(handle))
    }

    async fn use_challenge(&self, digest: &str, expires: i64, now: i64) -> Result<bool> {
        let ds = &self.ds;
        super::sql::dispatch!(ds, use_challenge(digest, expires, now))
    }
}

macro_rules! sql_webauthn {
    ($modname:ident, $db:ty, $pool:ty, $dialect:expr) => {
        pub(super) mod $modname {
            use super::*;

            const D: Dialect = $dialect;

            /// The credentials' table: Flask-SQLAlchemy names a `WebAuthn` model's table
            /// `web_authn`, and a database Flask-Security wrote keeps its rows there;
            /// otherwise migration 7's `webauthn` (Flask-Security's own default name).
            pub(crate) async fn table(pool: &$pool) -> Result<&'static str> {
                let names: Vec<(String,)> = sqlx::query_as(D.tables_sql()).fetch_all(pool).await?;
                Ok(if names.iter().any(|(n,)| n == "web_authn") {
                    "web_authn"
                } else {
                    "webauthn"
                })
            }

            pub(crate) async fn create_credential(
                pool: &$pool,
                t: &str,
                n: &NewCredential,
            ) -> Result<WebAuthnCredential> {
                let sql = format!(
                    "INSERT INTO {t} (user_id, name, credential_id, public_key, \
                     sign_count, transports, backup_state, device_type, extensions, \
                     create_datetime, lastuse_datetime, \"usage\") \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                );
                let mut tx = pool.begin().await?;
                sqlx::query::<$db>(&D.sql(&sql))
                    .bind(n.user_id)
                    .bind(&n.name)
                    .bind(&n.credential_id)
                    .bind(&n.public_key)
                    .bind(counter(n.sign_count)?)
                    .bind(join_list(&n.transports))
                    .bind(n.backup_state)
                    .bind(&n.device_type)
                    .bind(&n.extensions)
                    .bind(n.now)
                    .bind(n.now)
                    .bind(&n.usage)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match SecurityError::from(e) {
                        SecurityError::AlreadyExists { .. } => SecurityError::AlreadyExists {
                            what: "webauthn credential",
                        },
                        other => other,
                    })?;
                let sql = format!("SELECT {COLUMNS} FROM {t} WHERE credential_id = ?");
                let row: CredentialRow = sqlx::query_as(&D.sql(&sql))
                    .bind(&n.credential_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            pub(crate) async fn find_credential(
                pool: &$pool,
                t: &str,
                credential_id: &[u8],
            ) -> Result<Option<WebAuthnCredential>> {
                let sql = format!("SELECT {COLUMNS} FROM {t} WHERE credential_id = ?");
                let row: Option<CredentialRow> = sqlx::query_as(&D.sql(&sql))
                    .bind(credential_id)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(Into::into))
            }

            pub(crate) async fn credentials_of(
                pool: &$pool,
                t: &str,
                user_id: i32,
            ) -> Result<Vec<WebAuthnCredential>> {
                let sql = format!("SELECT {COLUMNS} FROM {t} WHERE user_id = ? ORDER BY id");
                let rows: Vec<CredentialRow> = sqlx::query_as(&D.sql(&sql))
                    .bind(user_id)
                    .fetch_all(pool)
                    .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            pub(crate) async fn record_use(
                pool: &$pool,
                t: &str,
                id: i32,
                u: &CredentialUse,
            ) -> Result<bool> {
                let sql = format!(
                    "UPDATE {t} SET sign_count = ?, backup_state = ?, \
                     lastuse_datetime = ? WHERE id = ? AND COALESCE(sign_count, 0) = ?"
                );
                let done = sqlx::query::<$db>(&D.sql(&sql))
                    .bind(counter(u.sign_count)?)
                    .bind(u.backup_state)
                    .bind(u.now)
                    .bind(id)
                    .bind(counter(u.seen_sign_count)?)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn delete_credential(
                pool: &$pool,
                t: &str,
                user_id: i32,
                name: &str,
            ) -> Result<bool> {
                let sql = format!("DELETE FROM {t} WHERE user_id = ? AND name = ?");
                let done = sqlx::query::<$db>(&D.sql(&sql))
                    .bind(user_id)
                    .bind(name)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            pub(crate) async fn user_handle(
                pool: &$pool,
                user_id: i32,
                new: &str,
            ) -> Result<String> {
                let set = "UPDATE \"user\" SET fs_webauthn_user_handle = ? \
                           WHERE id = ? AND fs_webauthn_user_handle IS NULL";
                sqlx::query::<$db>(&D.sql(set))
                    .bind(new)
                    .bind(user_id)
                    .execute(pool)
                    .await?;
                let get = "SELECT fs_webauthn_user_handle FROM \"user\" WHERE id = ?";
                let row: Option<(Option<String>,)> = sqlx::query_as(&D.sql(get))
                    .bind(user_id)
                    .fetch_optional(pool)
                    .await?;
                row.and_then(|(h,)| h)
                    .ok_or(SecurityError::NotFound { what: "user" })
            }

            pub(crate) async fn user_of_handle(pool: &$pool, handle: &str) -> Result<Option<i32>> {
                let sql = "SELECT id FROM \"user\" WHERE fs_webauthn_user_handle = ?";
                let row: Option<(i32,)> = sqlx::query_as(&D.sql(sql))
                    .bind(handle)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(|(id,)| id))
            }

            pub(crate) async fn use_challenge(
                pool: &$pool,
                digest: &str,
                expires: i64,
                now: i64,
            ) -> Result<bool> {
                sqlx::query::<$db>(&D.sql("DELETE FROM fs_wan_challenge WHERE expires < ?"))
                    .bind(now)
                    .execute(pool)
                    .await?;
                let sql = "INSERT INTO fs_wan_challenge (challenge, expires) VALUES (?, ?)";
                let done = sqlx::query::<$db>(&D.sql(sql))
                    .bind(digest)
                    .bind(expires)
                    .execute(pool)
                    .await;
                match done.map_err(SecurityError::from) {
                    Ok(_) => Ok(true),
                    Err(SecurityError::AlreadyExists { .. }) => Ok(false),
                    Err(e) => Err(e),
                }
            }
        }
    };
}

#[cfg(feature = "sqlite")]
sql_webauthn!(sqlite, sqlx::Sqlite, sqlx::SqlitePool, Dialect::Sqlite);
#[cfg(feature = "postgres")]
sql_webauthn!(postgres, sqlx::Postgres, sqlx::PgPool, Dialect::Postgres);
#[cfg(feature = "mysql")]
sql_webauthn!(mysql, sqlx::MySql, sqlx::MySqlPool, Dialect::MySql);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_are_flask_securitys_comma_list() {
        let t = vec!["usb".to_owned(), "nfc".to_owned()];
        assert_eq!(join_list(&t), "usb,nfc");
        assert_eq!(split_list(Some("usb,nfc".into())), t);
        assert!(split_list(Some(String::new())).is_empty());
        assert!(split_list(None).is_empty());
    }
}
