//! Signed link tokens (confirm, reset, change email) and the data they bind.

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::state::SecurityState;

/// Hash of data carried in a token (binds it to the current email or password).
///
/// Parity: `hash_data` (HMAC-SHA256 with the secret key here, instead of sha256_crypt).
pub(crate) fn hash_data(st: &SecurityState, data: &str) -> String {
    hash_with(st.config.secret_key.as_deref().unwrap_or_default(), data)
}

fn hash_with(key: &str, data: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(data.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// True when `hash` is [`hash_data`] of `data` under `secret_key` or one of its
/// fallbacks (a link mailed before a key rotation stays good), compared in constant time.
pub(crate) fn hash_matches(st: &SecurityState, data: &str, hash: &str) -> bool {
    use subtle::ConstantTimeEq;
    let cfg = &st.config;
    std::iter::once(cfg.secret_key.as_deref().unwrap_or_default())
        .chain(cfg.secret_key_fallbacks.iter().map(String::as_str))
        .any(|key| bool::from(hash_with(key, data).as_bytes().ct_eq(hash.as_bytes())))
}

/// Makes a signed token for `salt`.
pub(crate) fn make_token(st: &SecurityState, salt: &str, value: Value) -> String {
    st.serializer(salt).dumps_at(&value, st.now() as u64)
}

/// Parity: `check_and_get_token_status` → (expired, invalid, data).
pub(crate) fn check_token(
    st: &SecurityState,
    salt: &str,
    token: &str,
    within: u64,
) -> (bool, bool, Option<Value>) {
    crate::tokens::check_and_get_token_status(&st.serializer(salt), token, within, st.now() as u64)
}

/// What a mailed link's token (confirm, reset, change email) turned out to be.
///
/// Parity: `check_and_get_token_status`'s `(expired, invalid, data)`, as one value.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkToken {
    /// Signed by us and within its time: the token's parts.
    Valid(Vec<Value>),
    /// Signed by us but too old; its parts, for flows that still name the user.
    Expired(Vec<Value>),
    /// Not ours, tampered with, or not a list of parts.
    Invalid,
}

/// Checks a link token of `salt` valid for `within` seconds.
pub(crate) fn check_link(st: &SecurityState, salt: &str, token: &str, within: u64) -> LinkToken {
    let (expired, invalid, data) = check_token(st, salt, token, within);
    match (invalid, data) {
        (false, Some(Value::Array(parts))) if expired => LinkToken::Expired(parts),
        (false, Some(Value::Array(parts))) => LinkToken::Valid(parts),
        _ => LinkToken::Invalid,
    }
}

/// The user whose `fs_uniquifier` is `uid`, while their address still hashes to
/// `email_hash`: a link is bound to the address it was sent to.
pub(crate) async fn user_at_address(
    st: &SecurityState,
    uid: &str,
    email_hash: &str,
) -> crate::Result<Option<crate::model::User>> {
    let query = crate::datastore::UserQuery::FsUniquifier(uid.to_owned());
    let user = st.datastore.find_user(&query, false).await?;
    Ok(user.filter(|u| hash_matches(st, &u.email, email_hash)))
}
