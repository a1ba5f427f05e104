//! State tokens between the steps of a ceremony (two-factor and unified sign-in
//! set-up, WebAuthn): a signed, timed JSON object, bound to the user it was issued to
//! when there is one (`fs_uniquifier`, compared in constant time).
//!
//! Parity: Flask-Security's `URLSafeTimedSerializer` state tokens (`tf_state_token`,
//! `state`, `wan_state`); the owner binding is ours.

use serde_json::{Map, Value};

use crate::model::User;
use crate::state::SecurityState;

/// Why a state token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// Older than its lifetime.
    Expired,
    /// Not ours, or another user's.
    Invalid,
}

/// Signs `payload` with `salt`, bound to `owner` when given.
pub fn issue(st: &SecurityState, salt: &str, owner: Option<&User>, payload: Value) -> String {
    let mut payload = match payload {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    if let Some(u) = owner {
        payload.insert(
            "fs_uniquifier".into(),
            Value::from(u.fs_uniquifier.as_str()),
        );
    }
    st.serializer(salt)
        .dumps_at(&Value::Object(payload), st.now() as u64)
}

/// Reads a token signed with `salt` no older than `within` seconds and, when `owner` is
/// given, issued to that user.
pub fn read(
    st: &SecurityState,
    salt: &str,
    within: i64,
    owner: Option<&User>,
    token: &str,
) -> Result<Map<String, Value>, TokenProblem> {
    let max_age = u64::try_from(within).unwrap_or(0);
    let v = st
        .serializer(salt)
        .loads_at(token, Some(max_age), st.now() as u64)
        .map_err(|e| match e {
            crate::tokens::TokenError::Expired => TokenProblem::Expired,
            _ => TokenProblem::Invalid,
        })?;
    let Value::Object(map) = v else {
        return Err(TokenProblem::Invalid);
    };
    if let Some(u) = owner {
        let issued_to = map.get("fs_uniquifier").and_then(Value::as_str);
        let same = issued_to.is_some_and(|t| {
            subtle::ConstantTimeEq::ct_eq(t.as_bytes(), u.fs_uniquifier.as_bytes()).into()
        });
        if !same {
            return Err(TokenProblem::Invalid);
        }
    }
    Ok(map)
}

/// The text at `key` of a read token.
pub fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    map.get(key).and_then(Value::as_str).map(str::to_owned)
}
