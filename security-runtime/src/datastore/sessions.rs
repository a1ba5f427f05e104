//! Where server-side sessions and remember-me series are kept ([`SessionBackend`]), and
//! its SQL implementation over the tables of migration 5 (`fs_session`, `fs_remember`).
//!
//! Beyond Flask-Security, which keeps both in cookies only. A backend sees digests, never
//! what the cookies hold: session ids, series and tokens arrive as SHA-256 hex.

use rocket::async_trait;
use subtle::ConstantTimeEq;

#[allow(unused_imports)]
use super::sql::{rolled_back_retried, Dialect, SqlDatastore};
use crate::error::Result;

/// A stored session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredSession {
    /// The `fs_uniquifier` of the signed-in user, when one is.
    pub user: Option<String>,
    /// The session's data, serialised.
    pub data: String,
    /// When the session began (epoch seconds).
    pub created: i64,
    /// When the session was last used (epoch seconds), to the touch interval.
    pub last_seen: i64,
}

/// A remember-me series as it is first stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSeries {
    /// The `fs_uniquifier` of the user it signs in.
    pub user: String,
    /// Digest of the series' current token.
    pub token: String,
    /// When it was issued (epoch seconds).
    pub now: i64,
    /// When it stops signing in (epoch seconds).
    pub expires: i64,
}

/// What presenting a remember-me token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RememberUse {
    /// The current token. Holds the user.
    Current(String),
    /// The token the series held just before, within the grace period: a request sent
    /// alongside the one that rotated it. Accepted without rotating. Holds the user.
    Concurrent(String),
    /// Unknown series, expired, or a stale token (the series is then ended: a copied
    /// cookie and its owner cannot both go on using it).
    Refused,
}

/// Storage for server-side sessions and remember-me series.
#[async_trait]
pub trait SessionBackend: Send + Sync + 'static {
    /// The session stored under `id`.
    async fn load_session(&self, id: &str) -> Result<Option<StoredSession>>;
    /// [`SessionBackend::load_session`] for one request (see [`super::CacheCheck`]),
    /// shared (a cache hands out its copy); the default ignores `check` and calls
    /// `load_session`: an implementation whose `load_session` calls this one must
    /// override both.
    async fn load_session_within(
        &self,
        id: &str,
        check: &super::CacheCheck,
    ) -> Result<Option<std::sync::Arc<StoredSession>>> {
        let _ = check;
        Ok(self.load_session(id).await?.map(std::sync::Arc::new))
    }
    /// Stores a new session under `id`.
    async fn insert_session(&self, id: &str, session: &StoredSession) -> Result<()>;
    /// Replaces the user and data of the session under `id` and marks it used at `now`;
    /// false (and nothing written) when it no longer exists.
    async fn update_session(
        &self,
        id: &str,
        user: Option<&str>,
        data: &str,
        now: i64,
    ) -> Result<bool>;
    /// Marks the session under `id` used at `now`, when it still exists.
    async fn touch_session(&self, id: &str, now: i64) -> Result<()>;
    /// Ends the session under `id`.
    async fn delete_session(&self, id: &str) -> Result<()>;
    /// Ends every session and remember-me series of the user with this `fs_uniquifier`;
    /// returns how many there were.
    async fn delete_user_sessions(&self, user: &str) -> Result<u64>;
    /// Removes sessions last used before `idle_before` or begun before `created_before`,
    /// and series expired at `now`.
    async fn purge(&self, idle_before: i64, created_before: i64, now: i64) -> Result<()>;
    /// Stores a new remember-me series.
    async fn insert_series(&self, series: &str, new: &NewSeries) -> Result<()>;
    /// Judges `token` presented for `series` at `now`; a stale token ends the series.
    async fn check_series(
        &self,
        series: &str,
        token: &str,
        now: i64,
        grace: i64,
    ) -> Result<RememberUse>;
    /// Replaces `token` by `next` if it is still the series' current token (judged
    /// before by [`check_series`](Self::check_series)); false, and nothing written or
    /// ended, when another request replaced it first.
    async fn rotate_series(&self, series: &str, token: &str, next: &str, now: i64) -> Result<bool>;
    /// Ends a remember-me series.
    async fn delete_series(&self, series: &str) -> Result<()>;
}

/// Equal digests, compared in constant time.
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A stored series as [`SessionBackend::check_series`] reads it.
#[derive(Debug, Clone)]
pub(crate) struct SeriesRow {
    pub(crate) user: String,
    pub(crate) token: String,
    pub(crate) prev_token: Option<String>,
    pub(crate) rotated: i64,
    pub(crate) expires: i64,
}

/// What presenting `token` to `row` at `now` means, before any write: `Some(true)` for
/// the current token (rotate), `Some(false)` for the previous one within `grace`, `None`
/// for anything else.
pub(crate) fn judge(row: &SeriesRow, token: &str, now: i64, grace: i64) -> Option<bool> {
    if row.expires <= now {
        return None;
    }
    if same(&row.token, token) {
        return Some(true);
    }
    let recent = now - row.rotated <= grace;
    (recent && row.prev_token.as_deref().is_some_and(|p| same(p, token))).then_some(false)
}

