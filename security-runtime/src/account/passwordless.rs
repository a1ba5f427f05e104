//! Passwordless sign-in: a mailed link signs the user in, once.
//!
//! The link carries a signed, timed token (salt `login_salt`, valid `login_within`) of
//! `[fs_uniquifier, hash of the address]`: Flask-Security's holds the uniquifier only.
//! Beyond it, a link works once and only while it is the newest: using or sending one
//! records its issue time, and a link issued before (using: at or before) that time is
//! refused; a link sent before an email change is refused too.
//!
//! Parity: `passwordless.send_login_instructions`, `login_token_status`.

use serde_json::{json, Value};

use super::links::{check_link, hash_data, make_token, user_at_address, LinkToken};
use super::mail::{link, mail_user, send_mail, token_path};
use crate::datastore::CodeSlot;
use crate::error::Result;
use crate::mail::MailError;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// Mails `user` a sign-in link.
///
/// Parity: `send_login_instructions`.
pub async fn send_instructions(
    st: &SecurityState,
    user: &User,
    locale: &str,
) -> std::result::Result<(), MailError> {
    let cfg = &st.config;
    // Bound to the address it goes to (a link mailed before an email change dies).
    let bound = json!([user.fs_uniquifier, hash_data(st, &user.email)]);
    let issued = st.now() as u64;
    let token = make_token(st, &cfg.login_salt, bound);
    let login_link = link(st, &token_path(&cfg.login_url, &token));
    let context = json!({
        "user": mail_user(user),
        "login_link": login_link,
        "login_token": token,
    });
    let subject = &cfg.email_subject_passwordless;
    send_mail(
        st,
        locale,
        "login_instructions",
        &user.email,
        subject,
        context,
    )
    .await?;
    // A new link voids the ones sent before it.
    if let Err(e) = st
        .datastore
        .claim_step(user, CodeSlot::LoginLink, issued.saturating_sub(1))
        .await
    {
        log::warn!("passwordless: earlier links not voided: {e}");
    }
    st.send(Signal::LoginInstructionsSent { user_id: user.id });
    Ok(())
}

/// What a sign-in link turned out to be.
#[derive(Debug)]
pub enum LinkCheck {
    /// Valid and unused: it is now used.
    Valid(Box<User>),
    /// Signed by us but older than `login_within`: its user, to mail a new link.
    Expired(Box<User>),
    /// Not ours, its user gone, or used already.
    Invalid,
}

/// Checks a sign-in link's token and, when it is valid, uses it up (one conditional
/// write: of two parallel uses exactly one succeeds).
pub async fn use_link(st: &SecurityState, token: &str) -> Result<LinkCheck> {
    let cfg = &st.config;
    let within = u64::try_from(cfg.login_within).unwrap_or(0);
    let (expired, parts) = match check_link(st, &cfg.login_salt, token, within) {
        LinkToken::Valid(p) => (false, p),
        LinkToken::Expired(p) => (true, p),
        LinkToken::Invalid => return Ok(LinkCheck::Invalid),
    };
    let (Some(uid), Some(email_hash)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
    ) else {
        return Ok(LinkCheck::Invalid);
    };
    let Some(user) = user_at_address(st, uid, email_hash).await? else {
        return Ok(LinkCheck::Invalid);
    };
    if expired {
        return Ok(LinkCheck::Expired(Box::new(user)));
    }
    let issued = match st.serializer(&cfg.login_salt).loads_unchecked_age(token) {
        Ok((_, at)) => at,
        Err(_) => return Ok(LinkCheck::Invalid),
    };
    if !st
        .datastore
        .claim_step(&user, CodeSlot::LoginLink, issued)
        .await?
    {
        log::warn!(
            "passwordless: a used sign-in link was offered again for user {}",
            user.id
        );
        return Ok(LinkCheck::Invalid);
    }
    Ok(LinkCheck::Valid(Box::new(user)))
}
