//! Registering, listing and deleting a user's credentials.
//!
//! Parity: `webauthn.webauthn_register`, `webauthn_register_response`,
//! `webauthn_delete` and their forms' checks.

use chrono::NaiveDateTime;
use serde_json::{json, Value};
use unicode_normalization::UnicodeNormalization;

use super::{
    credential, options, read_state, state_token, store, use_challenge, Ceremony, Rp, WanState,
};
use crate::account::state_token::TokenProblem;
use crate::datastore::{new_uniquifier, NewCredential, WebAuthnCredential};
use crate::error::{Result, SecurityError};
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;
use crate::webauthn::{verify_registration, Expected};

/// A refused step: the field it is about (`None`: the form) and the message.
pub type Refused = (Option<&'static str>, Text);

/// The `registered_credentials` of `GET /wan-register`.
pub fn listing(creds: &[WebAuthnCredential]) -> Value {
    let items: Vec<Value> = creds
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "credential_id": super::b64(&c.credential_id),
                "transports": c.transports,
                "lastuse": isoformat(&c.lastuse_datetime),
                "usage": c.usage,
                "backup_state": c.backup_state,
                "device_type": c.device_type,
                "discoverable": credential::discoverable(c.extensions.as_deref()),
            })
        })
        .collect();
    Value::Array(items)
}

/// Python's `datetime.isoformat()`: microseconds when there are any.
fn isoformat(t: &NaiveDateTime) -> String {
    use chrono::Timelike;
    if t.nanosecond() / 1000 == 0 {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    } else {
        t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
    }
}

/// The name checks of the registration form: required, at most `wan_name_max_length`,
/// only `wan_name_allowed_chars`, not the name of another of the user's credentials.
/// The name is NFKD-normalised.
fn check_name(
    st: &SecurityState,
    name: Option<&str>,
    existing: &[WebAuthnCredential],
) -> std::result::Result<String, Refused> {
    let cfg = &st.config;
    let name: String = name.unwrap_or("").trim().nfkd().collect();
    let bad = |m: Text| Err((Some("name"), m));
    if name.is_empty() {
        return bad(Text::new(msg::WEBAUTHN_NAME_REQUIRED));
    }
    if name.chars().count() > cfg.wan_name_max_length {
        return bad(msg::invalid_input_length(cfg.wan_name_max_length));
    }
    if !crate::validation::in_categories(&name, &cfg.wan_name_allowed_chars) {
        return bad(Text::new(msg::WEBAUTHN_NAME_DISALLOWED_CHARACTERS));
    }
    if existing.iter().any(|c| c.name == name) {
        return bad(msg::webauthn_name_inuse(&name));
    }
    Ok(name)
}

/// Starts a registration: the creation options and the `wan_state` token.
pub async fn begin(
    st: &SecurityState,
    user: &User,
    rp: &Rp,
    name: Option<&str>,
    usage: Option<&str>,
) -> Result<std::result::Result<(Value, String), Refused>> {
    let cfg = &st.config;
    let store = store(st)?;
    let existing = store.credentials_of(user.id).await?;
    let name = match check_name(st, name, &existing) {
        Ok(n) => n,
        Err(r) => return Ok(Err(r)),
    };
    let usage = match usage.unwrap_or("secondary") {
        "first" if cfg.wan_allow_as_first_factor => "first",
        "first" | "secondary" => "secondary",
        _ => return Ok(Err((Some("usage"), Text::new(msg::INVALID_INPUT)))),
    };
    let handle = store.user_handle(user.id, &new_uniquifier()).await?;
    let challenge = super::new_challenge(cfg);
    let opts = options::creation(cfg, rp, user, &handle, &challenge, usage, &existing);
    let state = WanState {
        ceremony: Ceremony::Register,
        challenge,
        name: Some(name),
        usage: Some(usage.to_owned()),
        user_verification: options::registration_uv(usage).to_owned(),
    };
    Ok(Ok((opts, state_token(st, Some(user), &state))))
}

