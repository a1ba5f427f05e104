//! The `security-cli` binary: every `users` / `roles` command, its messages and exit
//! codes, checked against the rows it leaves in the database.
//!
//! Runs on SQLite always, on PostgreSQL when `SECURITY_TEST_POSTGRES_URL` is set and on
//! MariaDB/MySQL when `SECURITY_TEST_MYSQL_URL` is set; a set but unreachable URL fails the
//! test.
//!
//! Parity: Flask-Security's `flask users` / `flask roles` (`tests/test_cli.py`).
#![cfg(feature = "cli")]
#![allow(missing_docs, clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use security_runtime::datastore::{Attempts, Factor};
use security_runtime::hashing::{HashingConfig, PasswordContext};
use security_runtime::{SqlDatastore, User, UserDatastore, UserQuery};

// The backends and a fresh database per test, shared with the HTTP tests (this crate
// cannot depend on `security-tests`, which depends on it).
#[path = "../../tests/src/databases.rs"]
mod databases;
use databases::{backends, fresh_database, unique, Backend};

const ROCKET_SECURITY: &str = "{password_salt=\"cli-salt\", argon2_memory_cost=1024, \
                               argon2_time_cost=1, argon2_parallelism=1}";

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir()
        .join("security-cli-tests")
        .join(unique("d"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn open(url: &str) -> SqlDatastore {
    if url.starts_with("sqlite:") {
        SqlDatastore::from(sqlx::SqlitePool::connect(url).await.unwrap())
    } else if url.starts_with("mysql:") || url.starts_with("mariadb:") {
        SqlDatastore::from(sqlx::MySqlPool::connect(url).await.unwrap())
    } else {
        SqlDatastore::from(sqlx::PgPool::connect(url).await.unwrap())
    }
}

fn password_context() -> PasswordContext {
    PasswordContext::new(HashingConfig {
        password_salt: Some("cli-salt".into()),
        argon2_memory_cost: 1024,
        argon2_time_cost: 1,
        argon2_parallelism: 1,
        ..HashingConfig::default()
    })
    .unwrap()
}

fn verifies(user: &User, password: &str) -> bool {
    let ctx = password_context();
    let stored = user.password.as_deref().unwrap();
    ctx.verify_password(&ctx.normalize(password), stored)
}

/// A finished run of the binary.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Self {
        Run {
            code: o.status.code().unwrap(),
            stdout: String::from_utf8(o.stdout).unwrap(),
            stderr: String::from_utf8(o.stderr).unwrap(),
        }
    }
}

impl Run {
    /// Asserts the exit code, showing both outputs when it is another.
    #[track_caller]
    fn exits(&self, code: i32) {
        let (out, err) = (&self.stdout, &self.stderr);
        assert_eq!(self.code, code, "stdout: {out}\nstderr: {err}");
    }

    #[track_caller]
    fn ok(&self, stdout: &str) -> &Self {
        self.exits(0);
        assert!(self.stdout.contains(stdout), "stdout: {}", self.stdout);
        assert_eq!(self.stderr, "");
        self
    }

    #[track_caller]
    fn fails(&self, code: i32, stderr: &str) -> &Self {
        self.exits(code);
        assert!(self.stderr.contains(stderr), "stderr: {}", self.stderr);
        assert_eq!(self.stdout, "");
        self
    }

    #[track_caller]
    fn hides(&self, secret: &str) -> &Self {
        assert!(
            !self.stdout.contains(secret),
            "password printed: {}",
            self.stdout
        );
        assert!(
            !self.stderr.contains(secret),
            "password printed: {}",
            self.stderr
        );
        self
    }
}

/// The binary with a clean configuration: no Rocket.toml, the test salt and cheap argon2.
fn command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_security-cli"));
    c.current_dir(dir)
        .env("ROCKET_CONFIG", dir.join("Rocket.toml"))
        .env("ROCKET_SECURITY", ROCKET_SECURITY)
        .env_remove("ROCKET_DATABASES")
        .env_remove("ROCKET_PROFILE")
        .stdin(Stdio::null());
    c
}

/// Runs `security-cli --database-url URL ARGS...`.
fn cli(url: &str, args: &[&str]) -> Run {
    cli_stdin(url, args, None)
}

