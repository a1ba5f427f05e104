//! [`SqlDatastore`]: the datastore over sqlx pools (SQLite, PostgreSQL, MySQL/MariaDB).
//!
//! The SQL is written once with `?` placeholders and `"user"` quoting; [`Dialect`]
//! rewrites it for PostgreSQL (`$n`) and MySQL (backticks). Each backend's functions are
//! generated from one macro body, so the three share every query.

use std::borrow::Cow;

use chrono::NaiveDateTime;
use rocket::async_trait;

use super::decode::{roles_of_json, Stamp};
use super::{
    new_uniquifier, Attempts, CodeFailures, CodeSlot, Factor, NewUser, SchemaStatus, UserDatastore,
    UserQuery,
};
use crate::error::{Result, SecurityError};
use crate::model::{join_permissions, split_permissions, Role, User};

/// SQL flavour of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    Sqlite,
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Postgres,
    #[cfg_attr(not(feature = "mysql"), allow(dead_code))]
    MySql,
}

impl Dialect {
    /// Rewrites generic SQL (`?`, `"ident"`) for this dialect.
    pub(super) fn sql(self, generic: &str) -> Cow<'_, str> {
        match self {
            Dialect::Sqlite => Cow::Borrowed(generic),
            Dialect::MySql => Cow::Owned(generic.replace('"', "`")),
            Dialect::Postgres => {
                let mut out = String::with_capacity(generic.len() + 8);
                let mut n = 0;
                for c in generic.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }
}

macro_rules! user_columns {
    () => {
        concat!(
            "id, email, username, password, active, fs_uniquifier, ",
            "fs_token_uniquifier, confirmed_at, last_login_at, current_login_at, last_login_ip, ",
            "current_login_ip, login_count, tf_primary_method, tf_totp_secret, tf_phone_number, ",
            "us_phone_number, us_totp_secrets, mf_recovery_codes, create_datetime, update_datetime"
        )
    };
}

/// The user columns a lookup reads: what the auth cache keeps, and what migration 9's
/// update triggers watch.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) const USER_COLUMNS: &str = user_columns!();

macro_rules! user_select {
    ($where:literal) => {
        concat!("SELECT ", user_columns!(), " FROM \"user\" WHERE ", $where)
    };
}

/// A user with its roles in one row: the roles as one JSON array (`roles_json`), so a
/// user with 20 roles costs one row decoded once, not 20 rows each decoding the user.
macro_rules! user_with_roles {
    ($where:literal) => {
        concat!(
            "SELECT u.id, u.email, u.username, u.password, u.active, u.fs_uniquifier, ",
            "u.fs_token_uniquifier, u.confirmed_at, u.last_login_at, u.current_login_at, ",
            "u.last_login_ip, u.current_login_ip, u.login_count, u.tf_primary_method, ",
            "u.tf_totp_secret, u.tf_phone_number, u.us_phone_number, u.us_totp_secrets, ",
            "u.mf_recovery_codes, u.create_datetime, u.update_datetime, ",
            "(ROLES_JSON) AS roles_json FROM \"user\" u WHERE ",
            $where,
            " ORDER BY u.id"
        )
    };
}

impl Dialect {
    /// The aggregate of `roles_json`: the user's roles (`u.id`) as a JSON array of
    /// `[id, name, description, permissions, update_datetime]` arrays (no keys to build
    /// or match per role; `decode::JsonRole` reads them in this order); NULL or `[]`
    /// for none.
    fn roles_json(self) -> &'static str {
        match self {
            Dialect::Sqlite => {
                "SELECT json_group_array(json_array(r.id, r.name, r.description, \
                 r.permissions, r.update_datetime)) FROM \"role\" r \
                 JOIN roles_users ru ON ru.role_id = r.id WHERE ru.user_id = u.id"
            }
            Dialect::Postgres => {
                "SELECT json_agg(json_build_array(r.id, r.name, r.description, \
                 r.permissions, r.update_datetime))::text FROM \"role\" r \
                 JOIN roles_users ru ON ru.role_id = r.id WHERE ru.user_id = u.id"
            }
            Dialect::MySql => {
                "SELECT CAST(JSON_ARRAYAGG(JSON_ARRAY(r.id, r.name, r.description, \
                 r.permissions, r.update_datetime)) AS CHAR) FROM \"role\" r \
                 JOIN roles_users ru ON ru.role_id = r.id WHERE ru.user_id = u.id"
            }
        }
    }

