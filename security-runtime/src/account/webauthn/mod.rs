//! WebAuthn ceremonies without HTTP: the relying party of a request, challenges that
//! work once, the `wan_state` tokens between a ceremony's two steps, and the
//! credentials' options and records (`register`, `signin`).
//!
//! Parity: Flask-Security's `webauthn.py` and `webauthn_util.py` (py_webauthn). Beyond
//! it: every challenge is answered once (`fs_wan_challenge`), and an assertion must come
//! from the user the step is for.

pub mod credential;
pub mod options;
pub mod register;
pub mod signin;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use serde_json::json;

use super::state_token::{self, TokenProblem};
use crate::config::SecurityConfig;
use crate::datastore::WebAuthnStore;
use crate::error::{Result, SecurityError};
use crate::model::User;
use crate::state::SecurityState;

/// The relying party a ceremony is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rp {
    /// The RP id (a host name).
    pub id: String,
    /// The origin the browser must report.
    pub origin: String,
}

impl Rp {
    /// From the configuration, else from the request's `Host` (`wan_rp_id`,
    /// `wan_origin`): the host without its port, and `http://` for localhost,
    /// `https://` otherwise (browsers offer WebAuthn nowhere else).
    pub fn of(cfg: &SecurityConfig, host: Option<&str>) -> Rp {
        let host = host.unwrap_or("localhost");
        let bare = match host.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => host,
        };
        let id = cfg.wan_rp_id.clone().unwrap_or_else(|| bare.to_owned());
        let local = matches!(bare, "localhost" | "127.0.0.1" | "[::1]");
        let scheme = if local { "http" } else { "https" };
        let origin = cfg
            .wan_origin
            .clone()
            .unwrap_or_else(|| format!("{scheme}://{host}"));
        Rp { id, origin }
    }
}

/// The credentials store (launch refuses `webauthn` without one).
pub fn store(st: &SecurityState) -> Result<std::sync::Arc<dyn WebAuthnStore>> {
    st.webauthn
        .clone()
        .ok_or_else(|| SecurityError::Invalid("WebAuthn is off".into()))
}

/// A new challenge: `secrets.token_urlsafe(wan_challenge_bytes or 32)`, whose ASCII
/// bytes are the WebAuthn challenge.
pub fn new_challenge(cfg: &SecurityConfig) -> String {
    let mut b = vec![0u8; cfg.wan_challenge_bytes.unwrap_or(32).clamp(16, 64)];
    rand::rngs::OsRng.fill_bytes(&mut b);
    URL_SAFE_NO_PAD.encode(b)
}

/// Marks `challenge` answered: false when it was already (a replay).
pub async fn use_challenge(st: &SecurityState, challenge: &str, within: i64) -> Result<bool> {
    let digest = crate::hashing::sha256_hex(challenge);
    let now = st.now() as i64;
    store(st)?
        .use_challenge(&digest, now + within.max(1), now)
        .await
}

/// The ceremony a `wan_state` token was issued for: a token of one is refused by the
/// others (they share Flask-Security's salt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    /// `/wan-register`.
    Register,
    /// `/wan-signin`.
    Signin,
    /// `/wan-verify`.
    Verify,
}

impl Ceremony {
    fn name(self) -> &'static str {
        match self {
            Ceremony::Register => "register",
            Ceremony::Signin => "signin",
            Ceremony::Verify => "verify",
        }
    }
}

/// What a `wan_state` token carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WanState {
    /// What it was issued for.
    pub ceremony: Ceremony,
    /// The challenge (its ASCII is the WebAuthn challenge).
    pub challenge: String,
    /// The new credential's name (registration).
    pub name: Option<String>,
    /// `first` or `secondary` (registration).
    pub usage: Option<String>,
    /// `required`, `preferred` or `discouraged`.
    pub user_verification: String,
}

/// Signs a state with salt `wan_salt`, bound to `owner` when given.
pub fn state_token(st: &SecurityState, owner: Option<&User>, s: &WanState) -> String {
    let payload = json!({
        "kind": s.ceremony.name(),
        "challenge": s.challenge,
        "name": s.name,
        "usage": s.usage,
        "user_verification": s.user_verification,
    });
    state_token::issue(st, &st.config.wan_salt, owner, payload)
}

/// Reads a state of `ceremony` no older than `within` seconds (issued to `owner` when
/// given); a registration's must name the credential and its usage.
pub fn read_state(
    st: &SecurityState,
    ceremony: Ceremony,
    owner: Option<&User>,
    within: i64,
    token: &str,
) -> std::result::Result<WanState, TokenProblem> {
    use state_token::text;
    let v = state_token::read(st, &st.config.wan_salt, within, owner, token)?;
    if text(&v, "kind").as_deref() != Some(ceremony.name()) {
        return Err(TokenProblem::Invalid);
    }
    let (name, usage) = (text(&v, "name"), text(&v, "usage"));
    if ceremony == Ceremony::Register && (name.is_none() || usage.is_none()) {
        return Err(TokenProblem::Invalid);
    }
    match (text(&v, "challenge"), text(&v, "user_verification")) {
        (Some(challenge), Some(user_verification)) => Ok(WanState {
            ceremony,
            challenge,
            name,
            usage,
            user_verification,
        }),
        _ => Err(TokenProblem::Invalid),
    }
}

/// Base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rp_is_the_request_host_without_its_port() {
        let cfg = SecurityConfig::default();
        let rp = Rp::of(&cfg, Some("localhost:8000"));
        assert_eq!(rp.id, "localhost");
        assert_eq!(rp.origin, "http://localhost:8000");
        let rp = Rp::of(&cfg, Some("example.com"));
        assert_eq!(
            (rp.id.as_str(), rp.origin.as_str()),
            ("example.com", "https://example.com")
        );
    }

    #[test]
    fn configured_rp_id_and_origin_win() {
        let cfg = SecurityConfig {
            wan_rp_id: Some("example.com".into()),
            wan_origin: Some("https://login.example.com".into()),
            ..SecurityConfig::default()
        };
        let rp = Rp::of(&cfg, Some("evil.test"));
        assert_eq!(rp.id, "example.com");
        assert_eq!(rp.origin, "https://login.example.com");
    }

    #[test]
    fn challenges_are_url_safe_tokens_of_32_bytes() {
        let c = new_challenge(&SecurityConfig::default());
        assert_eq!(c.len(), 43);
        assert!(c
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }
}
