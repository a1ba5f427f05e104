//! Assertions: signing in with a passkey alone, as the second factor, and
//! re-authenticating.
//!
//! Parity: `webauthn.webauthn_signin`, `webauthn_signin_response`, `webauthn_verify`,
//! `webauthn_verify_response`. Beyond Flask-Security: a challenge is answered once, and
//! at the second factor (as at `/wan-verify`) the credential must be the user's own.

use serde_json::Value;

use super::register::{state_refusal, Refused};
use super::{
    credential, options, read_state, state_token, store, use_challenge, Ceremony, Rp, WanState,
};
use crate::datastore::{CredentialUse, UserQuery, WebAuthnCredential};
use crate::error::Result;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;
use crate::webauthn::{verify_assertion, Expected};

/// What an assertion is for.
#[derive(Debug, Clone, Copy)]
pub enum Purpose<'a> {
    /// Signing in with a `first` credential alone.
    FirstFactor,
    /// The second factor of this user (who gave the first).
    SecondFactor(&'a User),
    /// Re-authenticating this signed-in user.
    Verify(&'a User),
}

impl Purpose<'_> {
    /// The user the step is for, when known before the assertion.
    fn known(&self) -> Option<&User> {
        match self {
            Purpose::FirstFactor => None,
            Purpose::SecondFactor(u) | Purpose::Verify(u) => Some(u),
        }
    }

    /// Whether a credential of `usage` may serve.
    fn allows(&self, st: &SecurityState, usage: &str) -> bool {
        match self {
            Purpose::FirstFactor => usage == "first",
            Purpose::SecondFactor(_) => usage == "secondary",
            Purpose::Verify(_) => st.config.wan_allow_as_verify.iter().any(|u| u == usage),
        }
    }

    fn ceremony(&self) -> Ceremony {
        match self {
            Purpose::Verify(_) => Ceremony::Verify,
            _ => Ceremony::Signin,
        }
    }

    fn user_verification(&self, st: &SecurityState) -> &'static str {
        let secondary = match self {
            Purpose::FirstFactor => false,
            Purpose::SecondFactor(_) => true,
            Purpose::Verify(_) => st
                .config
                .wan_allow_as_verify
                .iter()
                .any(|u| u == "secondary"),
        };
        if secondary {
            "discouraged"
        } else {
            "preferred"
        }
    }
}

/// Starts an assertion: request options listing the credentials that may answer (the
/// user's, or `hint`'s for a first factor; none: any discoverable one) and the
/// `wan_state` token.
pub async fn begin(
    st: &SecurityState,
    rp: &Rp,
    purpose: Purpose<'_>,
    hint: Option<&User>,
) -> Result<(Value, String)> {
    let whose = purpose.known().or(hint);
    let mut allow: Vec<WebAuthnCredential> = Vec::new();
    if let Some(u) = whose {
        allow = store(st)?.credentials_of(u.id).await?;
        allow.retain(|c| purpose.allows(st, &c.usage));
    }
    let challenge = super::new_challenge(&st.config);
    let uv = purpose.user_verification(st);
    let opts = options::request(&st.config, rp, &challenge, &allow, uv);
    let state = WanState {
        ceremony: purpose.ceremony(),
        challenge,
        name: None,
        usage: None,
        user_verification: uv.to_owned(),
    };
    let owner = match purpose {
        Purpose::Verify(u) => Some(u),
        _ => None,
    };
    Ok((opts, state_token(st, owner, &state)))
}

/// A checked assertion.
#[derive(Debug)]
pub struct Verified {
    /// The credential's owner.
    pub user: User,
    /// The authenticator verified the user (PIN, biometrics).
    pub user_verified: bool,
}

