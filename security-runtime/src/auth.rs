//! Logging users in and out, auth tokens, identity lookup.
//!
//! Parity: `flask_security.login_user`, `logout_user`, `UserMixin.get_auth_token`,
//! `_request_loader` and `lookup_identity`.

use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::datastore::{CacheCheck, Factor, UserQuery};
use crate::error::Result;
use crate::lockout::{self, Gate};
use crate::model::User;
use crate::session::{CsrfCookie, Session, SessionData};
use crate::signals::Signal;
use crate::state::SecurityState;

/// Creates an auth token for `user`.
///
/// Parity: `UserMixin.get_auth_token`: `{"ver":"5","uid":..,"fs_paa":..,"exp":..}` plus
/// `augment_auth_token` claims, signed with `remember_salt`.
pub fn get_auth_token(state: &SecurityState, user: &User, fs_paa: f64) -> String {
    let mut data = Map::new();
    data.insert("ver".into(), json!("5"));
    data.insert("uid".into(), json!(user.token_uniquifier()));
    data.insert("fs_paa".into(), json!(fs_paa));
    data.insert(
        "exp".into(),
        json!((state.hooks.token_expire_timestamp)(user)),
    );
    if let Some(aug) = &state.hooks.augment_auth_token {
        aug(user, &mut data);
    }
    state
        .auth_tokens
        .dumps_at(&Value::Object(data), state.now() as u64)
}

/// Gives `user` an `fs_token_uniquifier` before its first auth token, so tokens are
/// found with one lookup and survive session-identity rotation; returns whether the user
/// changed (the caller stores it with its other writes).
///
/// Parity: Flask-Security generates `fs_token_uniquifier` lazily when it is NULL.
pub(crate) fn prepare_token_identity(user: &mut User, token_wanted: bool) -> bool {
    if token_wanted && user.fs_token_uniquifier.is_none() {
        user.fs_token_uniquifier = Some(crate::datastore::new_uniquifier());
        return true;
    }
    false
}

/// Outcome of checking an auth token.
#[derive(Debug, Clone, PartialEq)]
pub enum TokenCheck {
    /// Valid; the user (shared with the auth cache) and the token's `fs_paa`.
    Valid(std::sync::Arc<User>, Option<f64>),
    /// Expired, invalid, or for no active user.
    Rejected,
}

/// Checks an auth token and loads its user.
///
/// Parity: `_request_loader` / `parse_auth_token`.
pub async fn check_auth_token(state: &SecurityState, token: &str) -> Result<TokenCheck> {
    check_auth_token_as(state, token, Lookup::Shared(&CacheCheck::new())).await
}

/// How a guard reads the user it authenticates.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Lookup<'a> {
    /// Through the auth cache ([`crate::UserDatastore::find_user_shared_within`]), the
    /// request's lookups sharing one change check.
    Shared(&'a CacheCheck),
    /// From the database: a request that may write the user back must not start from
    /// a copy that another instance's write has not reached yet.
    Exact,
}

