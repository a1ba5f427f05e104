//! CSRF protection, as Flask-WTF does it for Flask-Security.
//!
//! A random secret lives in the session; the token sent to clients (`csrf_token` in JSON
//! responses, the CSRF cookie) is that secret signed with a timestamp (salt
//! `wtf-csrf-token`, valid `csrf_time_limit`). A POST must send it back in the form field
//! `csrf_token` or a header (`X-CSRFToken`, `X-CSRF-Token`, `csrf_header`). Secrets are
//! compared in constant time.

use rand::RngCore;
use subtle::ConstantTimeEq;

use crate::session::SessionData;
use crate::tokens::{TokenError, TokenSerializer};

/// Why a CSRF check failed; the message is Flask-WTF's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfError {
    /// No token in the request.
    Missing,
    /// The session has no CSRF secret.
    SessionMissing,
    /// The token is older than `csrf_time_limit`.
    Expired,
    /// The signature does not verify.
    Invalid,
    /// The token belongs to another session.
    Mismatch,
}

impl CsrfError {
    /// Flask-WTF's message for this failure.
    pub fn message(self) -> &'static str {
        match self {
            CsrfError::Missing => "The CSRF token is missing.",
            CsrfError::SessionMissing => "The CSRF session token is missing.",
            CsrfError::Expired => "The CSRF token has expired.",
            CsrfError::Invalid => "The CSRF token is invalid.",
            CsrfError::Mismatch => "The CSRF tokens do not match.",
        }
    }
}

/// Header names accepted for the token (besides the configured `csrf_header`).
pub const CSRF_HEADERS: &[&str] = &["X-CSRFToken", "X-CSRF-Token"];

/// Makes sure the session has a CSRF secret; returns true when one was created.
pub fn ensure_secret(session: &mut SessionData) -> bool {
    if session.csrf.is_some() {
        return false;
    }
    let mut b = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    session.csrf = Some(b.iter().map(|x| format!("{x:02x}")).collect());
    true
}

/// The wire token for the session's secret.
///
/// Parity: `flask_wtf.csrf.generate_csrf`.
pub fn generate(ser: &TokenSerializer, session: &SessionData, now: u64) -> Option<String> {
    let raw = session.csrf.as_ref()?;
    Some(ser.dumps_at(&serde_json::Value::String(raw.clone()), now))
}

/// Checks a submitted token against the session.
///
/// Parity: `flask_wtf.csrf.validate_csrf`.
pub fn validate(
    ser: &TokenSerializer,
    session: &SessionData,
    submitted: Option<&str>,
    time_limit: u64,
    now: u64,
) -> Result<(), CsrfError> {
    let submitted = submitted
        .filter(|s| !s.is_empty())
        .ok_or(CsrfError::Missing)?;
    let raw = session.csrf.as_ref().ok_or(CsrfError::SessionMissing)?;
    let value = ser
        .loads_at(submitted, Some(time_limit), now)
        .map_err(|e| match e {
            TokenError::Expired => CsrfError::Expired,
            _ => CsrfError::Invalid,
        })?;
    let got = value.as_str().ok_or(CsrfError::Invalid)?;
    if bool::from(got.as_bytes().ct_eq(raw.as_bytes())) {
        Ok(())
    } else {
        Err(CsrfError::Mismatch)
    }
}
