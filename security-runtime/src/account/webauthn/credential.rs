//! The credential a browser posts, as Flask-Security's `webauthn.js` sends it: a JSON
//! string whose binary members are base64url (padded or not), the registration's
//! `extensions` itself a JSON string, and an absent `userHandle` sent as `""`.
//!
//! Parity: py_webauthn `parse_registration_credential_json`,
//! `parse_authentication_credential_json`.

use serde_json::Value;

use crate::webauthn::{b64url, WebAuthnError};

/// A posted registration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.attestationObject`.
    pub attestation_object: Vec<u8>,
    /// `response.transports` (empty when absent).
    pub transports: Vec<String>,
    /// The client extension results, as the JSON string posted.
    pub extensions: Option<String>,
}

/// A posted assertion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assertion {
    /// `rawId`.
    pub raw_id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.signature`.
    pub signature: Vec<u8>,
    /// `response.userHandle`; `None` when absent or `""`.
    pub user_handle: Option<Vec<u8>>,
}

fn bytes(v: &Value, key: &'static str) -> Result<Vec<u8>, WebAuthnError> {
    let s = v
        .get(key)
        .and_then(Value::as_str)
        .ok_or(WebAuthnError::Malformed(key))?;
    b64url(s).map_err(|_| WebAuthnError::Malformed(key))
}

/// Parses the JSON object and checks `type` and that `id` is `rawId`.
fn outer(text: &str) -> Result<(Value, Vec<u8>), WebAuthnError> {
    let v: Value =
        serde_json::from_str(text).map_err(|_| WebAuthnError::Malformed("credential"))?;
    if v.get("type").and_then(Value::as_str) != Some("public-key") {
        return Err(WebAuthnError::Malformed("type"));
    }
    let raw_id = bytes(&v, "rawId")?;
    if bytes(&v, "id")? != raw_id {
        return Err(WebAuthnError::Malformed("id"));
    }
    Ok((v, raw_id))
}

/// Reads a posted registration.
pub fn registration(text: &str) -> Result<Registration, WebAuthnError> {
    let (v, raw_id) = outer(text)?;
    let r = v
        .get("response")
        .ok_or(WebAuthnError::Malformed("response"))?;
    let transports = r
        .get("transports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .filter(|t| t.len() <= 16)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default();
    let extensions = match v.get("extensions") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Object(_)) => v.get("extensions").map(Value::to_string),
        _ => None,
    };
    Ok(Registration {
        raw_id,
        client_data_json: bytes(r, "clientDataJSON")?,
        attestation_object: bytes(r, "attestationObject")?,
        transports,
        extensions: extensions.filter(|e| e.len() <= 255),
    })
}

/// Reads a posted assertion.
pub fn assertion(text: &str) -> Result<Assertion, WebAuthnError> {
    let (v, raw_id) = outer(text)?;
    let r = v
        .get("response")
        .ok_or(WebAuthnError::Malformed("response"))?;
    let user_handle = match r.get("userHandle").and_then(Value::as_str) {
        None | Some("") => None,
        Some(_) => Some(bytes(r, "userHandle")?),
    };
    Ok(Assertion {
        raw_id,
        client_data_json: bytes(r, "clientDataJSON")?,
        authenticator_data: bytes(r, "authenticatorData")?,
        signature: bytes(r, "signature")?,
        user_handle,
    })
}

/// True when the registration's client extension results say the credential is
/// discoverable (`credProps.rk`).
pub fn discoverable(extensions: Option<&str>) -> Option<bool> {
    let v: Value = serde_json::from_str(extensions?).ok()?;
    v.get("credProps")?.get("rk")?.as_bool()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padded_user_handles_and_empty_ones_are_read() {
        let a = r#"{"id":"AQI","rawId":"AQI=","type":"public-key","response":{
            "clientDataJSON":"e30","authenticatorData":"AA","signature":"AA",
            "userHandle":"YWJj"}}"#;
        let got = assertion(a).unwrap();
        assert_eq!(got.raw_id, vec![1, 2]);
        assert_eq!(got.user_handle.as_deref(), Some(&b"abc"[..]));
        let empty = a.replace("YWJj", "");
        assert_eq!(assertion(&empty).unwrap().user_handle, None);
    }

    #[test]
    fn an_id_that_is_not_the_raw_id_is_refused() {
        let a = r#"{"id":"AQM","rawId":"AQI","type":"public-key","response":{}}"#;
        assert_eq!(assertion(a), Err(WebAuthnError::Malformed("id")));
        assert!(registration("not json").is_err());
    }

    #[test]
    fn the_extensions_string_tells_discoverable() {
        assert_eq!(
            discoverable(Some(r#"{"credProps":{"rk":true}}"#)),
            Some(true)
        );
        assert_eq!(discoverable(Some("{}")), None);
        assert_eq!(discoverable(None), None);
    }
}