fn cli_stdin(url: &str, args: &[&str], stdin: Option<&str>) -> Run {
    let dir = temp_dir();
    let mut c = command(&dir);
    c.arg("--database-url").arg(url).args(args);
    run(c, stdin)
}

fn run(mut c: Command, stdin: Option<&str>) -> Run {
    if stdin.is_some() {
        c.stdin(Stdio::piped());
    }
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap().into()
}

/// A fresh database on `backend` where the CLI created `matt@lp.com` (username `matt1`,
/// password `battery staple`, and `flags`); its URL.
async fn database_with_matt(backend: databases::Backend, flags: &[&str]) -> String {
    let url = fresh_database(backend).await;
    let mut args = vec!["users", "create", "matt@lp.com", "-u", "matt1"];
    args.extend(flags);
    args.extend(["--password", "battery staple"]);
    cli(&url, &args).ok("created");
    url
}

async fn find(ds: &SqlDatastore, email: &str) -> Option<User> {
    ds.find_user(&UserQuery::Email(email.into()), false)
        .await
        .unwrap()
}

#[tokio::test]
async fn users_create() {
    for backend in backends() {
        let url = fresh_database(backend).await;
        let r = cli(
            &url,
            &[
                "users",
                "create",
                " matt@LP.com ",
                "--password",
                "battery staple",
            ],
        );
        r.ok("User created successfully.").hides("battery staple");
        assert!(
            r.stdout.contains("\"email\":\"matt@lp.com\""),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("\"active\":false"), "{}", r.stdout);
        assert!(r.stdout.contains("\"password\":\"****\""), "{}", r.stdout);

        let ds = open(&url).await;
        let matt = find(&ds, "matt@lp.com")
            .await
            .expect("row stored, domain lowercased");
        assert!(!matt.active, "inactive unless --active");
        assert_eq!(matt.username, None);
        assert!(matt
            .password
            .as_deref()
            .unwrap()
            .starts_with("$argon2id$v=19$m=1024,t=1,p=1$"));
        assert!(verifies(&matt, "battery staple"));
        assert!(!verifies(&matt, "battery staplf"));
        assert_eq!(matt.fs_uniquifier.len(), 32);

        // Active, with a username given by option or as an attribute.
        cli(
            &url,
            &[
                "users",
                "create",
                "joe@lp.com",
                "-u",
                "Joe1",
                "-a",
                "--password",
                "joes password",
            ],
        )
        .ok("User created successfully.");
        cli(
            &url,
            &[
                "users",
                "create",
                "email:ann@lp.com",
                "username:ann1",
                "--active",
                "--password",
                "anns password",
            ],
        )
        .ok("\"username\":\"ann1\"");
        let joe = find(&ds, "joe@lp.com").await.unwrap();
        assert!(joe.active);
        assert_eq!(joe.username.as_deref(), Some("Joe1"));
        assert!(verifies(&joe, "joes password"));
        assert!(find(&ds, "ann@lp.com").await.unwrap().active);

        // The password may come from standard input instead of the command line.
        cli_stdin(
            &url,
            &["users", "create", "stdin@lp.com"],
            Some("from stdin pw\n"),
        )
        .ok("User created successfully.")
        .hides("from stdin pw");
        assert!(verifies(
            &find(&ds, "stdin@lp.com").await.unwrap(),
            "from stdin pw"
        ));
        // NFKD normalisation happens before hashing, as in Flask-Security.
        cli(
            &url,
            &["users", "create", "lig@lp.com", "--password", "ﬁﬁﬁﬁ"],
        )
        .ok("created");
        assert!(verifies(
            &find(&ds, "lig@lp.com").await.unwrap(),
            "fifififi"
        ));
    }
}