    /// A [`user_with_roles!`] query for this dialect.
    fn user_with_roles(self, generic: &str) -> String {
        self.sql(&generic.replacen("ROLES_JSON", self.roles_json(), 1))
            .into_owned()
    }
}

#[derive(sqlx::FromRow)]
struct UserRolesRow {
    #[sqlx(flatten)]
    user: UserRow,
    roles_json: Option<String>,
}

/// Runs `statement` again (three times at most) when the database rolled it back as a
/// deadlock victim or a serialization failure (SQLSTATE 40001, 40P01): InnoDB picks such
/// victims among parallel updates of one row's unique keys, and a single-use write raced
/// twenty times must still answer each loser "used", not 503. Only for work whose
/// rollback undid the whole of it: one statement, or a transaction `statement` begins
/// and commits itself.
pub(super) async fn rolled_back_retried<T, F, Fut>(
    mut statement: F,
) -> std::result::Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::result::Result<T, sqlx::Error>>,
{
    let mut retries = 3;
    loop {
        match statement().await {
            Err(sqlx::Error::Database(e))
                if retries > 0 && matches!(e.code().as_deref(), Some("40001" | "40P01")) =>
            {
                retries -= 1;
            }
            other => return other,
        }
    }
}

/// The one user of `rows`; `None` unless exactly one user matched.
fn one_user(rows: Vec<UserRolesRow>) -> Result<Option<User>> {
    let mut rows = rows.into_iter();
    let (Some(row), None) = (rows.next(), rows.next()) else {
        // None, or a case-insensitive match that hit two users (a database written
        // without normalisation): refuse to guess which one is meant.
        return Ok(None);
    };
    let roles = roles_of_json(row.roles_json.as_deref())?;
    Ok(Some(row.user.into_user(roles)))
}

const ROLES_OF_USER: &str = "SELECT r.id, r.name, r.description, r.permissions, \
    r.update_datetime FROM \"role\" r JOIN roles_users ru ON ru.role_id = r.id \
    WHERE ru.user_id = ? ORDER BY r.name";

#[derive(sqlx::FromRow)]
struct UserRow {
    id: i32,
    email: String,
    username: Option<String>,
    password: Option<String>,
    active: bool,
    fs_uniquifier: String,
    fs_token_uniquifier: Option<String>,
    confirmed_at: Option<Stamp>,
    last_login_at: Option<Stamp>,
    current_login_at: Option<Stamp>,
    last_login_ip: Option<String>,
    current_login_ip: Option<String>,
    login_count: Option<i32>,
    tf_primary_method: Option<String>,
    tf_totp_secret: Option<String>,
    tf_phone_number: Option<String>,
    us_phone_number: Option<String>,
    us_totp_secrets: Option<String>,
    mf_recovery_codes: Option<String>,
    create_datetime: Stamp,
    update_datetime: Stamp,
}

impl UserRow {
    fn into_user(self, roles: Vec<Role>) -> User {
        User {
            id: self.id,
            email: self.email,
            username: self.username,
            password: self.password,
            active: self.active,
            fs_uniquifier: self.fs_uniquifier,
            fs_token_uniquifier: self.fs_token_uniquifier,
            confirmed_at: self.confirmed_at.map(|s| s.0),
            last_login_at: self.last_login_at.map(|s| s.0),
            current_login_at: self.current_login_at.map(|s| s.0),
            last_login_ip: self.last_login_ip,
            current_login_ip: self.current_login_ip,
            login_count: self.login_count,
            tf_primary_method: self.tf_primary_method,
            tf_totp_secret: self.tf_totp_secret,
            tf_phone_number: self.tf_phone_number,
            us_phone_number: self.us_phone_number,
            us_totp_secrets: self.us_totp_secrets,
            mf_recovery_codes: self.mf_recovery_codes,
            create_datetime: self.create_datetime.0,
            update_datetime: self.update_datetime.0,
            roles,
        }
    }
}

#[derive(sqlx::FromRow)]
struct RoleRow {
    id: i32,
    name: String,
    description: Option<String>,
    permissions: Option<String>,
    update_datetime: NaiveDateTime,
}

impl From<RoleRow> for Role {
    fn from(r: RoleRow) -> Role {
        Role {
            id: r.id,
            name: r.name,
            description: r.description,
            permissions: split_permissions(r.permissions.as_deref()),
            update_datetime: r.update_datetime,
        }
    }
}

/// Current time, naive UTC, truncated to microseconds so every backend stores it exactly.
fn now() -> NaiveDateTime {
    let t = chrono::Utc::now().naive_utc();
    t.with_nanosecond_trunc()
}