#[async_trait]
impl SessionBackend for SqlDatastore {
    async fn load_session(&self, id: &str) -> Result<Option<StoredSession>> {
        super::sql::dispatch!(self, load_session(id))
    }

    async fn insert_session(&self, id: &str, session: &StoredSession) -> Result<()> {
        super::sql::dispatch!(self, insert_session(id, session))
    }

    async fn update_session(
        &self,
        id: &str,
        user: Option<&str>,
        data: &str,
        now: i64,
    ) -> Result<bool> {
        super::sql::dispatch!(self, update_session(id, user, data, now))
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        super::sql::dispatch!(self, touch_session(id, now))
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        super::sql::dispatch!(self, delete_session(id))
    }

    async fn delete_user_sessions(&self, user: &str) -> Result<u64> {
        super::sql::dispatch!(self, delete_user_sessions(user))
    }

    async fn purge(&self, idle_before: i64, created_before: i64, now: i64) -> Result<()> {
        super::sql::dispatch!(self, purge_sessions(idle_before, created_before, now))
    }

    async fn insert_series(&self, series: &str, new: &NewSeries) -> Result<()> {
        super::sql::dispatch!(self, insert_series(series, new))
    }

    async fn check_series(
        &self,
        series: &str,
        token: &str,
        now: i64,
        grace: i64,
    ) -> Result<RememberUse> {
        super::sql::dispatch!(self, check_series(series, token, now, grace))
    }

    async fn rotate_series(&self, series: &str, token: &str, next: &str, now: i64) -> Result<bool> {
        super::sql::dispatch!(self, rotate_series(series, token, next, now))
    }