#[tokio::test]
async fn users_create_refuses_bad_input_and_duplicates() {
    for backend in backends() {
        let url = database_with_matt(backend, &[]).await;
        let cases: &[(&[&str], &str)] = &[
            (
                &["MATT@lp.com"],
                "MATT@lp.com is already associated with an account.",
            ),
            (
                &["other@lp.com", "-u", "MATT1"],
                "MATT1 is already associated with an account.",
            ),
            (&["not-an-email"], "email: Invalid email address"),
            (
                &["a@lp.com", "-u", "jo_e"],
                "username: Username can contain only letters and numbers",
            ),
            (
                &["a@lp.com", "-u", "joe"],
                "Username must be at least 4 characters and less than 32 characters",
            ),
            (
                &["a@lp.com", "-u", "<b>joe</b>"],
                "Value entered is not valid for the field",
            ),
            (&["-u", "solo1"], "email: Email not provided"),
        ];
        for (args, msg) in cases {
            let mut full = vec!["users", "create"];
            full.extend_from_slice(args);
            full.extend_from_slice(&["--password", "battery staple"]);
            cli(&url, &full).fails(1, msg).hides("battery staple");
        }
        cli(
            &url,
            &["users", "create", "a@lp.com", "--password", "short"],
        )
        .fails(
            1,
            "Error creating user. password: Password must be at least 8 characters",
        )
        .hides("short");
        // Every problem at once, as the register form reports them.
        let r = cli(&url, &["users", "create", "bad", "--password", "short"]);
        r.fails(
            1,
            "email: Invalid email address; password: Password must be at least 8",
        );
        // Usage errors are clap's: exit 2.
        cli(
            &url,
            &[
                "users",
                "create",
                "phone:6505551212",
                "--password",
                "battery staple",
            ],
        )
        .fails(2, "unknown attribute `phone`");
        cli(
            &url,
            &[
                "users",
                "create",
                "a@lp.com",
                "email:b@lp.com",
                "--password",
                "battery staple",
            ],
        )
        .fails(2, "attribute `email` given twice");
        cli(&url, &["users", "create", "--bogus"]).fails(2, "--bogus");

        let ds = open(&url).await;
        for email in ["other@lp.com", "a@lp.com", "not-an-email", "b@lp.com"] {
            assert!(
                find(&ds, email).await.is_none(),
                "{email} must not be created"
            );
        }
        let u = ds
            .find_user(&UserQuery::Username("solo1".into()), true)
            .await
            .unwrap();
        assert!(u.is_none());
    }
}

#[tokio::test]
async fn users_activate_deactivate_reset_access() {
    for backend in backends() {
        let url = database_with_matt(backend, &[]).await;
        let ds = open(&url).await;

        cli(&url, &["users", "activate", "MATT@LP.COM"])
            .ok("User \"MATT@LP.COM\" has been activated.");
        assert!(find(&ds, "matt@lp.com").await.unwrap().active);
        cli(&url, &["users", "activate", "Matt1"]).ok("User \"Matt1\" was already activated.");
        cli(&url, &["users", "deactivate", "matt1"]).ok("User \"matt1\" has been deactivated.");
        assert!(!find(&ds, "matt@lp.com").await.unwrap().active);
        cli(&url, &["users", "deactivate", "matt@lp.com"])
            .ok("User \"matt@lp.com\" was already deactivated.");

        for cmd in ["activate", "deactivate", "reset_access"] {
            cli(&url, &["users", cmd, "nobody@lp.com"]).fails(1, "User not found.");
            cli(&url, &["users", cmd, "nobody1"]).fails(1, "User not found.");
        }
        cli(&url, &["users", "activate"]).fails(2, "<USER>");

        // reset_access: new session identity, token identity and 2FA/unified sign-in gone.
        let mut matt = find(&ds, "matt@lp.com").await.unwrap();
        ds.set_token_uniquifier(&mut matt, None).await.unwrap();
        ds.tf_set(&mut matt, "authenticator", Some("secret"), None)
            .await
            .unwrap();
        let before = find(&ds, "matt@lp.com").await.unwrap();
        cli(&url, &["users", "reset_access", "matt@lp.com"])
            .ok("User \"matt@lp.com\" authentication credentials have been reset.");
        let after = find(&ds, "matt@lp.com").await.unwrap();
        assert_ne!(after.fs_uniquifier, before.fs_uniquifier);
        assert_ne!(after.fs_token_uniquifier, before.fs_token_uniquifier);
        assert!(after.fs_token_uniquifier.is_some());
        assert_eq!(after.tf_primary_method, None);
        assert_eq!(after.tf_totp_secret, None);
        assert_eq!(
            after.password, before.password,
            "the password is not affected"
        );
        // The kebab-case spelling is accepted too.
        cli(&url, &["users", "reset-access", "matt1"]).ok("have been reset.");

        // tf_reset: method, secret, phone and recovery codes gone; sessions untouched.
        let mut matt = find(&ds, "matt@lp.com").await.unwrap();
        ds.tf_set(&mut matt, "sms", Some("secret"), Some("+16502530000"))
            .await
            .unwrap();
        assert!(ds
            .swap_recovery_codes(&mut matt, None, Some("aaaa-bbbb-cccc"))
            .await
            .unwrap());
        cli(&url, &["users", "tf_reset", "matt@lp.com"])
            .ok("User \"matt@lp.com\" two-factor sign-in has been reset.");
        let after = find(&ds, "matt@lp.com").await.unwrap();
        assert_eq!(after.tf_primary_method, None);
        assert_eq!(after.tf_totp_secret, None);
        assert_eq!(after.tf_phone_number, None);
        assert_eq!(after.mf_recovery_codes, None);
        assert_eq!(after.fs_uniquifier, matt.fs_uniquifier);
        cli(&url, &["users", "tf-reset", "nobody@lp.com"]).fails(1, "User not found.");

        // unlock: the failed attempts of both factors are forgotten.
        let locked = Attempts {
            failures: 100,
            last_at: 1_700_000_000,
        };
        for factor in [Factor::Password, Factor::Code] {
            let seen = ds.failed_attempts(matt.id, factor).await.unwrap();
            assert!(ds
                .swap_failed_attempts(matt.id, factor, seen, locked)
                .await
                .unwrap());
        }
        cli(&url, &["users", "unlock", "matt1"]).ok("User \"matt1\" has been unlocked.");
        for factor in [Factor::Password, Factor::Code] {
            let now = ds.failed_attempts(matt.id, factor).await.unwrap();
            assert_eq!(now.failures, 0, "{factor:?}");
        }
        cli(&url, &["users", "unlock", "nobody@lp.com"]).fails(1, "User not found.");
    }
}

