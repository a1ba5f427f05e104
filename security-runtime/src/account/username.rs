//! Change username: the rules, without HTTP.
//!
//! Parity: `change_username.change_username` (`ChangeUsernameForm`).

use crate::account::mail::notify;
use crate::account::recover::required;
use crate::account::FormErrors;
use crate::datastore::UserQuery;
use crate::error::{Result, SecurityError};
use crate::messages as msg;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// A submitted change-username form.
#[derive(Debug, Clone, Default)]
pub struct ChangeUsernameForm {
    /// `username`, as typed (absent when empty).
    pub username: Option<String>,
    /// What reading the request already refused (the CSRF token, a value that is not a
    /// string). The rules add theirs; any error refuses the form.
    pub errors: FormErrors,
}

/// What a username change came to.
#[derive(Debug)]
pub enum ChangeUsernameOutcome {
    /// The form is refused; nothing changed.
    Invalid(FormErrors),
    /// The name was free when checked but another account stored it first; nothing
    /// changed. `username` is the name as normalised.
    TakenMeanwhile {
        /// Says the name is taken.
        errors: FormErrors,
        /// The name that was asked for, normalised.
        username: String,
    },
    /// The user has the new name, stored.
    Changed(Box<User>),
}

/// Gives `user` the username of `form`, and mails `change_username_notice`.
///
/// Parity: `change_username.change_username`.
pub async fn change_username(
    st: &SecurityState,
    mut user: User,
    form: ChangeUsernameForm,
    locale: &str,
) -> Result<ChangeUsernameOutcome> {
    let mut errors = form.errors;
    let new = checked_username(st, &user, form.username.as_deref(), &mut errors).await?;
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return Ok(ChangeUsernameOutcome::Invalid(errors));
    };
    let old = user.username.replace(new.clone());
    match st.datastore.put_user(&mut user).await {
        Ok(()) => {}
        Err(SecurityError::AlreadyExists { .. }) => {
            let mut errors = FormErrors::default();
            errors.field("username", msg::username_already_associated(&new));
            let username = new;
            return Ok(ChangeUsernameOutcome::TakenMeanwhile { errors, username });
        }
        Err(e) => return Err(e),
    }
    st.send(Signal::UsernameChanged {
        user_id: user.id,
        old_username: old,
    });
    if st.config.send_username_change_email {
        let subject = &st.config.email_subject_username_change_notice;
        notify(st, locale, "change_username_notice", &user, subject).await;
    }
    Ok(ChangeUsernameOutcome::Changed(Box::new(user)))
}

/// The normalised new username, free or already `user`'s, or `None` with the reasons in
/// `errors`.
async fn checked_username(
    st: &SecurityState,
    user: &User,
    username: Option<&str>,
    errors: &mut FormErrors,
) -> Result<Option<String>> {
    let Some(typed) = required(username, "username", msg::USERNAME_NOT_PROVIDED, errors) else {
        return Ok(None);
    };
    let new = match st.username_util.validate(typed) {
        Ok(n) => n,
        Err(m) => {
            errors.field("username", m);
            return Ok(None);
        }
    };
    let holder = st
        .datastore
        .find_user(&UserQuery::Username(new.clone()), true)
        .await?;
    if holder.is_some_and(|h| h.id != user.id) {
        errors.field("username", msg::username_already_associated(&new));
    }
    Ok(Some(new))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::account::testing::{config, one_mail, state, user};
    use crate::messages::Text;

    fn form(username: &str) -> ChangeUsernameForm {
        ChangeUsernameForm {
            username: Some(username.into()),
            errors: FormErrors::default(),
        }
    }

    #[tokio::test]
    async fn a_free_name_is_stored_and_the_user_notified() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let out = change_username(&st, u.clone(), form("alice"), "en")
            .await
            .unwrap();
        let ChangeUsernameOutcome::Changed(changed) = out else {
            panic!("{out:?}")
        };
        assert_eq!(changed.username.as_deref(), Some("alice"));
        let query = UserQuery::Username("alice".into());
        let stored = st.datastore.find_user(&query, true).await.unwrap();
        assert_eq!(stored.map(|s| s.id), Some(u.id));
        one_mail(&mailer, "change_username_notice");
    }

    #[tokio::test]
    async fn a_name_taken_by_another_account_is_refused() {
        let (st, mailer) = state(config()).await;
        let mut other = user(&st, "b@example.com", "password123").await;
        other.username = Some("bobby".into());
        st.datastore.put_user(&mut other).await.unwrap();
        let u = user(&st, "a@example.com", "password123").await;
        let out = change_username(&st, u, form("bobby"), "en").await.unwrap();
        let ChangeUsernameOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        let expected = msg::username_already_associated("bobby");
        assert_eq!(errors.first("username"), Some(&expected));
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn a_missing_name_is_refused_once() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let mut read = FormErrors::default();
        read.field("username", msg::API_ERROR);
        let missing = ChangeUsernameForm {
            username: None,
            errors: read,
        };
        let out = change_username(&st, u, missing, "en").await.unwrap();
        let ChangeUsernameOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            errors.fields,
            [("username".to_owned(), vec![Text::new(msg::API_ERROR)])]
        );
    }
}