/// Checks a posted assertion for `purpose` against its state token, and records the
/// use (challenge answered, counter and last use stored).
pub async fn check(
    st: &SecurityState,
    rp: &Rp,
    purpose: Purpose<'_>,
    token: &str,
    posted: &str,
    locale: &str,
) -> Result<std::result::Result<Verified, Refused>> {
    let within = st.config.wan_signin_within;
    let owner = match purpose {
        Purpose::Verify(u) => Some(u),
        _ => None,
    };
    let state = match read_state(st, purpose.ceremony(), owner, within, token) {
        Ok(s) => s,
        Err(p) => return Ok(Err((None, state_refusal(st, p, within, locale)))),
    };
    let refuse = |m: Text| Ok(Err((Some("credential"), m)));
    let a = match credential::assertion(posted) {
        Ok(a) => a,
        Err(e) => return refuse(msg::webauthn_no_verify(&e.to_string())),
    };
    let (cred, user) = match owner_of(st, &a, purpose).await? {
        Ok(found) => found,
        Err(m) => return refuse(m),
    };
    if !use_challenge(st, &state.challenge, within).await? {
        return refuse(msg::webauthn_no_verify("challenge already used"));
    }
    let expected = Expected {
        challenge: state.challenge.as_bytes(),
        origin: &rp.origin,
        rp_id: &rp.id,
        user_verification: state.user_verification == "required",
    };
    let stored = u32::try_from(cred.sign_count).unwrap_or(u32::MAX);
    let checked = verify_assertion(
        &a.client_data_json,
        &a.authenticator_data,
        &a.signature,
        &cred.public_key,
        stored,
        &expected,
    );
    let asserted = match checked {
        Ok(x) => x,
        Err(e) => {
            st.send(Signal::UserFailedAuthn {
                user_id: Some(user.id),
                auth_type: "passkey".into(),
            });
            return refuse(msg::webauthn_no_verify(&e.to_string()));
        }
    };
    if i32::try_from(asserted.sign_count).is_err() {
        return refuse(msg::webauthn_no_verify("sign count out of range"));
    }
    let used = CredentialUse {
        seen_sign_count: cred.sign_count,
        sign_count: i64::from(asserted.sign_count),
        backup_state: asserted.flags.backup_state(),
        now: st.now_naive(),
    };
    if !store(st)?.record_use(cred.id, &used).await? {
        return refuse(msg::webauthn_no_verify("sign count did not increase"));
    }
    Ok(Ok(Verified {
        user,
        user_verified: asserted.flags.user_verified(),
    }))
}

/// The credential and its owner: known, owned, with the user handle the authenticator
/// gave (when it gave one), of a usage `purpose` allows, and the user the step is for.
async fn owner_of(
    st: &SecurityState,
    a: &credential::Assertion,
    purpose: Purpose<'_>,
) -> Result<std::result::Result<(WebAuthnCredential, User), Text>> {
    let store = store(st)?;
    let Some(cred) = store.find_credential(&a.raw_id).await? else {
        return Ok(Err(Text::new(msg::WEBAUTHN_UNKNOWN_CREDENTIAL_ID)));
    };
    // The user the step is for, when known, must own the key; otherwise its owner.
    let user = match purpose.known() {
        Some(u) if u.id != cred.user_id => {
            return Ok(Err(Text::new(msg::WEBAUTHN_MISMATCH_USER_HANDLE)));
        }
        Some(u) => u.clone(),
        None => {
            let q = UserQuery::Id(cred.user_id);
            let Some(user) = st.datastore.find_user(&q, false).await? else {
                return Ok(Err(Text::new(msg::WEBAUTHN_ORPHAN_CREDENTIAL_ID)));
            };
            user
        }
    };
    if let Some(h) = &a.user_handle {
        // The handle is Flask-Security's `fs_webauthn_user_handle` (ASCII hex).
        let owner = match std::str::from_utf8(h) {
            Ok(handle) => store.user_of_handle(handle).await?,
            Err(_) => None,
        };
        if owner != Some(user.id) {
            return Ok(Err(Text::new(msg::WEBAUTHN_MISMATCH_USER_HANDLE)));
        }
    }
    if !purpose.allows(st, &cred.usage) {
        return Ok(Err(Text::new(msg::WEBAUTHN_CREDENTIAL_WRONG_USAGE)));
    }
    Ok(Ok((cred, user)))
}