/// Why a state token was refused, as Flask-Security says it.
pub fn state_refusal(st: &SecurityState, p: TokenProblem, within: i64, locale: &str) -> Text {
    match p {
        TokenProblem::Expired => {
            let w = crate::account::mail::within_text(&st.catalog, locale, within as u64);
            msg::webauthn_expired(&w)
        }
        TokenProblem::Invalid => Text::new(msg::API_ERROR),
    }
}

/// Finishes a registration: checks the new credential against the state and stores it.
pub async fn finish(
    st: &SecurityState,
    user: &User,
    rp: &Rp,
    token: &str,
    posted: &str,
    locale: &str,
) -> Result<std::result::Result<WebAuthnCredential, Refused>> {
    let within = st.config.wan_register_within;
    let state = match read_state(st, Ceremony::Register, Some(user), within, token) {
        Ok(s) => s,
        Err(p) => return Ok(Err((None, state_refusal(st, p, within, locale)))),
    };
    let no_verify = |cause: &str| Ok(Err((Some("credential"), msg::webauthn_no_verify(cause))));
    let reg = match credential::registration(posted) {
        Ok(r) => r,
        Err(e) => return no_verify(&e.to_string()),
    };
    if !use_challenge(st, &state.challenge, within).await? {
        return no_verify("challenge already used");
    }
    let expected = Expected {
        challenge: state.challenge.as_bytes(),
        origin: &rp.origin,
        rp_id: &rp.id,
        user_verification: state.user_verification == "required",
    };
    let done = match verify_registration(&reg.client_data_json, &reg.attestation_object, &expected)
    {
        Ok(d) => d,
        Err(e) => return no_verify(&e.to_string()),
    };
    if done.credential_id != reg.raw_id {
        return no_verify("credential id mismatch");
    }
    if i32::try_from(done.sign_count).is_err() {
        return no_verify("sign count out of range");
    }
    store_new(st, user, state, reg, done).await
}

async fn store_new(
    st: &SecurityState,
    user: &User,
    state: WanState,
    reg: credential::Registration,
    done: crate::webauthn::Registered,
) -> Result<std::result::Result<WebAuthnCredential, Refused>> {
    let name = state.name.unwrap_or_default();
    let new = NewCredential {
        user_id: user.id,
        name: name.clone(),
        credential_id: done.credential_id,
        public_key: done.public_key,
        sign_count: i64::from(done.sign_count),
        transports: reg.transports,
        backup_state: done.flags.backup_state(),
        device_type: device_type(done.flags.backup_eligible()).to_owned(),
        extensions: reg.extensions,
        usage: state.usage.unwrap_or_else(|| "secondary".into()),
        now: st.now_naive(),
    };
    let store = store(st)?;
    let existing = store.credentials_of(user.id).await?;
    if let Err(refused) = check_name(st, Some(&name), &existing) {
        return Ok(Err(refused));
    }
    match store.create_credential(&new).await {
        Ok(c) => {
            st.send(Signal::WanRegistered {
                user_id: user.id,
                name,
            });
            Ok(Ok(c))
        }
        Err(SecurityError::AlreadyExists { .. }) => Ok(Err((
            Some("credential"),
            Text::new(msg::WEBAUTHN_CREDENTIAL_ID_INUSE),
        ))),
        Err(e) => Err(e),
    }
}

/// py_webauthn's `credential_device_type`: backup eligible means `multi_device`.
fn device_type(backup_eligible: bool) -> &'static str {
    if backup_eligible {
        "multi_device"
    } else {
        "single_device"
    }
}

/// Deletes the user's credential `name`.
pub async fn delete(
    st: &SecurityState,
    user: &User,
    name: Option<&str>,
) -> Result<std::result::Result<(), Refused>> {
    let name: String = name.unwrap_or("").trim().nfkd().collect();
    if name.is_empty() {
        return Ok(Err((Some("name"), Text::new(msg::WEBAUTHN_NAME_REQUIRED))));
    }
    if !store(st)?.delete_credential(user.id, &name).await? {
        return Ok(Err((Some("name"), msg::webauthn_name_not_found(&name))));
    }
    st.send(Signal::WanDeleted {
        user_id: user.id,
        name,
    });
    Ok(Ok(()))
}
