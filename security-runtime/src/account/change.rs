//! Change password: the rules, without HTTP.
//!
//! Parity: `views.change_password` (`ChangePasswordForm`, `change_user_password`).

use crate::account::form::validate_password;
use crate::account::mail::notify;
use crate::account::recover::{password_inputs, required};
use crate::account::FormErrors;
use crate::auth::{verify_password, Credentials};
use crate::error::Result;
use crate::messages as msg;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// A submitted change-password form.
#[derive(Debug, Clone, Default)]
pub struct ChangePasswordForm {
    /// `password`: the current one.
    pub password: Option<String>,
    /// `new_password`.
    pub new_password: Option<String>,
    /// `new_password_confirm`.
    pub new_password_confirm: Option<String>,
    /// The answer will carry an auth token (`include_auth_token`), so the user needs a
    /// token identity.
    pub include_auth_token: bool,
    /// What reading the request already refused (the CSRF token, a value that is not a
    /// string). The rules add theirs; any error refuses the form.
    pub errors: FormErrors,
}

/// What a password change came to.
#[derive(Debug)]
pub enum ChangePasswordOutcome {
    /// The form is refused; nothing changed.
    Invalid(FormErrors),
    /// `user` holds the new hash and a new `fs_uniquifier` (every other session and
    /// token of the user dies). When `sign_in` is false (the caller used an auth token)
    /// it is stored already, and the caller signs this browser in again through the
    /// sign-in pipeline when `sign_in`. [`password_changed`] follows.
    Changed {
        /// The user with the new password.
        user: Box<User>,
        /// Sign in again, storing `user`.
        sign_in: bool,
    },
}

/// Checks a change of `user`'s password and sets it.
///
/// `via_token`: the caller authenticated with an auth token. Such a caller gets no
/// session: writing one would let a cross-site form carrying someone else's token sign
/// this browser in as them.
///
/// Parity: `views.change_password`. Stricter than Flask-Security: auth tokens die with the
/// old password too.
pub async fn change_password(
    st: &SecurityState,
    mut user: User,
    via_token: bool,
    form: ChangePasswordForm,
) -> Result<ChangePasswordOutcome> {
    let ChangePasswordForm {
        password,
        new_password,
        new_password_confirm,
        include_auth_token,
        mut errors,
    } = form;
    check_current_password(st, &user, password.as_deref(), &mut errors).await?;
    let new = checked_new_password(
        st,
        &user,
        password.as_deref(),
        new_password.as_deref(),
        &mut errors,
    )
    .await;
    check_confirmation(
        new_password.as_deref(),
        new_password_confirm.as_deref(),
        &mut errors,
    );
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return Ok(ChangePasswordOutcome::Invalid(errors));
    };
    let checked = user.fs_uniquifier.clone();
    user.password = Some(st.hash_password(&new).await?);
    user.rotate_identity();
    let token_wanted = include_auth_token || st.config.backwards_compat_auth_token;
    crate::auth::prepare_token_identity(&mut user, token_wanted);
    // Stored only while the uniquifier is the one this caller was signed in under: of
    // parallel changes one wins, and the others' old password is no longer the password.
    if !st.datastore.put_user_if(&mut user, &checked).await? {
        errors.field("password", msg::INVALID_PASSWORD);
        return Ok(ChangePasswordOutcome::Invalid(errors));
    }
    Ok(ChangePasswordOutcome::Changed {
        user: Box::new(user),
        sign_in: !via_token,
    })
}

/// What follows a stored password change: the `password_changed` signal and the
/// `change_notice` mail.
pub async fn password_changed(st: &SecurityState, user: &User, locale: &str) {
    st.send(Signal::PasswordChanged { user_id: user.id });
    if st.config.send_password_change_email {
        let subject = &st.config.email_subject_password_change_notice;
        notify(st, locale, "change_notice", user, subject).await;
    }
}

/// Checks the current password of a user who has one. It is verified only when the form
/// is otherwise fine so far: a failed check counts as a failed authentication.
async fn check_current_password(
    st: &SecurityState,
    user: &User,
    current: Option<&str>,
    errors: &mut FormErrors,
) -> Result<()> {
    if user.password.is_none() {
        return Ok(());
    }
    let Some(current) = required(current, "password", msg::PASSWORD_NOT_PROVIDED, errors) else {
        return Ok(());
    };
    if errors.is_empty() {
        match verify_password(st, user.clone(), current, "password", None).await? {
            Credentials::Verified { .. } => {}
            Credentials::Throttled { retry_after } => {
                errors.field("password", msg::TOO_MANY_ATTEMPTS);
                errors.retry_after = Some(retry_after);
            }
            _ => errors.field("password", msg::INVALID_PASSWORD),
        }
    }
    Ok(())
}

