//! COSE public keys (RFC 9052/9053) as authenticators send them and Flask-Security stores
//! them: ES256 (P-256), EdDSA (Ed25519) and RS256.

use ciborium::value::{Integer, Value};
use p256::ecdsa::signature::Verifier;

use super::WebAuthnError;

/// A public key that checks assertion signatures.
#[derive(Debug, Clone)]
pub enum CoseKey {
    /// ECDSA P-256 with SHA-256 (alg -7).
    Es256(p256::ecdsa::VerifyingKey),
    /// Ed25519 (alg -8).
    Ed25519(ed25519_dalek::VerifyingKey),
    /// RSASSA-PKCS1-v1_5 with SHA-256 (alg -257).
    Rs256(Box<rsa::RsaPublicKey>),
}

/// COSE labels.
const KTY: i64 = 1;
const ALG: i64 = 3;
const CRV: i64 = -1;
const X: i64 = -2;
const Y: i64 = -3;
const RSA_N: i64 = -1;
const RSA_E: i64 = -2;

/// A map's entries by integer label.
struct Map(Vec<(Value, Value)>);

impl Map {
    fn get(&self, label: i64) -> Option<&Value> {
        self.0
            .iter()
            .find(|(k, _)| matches!(k, Value::Integer(i) if *i == Integer::from(label)))
            .map(|(_, v)| v)
    }

    fn int(&self, label: i64) -> Option<i128> {
        match self.get(label)? {
            Value::Integer(i) => Some(i128::from(*i)),
            _ => None,
        }
    }

    fn text(&self, label: i64) -> Option<&str> {
        match self.get(label)? {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }

    fn bytes(&self, label: i64) -> Option<&[u8]> {
        match self.get(label)? {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

impl CoseKey {
    /// Reads a COSE key. Also read: the legacy raw P-256 point (`0x04 ‖ x ‖ y`), and an
    /// OKP key whose `kty`/`crv` are the text `"OKP"`/`"Ed25519"` (both as py_webauthn).
    pub fn from_cbor(bytes: &[u8]) -> Result<CoseKey, WebAuthnError> {
        if bytes.first() == Some(&0x04) && bytes.len() == 65 {
            return es256(bytes);
        }
        let v: Value =
            ciborium::de::from_reader(bytes).map_err(|_| WebAuthnError::Malformed("COSE key"))?;
        let Value::Map(entries) = v else {
            return Err(WebAuthnError::Malformed("COSE key"));
        };
        let m = Map(entries);
        let okp = m.int(KTY) == Some(1) || m.text(KTY) == Some("OKP");
        match (m.int(KTY), m.int(ALG)) {
            (Some(2), Some(-7)) => ec2(&m),
            (Some(3), Some(-257)) => rsa_key(&m),
            _ if okp && m.int(ALG) == Some(-8) => ed25519(&m),
            _ => Err(WebAuthnError::UnsupportedKey),
        }
    }

    /// True when `signature` signs `message` (an ES256 signature is ASN.1 DER, as
    /// WebAuthn sends it).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        match self {
            CoseKey::Es256(k) => p256::ecdsa::DerSignature::from_bytes(signature)
                .is_ok_and(|s| k.verify(message, &s).is_ok()),
            CoseKey::Ed25519(k) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|s| k.verify_strict(message, &s).is_ok()),
            CoseKey::Rs256(k) => {
                let vk = rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new((**k).clone());
                rsa::pkcs1v15::Signature::try_from(signature)
                    .is_ok_and(|s| vk.verify(message, &s).is_ok())
            }
        }
    }
}

fn ec2(m: &Map) -> Result<CoseKey, WebAuthnError> {
    if m.int(CRV) != Some(1) {
        return Err(WebAuthnError::UnsupportedKey);
    }
    let (Some(x), Some(y)) = (m.bytes(X), m.bytes(Y)) else {
        return Err(WebAuthnError::Malformed("COSE key"));
    };
    if x.len() != 32 || y.len() != 32 {
        return Err(WebAuthnError::Malformed("COSE key"));
    }
    let mut point = vec![0x04];
    point.extend_from_slice(x);
    point.extend_from_slice(y);
    es256(&point)
}

fn es256(point: &[u8]) -> Result<CoseKey, WebAuthnError> {
    p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
        .map(CoseKey::Es256)
        .map_err(|_| WebAuthnError::Malformed("P-256 point"))
}

fn ed25519(m: &Map) -> Result<CoseKey, WebAuthnError> {
    let crv_ok = m.int(CRV) == Some(6) || m.text(CRV) == Some("Ed25519");
    let x: [u8; 32] = m
        .bytes(X)
        .and_then(|x| x.try_into().ok())
        .ok_or(WebAuthnError::Malformed("COSE key"))?;
    if !crv_ok {
        return Err(WebAuthnError::UnsupportedKey);
    }
    ed25519_dalek::VerifyingKey::from_bytes(&x)
        .map(CoseKey::Ed25519)
        .map_err(|_| WebAuthnError::Malformed("Ed25519 key"))
}

fn rsa_key(m: &Map) -> Result<CoseKey, WebAuthnError> {
    let (Some(n), Some(e)) = (m.bytes(RSA_N), m.bytes(RSA_E)) else {
        return Err(WebAuthnError::Malformed("COSE key"));
    };
    let key = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(n),
        rsa::BigUint::from_bytes_be(e),
    )
    .map_err(|_| WebAuthnError::UnsupportedKey)?;
    Ok(CoseKey::Rs256(Box::new(key)))
}