#[tokio::test]
async fn users_change_password() {
    for backend in backends() {
        let url = database_with_matt(backend, &["-a"]).await;
        let ds = open(&url).await;
        let before = find(&ds, "matt@lp.com").await.unwrap();

        cli(
            &url,
            &[
                "users",
                "change_password",
                "Matt@lp.com",
                "--password",
                "new battery",
            ],
        )
        .ok("Password of user \"Matt@lp.com\" has been changed")
        .hides("new battery");
        let after = find(&ds, "matt@lp.com").await.unwrap();
        assert!(verifies(&after, "new battery"));
        assert!(!verifies(&after, "battery staple"));
        assert_ne!(after.fs_uniquifier, before.fs_uniquifier, "sessions end");
        assert!(after.active);

        cli_stdin(
            &url,
            &["users", "change_password", "matt1"],
            Some("stdin password\r\n"),
        )
        .ok("has been changed");
        let after2 = find(&ds, "matt@lp.com").await.unwrap();
        assert!(verifies(&after2, "stdin password"));

        cli(
            &url,
            &["users", "change_password", "matt1", "--password", "short"],
        )
        .fails(
            1,
            "Error changing password. password: Password must be at least 8 characters",
        )
        .hides("short");
        cli(
            &url,
            &[
                "users",
                "change_password",
                "ghost@lp.com",
                "--password",
                "long enough",
            ],
        )
        .fails(1, "User not found.");
        let unchanged = find(&ds, "matt@lp.com").await.unwrap();
        assert_eq!(unchanged.password, after2.password);
        assert_eq!(unchanged.fs_uniquifier, after2.fs_uniquifier);
    }
}

