//! Versioned schema migrations for the three SQL backends.
//!
//! Each migration is applied once and recorded in `rocket_security_migrations`
//! (version, name, checksum, time). What an existing database is, is recognised from its
//! tables and columns before anything changes: empty, written by this project before
//! migrations were versioned, or written by Flask-Security's `fsqla` models (v1 to v4).
//!
//! Every step is additive and checks before it changes (`CREATE TABLE IF NOT EXISTS`,
//! a column added only when absent), so a Flask-Security database keeps every table and
//! column it had and Flask-Security can keep running against it. The same property makes
//! a rerun finish a migration that a crash interrupted on MariaDB, whose DDL is not
//! transactional. SQLite and PostgreSQL apply each migration in one transaction.
//!
//! Concurrency: MariaDB holds a named lock per database for the whole run; PostgreSQL
//! takes a per-schema advisory lock inside each migration's transaction, and SQLite applies
//! each migration under `BEGIN IMMEDIATE`; both re-read the record inside. Two instances
//! starting at once never both apply one migration.
//!
//! Why not sqlx's migrator: it runs fixed SQL text and checksums it, and SQLite has no
//! `ADD COLUMN IF NOT EXISTS`, so "add the column Flask-Security's model lacks" cannot be
//! written as one of its migrations. The runner here is small and uses sqlx throughout.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use super::sql::Dialect;

/// The table that records applied migrations.
pub(crate) const RECORD_TABLE: &str = "rocket_security_migrations";

/// What the database was before this project's migrations ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SchemaOrigin {
    /// No user table yet.
    Empty,
    /// Already recorded in `rocket_security_migrations`.
    Versioned,
    /// Written by this project's releases before migrations were versioned (0.1.0).
    Unversioned,
    /// Written by Flask-Security's `fsqla` models of this version (1 to 4).
    FlaskSecurity(u8),
}

impl std::fmt::Display for SchemaOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SchemaOrigin::Empty => f.write_str("empty database"),
            SchemaOrigin::Versioned => f.write_str("versioned schema"),
            SchemaOrigin::Unversioned => f.write_str("unversioned schema of release 0.1.0"),
            SchemaOrigin::FlaskSecurity(1) => f.write_str("Flask-Security fsqla schema"),
            SchemaOrigin::FlaskSecurity(v) => write!(f, "Flask-Security fsqla_v{v} schema"),
        }
    }
}

/// One migration, as shipped or as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// Its version; versions rise by one.
    pub version: i64,
    /// What it does.
    pub name: String,
}

/// The state of the schema, before or after an upgrade.
#[derive(Debug, Clone)]
pub struct SchemaStatus {
    /// What the database was when this run first looked at it.
    pub origin: SchemaOrigin,
    /// Applied migrations, oldest first.
    pub applied: Vec<MigrationInfo>,
    /// Shipped migrations not applied yet, oldest first.
    pub pending: Vec<MigrationInfo>,
    /// Versions this call applied (empty for a status query).
    pub applied_now: Vec<i64>,
}

impl SchemaStatus {
    /// The highest applied version, 0 when none is.
    pub fn version(&self) -> i64 {
        self.applied.last().map_or(0, |m| m.version)
    }

    /// The version the shipped migrations bring a database to.
    pub fn latest() -> i64 {
        MIGRATIONS.last().map_or(0, |m| m.version)
    }
}

/// A column type, rendered per dialect.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Column {
    Varchar(u16),
    Text,
    DateTime,
    Integer,
    BigInt,
}

