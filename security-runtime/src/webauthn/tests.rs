//! Ceremonies built here with keys of each kind, and one negative case per check.
#![allow(clippy::unwrap_used)]

use base64::Engine;
use ciborium::value::Value;
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};

use super::*;

const ORIGIN: &str = "https://app.example.com";
const RP: &str = "app.example.com";
const CHALLENGE: &[u8] = b"Yh4n0d-token-urlsafe-ascii";

fn expected() -> Expected<'static> {
    Expected {
        challenge: CHALLENGE,
        origin: ORIGIN,
        rp_id: RP,
        user_verification: false,
    }
}

fn client_data(kind: &str, challenge: &[u8], origin: &str) -> Vec<u8> {
    let c = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(challenge);
    format!(r#"{{"type":"{kind}","challenge":"{c}","origin":"{origin}","crossOrigin":false}}"#)
        .into_bytes()
}

fn cbor(v: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(v, &mut out).unwrap();
    out
}

fn int(i: i64) -> Value {
    Value::Integer(i.into())
}

enum TestKey {
    P256(p256::ecdsa::SigningKey),
    Ed(ed25519_dalek::SigningKey),
}

impl TestKey {
    fn p256() -> TestKey {
        TestKey::P256(p256::ecdsa::SigningKey::from_slice(&[7u8; 32]).unwrap())
    }
    fn ed() -> TestKey {
        TestKey::Ed(ed25519_dalek::SigningKey::from_bytes(&[9u8; 32]))
    }
    fn cose(&self) -> Vec<u8> {
        match self {
            TestKey::P256(k) => {
                let p = k.verifying_key().to_encoded_point(false);
                cbor(&Value::Map(vec![
                    (int(1), int(2)),
                    (int(3), int(-7)),
                    (int(-1), int(1)),
                    (int(-2), Value::Bytes(p.x().unwrap().to_vec())),
                    (int(-3), Value::Bytes(p.y().unwrap().to_vec())),
                ]))
            }
            TestKey::Ed(k) => cbor(&Value::Map(vec![
                (int(1), int(1)),
                (int(3), int(-8)),
                (int(-1), int(6)),
                (int(-2), Value::Bytes(k.verifying_key().to_bytes().to_vec())),
            ])),
        }
    }
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        match self {
            TestKey::P256(k) => {
                let s: p256::ecdsa::DerSignature = k.sign(msg);
                s.as_bytes().to_vec()
            }
            TestKey::Ed(k) => k.sign(msg).to_bytes().to_vec(),
        }
    }
}

fn auth_data(rp: &str, flags: u8, count: u32, cred: Option<(&[u8], &[u8])>) -> Vec<u8> {
    let mut d = Sha256::digest(rp.as_bytes()).to_vec();
    d.push(flags);
    d.extend_from_slice(&count.to_be_bytes());
    if let Some((id, key)) = cred {
        d.extend_from_slice(&[0u8; 16]);
        d.extend_from_slice(&(id.len() as u16).to_be_bytes());
        d.extend_from_slice(id);
        d.extend_from_slice(key);
    }
    d
}

fn attestation(auth: Vec<u8>) -> Vec<u8> {
    cbor(&Value::Map(vec![
        (Value::Text("fmt".into()), Value::Text("none".into())),
        (Value::Text("attStmt".into()), Value::Map(vec![])),
        (Value::Text("authData".into()), Value::Bytes(auth)),
    ]))
}

fn assertion(key: &TestKey, rp: &str, flags: u8, count: u32, cd: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let ad = auth_data(rp, flags, count, None);
    let mut msg = ad.clone();
    msg.extend_from_slice(&Sha256::digest(cd));
    (ad, key.sign(&msg))
}

#[test]
fn a_registration_gives_the_id_and_the_key_bytes_sent() {
    for key in [TestKey::p256(), TestKey::ed()] {
        let cose = key.cose();
        let auth = auth_data(RP, 0x41 | 0x18, 0, Some((b"cred-1", &cose)));
        let cd = client_data("webauthn.create", CHALLENGE, ORIGIN);
        let r = verify_registration(&cd, &attestation(auth), &expected()).unwrap();
        assert_eq!(r.credential_id, b"cred-1");
        assert_eq!(r.public_key, cose);
        assert!(r.flags.backup_eligible() && r.flags.backup_state());
    }
}