impl<'a> Lookup<'a> {
    /// Cached for reads (`GET`, `HEAD`, `OPTIONS`), exact for everything else.
    pub(crate) fn for_method(m: rocket::http::Method, check: &'a CacheCheck) -> Lookup<'a> {
        use rocket::http::Method;
        match m {
            Method::Get | Method::Head | Method::Options => Lookup::Shared(check),
            _ => Lookup::Exact,
        }
    }

    pub(crate) async fn find(
        self,
        state: &SecurityState,
        q: &UserQuery,
    ) -> Result<Option<std::sync::Arc<User>>> {
        match self {
            Lookup::Shared(check) => state.datastore.find_user_shared_within(q, check).await,
            Lookup::Exact => Ok(state
                .datastore
                .find_user(q, false)
                .await?
                .map(std::sync::Arc::new)),
        }
    }
}

/// [`check_auth_token`], reading the user as `lookup` says.
pub(crate) async fn check_auth_token_as(
    state: &SecurityState,
    token: &str,
    lookup: Lookup<'_>,
) -> Result<TokenCheck> {
    let now = state.now();
    let Ok(part) =
        state
            .auth_tokens
            .verify_age(token, Some(state.config.token_max_age), now as u64)
    else {
        return Ok(TokenCheck::Rejected);
    };
    let keep_claims = state.hooks.verify_auth_token.is_some();
    let Some(identity) = TokenIdentity::of(part, keep_claims) else {
        return Ok(TokenCheck::Rejected);
    };
    let TokenIdentity {
        uid,
        exp,
        paa,
        claims,
    } = &*identity;
    if exp.is_some_and(|exp| exp < 0.0 || (exp > 0.0 && exp < now)) {
        return Ok(TokenCheck::Rejected);
    }
    let mut user = lookup
        .find(state, &UserQuery::FsTokenUniquifier(uid.clone()))
        .await?;
    if user.is_none() {
        // Only a user without a token uniquifier may use fs_uniquifier as token identity.
        user = lookup
            .find(state, &UserQuery::FsUniquifier(uid.clone()))
            .await?
            .filter(|u| u.fs_token_uniquifier.is_none());
    }
    let Some(user) = user else {
        return Ok(TokenCheck::Rejected);
    };
    if !user.active {
        return Ok(TokenCheck::Rejected);
    }
    if let Some(verify) = &state.hooks.verify_auth_token {
        if !verify(&user, claims) {
            return Ok(TokenCheck::Rejected);
        }
    }
    Ok(TokenCheck::Valid(user, *paa))
}

/// What the guard reads from a verified auth token's payload.
#[derive(Debug, PartialEq)]
struct TokenIdentity {
    uid: String,
    /// `exp` (a non-numeric one reads as -1, refused; without one there is no
    /// identity); `None` for the legacy list tokens, which carry none.
    exp: Option<f64>,
    /// `fs_paa`, when a number.
    paa: Option<f64>,
    /// The whole payload, for the `verify_auth_token` hook (left empty when no hook
    /// is set, and for legacy tokens).
    claims: Map<String, Value>,
}

/// The common case, read without building a `Value`: an object of exactly `uid` (a
/// string), `ver`, a numeric `exp` and, optionally, a numeric `fs_paa`, which is what this
/// crate and Flask-Security write. Every value is parsed in full (`ver` too), so this read
/// accepts nothing the `Value` read refuses; anything else (legacy lists, other claims,
/// odd types, a repeated key, a payload a hook wants whole) takes the `Value` read, which
/// decides.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CurrentToken {
    uid: String,
    #[allow(dead_code)]
    ver: Value,
    exp: f64,
    fs_paa: Option<f64>,
}

/// Verified payload parts of auth tokens and what they read as, without claims; see
/// [`TextMemo`](crate::memo::TextMemo). A client sends its token with every request:
/// decoding its payload and reading the JSON was 3.4 % of a token request's server CPU.
/// The signature and the age are checked before the memo is read, and `exp` after.
static READ: std::sync::LazyLock<crate::memo::TextMemo<Arc<TokenIdentity>>> =
    std::sync::LazyLock::new(|| {
        crate::memo::TextMemo::new(MEMO_BYTES, MEMO_ENTRY_MAX, |part, identity| {
            part.len() + identity.uid.len() + MEMO_ENTRY_OVERHEAD
        })
    });

/// Bytes the memo's entries weigh at most in all.
const MEMO_BYTES: usize = 4 * 1024 * 1024;
/// Longest payload part the memo keeps (an auth token's is ~130 bytes).
const MEMO_ENTRY_MAX: usize = 1024;
/// What an entry costs besides its part and uid (the `Arc`, the slot, the table).
const MEMO_ENTRY_OVERHEAD: usize = 128;

impl TokenIdentity {
    /// What the verified payload part `part` reads as: from the memo, or read (and
    /// kept). With `keep_claims` (a `verify_auth_token` hook wants the whole payload)
    /// it is read each time, and not kept.
    fn of(part: &str, keep_claims: bool) -> Option<Arc<TokenIdentity>> {
        if keep_claims {
            return Self::decode(part, true).map(Arc::new);
        }
        if let Some(identity) = READ.get(part) {
            return Some(identity);
        }
        let mut identity = Self::decode(part, false)?;
        // Only a hook reads them (a `Value` read keeps them): not kept, not weighed.
        identity.claims = Map::new();
        let identity = Arc::new(identity);
        READ.keep(part, Arc::clone(&identity));
        Some(identity)
    }

    /// Decodes the payload part and reads its JSON (see [`TokenIdentity::read`]).
    fn decode(part: &str, keep_claims: bool) -> Option<TokenIdentity> {
        let json = crate::tokens::payload_text(part).ok()?;
        let identity = Self::read(&json, keep_claims)?;
        #[cfg(test)]
        crate::memo::count_decode();
        Some(identity)
    }

    fn read(json: &str, keep_claims: bool) -> Option<TokenIdentity> {
        if keep_claims {
            return Self::read_value(json);
        }
        Self::read_typed(json).or_else(|| Self::read_value(json))
    }