/// One step of a migration.
#[derive(Debug)]
pub(crate) enum Step {
    /// SQL scripts for SQLite, PostgreSQL and MySQL, `;`-separated, idempotent.
    Script([&'static str; 3]),
    /// Like `Script`, but a statement the database refuses for lack of a privilege ends
    /// the step with a warning instead of failing the migration: for what the
    /// application can run without (MySQL's change triggers). Only MySQL scripts may be
    /// non-empty here: its DDL commits by itself and a refused statement changes nothing,
    /// where PostgreSQL would abort the migration's transaction (a unit test checks).
    BestEffort([&'static str; 3]),
    /// Adds a nullable column when the table lacks it; `unique` adds a unique index.
    AddColumn {
        table: &'static str,
        column: &'static str,
        ty: Column,
        unique: bool,
    },
}

/// A shipped migration.
#[derive(Debug)]
pub(crate) struct Migration {
    pub(crate) version: i64,
    pub(crate) name: &'static str,
    pub(crate) steps: &'static [Step],
}

const fn add(table: &'static str, column: &'static str, ty: Column, unique: bool) -> Step {
    Step::AddColumn {
        table,
        column,
        ty,
        unique,
    }
}

/// Every shipped migration, oldest first. Never edit one that has shipped: add another.
pub(crate) static MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial schema (Flask-Security fsqla_v3 tables)",
        steps: &[Step::Script([
            include_str!("../../migrations/sqlite/0001_init.sql"),
            include_str!("../../migrations/postgres/0001_init.sql"),
            include_str!("../../migrations/mysql/0001_init.sql"),
        ])],
    },
    Migration {
        version: 2,
        name: "columns that older Flask-Security models lack",
        steps: &[
            add("user", "username", Column::Varchar(255), true),
            add("user", "fs_token_uniquifier", Column::Varchar(64), true),
            add("user", "fs_webauthn_user_handle", Column::Varchar(64), true),
            add("user", "confirmed_at", Column::DateTime, false),
            add("user", "last_login_at", Column::DateTime, false),
            add("user", "current_login_at", Column::DateTime, false),
            add("user", "last_login_ip", Column::Varchar(64), false),
            add("user", "current_login_ip", Column::Varchar(64), false),
            add("user", "login_count", Column::Integer, false),
            add("user", "tf_primary_method", Column::Varchar(64), false),
            add("user", "tf_totp_secret", Column::Varchar(255), false),
            add("user", "tf_phone_number", Column::Varchar(128), false),
            add("user", "mf_recovery_codes", Column::Text, false),
            add("user", "us_phone_number", Column::Varchar(128), true),
            add("user", "us_totp_secrets", Column::Text, false),
            add("role", "description", Column::Varchar(255), false),
            add("role", "permissions", Column::Text, false),
        ],
    },
    Migration {
        version: 3,
        name: "two-factor hardening: the last TOTP step accepted, wrong codes counted",
        steps: &[
            add("user", "tf_totp_last_step", Column::Integer, false),
            add("user", "tf_code_failures", Column::Integer, false),
        ],
    },
    Migration {
        version: 4,
        name: "failed attempts per account and factor; one user per case-folded email; \
               the latest reset link",
        steps: &[
            add("user", "fs_reset_nonce", Column::Varchar(64), false),
            add("user", "fs_failed_passwords", Column::Integer, false),
            add("user", "fs_failed_password_at", Column::BigInt, false),
            add("user", "fs_failed_codes", Column::Integer, false),
            add("user", "fs_failed_code_at", Column::BigInt, false),
            Step::Script([
                include_str!("../../migrations/sqlite/0004_email_folded.sql"),
                include_str!("../../migrations/postgres/0004_email_folded.sql"),
                include_str!("../../migrations/mysql/0004_email_folded.sql"),
            ]),
        ],
    },
    Migration {
        version: 5,
        name: "server-side sessions and remember-me series",
        steps: &[Step::Script([
            include_str!("../../migrations/sqlite/0005_sessions.sql"),
            include_str!("../../migrations/postgres/0005_sessions.sql"),
            include_str!("../../migrations/mysql/0005_sessions.sql"),
        ])],
    },
    Migration {
        version: 6,
        name: "unified sign-in: the last code step accepted per method, wrong passcodes \
               counted per code window and per account; the last passwordless link used",
        steps: &[
            add("user", "fs_login_link_at", Column::BigInt, false),
            add("user", "fs_failed_passcodes", Column::Integer, false),
            add("user", "fs_failed_passcode_at", Column::BigInt, false),
            add("user", "us_email_last_step", Column::BigInt, false),
            add("user", "us_sms_last_step", Column::BigInt, false),
            add("user", "us_authenticator_last_step", Column::BigInt, false),
            add("user", "us_code_failures", Column::Integer, false),
            add("user", "us_code_failures_at", Column::BigInt, false),
        ],
    },
    Migration {
        version: 7,
        name: "WebAuthn credentials (Flask-Security's webauthn table)",
        steps: &[Step::Script([
            include_str!("../../migrations/sqlite/0007_webauthn.sql"),
            include_str!("../../migrations/postgres/0007_webauthn.sql"),
            include_str!("../../migrations/mysql/0007_webauthn.sql"),
        ])],
    },
    Migration {
        version: 8,
        name: "WebAuthn challenges answered (each works once)",
        steps: &[Step::Script([
            include_str!("../../migrations/sqlite/0008_wan_challenges.sql"),
            include_str!("../../migrations/postgres/0008_wan_challenges.sql"),
            include_str!("../../migrations/mysql/0008_wan_challenges.sql"),
        ])],
    },
    Migration {
        version: 9,
        name: "auth cache invalidation: change counters (SQLite) or notifications \
               (PostgreSQL) on every write to users, roles, role grants and sessions",
        steps: &[Step::Script([
            include_str!("../../migrations/sqlite/0009_auth_changes.sql"),
            include_str!("../../migrations/postgres/0009_auth_changes.sql"),
            include_str!("../../migrations/mysql/0009_auth_changes.sql"),
        ])],
    },
    Migration {
        version: 10,
        name: "auth cache invalidation on MySQL and MariaDB: change counters on every \
               write to users, roles, role grants and sessions",
        steps: &[Step::BestEffort([
            include_str!("../../migrations/sqlite/0010_auth_changes.sql"),
            include_str!("../../migrations/postgres/0010_auth_changes.sql"),
            include_str!("../../migrations/mysql/0010_auth_changes.sql"),
        ])],
    },
];

/// Columns the datastore cannot work without; a table lacking one is refused.
pub(crate) const REQUIRED: &[(&str, &[&str])] = &[
    (
        "user",
        &[
            "id",
            "email",
            "password",
            "active",
            "fs_uniquifier",
            "create_datetime",
            "update_datetime",
        ],
    ),
    ("role", &["id", "name", "update_datetime"]),
    ("roles_users", &["user_id", "role_id"]),
];

impl Dialect {
    fn index(self) -> usize {
        match self {
            Dialect::Sqlite => 0,
            Dialect::Postgres => 1,
            Dialect::MySql => 2,
        }
    }

    fn quote(self, ident: &str) -> String {
        match self {
            Dialect::MySql => format!("`{ident}`"),
            _ => format!("\"{ident}\""),
        }
    }

    fn column_type(self, c: Column) -> String {
        match (c, self) {
            (Column::Varchar(n), _) => format!("VARCHAR({n})"),
            (Column::Text, _) => "TEXT".into(),
            (Column::Integer, _) => "INTEGER".into(),
            (Column::BigInt, _) => "BIGINT".into(),
            (Column::DateTime, Dialect::Postgres) => "TIMESTAMP".into(),
            (Column::DateTime, Dialect::MySql) => "DATETIME(6)".into(),
            (Column::DateTime, Dialect::Sqlite) => "DATETIME".into(),
        }
    }

    /// Creates the record table.
    pub(crate) fn record_table_sql(self) -> String {
        let at = self.column_type(Column::DateTime);
        format!(
            "CREATE TABLE IF NOT EXISTS {RECORD_TABLE} (version BIGINT NOT NULL PRIMARY KEY, \
             name VARCHAR(255) NOT NULL, checksum VARCHAR(64) NOT NULL, applied_at {at} NOT NULL)"
        )
    }

    /// Lists the current schema's tables (no binds).
    pub(crate) fn tables_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table'",
            Dialect::Postgres => {
                "SELECT table_name::text FROM information_schema.tables \
                 WHERE table_schema = current_schema()"
            }
            Dialect::MySql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables \
                 WHERE table_schema = DATABASE()"
            }
        }
    }

    /// Lists one table's columns (one bind: the table name).
    pub(crate) fn columns_sql(self) -> &'static str {
        match self {
            Dialect::Sqlite => "SELECT name FROM pragma_table_info(?)",
            Dialect::Postgres => {
                "SELECT column_name::text FROM information_schema.columns \
                 WHERE table_schema = current_schema() AND table_name = $1"
            }
            Dialect::MySql => {
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = ?"
            }
        }
    }

    /// The session settings and run-wide lock of MariaDB (`None` elsewhere): a named lock
    /// per database, waited for 300 s; lock waits on tables give up after 30 s instead of
    /// MariaDB's default year.
    pub(crate) fn run_lock_sql(self) -> Option<[&'static str; 3]> {
        match self {
            Dialect::MySql => Some([
                "SET SESSION lock_wait_timeout = 30",
                "SELECT CAST(GET_LOCK(CONCAT('rsm.', MD5(DATABASE())), 300) AS CHAR)",
                "SELECT CAST(RELEASE_LOCK(CONCAT('rsm.', MD5(DATABASE()))) AS CHAR)",
            ]),
            _ => None,
        }
    }

    /// What runs right after `BEGIN` on PostgreSQL: a bounded wait for table locks (a
    /// Flask app idle in a transaction must not stall every query behind our `ALTER`),
    /// and the per-schema advisory lock, released by `COMMIT` or `ROLLBACK`.
    pub(crate) fn transaction_lock_sql(self) -> &'static [&'static str] {
        match self {
            Dialect::Postgres => &[
                "SET LOCAL lock_timeout = '10s'",
                "SELECT pg_advisory_xact_lock(1920165219, hashtext(current_schema()))",
            ],
            _ => &[],
        }
    }

    /// Starts the transaction one migration runs in.
    pub(crate) fn begin_sql(self) -> &'static str {
        match self {
            // Takes the write lock now, so the record re-read inside is authoritative.
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
            Dialect::MySql => "START TRANSACTION",
        }
    }

    /// The statements of one step, given the table's current columns.
    pub(crate) fn step_sql(self, step: &Step, columns: &BTreeSet<String>) -> Vec<String> {
        match step {
            Step::Script(scripts) | Step::BestEffort(scripts) => {
                statements(scripts[self.index()]).collect()
            }
            Step::AddColumn { column, .. } if columns.contains(*column) => Vec::new(),
            Step::AddColumn {
                table,
                column,
                ty,
                unique,
            } => {
                let (t, c) = (self.quote(table), self.quote(column));
                let add = format!("ALTER TABLE {t} ADD COLUMN {c} {}", self.column_type(*ty));
                if !*unique {
                    return vec![add];
                }
                let index = self.quote(&format!("uq_{table}_{column}"));
                match self {
                    // SQLite cannot add a UNIQUE column: an index, in the same transaction.
                    Dialect::Sqlite => {
                        vec![add, format!("CREATE UNIQUE INDEX {index} ON {t} ({c})")]
                    }
                    // One statement, so MariaDB (whose DDL commits on its own) never keeps
                    // the column without its index.
                    Dialect::MySql => vec![format!("{add}, ADD UNIQUE INDEX {index} ({c})")],
                    Dialect::Postgres => {
                        vec![format!("{add}, ADD CONSTRAINT {index} UNIQUE ({c})")]
                    }
                }
            }
        }
    }

    /// A fingerprint of what a migration does on this dialect, recorded with it: its
    /// version and statements (comments, white space at the ends and the name left out,
    /// so fixing a typo there does not lock deployed databases out).
    pub(crate) fn checksum(self, m: &Migration) -> String {
        let mut h = Sha256::new();
        h.update(m.version.to_be_bytes());
        for step in m.steps {
            let text = match step {
                Step::Script(s) | Step::BestEffort(s) => {
                    statements(s[self.index()]).collect::<Vec<_>>().join(";\n")
                }
                Step::AddColumn { .. } => self.step_sql(step, &BTreeSet::new()).join(";\n"),
            };
            h.update(text.as_bytes());
            h.update([0]);
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Splits a migration script into statements at `;`, keeping whole a trigger's
/// `BEGIN ... END` body and a PostgreSQL `$$ ... $$` function body, which hold `;`.
/// Comment lines are dropped.
pub(crate) fn statements(sql: &str) -> impl Iterator<Item = String> {
    let code: String = sql
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut out = Vec::new();
    let mut open = String::new();
    for chunk in code.split(';') {
        if !open.is_empty() {
            open.push(';');
        }
        open.push_str(chunk);
        if balanced(&open) {
            let t = open.trim();
            if !t.is_empty() {
                out.push(t.to_owned());
            }
            open.clear();
        }
    }
    let t = open.trim();
    if !t.is_empty() {
        out.push(t.to_owned());
    }
    out.into_iter()
}

/// Whether a statement's `$$` quotes and `BEGIN`/`END` words pair up. Scripts must not
/// hold `CASE ... END`, `BEGIN TRANSACTION`, `$tag$` quotes, or `;` / `$$` inside strings
/// or after a statement on the same line: the test below pins what each script gives.
fn balanced(sql: &str) -> bool {
    let words = |w: &str| {
        sql.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .filter(|t| *t == w)
            .count()
    };
    sql.matches("$$").count().is_multiple_of(2) && words("BEGIN") == words("END")
}

/// The user columns of release 0.1.0's schema (all of them: nothing else has them all
/// without a WebAuthn table).
const RELEASE_0_1_COLUMNS: &[&str] = &[
    "fs_token_uniquifier",
    "fs_webauthn_user_handle",
    "mf_recovery_codes",
    "us_phone_number",
    "us_totp_secrets",
    "username",
    "tf_primary_method",
];

/// What the schema is, from its tables, the user table's columns and whether migrations
/// are recorded. Refuses Flask-Security tables without a `user` table (a renamed user
/// table): creating one beside them would leave `roles_users` pointing elsewhere.
///
/// Flask-SQLAlchemy names the model classes' tables `web_authn` and `fs_refresh_tracker`;
/// Flask-Security's own defaults say `webauthn` and `fs_refresh`: either is recognised.
pub(crate) fn recognise(
    tables: &BTreeSet<String>,
    user_columns: &BTreeSet<String>,
    recorded: bool,
) -> Result<SchemaOrigin, String> {
    let has = |t: &str| tables.contains(t);
    let col = |c: &str| user_columns.contains(c);
    if recorded {
        return Ok(SchemaOrigin::Versioned);
    }
    if !has("user") {
        let others: Vec<&str> = ["role", "roles_users", "webauthn", "web_authn"]
            .into_iter()
            .filter(|t| has(t))
            .collect();
        if others.is_empty() {
            return Ok(SchemaOrigin::Empty);
        }
        return Err(format!(
            "the database has the table(s) {} but no \"user\" table: a Flask-Security schema \
             with a renamed user table is not supported; nothing was changed",
            others.join(", ")
        ));
    }
    let webauthn = has("webauthn") || has("web_authn");
    Ok(if has("fs_session") {
        // Only this project's migrations (5 on) create it.
        SchemaOrigin::Unversioned
    } else if has("fs_refresh") || has("fs_refresh_tracker") {
        SchemaOrigin::FlaskSecurity(4)
    } else if webauthn {
        SchemaOrigin::FlaskSecurity(3)
    } else if RELEASE_0_1_COLUMNS.iter().all(|c| col(c)) {
        SchemaOrigin::Unversioned
    } else if col("fs_webauthn_user_handle") {
        SchemaOrigin::FlaskSecurity(3)
    } else if col("us_phone_number") {
        SchemaOrigin::FlaskSecurity(2)
    } else {
        SchemaOrigin::FlaskSecurity(1)
    })
}

/// The columns a table lacks of those the datastore needs; empty when it is absent.
pub(crate) fn missing_required(table: &str, columns: &BTreeSet<String>) -> Vec<&'static str> {
    if columns.is_empty() {
        return Vec::new();
    }
    REQUIRED
        .iter()
        .filter(|(t, _)| *t == table)
        .flat_map(|(_, cols)| cols.iter().copied())
        .filter(|c| !columns.contains(*c))
        .collect()
}

/// Checks the recorded migrations against the shipped ones; returns the pending ones.
pub(crate) fn pending(
    dialect: Dialect,
    recorded: &[(i64, String, String)],
) -> Result<Vec<&'static Migration>, String> {
    for (version, _, checksum) in recorded {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            None => {
                return Err(format!(
                    "the database has migration {version}, which this release does not ship: \
                     it was upgraded by a newer release"
                ))
            }
            Some(m) if dialect.checksum(m) != *checksum => {
                return Err(format!(
                    "migration {version} ({}) differs from the one applied to this database",
                    m.name
                ))
            }
            Some(_) => {}
        }
    }
    Ok(MIGRATIONS
        .iter()
        .filter(|m| !recorded.iter().any(|(v, _, _)| *v == m.version))
        .collect())
}

