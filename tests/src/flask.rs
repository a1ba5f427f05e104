//! Flask-Security itself, run from the tests: `scripts/flask_security_db.py` writes and
//! reads databases with Flask-Security-Too's own models and views, and
//! `scripts/soft_authenticator.py` signs WebAuthn assertions for the keys it registered.
//!
//! They run when `FLASK_SECURITY_PYTHON` names a Python with Flask-Security-Too (and its
//! `fsqla`, `common` and `mfa` extras), Flask-SQLAlchemy, psycopg2, PyMySQL and `webauthn`.

use std::process::Command;

use rocket::serde::json::Value;

use crate::Backend;

/// The Python that runs Flask-Security, or `None` (outside CI) to skip `what`.
pub fn python(what: &str) -> Option<String> {
    match std::env::var("FLASK_SECURITY_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true but FLASK_SECURITY_PYTHON is not set")
        }
        _ => {
            eprintln!("FLASK_SECURITY_PYTHON not set: {what} not checked");
            None
        }
    }
}

/// Our test URL as SQLAlchemy's (same file, schema or database).
pub fn sqlalchemy_url(b: Backend, url: &str) -> String {
    match b {
        Backend::Sqlite => {
            let path = url.trim_start_matches("sqlite://");
            let path = path.split('?').next().unwrap_or(path);
            format!("sqlite:///{path}")
        }
        Backend::Postgres => url.replacen("postgres://", "postgresql+psycopg2://", 1),
        Backend::MySql => format!(
            "{}?charset=utf8mb4",
            url.replacen("mysql://", "mysql+pymysql://", 1)
        ),
    }
}

/// Runs `scripts/<script>` with `args`; its JSON answer (a failure panics with its
/// standard error).
pub fn run_script(python: &str, script: &str, args: &[&str]) -> Value {
    let path = format!("{}/../scripts/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new(python)
        .arg(&path)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{python} {path}: {e}"));
    assert!(
        out.status.success(),
        "{script} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{script} {args:?} printed no JSON: {e}"))
}

/// Runs `scripts/flask_security_db.py` with `args`; its JSON answer.
pub fn flask_security(python: &str, args: &[&str]) -> Value {
    run_script(python, "flask_security_db.py", args)
}
