//! Two-factor secrets and recovery codes move both ways between Flask-Security-Too and
//! this crate, checked over HTTP against the real Python libraries: passlib's `TOTP`
//! (libpass) for authenticator secrets and `cryptography`'s Fernet for recovery codes.
//!
//! `data/two_factor_compat.py` runs when `PASSLIB_PYTHON` names a Python interpreter with
//! libpass and cryptography installed; unset, the tests check nothing (and fail under
//! `CI=true`).
#![allow(clippy::unwrap_used)]

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Command;

use rocket::http::Status;
use rocket::serde::json::{json, Value};
use security_runtime::totp::TotpKey;
use security_tests::two_factor::{self, csrf_of, password_step, post, signed_in, Tf, PW};
use security_tests::{backends, Clock, TestApp};

/// The `totp_secrets` entry (tag "1") of the shared two-factor app.
const TOTP_SECRET: &str = "tf-secret-one";
const ISSUER: &str = "Rocket Test";
/// A Fernet key (`Fernet.generate_key()`).
const FERNET_KEY: &str = "HTeCEpuKrBmXpPWedEuFA1u9G-jsrdjlQUuYSJbKv-o=";
/// The codes the script encrypts, in its order.
const THEIR_CODES: [&str; 2] = ["aaaa-bbbb-cccc", "0123-4567-89ab"];

/// The interpreter named by `PASSLIB_PYTHON`; `None` (with a note) when unset outside CI.
fn python() -> Option<OsString> {
    let python = std::env::var_os("PASSLIB_PYTHON");
    if python.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but PASSLIB_PYTHON is not set"
        );
        println!("PASSLIB_PYTHON is not set: checked nothing against passlib/cryptography");
    }
    python
}

