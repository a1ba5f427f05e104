//! The options a browser passes to `navigator.credentials`: the bare
//! `PublicKeyCredentialCreationOptions` / `…RequestOptions` objects py_webauthn's
//! `options_to_json_dict` makes (base64url without padding, `excludeCredentials` and
//! `allowCredentials` always arrays), with Flask-Security's `credProps` extension.

use serde_json::{json, Value};

use super::{b64, Rp};
use crate::config::SecurityConfig;
use crate::datastore::WebAuthnCredential;
use crate::model::User;

/// COSE algorithms offered, in py_webauthn 3's order: EdDSA, ES256, RS256.
const ALGORITHMS: [i64; 3] = [-8, -7, -257];

/// A credential descriptor (`excludeCredentials`, `allowCredentials`).
fn descriptor(c: &WebAuthnCredential) -> Value {
    let mut d = json!({"id": b64(&c.credential_id), "type": "public-key"});
    if !c.transports.is_empty() {
        d["transports"] = json!(c.transports);
    }
    d
}

/// Creation options for a new credential of `user` (user handle `handle`): `first`
/// credentials are cross-platform keys with user verification preferred, `secondary`
/// ones discourage it; resident keys are preferred, or required when user hints are
/// off (sign-in is then usernameless only).
pub fn creation(
    cfg: &SecurityConfig,
    rp: &Rp,
    user: &User,
    handle: &str,
    challenge: &str,
    usage: &str,
    existing: &[WebAuthnCredential],
) -> Value {
    let name = user.calc_username();
    let resident = if cfg.wan_allow_user_hints {
        "preferred"
    } else {
        "required"
    };
    let mut selection = json!({
        "residentKey": resident,
        "requireResidentKey": !cfg.wan_allow_user_hints,
        "userVerification": registration_uv(usage),
    });
    if usage == "first" {
        selection["authenticatorAttachment"] = json!("cross-platform");
    }
    let params: Vec<Value> = ALGORITHMS
        .iter()
        .map(|alg| json!({"type": "public-key", "alg": alg}))
        .collect();
    json!({
        "rp": {"name": cfg.wan_rp_name, "id": rp.id},
        "user": {"id": b64(handle.as_bytes()), "name": name, "displayName": name},
        "challenge": b64(challenge.as_bytes()),
        "pubKeyCredParams": params,
        "timeout": cfg.wan_register_timeout,
        "excludeCredentials": existing.iter().map(descriptor).collect::<Vec<_>>(),
        "authenticatorSelection": selection,
        "attestation": "none",
        "extensions": {"credProps": true},
    })
}

/// The user verification a registration of `usage` asks for.
pub fn registration_uv(usage: &str) -> &'static str {
    if usage == "first" {
        "preferred"
    } else {
        "discouraged"
    }
}

/// Request options for an assertion by one of `allow` (empty: any discoverable
/// credential of this RP).
pub fn request(
    cfg: &SecurityConfig,
    rp: &Rp,
    challenge: &str,
    allow: &[WebAuthnCredential],
    user_verification: &str,
) -> Value {
    json!({
        "challenge": b64(challenge.as_bytes()),
        "timeout": cfg.wan_signin_timeout,
        "rpId": rp.id,
        "allowCredentials": allow.iter().map(descriptor).collect::<Vec<_>>(),
        "userVerification": user_verification,
    })
}