trait TruncMicros {
    fn with_nanosecond_trunc(self) -> Self;
}

impl TruncMicros for NaiveDateTime {
    fn with_nanosecond_trunc(self) -> Self {
        use chrono::Timelike;
        let micros = self.nanosecond() / 1000 * 1000;
        self.with_nanosecond(micros).unwrap_or(self)
    }
}

macro_rules! backend {
    ($modname:ident, $db:ty, $pool:ty, $dialect:expr) => {
        mod $modname {
            use super::*;

            const D: Dialect = $dialect;

            async fn roles_of<'e, E>(ex: E, user_id: i32) -> Result<Vec<Role>>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let rows = sqlx::query_as::<$db, RoleRow>(&D.sql(ROLES_OF_USER))
                    .bind(user_id)
                    .fetch_all(ex)
                    .await?;
                Ok(rows.into_iter().map(Role::from).collect())
            }

            pub(super) async fn ping(pool: &$pool) -> Result<()> {
                sqlx::query::<$db>("SELECT 1").execute(pool).await?;
                Ok(())
            }

            pub(super) async fn find_user(
                pool: &$pool,
                query: &UserQuery,
                ci: bool,
            ) -> Result<Option<User>> {
                let q = match (query, ci) {
                    (UserQuery::Id(_), _) => user_with_roles!("u.id = ?"),
                    (UserQuery::Email(_), false) => user_with_roles!("u.email = ?"),
                    (UserQuery::Email(_), true) => {
                        user_with_roles!("LOWER(u.email) = LOWER(?)")
                    }
                    (UserQuery::Username(_), false) => user_with_roles!("u.username = ?"),
                    (UserQuery::Username(_), true) => {
                        user_with_roles!("LOWER(u.username) = LOWER(?)")
                    }
                    (UserQuery::FsUniquifier(_), _) => user_with_roles!("u.fs_uniquifier = ?"),
                    (UserQuery::FsTokenUniquifier(_), _) => {
                        user_with_roles!("u.fs_token_uniquifier = ?")
                    }
                    (UserQuery::UsPhoneNumber(_), _) => {
                        user_with_roles!("u.us_phone_number = ?")
                    }
                };
                let sql = D.user_with_roles(q);
                let stmt = sqlx::query_as::<$db, UserRolesRow>(&sql);
                let stmt = match query {
                    UserQuery::Id(id) => stmt.bind(*id),
                    q => stmt.bind(q.text().unwrap_or_default()),
                };
                one_user(stmt.fetch_all(pool).await?)
            }

            pub(super) async fn create_user(pool: &$pool, new: NewUser) -> Result<User> {
                let now = now();
                let uniq = new.fs_uniquifier.unwrap_or_else(new_uniquifier);
                let mut tx = pool.begin().await?;
                sqlx::query::<$db>(&D.sql(
                    "INSERT INTO \"user\" (email, username, password, active, fs_uniquifier, \
                     confirmed_at, login_count, create_datetime, update_datetime) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                ))
                .bind(&new.email)
                .bind(&new.username)
                .bind(&new.password)
                .bind(new.active.unwrap_or(true))
                .bind(&uniq)
                .bind(new.confirmed_at)
                .bind(0i32)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| match SecurityError::from(e) {
                    SecurityError::AlreadyExists { .. } => {
                        SecurityError::AlreadyExists { what: "user" }
                    }
                    other => other,
                })?;
                let row = sqlx::query_as::<$db, UserRow>(&D.sql(user_select!("fs_uniquifier = ?")))
                    .bind(&uniq)
                    .fetch_one(&mut *tx)
                    .await?;
                for name in &new.roles {
                    let role_id: Option<i32> = sqlx::query_scalar::<$db, i32>(
                        &D.sql("SELECT id FROM \"role\" WHERE name = ?"),
                    )
                    .bind(name)
                    .fetch_optional(&mut *tx)
                    .await?;
                    let Some(role_id) = role_id else {
                        // Dropping `tx` rolls the user back.
                        return Err(SecurityError::NotFound { what: "role" });
                    };
                    sqlx::query::<$db>(
                        &D.sql("INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)"),
                    )
                    .bind(row.id)
                    .bind(role_id)
                    .execute(&mut *tx)
                    .await?;
                }
                let roles = roles_of(&mut *tx, row.id).await?;
                tx.commit().await?;
                Ok(row.into_user(roles))
            }

            /// Locks the user row before the grants (MySQL's change triggers then take
            /// their counter row in the same order as a grant does) and runs again when
            /// rolled back as a deadlock victim: nothing of it stayed.
            pub(super) async fn delete_user(pool: &$pool, user: &User) -> Result<()> {
                let deleted = rolled_back_retried(|| async {
                    let mut tx = pool.begin().await?;
                    if D != Dialect::Sqlite {
                        let lock = "SELECT id FROM \"user\" WHERE id = ? FOR UPDATE";
                        sqlx::query::<$db>(&D.sql(lock))
                            .bind(user.id)
                            .fetch_optional(&mut *tx)
                            .await?;
                    }
                    sqlx::query::<$db>(&D.sql("DELETE FROM roles_users WHERE user_id = ?"))
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                    let done = sqlx::query::<$db>(&D.sql("DELETE FROM \"user\" WHERE id = ?"))
                        .bind(user.id)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(done.rows_affected())
                })
                .await?;
                if deleted == 0 {
                    return Err(SecurityError::NotFound { what: "user" });
                }
                Ok(())
            }

            pub(super) async fn put_user(pool: &$pool, user: &mut User) -> Result<()> {
                if put_user_where(pool, user, None).await? == 0 {
                    return Err(SecurityError::NotFound { what: "user" });
                }
                Ok(())
            }

            pub(super) async fn put_user_if(
                pool: &$pool,
                user: &mut User,
                expected_uniquifier: &str,
            ) -> Result<bool> {
                Ok(put_user_where(pool, user, Some(expected_uniquifier)).await? == 1)
            }

            /// Stores every column of `user` (WHERE the id, and the expected uniquifier when
            /// given); the rows written.
            async fn put_user_where(
                pool: &$pool,
                user: &mut User,
                expected_uniquifier: Option<&str>,
            ) -> Result<u64> {
                let now = now();
                let sql = format!(
                    "UPDATE \"user\" SET email = ?, username = ?, password = ?, active = ?, \
                     fs_uniquifier = ?, fs_token_uniquifier = ?, confirmed_at = ?, \
                     last_login_at = ?, current_login_at = ?, last_login_ip = ?, \
                     current_login_ip = ?, login_count = ?, tf_primary_method = ?, \
                     tf_totp_secret = ?, tf_phone_number = ?, us_phone_number = ?, \
                     us_totp_secrets = ?, update_datetime = ? WHERE id = ?{}",
                    if expected_uniquifier.is_some() {
                        " AND fs_uniquifier = ?"
                    } else {
                        ""
                    }
                );
                let sql = D.sql(&sql);
                let stored: &User = user;
                let statement = || {
                    let user = stored;
                    let q = sqlx::query::<$db>(&sql)
                        .bind(&user.email)
                        .bind(&user.username)
                        .bind(&user.password)
                        .bind(user.active)
                        .bind(&user.fs_uniquifier)
                        .bind(&user.fs_token_uniquifier)
                        .bind(user.confirmed_at)
                        .bind(user.last_login_at)
                        .bind(user.current_login_at)
                        .bind(&user.last_login_ip)
                        .bind(&user.current_login_ip)
                        .bind(user.login_count)
                        .bind(&user.tf_primary_method)
                        .bind(&user.tf_totp_secret)
                        .bind(&user.tf_phone_number)
                        .bind(&user.us_phone_number)
                        .bind(&user.us_totp_secrets)
                        .bind(now)
                        .bind(user.id);
                    let q = match expected_uniquifier {
                        Some(u) => q.bind(u),
                        None => q,
                    };
                    q.execute(pool)
                };
                let done = rolled_back_retried(statement)
                    .await
                    .map_err(|e| match SecurityError::from(e) {
                        SecurityError::AlreadyExists { .. } => {
                            SecurityError::AlreadyExists { what: "user" }
                        }
                        other => other,
                    })?;
                if done.rows_affected() > 0 {
                    user.update_datetime = now;
                }
                Ok(done.rows_affected())
            }

            pub(super) async fn claim_step(
                pool: &$pool,
                user_id: i32,
                slot: CodeSlot,
                step: u64,
            ) -> Result<bool> {
                let step =
                    i64::try_from(step).map_err(|_| SecurityError::Invalid("step".into()))?;
                let c = slot.column();
                let done = sqlx::query::<$db>(&D.sql(&format!(
                    "UPDATE \"user\" SET {c} = ? WHERE id = ? AND ({c} IS NULL OR {c} < ?)"
                )))
                .bind(step)
                .bind(user_id)
                .bind(step)
                .execute(pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn us_code_failures(
                pool: &$pool,
                user_id: i32,
                op: CodeFailures,
                since: i64,
                now: i64,
            ) -> Result<u32> {
                // The count goes first: MySQL assigns left to right, so the second
                // assignment must not read a window start changed by the first.
                let mut tx = pool.begin().await?;
                match op {
                    CodeFailures::Read => {}
                    CodeFailures::Add => {
                        sqlx::query::<$db>(&D.sql(
                            "UPDATE \"user\" SET us_code_failures = CASE \
                             WHEN us_code_failures_at IS NULL OR us_code_failures_at < ? THEN 1 \
                             ELSE COALESCE(us_code_failures, 0) + 1 END, \
                             us_code_failures_at = CASE \
                             WHEN us_code_failures_at IS NULL OR us_code_failures_at < ? THEN ? \
                             ELSE us_code_failures_at END WHERE id = ?",
                        ))
                        .bind(since)
                        .bind(since)
                        .bind(now)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                    }
                    CodeFailures::Reset => {
                        sqlx::query::<$db>(&D.sql(
                            "UPDATE \"user\" SET us_code_failures = 0, \
                             us_code_failures_at = NULL WHERE id = ? \
                             AND (us_code_failures_at IS NULL OR us_code_failures_at < ?)",
                        ))
                        .bind(user_id)
                        .bind(since)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                let (n, at): (Option<i32>, Option<i64>) =
                    sqlx::query_as::<$db, (Option<i32>, Option<i64>)>(&D.sql(
                        "SELECT us_code_failures, us_code_failures_at FROM \"user\" WHERE id = ?",
                    ))
                    .bind(user_id)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                let current = at.is_some_and(|t| t >= since);
                Ok(if current {
                    u32::try_from(n.unwrap_or(0)).unwrap_or(0)
                } else {
                    0
                })
            }

            pub(super) async fn code_failures(
                pool: &$pool,
                user_id: i32,
                op: CodeFailures,
            ) -> Result<u32> {
                let change = match op {
                    CodeFailures::Read => None,
                    CodeFailures::Add => Some(
                        "UPDATE \"user\" SET tf_code_failures = COALESCE(tf_code_failures, 0) + 1 \
                         WHERE id = ?",
                    ),
                    CodeFailures::Reset => {
                        Some("UPDATE \"user\" SET tf_code_failures = 0 WHERE id = ?")
                    }
                };
                let mut tx = pool.begin().await?;
                if let Some(sql) = change {
                    sqlx::query::<$db>(&D.sql(sql))
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await?;
                }
                let (n,): (Option<i32>,) = sqlx::query_as::<$db, (Option<i32>,)>(
                    &D.sql("SELECT tf_code_failures FROM \"user\" WHERE id = ?"),
                )
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(u32::try_from(n.unwrap_or(0)).unwrap_or(0))
            }

            pub(super) async fn failed_attempts(
                pool: &$pool,
                user_id: i32,
                factor: Factor,
            ) -> Result<Attempts> {
                let (n, at) = attempt_columns(factor);
                let sql = format!("SELECT {n}, {at} FROM \"user\" WHERE id = ?");
                let row: Option<(Option<i32>, Option<i64>)> =
                    sqlx::query_as::<$db, (Option<i32>, Option<i64>)>(&D.sql(&sql))
                        .bind(user_id)
                        .fetch_optional(pool)
                        .await?;
                let (failures, last_at) = row.unwrap_or_default();
                Ok(Attempts {
                    failures: u32::try_from(failures.unwrap_or(0)).unwrap_or(0),
                    last_at: last_at.unwrap_or(0),
                })
            }

            pub(super) async fn swap_failed_attempts(
                pool: &$pool,
                user_id: i32,
                factor: Factor,
                seen: Attempts,
                next: Attempts,
            ) -> Result<bool> {
                let (n, at) = attempt_columns(factor);
                let sql = format!(
                    "UPDATE \"user\" SET {n} = ?, {at} = ? WHERE id = ? \
                     AND COALESCE({n}, 0) = ? AND COALESCE({at}, 0) = ?"
                );
                let count = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
                let done = sqlx::query::<$db>(&D.sql(&sql))
                    .bind(count(next.failures))
                    .bind(next.last_at)
                    .bind(user_id)
                    .bind(count(seen.failures))
                    .bind(seen.last_at)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(super) async fn clear_failed_attempts(
                pool: &$pool,
                user_id: i32,
                factor: Factor,
            ) -> Result<()> {
                let (n, at) = attempt_columns(factor);
                let sql =
                    format!("UPDATE \"user\" SET {n} = 0, {at} = 0 WHERE id = ? AND {n} <> 0");
                sqlx::query::<$db>(&D.sql(&sql))
                    .bind(user_id)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(super) async fn reset_nonce(pool: &$pool, user_id: i32) -> Result<Option<String>> {
                let sql = D.sql("SELECT fs_reset_nonce FROM \"user\" WHERE id = ?");
                let row: Option<(Option<String>,)> = sqlx::query_as::<$db, (Option<String>,)>(&sql)
                    .bind(user_id)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.and_then(|r| r.0))
            }

            pub(super) async fn set_reset_nonce(
                pool: &$pool,
                user_id: i32,
                nonce: &str,
            ) -> Result<()> {
                let sql = D.sql("UPDATE \"user\" SET fs_reset_nonce = ? WHERE id = ?");
                sqlx::query::<$db>(&sql)
                    .bind(nonce)
                    .bind(user_id)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(super) async fn swap_recovery_codes(
                pool: &$pool,
                user: &mut User,
                expected: Option<&str>,
                new: Option<&str>,
            ) -> Result<bool> {
                let now = now();
                let sql = if expected.is_some() {
                    "UPDATE \"user\" SET mf_recovery_codes = ?, update_datetime = ? \
                     WHERE id = ? AND mf_recovery_codes = ?"
                } else {
                    "UPDATE \"user\" SET mf_recovery_codes = ?, update_datetime = ? \
                     WHERE id = ? AND mf_recovery_codes IS NULL"
                };
                let sql = D.sql(sql);
                let mut q = sqlx::query::<$db>(&sql).bind(new).bind(now).bind(user.id);
                if let Some(e) = expected {
                    q = q.bind(e);
                }
                let done = q.execute(pool).await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                user.mf_recovery_codes = new.map(str::to_owned);
                user.update_datetime = now;
                Ok(true)
            }

            pub(super) async fn create_role(
                pool: &$pool,
                name: &str,
                description: Option<&str>,
                permissions: &[String],
            ) -> Result<Role> {
                let now = now();
                let mut tx = pool.begin().await?;
                sqlx::query::<$db>(&D.sql(
                    "INSERT INTO \"role\" (name, description, permissions, update_datetime) \
                     VALUES (?, ?, ?, ?)",
                ))
                .bind(name)
                .bind(description)
                .bind(join_permissions(permissions))
                .bind(now)
                .execute(&mut *tx)
                .await
                .map_err(|e| match SecurityError::from(e) {
                    SecurityError::AlreadyExists { .. } => {
                        SecurityError::AlreadyExists { what: "role" }
                    }
                    other => other,
                })?;
                let row = sqlx::query_as::<$db, RoleRow>(&D.sql(
                    "SELECT id, name, description, permissions, update_datetime \
                     FROM \"role\" WHERE name = ?",
                ))
                .bind(name)
                .fetch_one(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(row.into())
            }

            pub(super) async fn find_role(pool: &$pool, name: &str) -> Result<Option<Role>> {
                let row = sqlx::query_as::<$db, RoleRow>(&D.sql(
                    "SELECT id, name, description, permissions, update_datetime \
                     FROM \"role\" WHERE name = ?",
                ))
                .bind(name)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(Role::from))
            }

            pub(super) async fn all_roles(pool: &$pool) -> Result<Vec<Role>> {
                let rows = sqlx::query_as::<$db, RoleRow>(
                    "SELECT id, name, description, permissions, update_datetime \
                     FROM role ORDER BY name",
                )
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(Role::from).collect())
            }

            pub(super) async fn put_role(pool: &$pool, role: &Role) -> Result<()> {
                let done = sqlx::query::<$db>(&D.sql(
                    "UPDATE \"role\" SET description = ?, permissions = ?, \
                     update_datetime = ? WHERE id = ?",
                ))
                .bind(&role.description)
                .bind(join_permissions(&role.permissions))
                .bind(now())
                .bind(role.id)
                .execute(pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Err(SecurityError::NotFound { what: "role" });
                }
                Ok(())
            }

            pub(super) async fn add_role_to_user(
                pool: &$pool,
                user: &mut User,
                role: &str,
            ) -> Result<bool> {
                if user.has_role(role) {
                    return Ok(false);
                }
                let mut tx = pool.begin().await?;
                let role_id: Option<i32> = sqlx::query_scalar::<$db, i32>(
                    &D.sql("SELECT id FROM \"role\" WHERE name = ?"),
                )
                .bind(role)
                .fetch_optional(&mut *tx)
                .await?;
                let Some(role_id) = role_id else {
                    return Err(SecurityError::NotFound { what: "role" });
                };
                let inserted = sqlx::query::<$db>(
                    &D.sql("INSERT INTO roles_users (user_id, role_id) VALUES (?, ?)"),
                )
                .bind(user.id)
                .bind(role_id)
                .execute(&mut *tx)
                .await;
                match inserted.map_err(SecurityError::from) {
                    Ok(_) => {}
                    // Someone else granted it meanwhile.
                    Err(SecurityError::AlreadyExists { .. }) => return Ok(false),
                    Err(e) => return Err(e),
                }
                let roles = roles_of(&mut *tx, user.id).await?;
                tx.commit().await?;
                user.roles = roles;
                Ok(true)
            }

            pub(super) async fn remove_role_from_user(
                pool: &$pool,
                user: &mut User,
                role: &str,
            ) -> Result<bool> {
                let Some(r) = user.roles.iter().find(|r| r.name == role) else {
                    return Ok(false);
                };
                let done = sqlx::query::<$db>(
                    &D.sql("DELETE FROM roles_users WHERE user_id = ? AND role_id = ?"),
                )
                .bind(user.id)
                .bind(r.id)
                .execute(pool)
                .await?;
                user.roles.retain(|r| r.name != role);
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
backend!(sqlite, sqlx::Sqlite, sqlx::SqlitePool, Dialect::Sqlite);
#[cfg(feature = "postgres")]
backend!(postgres, sqlx::Postgres, sqlx::PgPool, Dialect::Postgres);
#[cfg(feature = "mysql")]
backend!(mysql, sqlx::MySql, sqlx::MySqlPool, Dialect::MySql);

/// The SQL datastore: one of the three sqlx pools.
///
/// Parity: `SQLAlchemyUserDatastore`. Build it from a `rocket_db_pools` pool with
/// `From` (`SqlDatastore::from(pool)`), or let [`Security::datastore`](crate::Security)
/// fetch it from your `rocket_db_pools::Database`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SqlDatastore {
    /// SQLite.
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
    /// MySQL or MariaDB.
    #[cfg(feature = "mysql")]
    MySql(sqlx::MySqlPool),
}

#[cfg(feature = "sqlite")]
impl From<sqlx::SqlitePool> for SqlDatastore {
    fn from(p: sqlx::SqlitePool) -> Self {
        SqlDatastore::Sqlite(p)
    }
}

#[cfg(feature = "postgres")]
impl From<sqlx::PgPool> for SqlDatastore {
    fn from(p: sqlx::PgPool) -> Self {
        SqlDatastore::Postgres(p)
    }
}

#[cfg(feature = "mysql")]
impl From<sqlx::MySqlPool> for SqlDatastore {
    fn from(p: sqlx::MySqlPool) -> Self {
        SqlDatastore::MySql(p)
    }
}

macro_rules! dispatch {
    ($self:ident, $f:ident ( $($arg:expr),* )) => {
        match $self {
            #[cfg(feature = "sqlite")]
            SqlDatastore::Sqlite(p) => sqlite::$f(p $(, $arg)*).await,
            #[cfg(feature = "postgres")]
            SqlDatastore::Postgres(p) => postgres::$f(p $(, $arg)*).await,
            #[cfg(feature = "mysql")]
            SqlDatastore::MySql(p) => mysql::$f(p $(, $arg)*).await,
        }
    };
}

pub(super) use dispatch;

macro_rules! schema_dispatch {
    ($self:ident, $apply:expr) => {
        match $self {
            #[cfg(feature = "sqlite")]
            SqlDatastore::Sqlite(p) => super::schema::sqlite::run(p, $apply).await,
            #[cfg(feature = "postgres")]
            SqlDatastore::Postgres(p) => super::schema::postgres::run(p, $apply).await,
            #[cfg(feature = "mysql")]
            SqlDatastore::MySql(p) => super::schema::mysql::run(p, $apply).await,
        }
    };
}

#[async_trait]
impl UserDatastore for SqlDatastore {
    async fn migrate(&self) -> Result<SchemaStatus> {
        schema_dispatch!(self, true)
    }

    async fn schema_status(&self) -> Result<SchemaStatus> {
        schema_dispatch!(self, false)
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        if new.email.trim().is_empty() {
            return Err(SecurityError::Invalid("email is required".into()));
        }
        dispatch!(self, create_user(new))
    }

    async fn find_user(&self, query: &UserQuery, case_insensitive: bool) -> Result<Option<User>> {
        // No stored value contains NUL (PostgreSQL refuses it in text): no match, rather
        // than a database error.
        if query.text().is_some_and(|v| v.contains('\0')) {
            return Ok(None);
        }
        dispatch!(self, find_user(query, case_insensitive))
    }

    async fn delete_user(&self, user: &User) -> Result<()> {
        dispatch!(self, delete_user(user))
    }

    async fn put_user(&self, user: &mut User) -> Result<()> {
        dispatch!(self, put_user(user))
    }

    async fn put_user_if(&self, user: &mut User, expected_uniquifier: &str) -> Result<bool> {
        dispatch!(self, put_user_if(user, expected_uniquifier))
    }

    async fn create_role(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
    ) -> Result<Role> {
        if name.trim().is_empty() {
            return Err(SecurityError::Invalid("role name is required".into()));
        }
        dispatch!(self, create_role(name, description, permissions))
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        if name.contains('\0') {
            return Ok(None);
        }
        dispatch!(self, find_role(name))
    }

    async fn all_roles(&self) -> Result<Vec<Role>> {
        dispatch!(self, all_roles())
    }

    async fn put_role(&self, role: &Role) -> Result<()> {
        dispatch!(self, put_role(role))
    }

    async fn add_role_to_user(&self, user: &mut User, role: &str) -> Result<bool> {
        dispatch!(self, add_role_to_user(user, role))
    }

    async fn remove_role_from_user(&self, user: &mut User, role: &str) -> Result<bool> {
        dispatch!(self, remove_role_from_user(user, role))
    }

    async fn claim_step(&self, user: &User, slot: CodeSlot, step: u64) -> Result<bool> {
        dispatch!(self, claim_step(user.id, slot, step))
    }

    async fn us_code_failures(
        &self,
        user: &User,
        op: CodeFailures,
        since: i64,
        now: i64,
    ) -> Result<u32> {
        dispatch!(self, us_code_failures(user.id, op, since, now))
    }

    async fn swap_recovery_codes(
        &self,
        user: &mut User,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool> {
        dispatch!(self, swap_recovery_codes(user, expected, new))
    }

    async fn code_failures(&self, user: &User, op: CodeFailures) -> Result<u32> {
        dispatch!(self, code_failures(user.id, op))
    }

    async fn failed_attempts(&self, user_id: i32, factor: Factor) -> Result<Attempts> {
        dispatch!(self, failed_attempts(user_id, factor))
    }

    async fn swap_failed_attempts(
        &self,
        user_id: i32,
        factor: Factor,
        seen: Attempts,
        next: Attempts,
    ) -> Result<bool> {
        dispatch!(self, swap_failed_attempts(user_id, factor, seen, next))
    }

    async fn clear_failed_attempts(&self, user_id: i32, factor: Factor) -> Result<()> {
        dispatch!(self, clear_failed_attempts(user_id, factor))
    }

    async fn reset_nonce(&self, user_id: i32) -> Result<Option<String>> {
        dispatch!(self, reset_nonce(user_id))
    }

    async fn set_reset_nonce(&self, user_id: i32, nonce: &str) -> Result<()> {
        dispatch!(self, set_reset_nonce(user_id, nonce))
    }

    async fn ping(&self) -> Result<()> {
        dispatch!(self, ping())
    }

    fn session_backend(&self) -> Option<std::sync::Arc<dyn super::SessionBackend>> {
        Some(std::sync::Arc::new(self.clone()))
    }

    fn webauthn_store(&self) -> Option<std::sync::Arc<dyn super::WebAuthnStore>> {
        Some(std::sync::Arc::new(super::webauthn::SqlWebAuthn::new(
            self.clone(),
        )))
    }
}

/// The columns holding a factor's failed attempts (migration 4).
fn attempt_columns(factor: Factor) -> (&'static str, &'static str) {
    match factor {
        Factor::Password => ("fs_failed_passwords", "fs_failed_password_at"),
        Factor::Code => ("fs_failed_codes", "fs_failed_code_at"),
        Factor::Passcode => ("fs_failed_passcodes", "fs_failed_passcode_at"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_placeholders_are_numbered() {
        assert_eq!(
            Dialect::Postgres.sql("SELECT ? FROM \"user\" WHERE a = ?"),
            "SELECT $1 FROM \"user\" WHERE a = $2"
        );
        assert_eq!(Dialect::MySql.sql("FROM \"user\""), "FROM `user`");
    }
}