#[tokio::test]
async fn roles_commands() {
    for backend in backends() {
        let url = database_with_matt(backend, &[]).await;
        let ds = open(&url).await;

        cli(
            &url,
            &[
                "roles",
                "create",
                "admin",
                "-d",
                "Administrators",
                "-p",
                "read, write",
            ],
        )
        .ok("Role \"admin\" created successfully.");
        cli(&url, &["roles", "create", "plain"]).ok("Role \"plain\" created successfully.");
        cli(&url, &["roles", "create", "admin"]).fails(1, "Role \"admin\" already exists.");
        let admin = ds.find_role("admin").await.unwrap().unwrap();
        assert_eq!(admin.description.as_deref(), Some("Administrators"));
        assert_eq!(admin.permissions, ["read", "write"]);
        let plain = ds.find_role("plain").await.unwrap().unwrap();
        assert!(plain.permissions.is_empty());
        assert_eq!(plain.description, None);

        cli(&url, &["roles", "add", "MATT@lp.com", "admin"])
            .ok("Role \"admin\" added to user \"MATT@lp.com\" successfully.");
        let matt = find(&ds, "matt@lp.com").await.unwrap();
        assert!(matt.has_role("admin"));
        assert!(matt.has_permission("write"));
        cli(&url, &["roles", "add", "matt1", "admin"]).fails(1, "Cannot add role to user");
        cli(&url, &["roles", "add", "matt1", "ghost"]).fails(1, "Cannot find role.");
        cli(&url, &["roles", "add", "nobody@lp.com", "admin"]).fails(1, "User not found.");
        cli(&url, &["roles", "add", "matt1"]).fails(2, "<ROLE>");

        cli(&url, &["roles", "remove", "matt1", "admin"])
            .ok("Role \"admin\" removed from user \"matt1\" successfully.");
        assert!(!find(&ds, "matt@lp.com").await.unwrap().has_role("admin"));
        cli(&url, &["roles", "remove", "matt1", "admin"]).fails(1, "Cannot remove role from user");
        cli(&url, &["roles", "remove", "matt1", "ghost"]).fails(1, "Cannot find role.");
        cli(&url, &["roles", "remove", "ghost1", "admin"]).fails(1, "User not found.");

        cli(&url, &["roles", "add_permissions", "admin", "delete, read"])
            .ok("Permission(s) \"delete,read\" added to role \"admin\" successfully.");
        assert_eq!(
            ds.find_role("admin").await.unwrap().unwrap().permissions,
            ["read", "write", "delete"]
        );
        cli(
            &url,
            &["roles", "remove_permissions", "admin", "read,nothing"],
        )
        .ok("Permission(s) \"read,nothing\" removed from role \"admin\" successfully.");
        assert_eq!(
            ds.find_role("admin").await.unwrap().unwrap().permissions,
            ["write", "delete"]
        );
        cli(&url, &["roles", "add-permissions", "plain", "x"]).ok("added to role \"plain\"");
        cli(&url, &["roles", "add_permissions", "ghost", "x"]).fails(1, "Cannot find role.");
        cli(&url, &["roles", "remove_permissions", "ghost", "x"]).fails(1, "Cannot find role.");
        cli(&url, &["roles", "add_permissions", "admin", " , "]).fails(1, "No permissions given.");
        cli(&url, &["roles", "frobnicate"]).fails(2, "frobnicate");
    }
}

