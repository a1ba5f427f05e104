//! Runs the migrations of [`super::migrate`] on one connection of each backend's pool.

use std::collections::BTreeSet;

use super::migrate::{
    info, missing_required, pending, recognise, Migration, MigrationInfo, SchemaStatus, Step,
    RECORD_TABLE, REQUIRED,
};
use super::sql::Dialect;
use crate::error::{Result, SecurityError};

fn refused(table: &str, missing: &[&str]) -> SecurityError {
    SecurityError::Schema(format!(
        "the existing table \"{table}\" lacks the column(s) {} that Flask-Security 4+ \
         models have; it was not changed",
        missing.join(", ")
    ))
}

/// Whether `e` is the database refusing a privilege (MySQL 1142 command denied, 1227
/// access denied, 1419 binary logging needs `SUPER`): what a best-effort step may skip.
fn lacks_privilege(e: &SecurityError) -> bool {
    #[cfg(feature = "mysql")]
    if let SecurityError::Datastore(sqlx::Error::Database(db)) = e {
        if let Some(m) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
            return matches!(m.number(), 1142 | 1227 | 1419);
        }
    }
    let _ = e;
    false
}

macro_rules! runner {
    ($modname:ident, $db:ty, $pool:ty, $dialect:expr) => {
        pub(super) mod $modname {
            use super::*;

            type Conn = sqlx::pool::PoolConnection<$db>;
            const D: Dialect = $dialect;

            /// A fixed statement, sent as plain text (not prepared), as sqlx's own
            /// transaction manager sends `BEGIN`.
            async fn exec(c: &mut Conn, sql: &str) -> Result<()> {
                sqlx::Executor::execute(&mut **c, sql).await?;
                Ok(())
            }

            async fn names(
                c: &mut Conn,
                sql: &str,
                bind: Option<&str>,
            ) -> Result<BTreeSet<String>> {
                let q = sqlx::query_scalar::<$db, String>(sql);
                let q = match bind {
                    Some(b) => q.bind(b.to_owned()),
                    None => q,
                };
                Ok(q.fetch_all(&mut **c).await?.into_iter().collect())
            }

            async fn columns(c: &mut Conn, table: &str) -> Result<BTreeSet<String>> {
                names(c, D.columns_sql(), Some(table)).await
            }

            /// Upgrades (`apply`) or only reports. On MariaDB the whole run holds a
            /// named lock; PostgreSQL and SQLite lock inside each migration's transaction.
            pub(crate) async fn run(pool: &$pool, apply: bool) -> Result<SchemaStatus> {
                let mut c = pool.acquire().await?;
                let locks = D.run_lock_sql();
                let out = match locks {
                    Some([setup, lock, _]) => match take_run_lock(&mut c, setup, lock).await {
                        Ok(()) => locked(&mut c, apply).await,
                        Err(e) => Err(e),
                    },
                    None => locked(&mut c, apply).await,
                };
                let released = match locks {
                    Some([_, _, unlock]) => exec(&mut c, unlock).await.is_ok(),
                    None => true,
                };
                if out.is_err() || !released {
                    // Never hand back to the pool a connection that may hold a lock or
                    // an open transaction.
                    let _ = c.close().await;
                }
                out
            }

            async fn take_run_lock(c: &mut Conn, setup: &str, lock: &str) -> Result<()> {
                exec(c, setup).await?;
                let got: Option<String> = sqlx::query_scalar::<$db, Option<String>>(lock)
                    .fetch_one(&mut **c)
                    .await?;
                if got.as_deref() != Some("1") {
                    return Err(SecurityError::Schema(
                        "another instance held the migration lock for 300 s".into(),
                    ));
                }
                Ok(())
            }

            async fn locked(c: &mut Conn, apply: bool) -> Result<SchemaStatus> {
                let tables = names(c, D.tables_sql(), None).await?;
                let user_columns = columns(c, "user").await?;
                let recorded = if tables.contains(RECORD_TABLE) {
                    records(c).await?
                } else {
                    Vec::new()
                };
                let origin = recognise(&tables, &user_columns, !recorded.is_empty())
                    .map_err(SecurityError::Schema)?;
                for (table, _) in REQUIRED {
                    let present = match *table {
                        "user" => user_columns.clone(),
                        other => columns(c, other).await?,
                    };
                    let missing = missing_required(table, &present);
                    if !missing.is_empty() {
                        return Err(refused(table, &missing));
                    }
                }
                let todo = pending(D, &recorded).map_err(SecurityError::Schema)?;
                let mut applied: Vec<MigrationInfo> = recorded
                    .iter()
                    .map(|(version, name, _)| MigrationInfo {
                        version: *version,
                        name: name.clone(),
                    })
                    .collect();
                let mut applied_now = Vec::new();
                if !apply {
                    let pending = todo.into_iter().map(info).collect();
                    return Ok(SchemaStatus {
                        origin,
                        applied,
                        pending,
                        applied_now,
                    });
                }
                for m in todo {
                    if apply_one(c, m).await? {
                        applied_now.push(m.version);
                    }
                    applied.push(info(m));
                }
                Ok(SchemaStatus {
                    origin,
                    applied,
                    pending: Vec::new(),
                    applied_now,
                })
            }

            async fn records(c: &mut Conn) -> Result<Vec<(i64, String, String)>> {
                let sql =
                    format!("SELECT version, name, checksum FROM {RECORD_TABLE} ORDER BY version");
                Ok(sqlx::query_as::<$db, (i64, String, String)>(&sql)
                    .fetch_all(&mut **c)
                    .await?)
            }

            /// One migration in one transaction (on MariaDB, whose DDL commits on its
            /// own, a sequence of steps that each check before they change); `false` when
            /// another instance had applied it meanwhile.
            async fn apply_one(c: &mut Conn, m: &Migration) -> Result<bool> {
                exec(c, D.begin_sql()).await?;
                let locked = async {
                    for stmt in D.transaction_lock_sql() {
                        exec(c, stmt).await?;
                    }
                    // Inside the lock: two instances cannot both create it.
                    exec(c, &D.record_table_sql()).await?;
                    apply_in_transaction(c, m).await
                };
                match locked.await {
                    Ok(done) => {
                        exec(c, "COMMIT").await?;
                        if done {
                            log::info!("schema migration {} applied: {}", m.version, m.name);
                        }
                        Ok(done)
                    }
                    Err(e) => {
                        let _ = exec(c, "ROLLBACK").await;
                        Err(SecurityError::Schema(format!(
                            "migration {} ({}) failed: {e}",
                            m.version, m.name
                        )))
                    }
                }
            }

            async fn apply_in_transaction(c: &mut Conn, m: &Migration) -> Result<bool> {
                let check = format!("SELECT version FROM {RECORD_TABLE} WHERE version = ?");
                let done = sqlx::query_scalar::<$db, i64>(&D.sql(&check))
                    .bind(m.version)
                    .fetch_optional(&mut **c)
                    .await?;
                if done.is_some() {
                    return Ok(false);
                }
                for step in m.steps {
                    let present = match step {
                        Step::AddColumn { table, .. } => columns(c, table).await?,
                        Step::Script(_) | Step::BestEffort(_) => BTreeSet::new(),
                    };
                    for stmt in D.step_sql(step, &present) {
                        match exec(c, &stmt).await {
                            Err(e)
                                if matches!(step, Step::BestEffort(_)) && lacks_privilege(&e) =>
                            {
                                log::warn!(
                                    "migration {} ({}): {e}; going on without it",
                                    m.version,
                                    m.name
                                );
                                break;
                            }
                            done => done?,
                        }
                    }
                }
                let insert = format!(
                    "INSERT INTO {RECORD_TABLE} (version, name, checksum, applied_at) \
                     VALUES (?, ?, ?, ?)"
                );
                sqlx::query::<$db>(&D.sql(&insert))
                    .bind(m.version)
                    .bind(m.name)
                    .bind(D.checksum(m))
                    .bind(chrono::Utc::now().naive_utc())
                    .execute(&mut **c)
                    .await?;
                Ok(true)
            }
        }
    };
}

#[cfg(feature = "sqlite")]
runner!(sqlite, sqlx::Sqlite, sqlx::SqlitePool, Dialect::Sqlite);
#[cfg(feature = "postgres")]
runner!(postgres, sqlx::Postgres, sqlx::PgPool, Dialect::Postgres);
#[cfg(feature = "mysql")]
runner!(mysql, sqlx::MySql, sqlx::MySqlPool, Dialect::MySql);