    async fn delete_series(&self, series: &str) -> Result<()> {
        super::sql::dispatch!(self, delete_series(series))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SeriesRow {
        SeriesRow {
            user: "u".into(),
            token: "t2".into(),
            prev_token: Some("t1".into()),
            rotated: 100,
            expires: 1000,
        }
    }

    #[test]
    fn the_current_token_rotates_the_previous_one_is_a_concurrent_request() {
        assert_eq!(judge(&row(), "t2", 100, 60), Some(true));
        assert_eq!(judge(&row(), "t1", 160, 60), Some(false));
        assert_eq!(judge(&row(), "t1", 161, 60), None);
        assert_eq!(judge(&row(), "t0", 100, 60), None);
        assert_eq!(judge(&row(), "t2", 1000, 60), None);
    }
}

macro_rules! sql_sessions {
    ($modname:ident, $db:ty, $pool:ty, $dialect:expr) => {
        pub(super) mod $modname {
            use super::*;

            const D: Dialect = $dialect;

            type Row = (Option<String>, String, i64, i64);
            type SeriesTuple = (String, String, Option<String>, i64, i64);

            pub(crate) async fn load_session(
                pool: &$pool,
                id: &str,
            ) -> Result<Option<StoredSession>> {
                let sql = "SELECT fs_uniquifier, data, created, last_seen FROM fs_session \
                           WHERE id = ?";
                let row: Option<Row> = sqlx::query_as(&D.sql(sql))
                    .bind(id)
                    .fetch_optional(pool)
                    .await?;
                Ok(row.map(|(user, data, created, last_seen)| StoredSession {
                    user,
                    data,
                    created,
                    last_seen,
                }))
            }

            pub(crate) async fn insert_session(
                pool: &$pool,
                id: &str,
                s: &StoredSession,
            ) -> Result<()> {
                let sql = "INSERT INTO fs_session (id, fs_uniquifier, data, created, last_seen) \
                           VALUES (?, ?, ?, ?, ?)";
                sqlx::query::<$db>(&D.sql(sql))
                    .bind(id)
                    .bind(&s.user)
                    .bind(&s.data)
                    .bind(s.created)
                    .bind(s.last_seen)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            // The writes below run again when rolled back as a deadlock victim: MySQL's
            // change triggers (migration 10) lock one counter row per statement, so a
            // statement deleting many sessions can deadlock with one touching a session.

            pub(crate) async fn update_session(
                pool: &$pool,
                id: &str,
                user: Option<&str>,
                data: &str,
                now: i64,
            ) -> Result<bool> {
                let sql = D.sql(
                    "UPDATE fs_session SET fs_uniquifier = ?, data = ?, last_seen = ? \
                     WHERE id = ?",
                );
                let run = || {
                    let q = sqlx::query::<$db>(&sql).bind(user).bind(data);
                    q.bind(now).bind(id).execute(pool)
                };
                let done = rolled_back_retried(run).await?;
                // MySQL counts changed rows: an update that writes what is there counts 0.
                Ok(done.rows_affected() == 1 || load_session(pool, id).await?.is_some())
            }

            pub(crate) async fn touch_session(pool: &$pool, id: &str, now: i64) -> Result<()> {
                let sql = D.sql("UPDATE fs_session SET last_seen = ? WHERE id = ?");
                let run = || sqlx::query::<$db>(&sql).bind(now).bind(id).execute(pool);
                rolled_back_retried(run).await?;
                Ok(())
            }

            pub(crate) async fn delete_session(pool: &$pool, id: &str) -> Result<()> {
                let sql = D.sql("DELETE FROM fs_session WHERE id = ?");
                rolled_back_retried(|| sqlx::query::<$db>(&sql).bind(id).execute(pool)).await?;
                Ok(())
            }

            pub(crate) async fn delete_user_sessions(pool: &$pool, user: &str) -> Result<u64> {
                let once = || async {
                    let mut tx = pool.begin().await?;
                    let mut n = 0;
                    for table in ["fs_session", "fs_remember"] {
                        let sql = format!("DELETE FROM {table} WHERE fs_uniquifier = ?");
                        n += sqlx::query::<$db>(&D.sql(&sql))
                            .bind(user)
                            .execute(&mut *tx)
                            .await?
                            .rows_affected();
                    }
                    tx.commit().await?;
                    Ok(n)
                };
                Ok(rolled_back_retried(once).await?)
            }

            pub(crate) async fn purge_sessions(
                pool: &$pool,
                idle_before: i64,
                created_before: i64,
                now: i64,
            ) -> Result<()> {
                let sql = D.sql("DELETE FROM fs_session WHERE last_seen < ? OR created < ?");
                let run = || {
                    let q = sqlx::query::<$db>(&sql).bind(idle_before);
                    q.bind(created_before).execute(pool)
                };
                rolled_back_retried(run).await?;
                sqlx::query::<$db>(&D.sql("DELETE FROM fs_remember WHERE expires <= ?"))
                    .bind(now)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            pub(crate) async fn insert_series(
                pool: &$pool,
                series: &str,
                new: &NewSeries,
            ) -> Result<()> {
                let sql = "INSERT INTO fs_remember \
                           (series, fs_uniquifier, token, prev_token, rotated, expires) \
                           VALUES (?, ?, ?, NULL, ?, ?)";
                sqlx::query::<$db>(&D.sql(sql))
                    .bind(series)
                    .bind(&new.user)
                    .bind(&new.token)
                    .bind(new.now)
                    .bind(new.expires)
                    .execute(pool)
                    .await?;
                Ok(())
            }

            async fn series_row(pool: &$pool, series: &str) -> Result<Option<SeriesRow>> {
                let sql = "SELECT fs_uniquifier, token, prev_token, rotated, expires \
                           FROM fs_remember WHERE series = ?";
                let row: Option<SeriesTuple> = sqlx::query_as(&D.sql(sql))
                    .bind(series)
                    .fetch_optional(pool)
                    .await?;
                Ok(
                    row.map(|(user, token, prev_token, rotated, expires)| SeriesRow {
                        user,
                        token,
                        prev_token,
                        rotated,
                        expires,
                    }),
                )
            }

            pub(crate) async fn check_series(
                pool: &$pool,
                series: &str,
                token: &str,
                now: i64,
                grace: i64,
            ) -> Result<RememberUse> {
                let Some(row) = series_row(pool, series).await? else {
                    return Ok(RememberUse::Refused);
                };
                Ok(match judge(&row, token, now, grace) {
                    Some(true) => RememberUse::Current(row.user),
                    Some(false) => RememberUse::Concurrent(row.user),
                    None => {
                        delete_series(pool, series).await?;
                        RememberUse::Refused
                    }
                })
            }

            pub(crate) async fn rotate_series(
                pool: &$pool,
                series: &str,
                token: &str,
                next: &str,
                now: i64,
            ) -> Result<bool> {
                // `prev_token` first: MySQL assigns left to right, reading the new values.
                let sql = "UPDATE fs_remember SET prev_token = token, token = ?, rotated = ? \
                           WHERE series = ? AND token = ?";
                let done = sqlx::query::<$db>(&D.sql(sql))
                    .bind(next)
                    .bind(now)
                    .bind(series)
                    .bind(token)
                    .execute(pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            pub(crate) async fn delete_series(pool: &$pool, series: &str) -> Result<()> {
                sqlx::query::<$db>(&D.sql("DELETE FROM fs_remember WHERE series = ?"))
                    .bind(series)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    };
}

#[cfg(feature = "sqlite")]
sql_sessions!(sqlite, sqlx::Sqlite, sqlx::SqlitePool, Dialect::Sqlite);
#[cfg(feature = "postgres")]
sql_sessions!(postgres, sqlx::Postgres, sqlx::PgPool, Dialect::Postgres);
#[cfg(feature = "mysql")]
sql_sessions!(mysql, sqlx::MySql, sqlx::MySqlPool, Dialect::MySql);