/// Configuration comes from Rocket.toml and ROCKET_* variables, as for the application.
#[tokio::test]
async fn configuration_is_read_like_the_application() {
    let url = fresh_database(Backend::Sqlite).await;
    let dir = temp_dir();
    std::fs::write(
        dir.join("Rocket.toml"),
        format!(
            "[default.databases.app]\nurl = \"{url}\"\n\n\
             [default.databases.other]\nurl = \"sqlite://{}?mode=rwc\"\n",
            dir.join("other.db").display()
        ),
    )
    .unwrap();
    let args = |a: &[&str]| {
        let mut c = command(&dir);
        c.args(a);
        c
    };
    // databases.app.url from Rocket.toml (the default --db).
    run(
        args(&[
            "users",
            "create",
            "toml@lp.com",
            "--password",
            "battery staple",
        ]),
        None,
    )
    .ok("created");
    let ds = open(&url).await;
    assert!(find(&ds, "toml@lp.com").await.is_some());
    // --db picks another entry.
    run(
        args(&["--db", "other", "roles", "create", "elsewhere"]),
        None,
    )
    .ok("created");
    assert!(ds.find_role("elsewhere").await.unwrap().is_none());
    // ROCKET_DATABASES overrides the file.
    let env_url = fresh_database(Backend::Sqlite).await;
    let mut c = args(&["roles", "create", "from-env"]);
    c.env("ROCKET_DATABASES", format!("{{app={{url=\"{env_url}\"}}}}"));
    run(c, None).ok("created");
    assert!(open(&env_url)
        .await
        .find_role("from-env")
        .await
        .unwrap()
        .is_some());
    // A database name without a URL.
    run(args(&["--db", "missing", "roles", "create", "x"]), None)
        .fails(1, "no database URL: set `databases.missing.url`");
    // Unknown URL scheme.
    run(
        args(&["--database-url", "oracle://db", "roles", "create", "x"]),
        None,
    )
    .fails(1, "unsupported database URL scheme `oracle`");

    // The security table: length and zxcvbn rules apply to the CLI's passwords.
    let mut c = args(&[
        "users",
        "create",
        "rules@lp.com",
        "--password",
        "rules@lp.com",
    ]);
    c.env(
        "ROCKET_SECURITY",
        "{password_salt=\"cli-salt\", argon2_memory_cost=1024, argon2_time_cost=1, \
         argon2_parallelism=1, password_length_min=13, password_complexity_checker=\"zxcvbn\"}",
    );
    run(c, None).fails(1, "Password must be at least 13 characters");
    let mut c = args(&[
        "users",
        "create",
        "quintessa.vonharbinger@wexmoor.org",
        "--password",
        "quintessa.vonharbinger@wexmoor.org",
    ]);
    c.env(
        "ROCKET_SECURITY",
        "{password_salt=\"cli-salt\", argon2_memory_cost=1024, argon2_time_cost=1, \
         argon2_parallelism=1, password_complexity_checker=\"zxcvbn\"}",
    );
    // The email is a user input zxcvbn penalises: it cannot be the password.
    let r = run(c, None);
    assert_eq!(r.code, 1, "{}{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("Error creating user. password: "),
        "{}",
        r.stderr
    );
    // A missing salt is a configuration error, reported before anything is written.
    let mut c = args(&[
        "users",
        "create",
        "nosalt@lp.com",
        "--password",
        "battery staple",
    ]);
    c.env("ROCKET_SECURITY", "{argon2_memory_cost=1024}");
    run(c, None).fails(1, "password hashing configuration");
    assert!(find(&ds, "nosalt@lp.com").await.is_none());
}

#[tokio::test]
async fn db_status_reports_and_db_upgrade_applies_migrations() {
    for b in backends() {
        let url = fresh_database(b).await;
        let latest = security_runtime::SchemaStatus::latest();
        let status = cli(&url, &["db", "status"]);
        status.ok("schema: empty database");
        status.ok(&format!("version: 0 of {latest}"));
        status.ok("pending     1  initial schema");
        assert!(
            !status.stdout.contains("applied "),
            "{b:?}: {}",
            status.stdout
        );
        // `db status` changes nothing.
        let ds = open(&url).await;
        assert!(
            ds.schema_status().await.unwrap().applied.is_empty(),
            "{b:?}"
        );

        let all: Vec<String> = (1..=latest).map(|v| v.to_string()).collect();
        cli(&url, &["db", "upgrade"]).ok(&format!(
            "Upgraded the empty database to version {latest} (applied {}).",
            all.join(", ")
        ));
        let after = cli(&url, &["db", "status"]);
        after.ok(&format!("version: {latest} of {latest}"));
        after.ok("applied     2  columns that older Flask-Security models lack");
        assert!(!after.stdout.contains("pending"), "{b:?}: {}", after.stdout);
        cli(&url, &["db", "upgrade"]).ok(&format!("Schema is up to date at version {latest}."));
    }
}

#[tokio::test]
async fn users_commands_refuse_a_pending_schema_when_migrating_on_launch_is_off() {
    for b in backends() {
        let url = fresh_database(b).await;
        let mut c = command(&temp_dir());
        c.env(
            "ROCKET_SECURITY",
            "{password_salt=\"cli-salt\", migrate_on_launch=false}",
        )
        .args(["--database-url", &url, "roles", "create", "admin"]);
        let run = Run::from(c.output().unwrap());
        run.fails(1, "pending migrations: run `security-cli db upgrade`");
        cli(&url, &["db", "upgrade"]).ok("Upgraded");
        let run = Run::from(c.output().unwrap());
        assert_eq!(run.code, 0, "{b:?}: {}", run.stderr);
    }
}
