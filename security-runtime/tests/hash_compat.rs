//! Password hashes move both ways between Flask-Security-Too (passlib) and this crate.
//!
//! `data/hash_vectors.json` was written by `data/gen_hash_vectors.py` with libpass, argon2-cffi
//! and bcrypt; the reverse check runs `data/verify_with_passlib.py` when `PASSLIB_PYTHON` names
//! a Python interpreter that has passlib (libpass) installed.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use security_runtime::hashing::{HashingConfig, PasswordContext};
use serde_json::{json, Value};

const VECTORS: &str = include_str!("data/hash_vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("tests/data/hash_vectors.json is valid JSON")
}

fn text(v: &Value) -> &str {
    v.as_str().expect("a string in hash_vectors.json")
}

/// Flask-Security's defaults with the salt the vectors were made with; `single` is added to
/// `password_single_hash`.
fn context(data: &Value, single: Option<&str>) -> PasswordContext {
    let mut cfg = HashingConfig {
        password_salt: Some(text(&data["password_salt"]).to_owned()),
        ..HashingConfig::default()
    };
    cfg.password_single_hash.extend(single.map(str::to_owned));
    PasswordContext::new(cfg).unwrap()
}

/// The context Flask-Security used for a vector.
fn context_for(data: &Value, vector: &Value) -> PasswordContext {
    let single = vector["single_hash"].as_bool().unwrap();
    context(data, single.then(|| text(&vector["scheme"])))
}

#[test]
fn normalize_matches_python_unicodedata() {
    let data = vectors();
    for case in data["normalize"].as_array().unwrap() {
        let cfg = HashingConfig {
            password_salt: Some("unused".into()),
            password_normalize_form: text(&case["form"]).to_owned(),
            ..HashingConfig::default()
        };
        let ctx = PasswordContext::new(cfg).unwrap();
        assert_eq!(
            ctx.normalize(text(&case["input"])),
            text(&case["output"]),
            "{case}"
        );
    }
}

#[test]
fn get_hmac_matches_flask_security() {
    let data = vectors();
    let ctx = context(&data, None);
    for case in data["hmac"].as_array().unwrap() {
        assert_eq!(
            ctx.get_hmac(text(&case["password"])).unwrap(),
            text(&case["hmac"])
        );
    }
}

#[test]
fn passlib_hashes_verify() {
    let data = vectors();
    let wrong = text(&data["wrong_password"]);
    let plain_ctx = context(&data, None);
    for v in data["vectors"].as_array().unwrap() {
        let (label, scheme, stored) = (text(&v["label"]), text(&v["scheme"]), text(&v["hash"]));
        let password = text(&v["password"]);
        let ctx = context_for(&data, v);
        assert_eq!(ctx.scheme_of(stored), Some(scheme), "{label}");
        let format_scheme = (scheme != "plaintext").then_some(scheme);
        assert_eq!(PasswordContext::identify(stored), format_scheme, "{label}");
        if scheme == "des_crypt" {
            // Known gap: recognised, never verified.
            assert!(!ctx.verify_password(password, stored), "{label}");
            continue;
        }
        assert!(ctx.verify_password(password, stored), "{label}: {stored}");
        assert!(!ctx.verify_password(wrong, stored), "{label}");
        if v["single_hash"].as_bool().unwrap() && scheme != "plaintext" {
            // Without the scheme in password_single_hash the HMAC step is applied: no match.
            assert!(!plain_ctx.verify_password(password, stored), "{label}");
        }
    }
}

