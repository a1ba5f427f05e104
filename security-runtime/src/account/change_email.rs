//! Change email: a link mailed to the new address, which switches the address when
//! followed. The rules, without HTTP.
//!
//! Parity: `change_email.change_email`, `change_email.change_email_confirm`. A change-email
//! token carries `[fs_uniquifier, hash_data(old email), new email]`: it dies when the
//! address changes, so it works once.

use serde_json::{json, Value};

use crate::account::links::{check_link, hash_data, make_token, LinkToken};
use crate::account::mail::{
    known_identity_work, link, mail_user, send_mail, token_path, within_text,
};
use crate::account::recover::{checked_email, LinkProblem};
use crate::account::FormErrors;
use crate::datastore::UserQuery;
use crate::error::{Result, SecurityError};
use crate::mail::MailError;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// A submitted change-email form.
#[derive(Debug, Clone, Default)]
pub struct ChangeEmailForm {
    /// `email`: the new address, as typed (absent when empty).
    pub email: Option<String>,
    /// What reading the request already refused (the CSRF token, a value that is not a
    /// string). The rules add theirs; any error refuses the form.
    pub errors: FormErrors,
}

/// What a change-email request came to.
#[derive(Debug)]
pub enum ChangeEmailOutcome {
    /// The form is refused; nothing was sent.
    Invalid(FormErrors),
    /// The confirmation mail could not be sent.
    MailFailed(MailError),
    /// A confirmation link went to the new address (with generic responses, nothing goes
    /// to an address already in use, and the answer is the same); `notice` says so.
    Requested {
        /// What to tell the user.
        notice: Text,
    },
}

/// What following a change-email link came to.
#[derive(Debug)]
pub enum ConfirmEmailOutcome {
    /// The link is refused; nothing changed.
    BadLink(LinkProblem),
    /// The new address was taken by another account after the link was sent.
    AddressTaken,
    /// The user now has the new address, confirmed.
    Changed(Box<User>),
}

/// The change-email link and token that move `user` to `new_email`.
fn change_email_link(st: &SecurityState, user: &User, new_email: &str) -> (String, String) {
    let cfg = &st.config;
    let token = make_token(
        st,
        &cfg.change_email_salt,
        json!([user.fs_uniquifier, hash_data(st, &user.email), new_email]),
    );
    (link(st, &token_path(&cfg.change_email_url, &token)), token)
}

/// Mails `user` a link to confirm a new address.
///
/// Parity: `change_email.change_email` (`ChangeEmailForm`, `send_change_email_instructions`).
pub async fn request_email_change(
    st: &SecurityState,
    user: &User,
    form: ChangeEmailForm,
    locale: &str,
) -> Result<ChangeEmailOutcome> {
    let cfg = &st.config;
    let mut errors = form.errors;
    let new_email = checked_email(form.email.as_deref(), &mut errors);
    let mut taken = false;
    if let Some(e) = &new_email {
        let query = UserQuery::Email(e.clone());
        taken = st.datastore.find_user(&query, true).await?.is_some();
        if taken && !cfg.return_generic_responses {
            errors.field("email", msg::email_already_associated(e));
        }
    }
    let Some(new_email) = new_email.filter(|_| errors.is_empty()) else {
        return Ok(ChangeEmailOutcome::Invalid(errors));
    };
    if !taken {
        let (user, to, locale) = (user.clone(), new_email.clone(), locale.to_owned());
        let work = move |st: SecurityState| async move {
            mail_change_link(&st, &user, &to, &locale).await
        };
        if let Err(e) = known_identity_work(st, work).await {
            return Ok(ChangeEmailOutcome::MailFailed(e));
        }
    }
    let notice =
        Text::new("Instructions to confirm your new email address have been sent to %(email)s.")
            .arg("email", &new_email);
    Ok(ChangeEmailOutcome::Requested { notice })
}

/// Mails `user` a link to confirm `new_email` and announces it.
async fn mail_change_link(
    st: &SecurityState,
    user: &User,
    new_email: &str,
    locale: &str,
) -> Result<(), MailError> {
    let cfg = &st.config;
    let (url, token) = change_email_link(st, user, new_email);
    send_mail(
        st,
        locale,
        "change_email_instructions",
        new_email,
        &cfg.change_email_subject,
        json!({
            "user": mail_user(user),
            "link": url,
            "token": token,
            "within": within_text(&st.catalog, locale, cfg.change_email_within),
        }),
    )
    .await?;
    st.send(Signal::ChangeEmailInstructionsSent {
        user_id: user.id,
        new_email: new_email.to_owned(),
        token,
    });
    Ok(())
}

