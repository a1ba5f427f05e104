//! The relying party's checks of WebAuthn ceremonies: a new credential (registration)
//! and a signed assertion (sign-in, second factor, re-authentication), from the JSON the
//! browser posts and, for assertions, the credential as Flask-Security stores it (COSE
//! public key bytes and the signature counter).
//!
//! Written on RustCrypto (`p256`, `ed25519-dalek`, `rsa`) and `ciborium`: the crates
//! that implement the whole protocol either cannot verify Ed25519 keys, which
//! Flask-Security's py_webauthn registers first, or cannot take the challenge
//! Flask-Security uses (the ASCII of a URL-safe token). Attestation statements are not
//! checked: registration asks for `none`, as Flask-Security does.
//!
//! Parity: py_webauthn `verify_registration_response` and
//! `verify_authentication_response` as Flask-Security calls them.

mod cose;
mod data;

pub use cose::CoseKey;
pub(crate) use data::b64url;
pub use data::{AuthenticatorData, ClientData, Flags};

use sha2::{Digest, Sha256};

/// Why a ceremony was refused (Flask-Security's `WEBAUTHN_NO_VERIFY` cause).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebAuthnError {
    /// Not base64url, not CBOR, not JSON, or a field missing.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// `clientDataJSON.type` is not the ceremony's.
    #[error("unexpected client data type")]
    WrongType,
    /// The challenge is not the one issued.
    #[error("challenge mismatch")]
    Challenge,
    /// The origin is not the configured one.
    #[error("origin mismatch")]
    Origin,
    /// The RP id hash is not the configured RP id's.
    #[error("RP ID hash mismatch")]
    RpId,
    /// The user-present flag is not set.
    #[error("user not present")]
    UserPresence,
    /// User verification was required and not done.
    #[error("user verification required")]
    UserVerification,
    /// A registration without attested credential data.
    #[error("no credential data")]
    NoCredential,
    /// A key type or algorithm not supported.
    #[error("unsupported public key")]
    UnsupportedKey,
    /// The signature does not verify.
    #[error("invalid signature")]
    Signature,
    /// The signature counter did not grow (a cloned authenticator, or a replay).
    #[error("sign count did not increase")]
    Counter,
}

/// What a ceremony must match.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The challenge issued (its bytes, as `clientDataJSON` carries them base64url).
    pub challenge: &'a [u8],
    /// The origin (`https://example.com`, `http://localhost:8000`).
    pub origin: &'a str,
    /// The RP id (a host name).
    pub rp_id: &'a str,
    /// Require the user-verified flag.
    pub user_verification: bool,
}

/// A verified new credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The credential id.
    pub credential_id: Vec<u8>,
    /// The COSE public key, the bytes the authenticator sent (stored as is).
    pub public_key: Vec<u8>,
    /// The signature counter at registration.
    pub sign_count: u32,
    /// The authenticator data's flags.
    pub flags: Flags,
}

/// A verified assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asserted {
    /// The signature counter of this use.
    pub sign_count: u32,
    /// The authenticator data's flags.
    pub flags: Flags,
}

/// Checks a registration: client data of type `webauthn.create`, the authenticator
/// data, and a public key this module can use later.
pub fn verify_registration(
    client_data_json: &[u8],
    attestation_object: &[u8],
    expected: &Expected<'_>,
) -> Result<Registered, WebAuthnError> {
    check_client_data(client_data_json, "webauthn.create", expected)?;
    let auth_data = data::attested_auth_data(attestation_object)?;
    let parsed = AuthenticatorData::parse(&auth_data)?;
    check_auth_data(&parsed, expected)?;
    let cred = parsed.credential.ok_or(WebAuthnError::NoCredential)?;
    CoseKey::from_cbor(&cred.public_key)?;
    Ok(Registered {
        credential_id: cred.id,
        public_key: cred.public_key,
        sign_count: parsed.sign_count,
        flags: parsed.flags,
    })
}

/// Checks an assertion against a stored credential (its COSE key and counter): client
/// data of type `webauthn.get`, the authenticator data, the signature over
/// `authenticatorData ‖ SHA-256(clientDataJSON)`, and a counter that grows when the
/// authenticator keeps one.
pub fn verify_assertion(
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
    public_key: &[u8],
    stored_sign_count: u32,
    expected: &Expected<'_>,
) -> Result<Asserted, WebAuthnError> {
    check_client_data(client_data_json, "webauthn.get", expected)?;
    let parsed = AuthenticatorData::parse(authenticator_data)?;
    check_auth_data(&parsed, expected)?;
    let key = CoseKey::from_cbor(public_key)?;
    let mut signed = authenticator_data.to_vec();
    signed.extend_from_slice(&Sha256::digest(client_data_json));
    if !key.verify(&signed, signature) {
        return Err(WebAuthnError::Signature);
    }
    let counts = parsed.sign_count != 0 || stored_sign_count != 0;
    if counts && parsed.sign_count <= stored_sign_count {
        return Err(WebAuthnError::Counter);
    }
    Ok(Asserted {
        sign_count: parsed.sign_count,
        flags: parsed.flags,
    })
}

fn check_client_data(
    json: &[u8],
    kind: &str,
    expected: &Expected<'_>,
) -> Result<(), WebAuthnError> {
    let cd = ClientData::parse(json)?;
    if cd.kind != kind {
        return Err(WebAuthnError::WrongType);
    }
    let same: bool =
        subtle::ConstantTimeEq::ct_eq(cd.challenge.as_slice(), expected.challenge).into();
    if !same {
        return Err(WebAuthnError::Challenge);
    }
    if cd.origin != expected.origin {
        return Err(WebAuthnError::Origin);
    }
    Ok(())
}

fn check_auth_data(
    parsed: &AuthenticatorData,
    expected: &Expected<'_>,
) -> Result<(), WebAuthnError> {
    let rp_hash = Sha256::digest(expected.rp_id.as_bytes());
    if parsed.rp_id_hash[..] != rp_hash[..] {
        return Err(WebAuthnError::RpId);
    }
    if !parsed.flags.user_present() {
        return Err(WebAuthnError::UserPresence);
    }
    if expected.user_verification && !parsed.flags.user_verified() {
        return Err(WebAuthnError::UserVerification);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