    /// [`CurrentToken`], or `None` for the `Value` read to decide.
    fn read_typed(json: &str) -> Option<TokenIdentity> {
        // serde also reads a struct from a list, by position: objects only.
        if !json
            .trim_start_matches([' ', '\t', '\n', '\r'])
            .starts_with('{')
        {
            return None;
        }
        let t = serde_json::from_str::<CurrentToken>(json).ok()?;
        Some(TokenIdentity {
            uid: t.uid,
            exp: Some(t.exp),
            paa: t.fs_paa,
            claims: Map::new(),
        })
    }

    fn read_value(json: &str) -> Option<TokenIdentity> {
        match serde_json::from_str(json).ok()? {
            Value::Object(m) => {
                let (Some(Value::String(uid)), Some(_), Some(exp)) =
                    (m.get("uid"), m.get("ver"), m.get("exp"))
                else {
                    return None;
                };
                Some(TokenIdentity {
                    uid: uid.clone(),
                    exp: Some(exp.as_f64().unwrap_or(-1.0)),
                    paa: m.get("fs_paa").and_then(Value::as_f64),
                    claims: m,
                })
            }
            // Legacy v4 `[uid]` and v3 `[?, ?, uid]` tokens.
            Value::Array(a) => match a.as_slice() {
                [Value::String(uid)] | [_, _, Value::String(uid)] => Some(TokenIdentity {
                    uid: uid.clone(),
                    exp: None,
                    paa: None,
                    claims: Map::new(),
                }),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Finds the user an identity string names, trying `user_identity_attributes` in order.
///
/// Parity: `lookup_identity` with the default mappers: email and username
/// case-insensitive, `us_phone_number` through the phone normaliser (E.164).
pub async fn lookup_identity(state: &SecurityState, identity: &str) -> Result<Option<User>> {
    let identity = identity.trim();
    if identity.is_empty() {
        return Ok(None);
    }
    for attr in &state.config.identity_attributes() {
        let q = match attr.as_str() {
            "email" => {
                if !identity.contains('@') {
                    continue;
                }
                UserQuery::Email(identity.to_owned())
            }
            "username" => UserQuery::Username(identity.to_owned()),
            "us_phone_number" => match state.phone_util.get_canonical_form(identity) {
                Some(phone) => UserQuery::UsPhoneNumber(phone),
                None => continue,
            },
            _ => continue,
        };
        if let Some(u) = state.datastore.find_user(&q, true).await? {
            return Ok(Some(u));
        }
    }
    Ok(None)
}

/// What checking a password against a user found.
#[derive(Debug)]
pub enum Credentials {
    /// The password is right; `rehashed` when the stored hash was replaced by one of the
    /// current scheme (set on `user`, not yet stored).
    Verified {
        /// The user, with any rehash applied.
        user: Box<User>,
        /// True when `user.password` holds a new hash to store.
        rehashed: bool,
    },
    /// No user has that identity.
    UnknownIdentity,
    /// The user has no password (passwordless account).
    NoPassword(Box<User>),
    /// The password is wrong.
    WrongPassword(Box<User>),
    /// Not checked: the account waits after failed attempts or is locked, or the
    /// client's address is over its quota (see [`crate::lockout`]).
    Throttled {
        /// Seconds before the next attempt may be made.
        retry_after: u64,
    },
}

/// Checks `password` against `user`'s stored hash, off the executor. A user without a
/// password costs one hash too. Failures send `user_failed_authn`; attempts are
/// counted per account (and per client address `from` when that limit is on), and a
/// throttled attempt is refused without checking the password.
///
/// This and [`verify_credentials`] are the one place every password check goes through
/// (form and JSON login, HTTP Basic, `/verify`, `/change`).
pub async fn verify_password(
    state: &SecurityState,
    mut user: User,
    password: &str,
    auth_type: &str,
    from: Option<IpAddr>,
) -> Result<Credentials> {
    let refused = match lockout::address_blocked(state, from, Factor::Password) {
        Some(wait) => Some(wait),
        None => match lockout::begin(state, user.id, Factor::Password).await? {
            Gate::Open => None,
            gate => gate.retry_after(state),
        },
    };
    if let Some(retry_after) = refused {
        if state.config.return_generic_responses {
            // The same work as a checked password: the answer time tells nothing.
            state.hash_password(password).await?;
        }
        return Ok(Credentials::Throttled { retry_after });
    }
    let Some(stored) = user.password.clone() else {
        state.hash_password(password).await?;
        lockout::address_failed(state, from);
        return Ok(Credentials::NoPassword(Box::new(user)));
    };
    let (ok, new_hash) = state.verify_and_update(password, &stored).await?;
    if !ok {
        lockout::address_failed(state, from);
        state.send(Signal::UserFailedAuthn {
            user_id: Some(user.id),
            auth_type: auth_type.to_owned(),
        });
        return Ok(Credentials::WrongPassword(Box::new(user)));
    }
    lockout::succeeded(state, user.id, Factor::Password).await?;
    let rehashed = new_hash.is_some();
    if new_hash.is_some() {
        user.password = new_hash;
    }
    Ok(Credentials::Verified {
        user: Box::new(user),
        rehashed,
    })
}

/// Finds the user `identity` names and checks `password`. An unknown identity costs
/// one hash, so the answer time does not tell it apart from a wrong password.
///
/// Parity: `LoginForm.validate` (lookup, then `verify_and_update_password`).
pub async fn verify_credentials(
    state: &SecurityState,
    identity: &str,
    password: &str,
    auth_type: &str,
    from: Option<IpAddr>,
) -> Result<Credentials> {
    match lookup_identity(state, identity).await? {
        Some(user) => verify_password(state, user, password, auth_type, from).await,
        None => {
            if let Some(retry_after) = lockout::address_blocked(state, from, Factor::Password) {
                return Ok(Credentials::Throttled { retry_after });
            }
            state.hash_password(password).await?;
            lockout::address_failed(state, from);
            state.send(Signal::UserFailedAuthn {
                user_id: None,
                auth_type: auth_type.to_owned(),
            });
            Ok(Credentials::UnknownIdentity)
        }
    }
}

/// Logs the current session out: session emptied (a fresh CSRF secret kept for the
/// next form), remember cookie removed, CSRF cookie cleared.
///
/// Parity: `flask_security.logout_user`.
pub fn logout_user(state: &SecurityState, session: &Session<'_>, user_id: Option<i32>) {
    let mut data = SessionData {
        fs_cc: Some(CsrfCookie::Clear),
        ..SessionData::default()
    };
    crate::csrf::ensure_secret(&mut data);
    session.renew(data);
    session.forget(&state.config);
    if let Some(id) = user_id {
        state.send(Signal::UserLoggedOut { user_id: id });
    }
}

#[cfg(test)]
mod tests {
    use super::{TokenIdentity, READ};
    use crate::memo::decoded as reads;
    use base64::Engine;

    /// A payload part as a token carries it (uncompressed).
    fn part(json: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn a_payload_is_read_once_and_read_the_same() {
        let uid = format!("u-{:016x}", rand::random::<u64>());
        let json = format!(r#"{{"ver":"5","uid":"{uid}","fs_paa":1.5,"exp":9}}"#);
        let fresh = TokenIdentity::read(&json, false).expect("read");
        let before = reads();
        for _ in 0..3 {
            assert_eq!(
                TokenIdentity::of(&part(&json), false).as_deref(),
                Some(&fresh)
            );
        }
        assert_eq!(reads(), before + 1, "from the memo after the first");
        // A hook wants the claims: read each time, with them, and nothing kept.
        let hooked = json.replace(r#""exp":9"#, r#""exp":8"#);
        for _ in 0..2 {
            let whole = TokenIdentity::of(&part(&hooked), true).expect("read");
            assert_eq!(
                (&whole.uid, whole.exp, whole.claims.len()),
                (&uid, Some(8.0), 4)
            );
            assert!(READ.get(&part(&hooked)).is_none());
        }
        let whole = TokenIdentity::of(&part(&json), true).expect("read");
        assert_eq!(whole.claims.len(), 4, "not the memo's");
        assert_eq!(reads(), before + 4);
        // Without a hook, other claims are neither kept nor read.
        let more = json.replace(r#""exp":9"#, r#""exp":9,"x":"y""#);
        let read = TokenIdentity::of(&part(&more), false).expect("read");
        assert!(read.claims.is_empty() && READ.get(&part(&more)).is_some());
        // Another payload, another entry; what does not read is not kept.
        let other = json.replace("1.5", "2.5");
        assert_eq!(
            TokenIdentity::of(&part(&other), false).and_then(|i| i.paa),
            Some(2.5)
        );
        for bad in [part(r#"{"uid":"u1"}"#), "not base64!".into()] {
            assert_eq!(TokenIdentity::of(&bad, false), None);
            assert!(READ.get(&bad).is_none());
        }
        assert_eq!(reads(), before + 6);
    }

    /// uid, exp, fs_paa
    type Read = Option<(String, Option<f64>, Option<f64>)>;

    fn triple(t: TokenIdentity) -> (String, Option<f64>, Option<f64>) {
        (t.uid, t.exp, t.paa)
    }

    /// The typed read takes what Flask-Security writes, and whatever it takes the
    /// `Value` read reads alike; with or without a hook the guard reads the same.
    #[test]
    fn both_token_readers_agree() {
        let some = |exp: Option<f64>, paa: Option<f64>| Some(("u1".to_owned(), exp, paa));
        let nested = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let cases: Vec<(String, Read, bool)> = vec![
            (
                r#"{"exp":0,"fs_paa":1733550000.25,"uid":"u1","ver":"5"}"#.into(),
                some(Some(0.0), Some(1733550000.25)),
                true,
            ),
            (
                r#"{"ver":"5","uid":"u1","exp":17}"#.into(),
                some(Some(17.0), None),
                true,
            ),
            (
                r#"{"ver":4,"uid":"u1","exp":-3}"#.into(),
                some(Some(-3.0), None),
                true,
            ),
            (
                " \n{\"ver\":\"5\",\"\\u0075id\":\"u1\",\"exp\":1e3,\"fs_paa\":null}".into(),
                some(Some(1000.0), None),
                true,
            ),
            // Other claims, odd types and repeated keys: the Value read decides.
            (
                r#"{"ver":"5","uid":"u1","exp":0,"x":[1]}"#.into(),
                some(Some(0.0), None),
                false,
            ),
            (
                r#"{"ver":"5","uid":"u1","exp":1,"fs_paa":"x"}"#.into(),
                some(Some(1.0), None),
                false,
            ),
            (
                r#"{"ver":"5","uid":"u1","exp":"1"}"#.into(),
                some(Some(-1.0), None),
                false,
            ),
            (
                r#"{"ver":"5","uid":"u1","exp":null}"#.into(),
                some(Some(-1.0), None),
                false,
            ),
            (
                r#"{"ver":"5","uid":"a","uid":"u1","exp":0}"#.into(),
                some(Some(0.0), None),
                false,
            ),
            (r#"{"ver":"5","uid":"u1"}"#.into(), None, false),
            (r#"{"uid":"u1","exp":0}"#.into(), None, false),
            (r#"{"ver":"5","uid":7,"exp":0}"#.into(), None, false),
            (r#"{"ver":"5","uid":"u1","exp":1e400}"#.into(), None, false),
            // Values JSON cannot hold here, in claims the guard does not use.
            (r#"{"ver":1e400,"uid":"u1","exp":0}"#.into(), None, false),
            (r#"{"ver":"\udc00","uid":"u1","exp":0}"#.into(), None, false),
            (
                r#"{"ver":"5","uid":"u1","exp":0,"x":"\ud800"}"#.into(),
                None,
                false,
            ),
            (
                format!(
                    r#"{{"ver":"5","uid":"u1","exp":0,"x":1{}}}"#,
                    "0".repeat(400)
                ),
                None,
                false,
            ),
            (
                format!(r#"{{"ver":{},"uid":"u1","exp":0}}"#, nested(200)),
                None,
                false,
            ),
            (
                format!(r#"{{"ver":"5","uid":"u1","exp":0,"x":{}}}"#, nested(200)),
                None,
                false,
            ),
            // Lists: serde would read the four-element one as the struct.
            (r#"["u1","5",0,null]"#.into(), None, false),
            (r#"["u1"]"#.into(), some(None, None), false),
            (r#"[1,2,"u1"]"#.into(), some(None, None), false),
            (r#"["u1",2]"#.into(), None, false),
            (r#""u1""#.into(), None, false),
            (r#"{"ver":"5","uid":"u1","exp":0} x"#.into(), None, false),
        ];
        for (json, want, typed) in &cases {
            let fast = TokenIdentity::read_typed(json).map(triple);
            assert_eq!(fast.is_some(), *typed, "{json}: typed read");
            assert!(fast.is_none_or(|f| Some(f) == *want), "{json}");
            assert_eq!(TokenIdentity::read_value(json).map(triple), *want, "{json}");
            assert_eq!(
                TokenIdentity::read(json, false).map(triple),
                *want,
                "{json}"
            );
            assert_eq!(TokenIdentity::read(json, true).map(triple), *want, "{json}");
        }
    }
}
