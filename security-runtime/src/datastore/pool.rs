//! Database pools for `rocket_db_pools`' `#[derive(Database)]`, on sqlx 0.8.
//!
//! `rocket_db_pools` 0.2 implements its `Pool` trait for sqlx 0.7 only, which
//! RUSTSEC-2024-0363 affects. These newtypes implement the trait for sqlx 0.8 pools, read
//! the same `databases.<name>` settings (`url`, `min_connections`, `max_connections`,
//! `connect_timeout`, `idle_timeout`, SQLite `extensions`), and dereference to the sqlx
//! pool, so an application changes only the type inside its database struct:
//!
//! ```no_run
//! use rocket_db_pools::Database;
//!
//! #[derive(Database)]
//! #[database("app")]
//! struct Db(security_runtime::db::SqlitePool);
//! ```

use std::ops::Deref;
use std::time::Duration;

use rocket::config::LogLevel;
use rocket::figment::Figment;
use rocket_db_pools::{Config, Error};
use sqlx::ConnectOptions;

/// The options of database `D`'s connections.
type Options<D> = <<D as sqlx::Database>::Connection as sqlx::Connection>::Options;

/// Opens a pool of `D` as `rocket_db_pools` does, `adjust` giving the options of the
/// database kind their defaults.
async fn open<D: sqlx::Database>(
    figment: &Figment,
    adjust: impl FnOnce(Options<D>, &Config) -> Options<D>,
) -> Result<sqlx::Pool<D>, Error<sqlx::Error>> {
    let config = figment.extract::<Config>()?;
    let opts = config.url.parse::<Options<D>>().map_err(Error::Init)?;
    let mut opts = adjust(opts, &config).disable_statement_logging();
    if let Ok(level) = figment.extract_inner::<LogLevel>(rocket::Config::LOG_LEVEL) {
        if !matches!(level, LogLevel::Normal | LogLevel::Off) {
            opts = opts
                .log_statements(level.into())
                .log_slow_statements(level.into(), Duration::default());
        }
    }
    let max = u32::try_from(config.max_connections).unwrap_or(u32::MAX);
    sqlx::pool::PoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(config.connect_timeout))
        .idle_timeout(config.idle_timeout.map(Duration::from_secs))
        .min_connections(config.min_connections.unwrap_or_default())
        .connect_with(opts)
        .await
        .map_err(Error::Init)
}

macro_rules! pool {
    ($(#[$doc:meta])* $name:ident, $db:ty, $feature:literal, $adjust:expr) => {
        $(#[$doc])*
        #[cfg(feature = $feature)]
        #[derive(Debug, Clone)]
        pub struct $name(pub sqlx::Pool<$db>);

        #[cfg(feature = $feature)]
        impl Deref for $name {
            type Target = sqlx::Pool<$db>;

            fn deref(&self) -> &Self::Target {
                &self.0
            }
        }

        #[cfg(feature = $feature)]
        impl From<sqlx::Pool<$db>> for $name {
            fn from(p: sqlx::Pool<$db>) -> Self {
                $name(p)
            }
        }

        #[cfg(feature = $feature)]
        impl From<$name> for super::SqlDatastore {
            fn from(p: $name) -> Self {
                p.0.into()
            }
        }

        #[cfg(feature = $feature)]
        #[rocket::async_trait]
        impl rocket_db_pools::Pool for $name {
            type Connection = sqlx::pool::PoolConnection<$db>;
            type Error = Error<sqlx::Error>;

            async fn init(figment: &Figment) -> Result<Self, Self::Error> {
                open::<$db>(figment, $adjust).await.map($name)
            }

            async fn get(&self) -> Result<Self::Connection, Self::Error> {
                self.0.acquire().await.map_err(Error::Get)
            }

            async fn close(&self) {
                self.0.close().await;
            }
        }
    };
}

pool!(
    /// A SQLite pool: the file is created when missing, and a locked database is waited
    /// on for `connect_timeout` seconds, as `rocket_db_pools` does.
    SqlitePool,
    sqlx::Sqlite,
    "sqlite",
    |o: sqlx::sqlite::SqliteConnectOptions, c: &Config| {
        let o = o
            .busy_timeout(Duration::from_secs(c.connect_timeout))
            .create_if_missing(true);
        c.extensions
            .iter()
            .flatten()
            .fold(o, |o, ext| o.extension(ext.clone()))
    }
);

pool!(
    /// A PostgreSQL pool.
    PgPool,
    sqlx::Postgres,
    "postgres",
    |o, _: &Config| o
);

pool!(
    /// A MySQL or MariaDB pool.
    MySqlPool,
    sqlx::MySql,
    "mysql",
    |o, _: &Config| o
);