/// Runs `two_factor_compat.py` at `now` with our secret and tokens; its JSON answer.
fn run_python(python: &OsStr, now: u64, totp_secret: Option<&str>, codes: Option<&str>) -> Value {
    let input = json!({
        "secrets": {"1": TOTP_SECRET},
        "issuer": ISSUER,
        "time": now,
        "ours": {"totp_secret": totp_secret, "fernet_key": FERNET_KEY, "fernet_codes": codes},
    });
    let path = std::env::temp_dir().join(format!(
        "security-tests-two-factor-{}-{}.json",
        std::process::id(),
        rand::random::<u64>()
    ));
    std::fs::write(&path, input.to_string()).unwrap();
    let script: PathBuf = [env!("CARGO_MANIFEST_DIR"), "data", "two_factor_compat.py"]
        .iter()
        .collect();
    let output = Command::new(python).arg(&script).arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| panic!("cannot run PASSLIB_PYTHON={python:?}: {e}"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "two_factor_compat.py failed:\n{stderr}"
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

/// The two-factor app of the other tests (totp_secrets `{"1": TOTP_SECRET}`, issuer
/// [`ISSUER`]) with recovery codes encrypted under [`FERNET_KEY`].
async fn tf_app() -> Tf {
    two_factor::tf_app(backends()[0], |f| {
        f.merge(("security.multi_factor_recovery_codes_keys", [FERNET_KEY]))
    })
    .await
}

/// A user whose authenticator secret is `secret` (stored as Flask-Security stores it).
async fn authenticator_user(app: &TestApp, email: &str, secret: &str) {
    let mut user = app.user(email, PW, &[]).await;
    user.tf_primary_method = Some("authenticator".into());
    user.tf_totp_secret = Some(secret.to_owned());
    app.datastore().put_user(&mut user).await.unwrap();
}

/// The password step of an authenticator user: the second factor is asked for.
async fn second_factor_asked(app: &TestApp, email: &str) -> String {
    let (s, v) = password_step(app, email).await;
    assert_eq!(s, Status::Ok, "{v}");
    assert_eq!(v["tf_required"], true, "{v}");
    assert_eq!(v["tf_state"], "ready", "{v}");
    assert_eq!(v["tf_method"], "authenticator", "{v}");
    assert!(!signed_in(app).await, "the password alone signed in");
    csrf_of(&v)
}

#[rocket::async_test]
async fn a_flask_security_two_factor_user_signs_in_here() {
    let Some(py) = python() else { return };
    let Tf { app, clock, .. } = tf_app().await;
    let theirs = run_python(&py, clock.now(), None, None);
    let secret = theirs["their_secret"].as_str().unwrap();
    let enckey: Value = serde_json::from_str(secret).unwrap();
    assert_eq!(
        enckey["enckey"]["t"], "1",
        "encrypted under the tag: {secret}"
    );
    let code = theirs["their_code"].as_str().unwrap();
    assert_eq!(code.len(), 6, "{theirs}");
    authenticator_user(&app, "py@example.com", secret).await;
    let csrf = second_factor_asked(&app, "py@example.com").await;
    let (s, v) = post(&app, "/tf-validate", json!({"code": "000000"}), &csrf).await;
    assert_eq!(s, Status::BadRequest, "any code signed in: {v}");
    let (s, v) = post(&app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "passlib's code refused: {v}");
    assert!(v["user"].is_object(), "{v}");
    assert!(signed_in(&app).await);
}

#[rocket::async_test]
async fn a_secret_written_here_decrypts_under_passlib() {
    let Some(py) = python() else { return };
    let Tf { app, clock, .. } = tf_app().await;
    app.user("here@example.com", PW, &[]).await;
    let (_, v) = password_step(&app, "here@example.com").await;
    assert_eq!(v["tf_required"], false, "no method yet: {v}");
    let csrf = csrf_of(&v);
    let (s, v) = post(&app, "/tf-setup", json!({"setup": "authenticator"}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let key = TotpKey::from_b32(v["tf_authr_b32key"].as_str().unwrap()).unwrap();
    let code = key.current_code(clock.now() as f64);
    let (s, v) = post(&app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let user = app.by_email("here@example.com", false).await.unwrap();
    let stored = user.tf_totp_secret.unwrap();
    assert!(stored.contains("\"enckey\""), "stored encrypted: {stored}");
    // A later step than the one used at setup, so a stale key could not match by chance.
    clock.advance(90);
    let theirs = run_python(&py, clock.now(), Some(&stored), None);
    let ours = key.current_code(clock.now() as f64);
    assert_eq!(theirs["our_code"], json!(ours), "passlib read another key");
    assert_ne!(ours, code, "the step moved on");
}

/// Signs in `email` with the authenticator and makes new recovery codes over HTTP;
/// returns them and their column value.
async fn our_recovery_codes(app: &TestApp, clock: &Clock, email: &str) -> (Vec<String>, String) {
    let secret = app.state().totp.as_ref().unwrap().generate_secret();
    authenticator_user(app, email, &secret).await;
    let key = app.state().totp.as_ref().unwrap().decrypt(&secret).unwrap();
    let csrf = second_factor_asked(app, email).await;
    let code = key.current_code(clock.now() as f64);
    let (s, v) = post(app, "/tf-validate", json!({"code": code}), &csrf).await;
    assert_eq!(s, Status::Ok, "{v}");
    let (s, v) = post(app, "/mf-recovery-codes", json!({}), &csrf_of(&v)).await;
    assert_eq!(s, Status::Ok, "{v}");
    let codes: Vec<String> = serde_json::from_value(v["recovery_codes"].clone()).unwrap();
    assert_eq!(codes.len(), 5, "{v}");
    let user = app.by_email(email, false).await.unwrap();
    (codes, user.mf_recovery_codes.unwrap())
}

#[rocket::async_test]
async fn recovery_codes_read_both_ways_with_fernet() {
    let Some(py) = python() else { return };
    let Tf { app, clock, .. } = tf_app().await;
    let email = "rc@example.com";
    let (codes, stored) = our_recovery_codes(&app, &clock, email).await;
    assert!(
        codes.iter().all(|c| !stored.contains(c.as_str())),
        "in the clear: {stored}"
    );
    let theirs = run_python(&py, clock.now(), None, Some(&stored));
    assert_eq!(
        theirs["our_codes_plain"],
        json!(codes),
        "Fernet read other codes"
    );
    // Flask-Security's tokens in the column, then a code of theirs over HTTP.
    let their_tokens = theirs["their_codes"].as_str().unwrap();
    let mut user = app.by_email(email, false).await.unwrap();
    let swapped = app
        .datastore()
        .swap_recovery_codes(&mut user, Some(&stored), Some(their_tokens))
        .await
        .unwrap();
    assert!(swapped);
    app.logout().await;
    let csrf = second_factor_asked(&app, email).await;
    let (s, v) = post(&app, "/mf-recovery", json!({"code": codes[0]}), &csrf).await;
    assert_eq!(s, Status::BadRequest, "a replaced code signed in: {v}");
    let (s, v) = post(&app, "/mf-recovery", json!({"code": THEIR_CODES[1]}), &csrf).await;
    assert_eq!(s, Status::Ok, "their code refused: {v}");
    assert!(signed_in(&app).await);
    // The used code is gone; the other token is kept exactly as Python wrote it.
    let user = app.by_email(email, false).await.unwrap();
    let first = their_tokens.split(',').next().unwrap();
    assert_eq!(user.mf_recovery_codes.as_deref(), Some(first));
}