/// The normalised new password, or `None` with the reasons in `errors`.
async fn checked_new_password(
    st: &SecurityState,
    user: &User,
    current: Option<&str>,
    new: Option<&str>,
    errors: &mut FormErrors,
) -> Option<String> {
    let new = required(new, "new_password", msg::PASSWORD_NOT_PROVIDED, errors)?;
    // Parity: compared only once the current password verified (`forms.py`).
    let verified = user.password.is_some() && errors.first("password").is_none();
    if verified && current == Some(new) {
        errors.field("password", msg::PASSWORD_IS_THE_SAME);
        return None;
    }
    let inputs = password_inputs(user);
    validate_password(st, new, false, &inputs, "new_password", errors).await
}

/// `new_password_confirm` is required and must repeat `new_password`.
fn check_confirmation(new: Option<&str>, confirm: Option<&str>, errors: &mut FormErrors) {
    match (new, confirm) {
        (_, None) => {
            required(
                None,
                "new_password_confirm",
                msg::PASSWORD_NOT_PROVIDED,
                errors,
            );
        }
        (Some(n), Some(c)) if n != c => {
            errors.field("new_password_confirm", msg::RETYPE_PASSWORD_MISMATCH);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::account::testing::{config, one_mail, state, user};
    use crate::messages::Text;

    fn form(current: &str, new: &str) -> ChangePasswordForm {
        ChangePasswordForm {
            password: Some(current.into()),
            new_password: Some(new.into()),
            new_password_confirm: Some(new.into()),
            ..ChangePasswordForm::default()
        }
    }

    fn refused(out: ChangePasswordOutcome) -> FormErrors {
        match out {
            ChangePasswordOutcome::Invalid(errors) => errors,
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_wrong_current_password_is_refused() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let out = change_password(&st, u, false, form("wrong one", "a new passw0rd"))
            .await
            .unwrap();
        let errors = refused(out);
        assert_eq!(
            errors.first("password"),
            Some(&Text::new(msg::INVALID_PASSWORD))
        );
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn the_same_password_again_is_refused_under_password() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let out = change_password(&st, u, false, form("password123", "password123"))
            .await
            .unwrap();
        let errors = refused(out);
        assert_eq!(
            errors.first("password"),
            Some(&Text::new(msg::PASSWORD_IS_THE_SAME))
        );
        assert_eq!(errors.first("new_password"), None);
    }

    #[tokio::test]
    async fn a_missing_or_different_confirmation_is_refused() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let mut missing = form("password123", "a new passw0rd");
        missing.new_password_confirm = None;
        let errors = refused(
            change_password(&st, u.clone(), false, missing)
                .await
                .unwrap(),
        );
        let confirm = errors.first("new_password_confirm");
        assert_eq!(confirm, Some(&Text::new(msg::PASSWORD_NOT_PROVIDED)));
        let mut different = form("password123", "a new passw0rd");
        different.new_password_confirm = Some("a new passw0rd!".into());
        let errors = refused(change_password(&st, u, false, different).await.unwrap());
        let confirm = errors.first("new_password_confirm");
        assert_eq!(confirm, Some(&Text::new(msg::RETYPE_PASSWORD_MISMATCH)));
    }

    /// `u` changes "password123" to "a new passw0rd": the changed user and `sign_in`.
    async fn changed(st: &SecurityState, u: &User, via_token: bool) -> (Box<User>, bool) {
        let form = form("password123", "a new passw0rd");
        let out = change_password(st, u.clone(), via_token, form)
            .await
            .unwrap();
        let ChangePasswordOutcome::Changed { user, sign_in } = out else {
            panic!("{out:?}")
        };
        (user, sign_in)
    }

    #[tokio::test]
    async fn a_token_caller_gets_the_change_stored_and_no_sign_in() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (changed, sign_in) = changed(&st, &u, true).await;
        assert!(!sign_in);
        assert_ne!(changed.fs_uniquifier, u.fs_uniquifier);
        let stored =
            crate::auth::verify_credentials(&st, "a@example.com", "a new passw0rd", "t", None)
                .await
                .unwrap();
        let crate::auth::Credentials::Verified { user: stored, .. } = stored else {
            panic!("{stored:?}")
        };
        assert_eq!(stored.fs_uniquifier, changed.fs_uniquifier);
        password_changed(&st, &changed, "en").await;
        one_mail(&mailer, "change_notice");
    }

    #[tokio::test]
    async fn a_session_caller_is_signed_in_again_by_the_caller_after_the_store() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (changed, sign_in) = changed(&st, &u, false).await;
        assert!(sign_in);
        assert_ne!(changed.fs_uniquifier, u.fs_uniquifier);
        let old = crate::auth::verify_credentials(&st, "a@example.com", "password123", "t", None)
            .await
            .unwrap();
        assert!(matches!(old, crate::auth::Credentials::WrongPassword(_)));
    }

    #[tokio::test]
    async fn of_two_changes_under_one_old_password_one_is_stored() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (first, second) = tokio::join!(
            change_password(&st, u.clone(), false, form("password123", "a new passw0rd")),
            change_password(
                &st,
                u.clone(),
                false,
                form("password123", "another passw0rd")
            ),
        );
        let won = [first.unwrap(), second.unwrap()]
            .iter()
            .filter(|o| matches!(o, ChangePasswordOutcome::Changed { .. }))
            .count();
        assert_eq!(won, 1);
    }
}