/// Follows a change-email link: the user gets the new address, confirmed now.
///
/// Parity: `change_email.change_email_confirm`.
pub async fn confirm_email_change(st: &SecurityState, token: &str) -> Result<ConfirmEmailOutcome> {
    let cfg = &st.config;
    let parts = match check_link(st, &cfg.change_email_salt, token, cfg.change_email_within) {
        LinkToken::Valid(parts) => parts,
        LinkToken::Expired(_) => return Ok(ConfirmEmailOutcome::BadLink(LinkProblem::Expired)),
        LinkToken::Invalid => return Ok(ConfirmEmailOutcome::BadLink(LinkProblem::Invalid)),
    };
    let Some((mut user, new_email)) = email_bound_user(st, &parts).await? else {
        return Ok(ConfirmEmailOutcome::BadLink(LinkProblem::Invalid));
    };
    let old_email = std::mem::replace(&mut user.email, new_email);
    user.confirmed_at = Some(st.now_naive());
    match st.datastore.put_user(&mut user).await {
        Ok(()) => {}
        Err(SecurityError::AlreadyExists { .. }) => return Ok(ConfirmEmailOutcome::AddressTaken),
        Err(e) => return Err(e),
    }
    st.send(Signal::ChangeEmailConfirmed {
        user_id: user.id,
        old_email,
    });
    Ok(ConfirmEmailOutcome::Changed(Box::new(user)))
}

/// The user a change-email token's `parts` name and the new address, while the user's
/// address is still the one the token was made for.
async fn email_bound_user(st: &SecurityState, parts: &[Value]) -> Result<Option<(User, String)>> {
    let (Some(uid), Some(old_hash), Some(new_email)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
        parts.get(2).and_then(Value::as_str),
    ) else {
        return Ok(None);
    };
    let user = super::links::user_at_address(st, uid, old_hash).await?;
    Ok(user.map(|u| (u, new_email.to_owned())))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::account::testing::{config, state, user};

    fn form(email: &str) -> ChangeEmailForm {
        ChangeEmailForm {
            email: Some(email.into()),
            errors: FormErrors::default(),
        }
    }

    /// The token of the change-email link in a mail's text.
    fn mailed_token(text: &str) -> String {
        let prefix = "https://app.test/change-email/";
        let start = text.find(prefix).unwrap() + prefix.len();
        text[start..].split_whitespace().next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn the_mailed_link_switches_the_email_once() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "old@example.com", "password123").await;
        let out = request_email_change(&st, &u, form("new@example.com"), "en")
            .await
            .unwrap();
        let ChangeEmailOutcome::Requested { notice } = out else {
            panic!("{out:?}")
        };
        assert_eq!(notice.args, [("email", "new@example.com".to_owned())]);
        let mails = mailer.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].to, "new@example.com");
        assert_eq!(mails[0].template, "change_email_instructions");
        let token = mailed_token(mails[0].text.as_deref().unwrap());

        let out = confirm_email_change(&st, &token).await.unwrap();
        let ConfirmEmailOutcome::Changed(changed) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            (changed.id, changed.email.as_str()),
            (u.id, "new@example.com")
        );
        assert!(changed.confirmed_at.is_some());
        let query = UserQuery::Email("new@example.com".into());
        let stored = st.datastore.find_user(&query, true).await.unwrap();
        assert_eq!(stored.map(|s| s.id), Some(u.id));
        // The token bound the old address: it is spent.
        let again = confirm_email_change(&st, &token).await.unwrap();
        assert!(
            matches!(again, ConfirmEmailOutcome::BadLink(LinkProblem::Invalid)),
            "{again:?}"
        );
    }

    #[tokio::test]
    async fn an_address_in_use_is_refused_or_silently_skipped_when_generic() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        user(&st, "b@example.com", "password123").await;
        let out = request_email_change(&st, &u, form("b@example.com"), "en")
            .await
            .unwrap();
        let ChangeEmailOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        let expected = msg::email_already_associated("b@example.com");
        assert_eq!(errors.first("email"), Some(&expected));

        let generic = crate::config::SecurityConfig {
            return_generic_responses: true,
            ..config()
        };
        let (st, generic_mailer) = state(generic).await;
        let u = user(&st, "a@example.com", "password123").await;
        user(&st, "b@example.com", "password123").await;
        let out = request_email_change(&st, &u, form("b@example.com"), "en")
            .await
            .unwrap();
        assert!(
            matches!(out, ChangeEmailOutcome::Requested { .. }),
            "{out:?}"
        );
        assert!(mailer.messages().is_empty());
        assert!(generic_mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn an_old_link_is_expired_a_tampered_one_invalid_a_taken_address_refused() {
        let (mut st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = change_email_link(&st, &u, "b@example.com");
        let tampered = confirm_email_change(&st, &format!("{token}x"))
            .await
            .unwrap();
        assert!(matches!(
            tampered,
            ConfirmEmailOutcome::BadLink(LinkProblem::Invalid)
        ));

        user(&st, "b@example.com", "password123").await;
        let taken = confirm_email_change(&st, &token).await.unwrap();
        assert!(
            matches!(taken, ConfirmEmailOutcome::AddressTaken),
            "{taken:?}"
        );

        let later = st.now() + st.config.change_email_within as f64 + 10.0;
        st.hooks.clock = Arc::new(move || later);
        let expired = confirm_email_change(&st, &token).await.unwrap();
        assert!(matches!(
            expired,
            ConfirmEmailOutcome::BadLink(LinkProblem::Expired)
        ));
    }
}