pub(crate) fn info(m: &Migration) -> MigrationInfo {
    MigrationInfo {
        version: m.version,
        name: m.name.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[&str]) -> BTreeSet<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn versions_rise_by_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "{}", m.name);
        }
    }

    #[test]
    fn origins_are_told_apart_by_tables_and_columns() {
        let r = |t: &BTreeSet<String>, c: &BTreeSet<String>| recognise(t, c, false).unwrap();
        let fs1 = set(&["id", "email", "fs_uniquifier"]);
        let fs2 = set(&["id", "email", "fs_uniquifier", "us_phone_number"]);
        let fs2_token = set(&["fs_uniquifier", "us_phone_number", "fs_token_uniquifier"]);
        let mut ours = set(RELEASE_0_1_COLUMNS);
        ours.insert("fs_uniquifier".into());
        let user = set(&["user", "role", "roles_users"]);
        let mut webauthn = user.clone();
        webauthn.insert("web_authn".into());
        let mut refresh = webauthn.clone();
        refresh.insert("fs_refresh_tracker".into());
        assert_eq!(r(&set(&[]), &set(&[])), SchemaOrigin::Empty);
        assert_eq!(r(&user, &fs1), SchemaOrigin::FlaskSecurity(1));
        assert_eq!(r(&user, &fs2), SchemaOrigin::FlaskSecurity(2));
        // A Flask-Security model with the optional token column is still Flask-Security's.
        assert_eq!(r(&user, &fs2_token), SchemaOrigin::FlaskSecurity(2));
        assert_eq!(r(&webauthn, &fs2), SchemaOrigin::FlaskSecurity(3));
        assert_eq!(r(&refresh, &ours), SchemaOrigin::FlaskSecurity(4));
        assert_eq!(r(&user, &ours), SchemaOrigin::Unversioned);
        // Ours from migration 5 on (with migration 7's `webauthn` table), records lost.
        let mut later = webauthn.clone();
        later.extend(["webauthn".to_owned(), "fs_session".to_owned()]);
        assert_eq!(r(&later, &ours), SchemaOrigin::Unversioned);
        assert_eq!(
            recognise(&user, &ours, true).unwrap(),
            SchemaOrigin::Versioned
        );
        let renamed = set(&["users", "role", "roles_users"]);
        let e = recognise(&renamed, &set(&[]), false).unwrap_err();
        assert!(
            e.contains("role, roles_users") && e.contains("\"user\""),
            "{e}"
        );
    }

    #[test]
    fn present_columns_are_not_added_again() {
        let step = add("user", "username", Column::Varchar(255), true);
        assert!(Dialect::Sqlite
            .step_sql(&step, &set(&["username"]))
            .is_empty());
        let sql = Dialect::MySql.step_sql(&step, &set(&["email"]));
        assert_eq!(
            sql,
            ["ALTER TABLE `user` ADD COLUMN `username` VARCHAR(255), \
              ADD UNIQUE INDEX `uq_user_username` (`username`)"]
        );
        let sql = Dialect::Sqlite.step_sql(&step, &set(&["email"]));
        assert_eq!(sql.len(), 2, "{sql:?}");
    }

    #[test]
    fn a_changed_or_unknown_record_is_refused() {
        let d = Dialect::Postgres;
        let ok: Vec<_> = MIGRATIONS
            .iter()
            .take(1)
            .map(|m| (m.version, m.name.to_owned(), d.checksum(m)))
            .collect();
        assert_eq!(pending(d, &ok).unwrap().len(), MIGRATIONS.len() - 1);
        let changed = vec![(1, "x".to_owned(), "0".repeat(64))];
        assert!(pending(d, &changed).unwrap_err().contains("differs"));
        let newer = vec![(999, "x".to_owned(), String::new())];
        assert!(pending(d, &newer).unwrap_err().contains("newer release"));
    }

    #[test]
    fn missing_required_columns_are_named() {
        assert_eq!(
            missing_required("role", &set(&["id", "name"])),
            ["update_datetime"]
        );
        assert!(missing_required("role", &set(&[])).is_empty());
    }

    #[test]
    fn scripts_split_into_statements() {
        for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::MySql] {
            assert_eq!(d.step_sql(&MIGRATIONS[0].steps[0], &set(&[])).len(), 3);
        }
    }

    #[test]
    fn trigger_and_function_bodies_stay_whole() {
        let sqlite: Vec<String> = statements(include_str!(
            "../../migrations/sqlite/0009_auth_changes.sql"
        ))
        .collect();
        assert_eq!(sqlite.len(), 15, "{sqlite:#?}");
        assert!(sqlite[3].starts_with("CREATE TRIGGER") && sqlite[3].ends_with("END"));
        let pg: Vec<String> = statements(include_str!(
            "../../migrations/postgres/0009_auth_changes.sql"
        ))
        .collect();
        assert_eq!(pg.len(), 9, "{pg:#?}");
        assert!(pg[0].contains("pg_notify") && pg[0].ends_with("$$"));
        // The user triggers watch exactly the columns the datastore reads.
        let select = super::super::sql::USER_COLUMNS;
        for trigger in [&sqlite[3], &pg[2]] {
            let cols = trigger.split("UPDATE OF ").nth(1).unwrap();
            let cols: Vec<&str> = cols
                .split(" ON ")
                .next()
                .unwrap()
                .split(" OR ")
                .next()
                .unwrap()
                .split(',')
                .map(str::trim)
                .collect();
            let want: Vec<&str> = select.split(',').map(str::trim).collect();
            assert_eq!(cols, want);
        }
        let mysql = statements(include_str!("../../migrations/mysql/0009_auth_changes.sql"));
        assert_eq!(mysql.count(), 0);
        // MySQL and MariaDB (migration 10): the user trigger compares exactly those
        // columns, old against new.
        let mysql: Vec<String> =
            statements(include_str!("../../migrations/mysql/0010_auth_changes.sql")).collect();
        assert_eq!(mysql.len(), 21, "{mysql:#?}");
        assert!(mysql[3].starts_with("CREATE TRIGGER fs_auth_user_update"));
        let old: Vec<&str> = mysql[3]
            .split("OLD.")
            .skip(1)
            .map(|rest| rest.split(|c: char| !c.is_ascii_alphanumeric() && c != '_'))
            .filter_map(|mut words| words.next())
            .collect();
        let want: Vec<&str> = select.split(',').map(str::trim).collect();
        assert_eq!(old, want);
        // Best-effort steps hold statements for MySQL only.
        for m in MIGRATIONS {
            for step in m.steps {
                if let Step::BestEffort(scripts) = step {
                    assert_eq!(statements(scripts[0]).count(), 0, "{}", m.version);
                    assert_eq!(statements(scripts[1]).count(), 0, "{}", m.version);
                }
            }
        }
        assert_eq!(
            statements("A;\n-- c; d\nB ; C").collect::<Vec<_>>(),
            ["A", "B", "C"]
        );
    }
}
