//! The databases a test runs on: SQLite always, PostgreSQL and MariaDB/MySQL when their
//! URL variables are set, and a fresh, empty database on each per test.
//!
//! Shared by the integration tests of this crate and, through `#[path]`, by
//! `security-runtime/tests/cli.rs` (which cannot depend on this crate).

use rand::Rng;

/// A database backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
    MySql,
}

/// The URL variable that names the server of each non-SQLite backend.
const POSTGRES_URL: &str = "SECURITY_TEST_POSTGRES_URL";
const MYSQL_URL: &str = "SECURITY_TEST_MYSQL_URL";

/// The backends to test: SQLite always, the others when their URL variable is set.
pub fn backends() -> Vec<Backend> {
    let set = |v: &str| std::env::var(v).is_ok_and(|s| !s.is_empty());
    let mut v = vec![Backend::Sqlite];
    if set(POSTGRES_URL) {
        v.push(Backend::Postgres);
    }
    if set(MYSQL_URL) {
        v.push(Backend::MySql);
    }
    v
}

/// `prefix` followed by 16 random hex digits.
pub fn unique(prefix: &str) -> String {
    let n: u64 = rand::thread_rng().gen();
    format!("{prefix}{n:016x}")
}

/// Connects to the server named by the variable `var` (panicking, with the variable's
/// name, when it is unreachable), runs `sql` there and returns the server's URL.
async fn run_on<C>(var: &str, sql: String) -> String
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    use sqlx::Executor;
    let url = std::env::var(var).unwrap();
    let connected = C::connect(&url).await;
    let mut c = connected.unwrap_or_else(|e| panic!("{var} unreachable: {e}"));
    c.execute(sql.as_str()).await.unwrap();
    url
}

/// A fresh, empty database for one test; panics when the server is unreachable.
pub async fn fresh_database(backend: Backend) -> String {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join("security-tests");
            std::fs::create_dir_all(&dir).unwrap();
            let path = dir.join(format!("{}.db", unique("t")));
            format!("sqlite://{}?mode=rwc", path.display())
        }
        Backend::Postgres => {
            let schema = unique("fst_");
            let create = format!("CREATE SCHEMA {schema}");
            let url = run_on::<sqlx::PgConnection>(POSTGRES_URL, create).await;
            let sep = if url.contains('?') { '&' } else { '?' };
            format!("{url}{sep}options=-c%20search_path%3D{schema}")
        }
        Backend::MySql => {
            let db = unique("fst_");
            let create = format!("CREATE DATABASE {db} CHARACTER SET utf8mb4");
            let url = run_on::<sqlx::MySqlConnection>(MYSQL_URL, create).await;
            let base = match url.rfind('/') {
                Some(i) if i > "mysql://".len() => &url[..i],
                _ => url.as_str(),
            };
            format!("{base}/{db}")
        }
    }
}
