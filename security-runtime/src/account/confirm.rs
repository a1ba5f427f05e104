//! Confirming an email address, without HTTP: mailing the confirmation link (again) and
//! checking a link that comes back.
//!
//! Parity: `confirmable.py` (`generate_confirmation_link`, `send_confirmation_instructions`,
//! `confirm_email_token_status`, `confirm_user`) behind `views.send_confirmation` and
//! `views.confirm_email`.

use serde_json::{json, Value};

use super::links::{check_link, hash_data, make_token, LinkToken};
use super::mail::{known_identity_work, link, mail_user, send_mail, token_path, within_text};
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
    let locale = locale.to_owned();
    let work = move |st: SecurityState| async move {
        send_confirmation_instructions(&st, &user, &locale).await
    };
    match known_identity_work(st, work).await {
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
            "within": within_text(&st.catalog, locale, cfg.confirm_email_within),
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
    user.confirmed_at = Some(st.now_naive());
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
    super::links::user_at_address(st, uid, email_hash).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::account::testing::{confirmable, record_signals, state, user, RefusingMailer};
    use crate::config::SecurityConfig;

    async fn reload(st: &SecurityState, u: &User) -> User {
        let query = UserQuery::FsUniquifier(u.fs_uniquifier.clone());
        st.datastore
            .find_user(&query, false)
            .await
            .unwrap()
            .unwrap()
    }

    fn request(email: &str) -> SendConfirmationForm {
        SendConfirmationForm {
            email: Some(email.into()),
            ..SendConfirmationForm::default()
        }
    }

    #[tokio::test]
    async fn a_valid_link_confirms_once() {
        let (mut st, _) = state(confirmable()).await;
        let signals = record_signals(&mut st);
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = confirmation_link(&st, &u);
        let outcome = confirm_email(&st, &token).await.unwrap();
        let ConfirmOutcome::Confirmed { user, sign_in } = outcome else {
            panic!("not confirmed: {outcome:?}");
        };
        assert!(!sign_in, "auto_login_after_confirm is off");
        assert_eq!(user.id, u.id);
        assert!(user.confirmed_at.is_some());
        assert_eq!(reload(&st, &u).await.confirmed_at, user.confirmed_at);
        assert_eq!(
            *signals.lock().unwrap(),
            [Signal::UserConfirmed { user_id: u.id }]
        );
        let again = confirm_email(&st, &token).await.unwrap();
        assert!(
            matches!(again, ConfirmOutcome::AlreadyConfirmed),
            "{again:?}"
        );
        assert_eq!(signals.lock().unwrap().len(), 1, "confirmed only once");
    }

    #[tokio::test]
    async fn auto_login_after_confirm_lets_the_user_sign_in() {
        let cfg = SecurityConfig {
            auto_login_after_confirm: true,
            ..confirmable()
        };
        let (st, _) = state(cfg).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = confirmation_link(&st, &u);
        let outcome = confirm_email(&st, &token).await.unwrap();
        assert!(
            matches!(outcome, ConfirmOutcome::Confirmed { sign_in: true, .. }),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn a_link_older_than_confirm_email_within_is_expired() {
        let (mut st, _) = state(confirmable()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = confirmation_link(&st, &u);
        let later = st.now() + st.config.confirm_email_within as f64 + 10.0;
        st.hooks.clock = Arc::new(move || later);
        let outcome = confirm_email(&st, &token).await.unwrap();
        assert!(matches!(outcome, ConfirmOutcome::Expired), "{outcome:?}");
        assert!(reload(&st, &u).await.confirmed_at.is_none());
    }

    #[tokio::test]
    async fn a_tampered_or_foreign_link_is_invalid() {
        let (st, _) = state(confirmable()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = confirmation_link(&st, &u);
        let mut tampered = token.clone().into_bytes();
        tampered[2] = if tampered[2] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        // Signed by us, with the same parts, but for another purpose.
        let reset = make_token(
            &st,
            &st.config.reset_salt,
            json!([u.fs_uniquifier, hash_data(&st, &u.email)]),
        );
        for bad in [tampered.as_str(), reset.as_str(), "not-a-token"] {
            let outcome = confirm_email(&st, bad).await.unwrap();
            assert!(
                matches!(outcome, ConfirmOutcome::Invalid),
                "{bad}: {outcome:?}"
            );
        }
        assert!(reload(&st, &u).await.confirmed_at.is_none());
    }

    #[tokio::test]
    async fn a_link_for_an_address_the_user_no_longer_has_is_invalid() {
        let (mut st, _) = state(confirmable()).await;
        let mut u = user(&st, "old@example.com", "password123").await;
        let (_, token) = confirmation_link(&st, &u);
        u.email = "new@example.com".into();
        st.datastore.put_user(&mut u).await.unwrap();
        let outcome = confirm_email(&st, &token).await.unwrap();
        assert!(matches!(outcome, ConfirmOutcome::Invalid), "{outcome:?}");
        // Also once expired: the address is checked first, as Flask-Security does.
        let later = st.now() + st.config.confirm_email_within as f64 + 10.0;
        st.hooks.clock = Arc::new(move || later);
        let outcome = confirm_email(&st, &token).await.unwrap();
        assert!(matches!(outcome, ConfirmOutcome::Invalid), "{outcome:?}");
        assert!(reload(&st, &u).await.confirmed_at.is_none());
    }

    #[tokio::test]
    async fn instructions_go_to_an_unconfirmed_user_with_a_working_link() {
        let (mut st, mailer) = state(confirmable()).await;
        let signals = record_signals(&mut st);
        let u = user(&st, "a@example.com", "password123").await;
        let outcome = send_confirmation(&st, request("a@example.com"), "en")
            .await
            .unwrap();
        assert!(
            matches!(outcome, SendConfirmationOutcome::Sent),
            "{outcome:?}"
        );
        let mails = mailer.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0].to.as_str(), mails[0].template.as_str()),
            ("a@example.com", "confirmation_instructions")
        );
        let sent = signals.lock().unwrap().clone();
        let [Signal::ConfirmInstructionsSent { user_id, token }] = sent.as_slice() else {
            panic!("{sent:?}");
        };
        assert_eq!(*user_id, u.id);
        let link = format!("https://app.test/confirm/{token}");
        assert!(mails[0].text.as_deref().unwrap().contains(&link));
        let confirmed = confirm_email(&st, token).await.unwrap();
        assert!(matches!(confirmed, ConfirmOutcome::Confirmed { .. }));
    }

    #[tokio::test]
    async fn a_failed_mail_is_reported_unless_generic() {
        for generic in [false, true] {
            let cfg = SecurityConfig {
                return_generic_responses: generic,
                ..confirmable()
            };
            let (mut st, _) = state(cfg).await;
            let signals = record_signals(&mut st);
            st.mailer = Arc::new(RefusingMailer);
            user(&st, "a@example.com", "password123").await;
            let outcome = send_confirmation(&st, request("a@example.com"), "en")
                .await
                .unwrap();
            match outcome {
                SendConfirmationOutcome::MailFailed(MailError::Transport(_)) if !generic => {}
                SendConfirmationOutcome::Sent if generic => {}
                other => panic!("generic {generic}: {other:?}"),
            }
            assert!(signals.lock().unwrap().is_empty(), "nothing was sent");
        }
    }

    #[tokio::test]
    async fn unknown_and_confirmed_addresses_are_field_errors_unless_generic() {
        for generic in [false, true] {
            let cfg = SecurityConfig {
                return_generic_responses: generic,
                ..confirmable()
            };
            let (st, mailer) = state(cfg).await;
            let mut u = user(&st, "done@example.com", "password123").await;
            u.confirmed_at = Some(chrono::DateTime::UNIX_EPOCH.naive_utc());
            st.datastore.put_user(&mut u).await.unwrap();
            for (email, message) in [
                ("nobody@example.com", msg::USER_DOES_NOT_EXIST),
                ("done@example.com", msg::ALREADY_CONFIRMED),
            ] {
                let outcome = send_confirmation(&st, request(email), "en").await.unwrap();
                match outcome {
                    SendConfirmationOutcome::Invalid(errors) if !generic => {
                        let mut expected = FormErrors::default();
                        expected.field("email", message);
                        assert_eq!(errors, expected);
                    }
                    SendConfirmationOutcome::Sent if generic => {}
                    other => panic!("{email}, generic {generic}: {other:?}"),
                }
            }
            assert!(mailer.messages().is_empty());
        }
    }

    #[tokio::test]
    async fn a_missing_email_is_reported_once() {
        let (st, _) = state(confirmable()).await;
        let mut read_errors = FormErrors::default();
        read_errors.field("email", msg::API_ERROR);
        let form = SendConfirmationForm {
            email: None,
            read_errors,
        };
        let outcome = send_confirmation(&st, form, "en").await.unwrap();
        let SendConfirmationOutcome::Invalid(errors) = outcome else {
            panic!("{outcome:?}");
        };
        let mut expected = FormErrors::default();
        expected.field("email", msg::API_ERROR);
        assert_eq!(errors, expected);
        let outcome = send_confirmation(&st, SendConfirmationForm::default(), "en")
            .await
            .unwrap();
        let SendConfirmationOutcome::Invalid(errors) = outcome else {
            panic!("{outcome:?}");
        };
        let mut expected = FormErrors::default();
        expected.field("email", msg::EMAIL_NOT_PROVIDED);
        assert_eq!(errors, expected);
    }
}