#[test]
fn a_registration_is_refused_for_each_wrong_part() {
    let cose = TestKey::p256().cose();
    let att = |rp: &str, flags: u8| attestation(auth_data(rp, flags, 0, Some((b"c", &cose))));
    let ok_cd = client_data("webauthn.create", CHALLENGE, ORIGIN);
    let cases = [
        (
            client_data("webauthn.get", CHALLENGE, ORIGIN),
            att(RP, 0x41),
            WebAuthnError::WrongType,
        ),
        (
            client_data("webauthn.create", b"other", ORIGIN),
            att(RP, 0x41),
            WebAuthnError::Challenge,
        ),
        (
            client_data("webauthn.create", CHALLENGE, "https://evil.example"),
            att(RP, 0x41),
            WebAuthnError::Origin,
        ),
        (
            ok_cd.clone(),
            att("evil.example", 0x41),
            WebAuthnError::RpId,
        ),
        (ok_cd.clone(), att(RP, 0x40), WebAuthnError::UserPresence),
        (
            ok_cd.clone(),
            attestation(auth_data(RP, 0x01, 0, None)),
            WebAuthnError::NoCredential,
        ),
    ];
    for (cd, att, want) in cases {
        assert_eq!(
            verify_registration(&cd, &att, &expected()),
            Err(want.clone()),
            "{want}"
        );
    }
    let uv = Expected {
        user_verification: true,
        ..expected()
    };
    assert_eq!(
        verify_registration(&ok_cd, &att(RP, 0x41), &uv),
        Err(WebAuthnError::UserVerification)
    );
}

#[test]
fn an_assertion_verifies_with_each_key_kind_and_a_growing_counter() {
    for key in [TestKey::p256(), TestKey::ed()] {
        let cd = client_data("webauthn.get", CHALLENGE, ORIGIN);
        let (ad, sig) = assertion(&key, RP, 0x05, 8, &cd);
        let a = verify_assertion(&cd, &ad, &sig, &key.cose(), 7, &expected()).unwrap();
        assert_eq!(a.sign_count, 8);
        assert!(a.flags.user_verified());
        assert_eq!(
            verify_assertion(&cd, &ad, &sig, &key.cose(), 8, &expected()),
            Err(WebAuthnError::Counter),
            "a counter that did not grow"
        );
        let mut bad = sig.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert_eq!(
            verify_assertion(&cd, &ad, &bad, &key.cose(), 7, &expected()),
            Err(WebAuthnError::Signature)
        );
    }
}

#[test]
fn an_authenticator_without_a_counter_is_accepted_at_zero() {
    let key = TestKey::ed();
    let cd = client_data("webauthn.get", CHALLENGE, ORIGIN);
    let (ad, sig) = assertion(&key, RP, 0x01, 0, &cd);
    assert!(verify_assertion(&cd, &ad, &sig, &key.cose(), 0, &expected()).is_ok());
}

#[test]
fn another_keys_signature_or_another_challenge_is_refused() {
    let (mine, theirs) = (TestKey::p256(), TestKey::ed());
    let cd = client_data("webauthn.get", CHALLENGE, ORIGIN);
    let (ad, sig) = assertion(&theirs, RP, 0x01, 1, &cd);
    assert_eq!(
        verify_assertion(&cd, &ad, &sig, &mine.cose(), 0, &expected()),
        Err(WebAuthnError::Signature)
    );
    let cd = client_data("webauthn.get", b"stale", ORIGIN);
    let (ad, sig) = assertion(&mine, RP, 0x01, 1, &cd);
    assert_eq!(
        verify_assertion(&cd, &ad, &sig, &mine.cose(), 0, &expected()),
        Err(WebAuthnError::Challenge)
    );
}

#[test]
fn py_webauthns_text_labelled_ed25519_and_raw_p256_keys_are_read() {
    let k = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
    let text = cbor(&Value::Map(vec![
        (int(1), Value::Text("OKP".into())),
        (int(3), int(-8)),
        (int(-1), Value::Text("Ed25519".into())),
        (int(-2), Value::Bytes(k.verifying_key().to_bytes().to_vec())),
    ]));
    assert!(matches!(CoseKey::from_cbor(&text), Ok(CoseKey::Ed25519(_))));
    let p = p256::ecdsa::SigningKey::from_slice(&[5u8; 32]).unwrap();
    let raw = p.verifying_key().to_encoded_point(false);
    assert!(matches!(
        CoseKey::from_cbor(raw.as_bytes()),
        Ok(CoseKey::Es256(_))
    ));
    assert_eq!(
        CoseKey::from_cbor(&cbor(&Value::Map(vec![
            (int(1), int(2)),
            (int(3), int(-35))
        ])))
        .err(),
        Some(WebAuthnError::UnsupportedKey)
    );
    assert!(CoseKey::from_cbor(b"\xff\x00").is_err());
}

#[test]
fn malformed_authenticator_data_is_refused_not_a_panic() {
    for bytes in [&b""[..], &[0u8; 36], &{
        let mut d = vec![0u8; 37];
        d[32] = 0x40;
        d
    }] {
        assert!(AuthenticatorData::parse(bytes).is_err());
    }
    let mut d = vec![0u8; 37];
    d[32] = 0x40;
    d.extend_from_slice(&[0u8; 16]);
    d.extend_from_slice(&[0xff, 0xff]);
    assert!(
        AuthenticatorData::parse(&d).is_err(),
        "an id longer than the data"
    );
}
