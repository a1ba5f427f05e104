//! Confirming an email address, without HTTP: mailing the confirmation link (again) and
//! checking a link that comes back.
//!
//! Parity: `confirmable.py` (`generate_confirmation_link`, `send_confirmation_instructions`,
//! `confirm_email_token_status`, `confirm_user`) behind `views.send_confirmation` and
//! `views.confirm_email`.

use serde_json::{json, Value};

use super::links::{check_link, hash_data, make_token, same_hash, LinkToken};
use super::mail::{link, mail_user, send_mail, token_path, within_text};
use super::register::check_email;
use super::FormErrors;
use crate::datastore::UserQuery;
use crate::mail::MailError;
use crate::messages as msg;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// The confirmation link and token for `user`.
///
/// Parity: `generate_confirmation_link` (`[fs_uniquifier, hash_data(email)]`).
pub(crate) fn confirmation_link(st: &SecurityState, user: &User) -> (String, String) {
    let token = make_token(
        st,
        &st.config.confirm_salt,
        json!([user.fs_uniquifier, hash_data(st, &user.email)]),
    );
    let url = link(st, &token_path(&st.config.confirm_url, &token));
    (url, token)
}

/// A submitted "send me the confirmation link again" form.
#[derive(Debug, Clone, Default)]
pub struct SendConfirmationForm {
    /// `email`, as typed.
    pub email: Option<String>,
    /// Errors found while reading the request (CSRF, a field that is not a string); the
    /// checks here add to them.
    pub read_errors: FormErrors,
}

/// What a request for the confirmation link came to.
#[derive(Debug)]
pub enum SendConfirmationOutcome {
    /// The form has errors (unknown or already confirmed address unless generic
    /// responses); nothing was sent.
    Invalid(FormErrors),
    /// Answered as sent: the link went out, or, with generic responses, the answer does
    /// not tell that nothing was due or that the mail failed.
    Sent,
    /// The mail could not be sent.
    MailFailed(MailError),
}

/// Mails the confirmation link again to the unconfirmed user of `form.email`.
///
/// Parity: `views.send_confirmation` with `SendConfirmationForm`.
pub async fn send_confirmation(
    st: &SecurityState,
    form: SendConfirmationForm,
    locale: &str,
) -> crate::Result<SendConfirmationOutcome> {
    let cfg = &st.config;
    let mut errors = form.read_errors;
    let email = check_email(form.email.as_deref(), &mut errors);
    let user = match email {
        Some(e) if errors.is_empty() => st.datastore.find_user(&UserQuery::Email(e), true).await?,
        _ => None,
    };
    if errors.is_empty() && !cfg.return_generic_responses {
        match &user {
            None => errors.field("email", msg::USER_DOES_NOT_EXIST),
            Some(u) if u.confirmed_at.is_some() => errors.field("email", msg::ALREADY_CONFIRMED),
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Ok(SendConfirmationOutcome::Invalid(errors));
    }
    let Some(user) = user.filter(|u| u.confirmed_at.is_none()) else {
        return Ok(SendConfirmationOutcome::Sent);
    };
    match send_confirmation_instructions(st, &user, locale).await {
        Ok(()) => Ok(SendConfirmationOutcome::Sent),
        Err(e) if !cfg.return_generic_responses => Ok(SendConfirmationOutcome::MailFailed(e)),
        Err(e) => {
            log::error!("security mail failed: {e}");
            Ok(SendConfirmationOutcome::Sent)
        }
    }
}

/// Mails `user` a fresh confirmation link and announces it (`confirm_instructions_sent`).
///
/// Parity: `send_confirmation_instructions`.
async fn send_confirmation_instructions(
    st: &SecurityState,
    user: &User,
    locale: &str,
) -> Result<(), MailError> {
    let cfg = &st.config;
    let (link, token) = confirmation_link(st, user);
    send_mail(
        st,
        locale,
        "confirmation_instructions",
        &user.email,
        &cfg.email_subject_confirm,
        json!({
            "user": mail_user(user),
            "confirmation_link": link,
            "confirmation_token": token,
            "within": within_text(cfg.confirm_email_within),
        }),
    )
    .await?;
    st.send(Signal::ConfirmInstructionsSent {
        user_id: user.id,
        token,
    });
    Ok(())
}

/// What a confirmation link turned out to be.
#[derive(Debug)]
pub enum ConfirmOutcome {
    /// The user is confirmed now (stored, `user_confirmed` sent).
    Confirmed {
        /// The user as stored.
        user: Box<User>,
        /// The user may be signed in now (`auto_login_after_confirm`).
        sign_in: bool,
    },
    /// The user was confirmed before; nothing changed.
    AlreadyConfirmed,
    /// Our link for the user's current address, but older than `confirm_email_within`.
    Expired,
    /// Not our link, tampered with, for an unknown user or for an address the user no
    /// longer has.
    Invalid,
}

/// Checks the token of a confirmation link and confirms its user.
///
/// Parity: `views.confirm_email` (`confirm_email_token_status`, then `confirm_user`).
pub async fn confirm_email(st: &SecurityState, token: &str) -> crate::Result<ConfirmOutcome> {
    let cfg = &st.config;
    let (parts, expired) = match check_link(st, &cfg.confirm_salt, token, cfg.confirm_email_within)
    {
        LinkToken::Valid(parts) => (parts, false),
        LinkToken::Expired(parts) => (parts, true),
        LinkToken::Invalid => return Ok(ConfirmOutcome::Invalid),
    };
    let Some(mut user) = link_user(st, &parts).await? else {
        return Ok(ConfirmOutcome::Invalid);
    };
    if expired {
        return Ok(ConfirmOutcome::Expired);
    }
    if user.confirmed_at.is_some() {
        return Ok(ConfirmOutcome::AlreadyConfirmed);
    }
    let now = chrono::DateTime::from_timestamp_micros((st.now() * 1e6) as i64)
        .map(|d| d.naive_utc())
        .unwrap_or_default();
    user.confirmed_at = Some(now);
    st.datastore.put_user(&mut user).await?;
    st.send(Signal::UserConfirmed { user_id: user.id });
    Ok(ConfirmOutcome::Confirmed {
        user: Box::new(user),
        sign_in: cfg.auto_login_after_confirm,
    })
}

/// The user a link's parts `[fs_uniquifier, hash_data(email)]` name, while the address
/// is still theirs: a link is bound to the address it was sent to.
async fn link_user(st: &SecurityState, parts: &[Value]) -> crate::Result<Option<User>> {
    let (Some(uid), Some(email_hash)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let user = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.to_owned()), false)
        .await?;
    Ok(user.filter(|u| same_hash(&hash_data(st, &u.email), email_hash)))
}
