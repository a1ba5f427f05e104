//! The structures a ceremony carries: `clientDataJSON`, the attestation object and the
//! authenticator data (W3C WebAuthn Level 2, §5.8.1, §6.1, §6.5).

use base64::Engine;
use serde::Deserialize;

use super::WebAuthnError;

/// `clientDataJSON`, the fields the relying party checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientData {
    /// `type`: `webauthn.create` or `webauthn.get`.
    pub kind: String,
    /// `challenge`, decoded from base64url.
    pub challenge: Vec<u8>,
    /// `origin`.
    pub origin: String,
}

#[derive(Deserialize)]
struct RawClientData {
    #[serde(rename = "type")]
    kind: String,
    challenge: String,
    origin: String,
}

/// base64url, with or without padding (browsers send it without).
pub(crate) fn b64url(text: &str) -> Result<Vec<u8>, WebAuthnError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| WebAuthnError::Malformed("base64url"))
}

impl ClientData {
    /// Reads `clientDataJSON`.
    pub fn parse(json: &[u8]) -> Result<ClientData, WebAuthnError> {
        let raw: RawClientData =
            serde_json::from_slice(json).map_err(|_| WebAuthnError::Malformed("clientDataJSON"))?;
        Ok(ClientData {
            kind: raw.kind,
            challenge: b64url(&raw.challenge)?,
            origin: raw.origin,
        })
    }
}

/// The authenticator data's flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    /// UP: the user was present.
    pub fn user_present(self) -> bool {
        self.0 & 0x01 != 0
    }
    /// UV: the user was verified (PIN, biometrics).
    pub fn user_verified(self) -> bool {
        self.0 & 0x04 != 0
    }
    /// BE: the credential may be backed up (a synced passkey).
    pub fn backup_eligible(self) -> bool {
        self.0 & 0x08 != 0
    }
    /// BS: the credential is backed up now.
    pub fn backup_state(self) -> bool {
        self.0 & 0x10 != 0
    }
    fn attested(self) -> bool {
        self.0 & 0x40 != 0
    }
}

/// Attested credential data (registration only).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestedCredential {
    /// The credential id.
    pub id: Vec<u8>,
    /// The COSE public key, the bytes of its one CBOR item.
    pub public_key: Vec<u8>,
}

/// Authenticator data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP id.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: Flags,
    /// The signature counter.
    pub sign_count: u32,
    /// The new credential, when the AT flag is set.
    pub credential: Option<AttestedCredential>,
}

/// The length of the fixed part: RP id hash, flags, counter.
const FIXED: usize = 37;
/// The AAGUID before the credential id's length.
const AAGUID: usize = 16;
/// Credential ids are at most this long (WebAuthn Level 3).
const MAX_ID: usize = 1023;

impl AuthenticatorData {
    /// Reads authenticator data.
    pub fn parse(bytes: &[u8]) -> Result<AuthenticatorData, WebAuthnError> {
        let bad = || WebAuthnError::Malformed("authenticator data");
        if bytes.len() < FIXED {
            return Err(bad());
        }
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&bytes[..32]);
        let flags = Flags(bytes[32]);
        let sign_count = u32::from_be_bytes([bytes[33], bytes[34], bytes[35], bytes[36]]);
        let credential = if flags.attested() {
            Some(attested(&bytes[FIXED..]).ok_or_else(bad)?)
        } else {
            None
        };
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            credential,
        })
    }
}

/// Attested credential data: AAGUID, id length, id, then one CBOR item (the key).
fn attested(rest: &[u8]) -> Option<AttestedCredential> {
    let len_at = rest.get(AAGUID..AAGUID + 2)?;
    let id_len = usize::from(u16::from_be_bytes([len_at[0], len_at[1]]));
    if id_len == 0 || id_len > MAX_ID {
        return None;
    }
    let id_start = AAGUID + 2;
    let id = rest.get(id_start..id_start + id_len)?.to_vec();
    let key_bytes = rest.get(id_start + id_len..)?;
    let mut reader: &[u8] = key_bytes;
    let _: ciborium::value::Value = ciborium::de::from_reader(&mut reader).ok()?;
    let used = key_bytes.len() - reader.len();
    Some(AttestedCredential {
        id,
        public_key: key_bytes[..used].to_vec(),
    })
}

/// The `authData` of an attestation object (`{fmt, attStmt, authData}` in CBOR).
pub(crate) fn attested_auth_data(attestation_object: &[u8]) -> Result<Vec<u8>, WebAuthnError> {
    use ciborium::value::Value;
    let bad = || WebAuthnError::Malformed("attestation object");
    let v: Value = ciborium::de::from_reader(attestation_object).map_err(|_| bad())?;
    let Value::Map(entries) = v else {
        return Err(bad());
    };
    entries
        .into_iter()
        .find_map(|(k, v)| match (k, v) {
            (Value::Text(k), Value::Bytes(b)) if k == "authData" => Some(b),
            _ => None,
        })
        .ok_or_else(bad)
}