#[test]
fn verify_and_update_rehashes_like_passlib() {
    let data = vectors();
    let wrong = text(&data["wrong_password"]);
    let mut rehashed = 0;
    for v in data["vectors"].as_array().unwrap() {
        let (label, scheme, stored) = (text(&v["label"]), text(&v["scheme"]), text(&v["hash"]));
        if scheme == "des_crypt" {
            continue;
        }
        let password = text(&v["password"]);
        let ctx = context_for(&data, v);
        assert_eq!(
            ctx.verify_and_update(wrong, stored),
            (false, None),
            "{label}"
        );
        let (ok, new) = ctx.verify_and_update(password, stored);
        assert!(ok, "{label}");
        // passlib's CryptContext(deprecated=["auto"]).needs_update under Flask-Security defaults.
        assert_eq!(
            new.is_some(),
            v["needs_update"].as_bool().unwrap(),
            "{label}"
        );
        if let Some(new) = new {
            assert!(
                new.starts_with("$argon2id$v=19$m=65536,t=3,p=4$"),
                "{label}: {new}"
            );
            assert!(!ctx.needs_update(&new), "{label}");
            rehashed += 1;
        }
    }
    assert!(rehashed > 30, "{rehashed}");
    // One full round trip: the new hash verifies and is current.
    let ctx = context(&data, None);
    let (_, new) = ctx.verify_and_update("Passw0rd!-ascii", "Passw0rd!-ascii");
    assert_eq!(
        ctx.verify_and_update("Passw0rd!-ascii", &new.unwrap()),
        (true, None)
    );
}

/// Hashes made here, for `verify_with_passlib.py`.
fn our_hashes(data: &Value) -> Value {
    let salt = text(&data["password_salt"]);
    let passwords: Vec<&str> = data["hmac"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| text(&c["password"]))
        .collect();
    let (m, t, p) = (4096, 2, 2);
    let mut hashes = Vec::new();
    // (scheme, single-hashed, every password?): sha-crypt at passlib's default rounds takes
    // seconds in a debug build, so it gets one password.
    let cases = [
        ("argon2", false, true),
        ("argon2", true, true),
        ("bcrypt", false, true),
        ("pbkdf2_sha256", false, true),
        ("pbkdf2_sha512", false, true),
        ("pbkdf2_sha512", true, true),
        ("sha256_crypt", false, false),
        ("sha512_crypt", false, false),
        ("plaintext", true, true),
    ];
    for (scheme, single, all) in cases {
        let mut cfg = HashingConfig {
            password_hash: scheme.to_owned(),
            password_salt: Some(salt.to_owned()),
            argon2_memory_cost: m,
            argon2_time_cost: t,
            argon2_parallelism: p,
            ..HashingConfig::default()
        };
        if single {
            cfg.password_single_hash.push(scheme.to_owned());
        }
        let ctx = PasswordContext::new(cfg).unwrap();
        let count = if all { passwords.len() } else { 1 };
        for password in passwords.iter().take(count) {
            let hash = ctx.hash_password(password).unwrap();
            hashes.push(json!({
                "scheme": scheme,
                "single_hash": single,
                "password": password,
                "hash": hash,
                "current": scheme == "argon2",
            }));
        }
    }
    // And one with Flask-Security's default settings.
    let hash = context(data, None).hash_password(passwords[0]).unwrap();
    hashes.push(json!({
        "scheme": "argon2", "single_hash": false, "password": passwords[0], "hash": hash,
        "current": false,
    }));
    json!({
        "password_salt": salt,
        "wrong_password": data["wrong_password"],
        "argon2": {"memory_cost": m, "time_cost": t, "parallelism": p},
        "hashes": hashes,
    })
}

#[test]
fn passlib_accepts_our_hashes() {
    let Some(python) = std::env::var_os("PASSLIB_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but PASSLIB_PYTHON is not set"
        );
        println!("PASSLIB_PYTHON is not set: checked nothing against passlib");
        return;
    };
    let data = vectors();
    let ours = our_hashes(&data);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let path = std::env::temp_dir().join(format!(
        "security-runtime-hashes-{}-{nanos}.json",
        std::process::id()
    ));
    std::fs::write(&path, serde_json::to_vec_pretty(&ours).unwrap()).unwrap();
    let script: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "tests",
        "data",
        "verify_with_passlib.py",
    ]
    .iter()
    .collect();
    let output = Command::new(&python).arg(&script).arg(&path).output();
    let _ = std::fs::remove_file(&path);
    let output = output.unwrap_or_else(|e| panic!("cannot run PASSLIB_PYTHON={python:?}: {e}"));
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "passlib rejected our hashes:\n{report}"
    );
    println!("{report}");
}
