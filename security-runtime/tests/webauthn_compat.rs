//! WebAuthn ceremonies made and checked by the real py_webauthn (the library
//! Flask-Security calls) verify here: ES256, Ed25519 and RS256 registrations give the
//! credential id and the public key bytes py_webauthn hands Flask-Security to store, and
//! assertions verify against that stored key with its counter.
//!
//! The committed vectors (`data/webauthn_vectors.json`, from `data/gen_webauthn_vectors.py`)
//! are always checked; fresh ones (new keys) are made when `PASSLIB_PYTHON` names a Python
//! with `webauthn`, `cryptography` and `cbor2` (`.ci/run` sets it; unset under `CI=true`
//! fails).
#![cfg(feature = "webauthn")]
#![allow(clippy::unwrap_used)]

use std::process::Command;

use security_runtime::webauthn::{verify_assertion, verify_registration, Expected};
use serde_json::Value;

fn b64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .unwrap()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn at<'v>(v: &'v Value, path: &[&str]) -> &'v str {
    path.iter().fold(v, |v, k| &v[*k]).as_str().unwrap()
}

/// Checks every vector of one generator run; returns the algorithms seen.
fn check(json: &str) -> Vec<String> {
    let v: Value = serde_json::from_str(json).unwrap();
    let exp = Expected {
        challenge: at(&v, &["challenge"]).as_bytes(),
        origin: at(&v, &["origin"]),
        rp_id: at(&v, &["rp_id"]),
        user_verification: true,
    };
    let mut algs = Vec::new();
    for vec in v["vectors"].as_array().unwrap() {
        let alg = at(vec, &["alg"]);
        let b = |p: &[&str]| b64url(at(vec, p));
        let reg = verify_registration(
            &b(&["registration", "clientDataJSON"]),
            &b(&["registration", "attestationObject"]),
            &exp,
        )
        .unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(
            hex(&reg.credential_id),
            at(vec, &["credential_id"]),
            "{alg}"
        );
        let stored = at(vec, &["stored_public_key"]);
        assert_eq!(
            hex(&reg.public_key),
            stored,
            "{alg}: not the key py_webauthn stores"
        );
        let assertion = |count: u32| {
            verify_assertion(
                &b(&["assertion", "clientDataJSON"]),
                &b(&["assertion", "authenticatorData"]),
                &b(&["assertion", "signature"]),
                &reg.public_key,
                count,
                &exp,
            )
        };
        let used = assertion(4).unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(
            Some(u64::from(used.sign_count)),
            vec["new_sign_count"].as_u64()
        );
        assert!(assertion(5).is_err(), "{alg}: a counter that did not grow");
        algs.push(alg.to_owned());
    }
    algs
}

#[test]
fn committed_py_webauthn_vectors_verify() {
    let json = include_str!("data/webauthn_vectors.json");
    assert_eq!(check(json), ["ES256", "EdDSA", "RS256"]);
}

#[test]
fn fresh_py_webauthn_vectors_verify() {
    let Some(python) = std::env::var_os("PASSLIB_PYTHON") else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but PASSLIB_PYTHON is not set"
        );
        println!("PASSLIB_PYTHON is not set: no fresh py_webauthn vectors");
        return;
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gen_webauthn_vectors.py"
    );
    let out = Command::new(&python).arg(script).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json = String::from_utf8(out.stdout).unwrap();
    assert_eq!(check(&json), ["ES256", "EdDSA", "RS256"]);
}
