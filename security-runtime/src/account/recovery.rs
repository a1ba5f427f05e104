//! Recovery codes: showing, regenerating and using them.
//!
//! Every change is one conditional write of `mf_recovery_codes` (it must still hold
//! what was read), so a code used twice in parallel signs in once, and a regeneration
//! racing a use loses nothing silently.
//!
//! Parity: `recovery_codes.mf_recovery_codes`, `recovery_codes.mf_recovery`.

use super::mail::notify;
use crate::datastore::UserQuery;
use crate::error::{Result, SecurityError};
use crate::model::User;
use crate::recovery_codes::{find, generate, without};
use crate::signals::Signal;
use crate::state::SecurityState;

/// The user's codes, as the user types them.
pub fn codes_of(st: &SecurityState, user: &User) -> Vec<String> {
    st.recovery_codes
        .decode(user.mf_recovery_codes.as_deref(), st.now() as u64)
        .into_iter()
        .map(|c| c.code)
        .collect()
}

/// Replaces the user's codes with `multi_factor_recovery_codes_n` new ones.
pub async fn regenerate(st: &SecurityState, user: &mut User) -> Result<Vec<String>> {
    let codes = generate(st.config.multi_factor_recovery_codes_n);
    let stored = st.recovery_codes.encode(&codes, st.now() as u64);
    for _ in 0..3 {
        let expected = user.mf_recovery_codes.clone();
        let swapped = st
            .datastore
            .swap_recovery_codes(user, expected.as_deref(), Some(&stored))
            .await?;
        if swapped {
            st.send(Signal::MfRecoveryCodesGenerated { user_id: user.id });
            return Ok(codes);
        }
        reload(st, user).await?;
    }
    Err(SecurityError::Invalid(
        "the recovery codes kept changing; try again".into(),
    ))
}

/// Uses `code` (exact, single use): true when it was one of the user's codes and is now
/// gone. Sends `MfRecoveryCodeUsed` and mails the user a notice. A parallel change of
/// the codes (another code used) is read again, so only this code's own use refuses it.
pub async fn use_code(
    st: &SecurityState,
    user: &mut User,
    code: &str,
    locale: &str,
) -> Result<bool> {
    for _ in 0..3 {
        let codes = st
            .recovery_codes
            .decode(user.mf_recovery_codes.as_deref(), st.now() as u64);
        let Some(i) = find(&codes, code.trim()) else {
            st.send(Signal::UserFailedAuthn {
                user_id: Some(user.id),
                auth_type: "recovery_code".into(),
            });
            return Ok(false);
        };
        let rest = without(&codes, i);
        let expected = user.mf_recovery_codes.clone();
        let new = (!rest.is_empty()).then_some(rest.as_str());
        if st
            .datastore
            .swap_recovery_codes(user, expected.as_deref(), new)
            .await?
        {
            st.send(Signal::MfRecoveryCodeUsed { user_id: user.id });
            let subject = st.config.email_subject_recovery_code_used.clone();
            notify(st, locale, "recovery_code_used", user, &subject).await;
            return Ok(true);
        }
        reload(st, user).await?;
    }
    Ok(false)
}

async fn reload(st: &SecurityState, user: &mut User) -> Result<()> {
    *user = st
        .datastore
        .find_user(&UserQuery::Id(user.id), false)
        .await?
        .ok_or(SecurityError::NotFound { what: "user" })?;
    Ok(())
}
