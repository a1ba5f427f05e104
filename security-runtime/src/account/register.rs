//! Registering a new user, without HTTP.
//!
//! Parity: `views.register` and `registerable.register_user` with `RegisterFormV2`. With
//! `confirmable`, the new user is mailed a confirmation link and may not sign in yet
//! (unless `login_without_confirmation`); otherwise they may sign in at once.
//!
//! Mail failure rule: when the welcome mail carries the confirmation link (confirmable),
//! a failed send deletes the new user again, so the address can register again; the
//! database never keeps a user who cannot confirm. Without confirmable the welcome mail
//! is informational: the user is kept, the failure logged.

use serde_json::json;

use super::confirm::confirmation_link;
use super::form::validate_password;
use super::mail::{mail_user, send_mail, within_mail_cap, within_text};
use super::FormErrors;
use crate::datastore::{NewUser, UserQuery};
use crate::mail::MailError;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::validate_redirect_url;
use crate::signals::Signal;
use crate::state::SecurityState;
use crate::validation::normalize_email;
use crate::SecurityError;

/// A submitted registration form, as read from JSON or form fields (empty fields are
/// `None`).
#[derive(Clone, Default)]
pub struct RegisterForm {
    /// `email`, as typed.
    pub email: Option<String>,
    /// `password`.
    pub password: Option<String>,
    /// `password_confirm`.
    pub password_confirm: Option<String>,
    /// `username`; ignored unless `username_enable`.
    pub username: Option<String>,
    /// `next`: where to go afterwards.
    pub next: Option<String>,
    /// The request's `Host`, which `next` may name besides `redirect_allowed_subdomains`.
    pub host: Option<String>,
    /// Errors found while reading the request (CSRF, a field that is not a string); the
    /// checks here add to them, so each field keeps its messages in order.
    pub read_errors: FormErrors,
}

/// What a registration came to.
#[derive(Debug)]
pub enum RegisterOutcome {
    /// The form has errors; nothing was stored or sent.
    Invalid(FormErrors),
    /// A new user is stored, welcomed by mail (`send_register_email`) and announced
    /// (`user_registered`).
    Registered {
        /// The user as stored.
        user: Box<User>,
        /// The token of the mailed confirmation link, when confirmable. The web answer
        /// does not show it (the `user_registered` signal carries it); tests read it.
        #[cfg_attr(not(test), allow(dead_code))]
        confirmation_token: Option<String>,
        /// The user may sign in now: not confirmable, or `login_without_confirmation`.
        sign_in: bool,
    },
    /// With generic responses, nothing new was kept (the identity is taken, or the
    /// confirmation mail failed): answered as a registration of `email`, so the answer
    /// does not tell whether an account exists. The owner of a taken identity is mailed.
    Generic {
        /// The submitted email, normalised.
        email: String,
    },
    /// The confirmation mail could not be sent; the new user was deleted again.
    MailFailed(MailError),
}

/// Registers a user: checks every field (all of them, even when one is wrong, as
/// Flask-Security), stores the user, mails and announces them.
///
/// Parity: `views.register`, `register_user`.
pub async fn register(
    st: &SecurityState,
    mut form: RegisterForm,
    locale: &str,
) -> crate::Result<RegisterOutcome> {
    let mut errors = std::mem::take(&mut form.read_errors);
    let checked = check_fields(st, &form, &mut errors).await;
    let holders = Holders::find(st, &checked).await?;
    if !st.config.return_generic_responses {
        holders.report(&checked, &mut errors);
    }
    let (true, Some(email), Some(password)) = (errors.is_empty(), checked.email, checked.password)
    else {
        return Ok(RegisterOutcome::Invalid(errors));
    };
    if holders.any() {
        // Hashed all the same, so a taken identity answers as slowly as a new one.
        st.hash_password("not-a-password").await?;
        welcome_existing(st, &holders, &email, checked.username, locale).await;
        return Ok(RegisterOutcome::Generic { email });
    }
    let new = NewUser {
        email,
        username: checked.username,
        ..NewUser::default()
    };
    create(st, new, &password, locale).await
}

/// The submitted identity and password, each normalised when valid.
struct Checked {
    email: Option<String>,
    username: Option<String>,
    password: Option<String>,
}

/// Checks the fields in Flask-Security's order into `errors`.
async fn check_fields(st: &SecurityState, form: &RegisterForm, errors: &mut FormErrors) -> Checked {
    let cfg = &st.config;
    let email = check_email(form.email.as_deref(), errors);
    let username = check_username(st, form.username.as_deref(), errors);
    // The password may not resemble the identity it protects.
    let identity: Vec<String> = email.iter().chain(&username).cloned().collect();
    let password = match form.password.as_deref() {
        Some(p) => validate_password(st, p, true, &identity, "password", errors).await,
        None => {
            if errors.first("password").is_none() {
                errors.field("password", msg::PASSWORD_NOT_PROVIDED);
            }
            None
        }
    };
    if cfg.password_confirm_required {
        match (form.password.as_deref(), form.password_confirm.as_deref()) {
            (_, None) if errors.first("password_confirm").is_none() => {
                errors.field("password_confirm", msg::PASSWORD_NOT_PROVIDED);
            }
            (Some(p), Some(c)) if p != c => {
                errors.field("password_confirm", msg::RETYPE_PASSWORD_MISMATCH)
            }
            _ => {}
        }
    }
    if let Some(next) = &form.next {
        if validate_redirect_url(cfg, next, form.host.as_deref()).is_err() {
            errors.field("next", msg::INVALID_REDIRECT);
        }
    }
    Checked {
        email,
        username,
        password,
    }
}

/// Normalises a submitted email into `errors`; a missing one is reported unless the
/// field already has an error (a value that was not a string).
pub(crate) fn check_email(raw: Option<&str>, errors: &mut FormErrors) -> Option<String> {
    let Some(raw) = raw else {
        if errors.first("email").is_none() {
            errors.field("email", msg::EMAIL_NOT_PROVIDED);
        }
        return None;
    };
    match normalize_email(raw) {
        Ok(email) => Some(email),
        Err(m) => {
            errors.field("email", m);
            None
        }
    }
}

/// Checks a submitted username with the `UsernameUtil` into `errors`.
fn check_username(
    st: &SecurityState,
    raw: Option<&str>,
    errors: &mut FormErrors,
) -> Option<String> {
    let cfg = &st.config;
    if !cfg.username_enable {
        return None;
    }
    let Some(raw) = raw else {
        if cfg.username_required && errors.first("username").is_none() {
            errors.field("username", msg::USERNAME_NOT_PROVIDED);
        }
        return None;
    };
    match st.username_util.validate(raw) {
        Ok(username) => Some(username),
        Err(m) => {
            errors.field("username", m);
            None
        }
    }
}

/// Users who already hold the submitted email or username.
struct Holders {
    of_email: Option<User>,
    of_username: Option<User>,
}

impl Holders {
    async fn find(st: &SecurityState, checked: &Checked) -> crate::Result<Holders> {
        let ds = &st.datastore;
        let of_email = match &checked.email {
            Some(e) => ds.find_user(&UserQuery::Email(e.clone()), true).await?,
            None => None,
        };
        let of_username = match &checked.username {
            Some(u) => ds.find_user(&UserQuery::Username(u.clone()), true).await?,
            None => None,
        };
        Ok(Holders {
            of_email,
            of_username,
        })
    }

    fn any(&self) -> bool {
        self.of_email.is_some() || self.of_username.is_some()
    }

    /// The "already associated" field errors, naming the values as submitted.
    fn report(&self, checked: &Checked, errors: &mut FormErrors) {
        if let (Some(_), Some(e)) = (&self.of_email, &checked.email) {
            errors.field("email", msg::email_already_associated(e));
        }
        if let (Some(_), Some(u)) = (&self.of_username, &checked.username) {
            errors.field("username", msg::username_already_associated(u));
        }
    }
}

/// Stores the new user with `password` hashed, then welcomes and announces them.
async fn create(
    st: &SecurityState,
    mut new: NewUser,
    password: &str,
    locale: &str,
) -> crate::Result<RegisterOutcome> {
    let cfg = &st.config;
    let email = new.email.clone();
    new.password = Some(st.hash_password(password).await?);
    let user = match st.datastore.create_user(new).await {
        Ok(u) => u,
        // Lost a race with a concurrent registration of the same identity.
        Err(SecurityError::AlreadyExists { .. }) if cfg.return_generic_responses => {
            return Ok(RegisterOutcome::Generic { email });
        }
        Err(SecurityError::AlreadyExists { .. }) => {
            let mut errors = FormErrors::default();
            errors.field("email", msg::email_already_associated(&email));
            return Ok(RegisterOutcome::Invalid(errors));
        }
        Err(e) => return Err(e),
    };
    let confirm = cfg.confirmable.then(|| confirmation_link(st, &user));
    if cfg.send_register_email {
        if let Err(e) = send_welcome(st, &user, confirm.as_ref(), locale).await {
            if confirm.is_some() {
                return undo_registration(st, &user, email, e).await;
            }
            log::warn!("welcome mail not sent: {e}");
        }
    }
    let confirmation_token = confirm.map(|(_, token)| token);
    st.send(Signal::UserRegistered {
        user_id: user.id,
        confirmation_token: confirmation_token.clone(),
    });
    Ok(RegisterOutcome::Registered {
        user: Box::new(user),
        confirmation_token,
        sign_in: !cfg.confirmable || cfg.login_without_confirmation,
    })
}

/// Mails the `welcome` message, with the confirmation link and token when given.
async fn send_welcome(
    st: &SecurityState,
    user: &User,
    confirm: Option<&(String, String)>,
    locale: &str,
) -> Result<(), MailError> {
    let cfg = &st.config;
    send_mail(
        st,
        locale,
        "welcome",
        &user.email,
        &cfg.email_subject_register,
        json!({
            "user": mail_user(user),
            "confirmation_link": confirm.map(|c| &c.0),
            "confirmation_token": confirm.map(|c| &c.1),
            "within": within_text(&st.catalog, locale, cfg.confirm_email_within),
        }),
    )
    .await
}

/// Deletes a new user whose confirmation mail failed: they could never confirm.
async fn undo_registration(
    st: &SecurityState,
    user: &User,
    email: String,
    failure: MailError,
) -> crate::Result<RegisterOutcome> {
    st.datastore.delete_user(user).await?;
    if st.config.return_generic_responses {
        log::error!("security mail failed: {failure}");
        return Ok(RegisterOutcome::Generic { email });
    }
    Ok(RegisterOutcome::MailFailed(failure))
}

/// With generic responses, a taken identity is told to its owner instead of the caller:
/// the owner of the email gets `welcome_existing` (with reset and confirmation links
/// where they apply), else the submitted address gets `welcome_existing_username`.
async fn welcome_existing(
    st: &SecurityState,
    holders: &Holders,
    email: &str,
    username: Option<String>,
    locale: &str,
) {
    let cfg = &st.config;
    st.send(Signal::UserNotRegistered {
        user_id: holders.of_email.as_ref().map(|u| u.id),
        existing_email: holders.of_email.is_some(),
        existing_username: holders.of_username.is_some(),
    });
    let sent = match (&holders.of_email, &holders.of_username) {
        (Some(owner), _) => mail_owner(st, owner, locale).await,
        (None, Some(_)) => {
            send_mail(
                st,
                locale,
                "welcome_existing_username",
                email,
                &cfg.email_subject_register,
                json!({"email": email, "username": username}),
            )
            .await
        }
        (None, None) => Ok(()),
    };
    if let Err(e) = sent {
        log::error!("security mail failed: {e}");
    }
}

/// Mails `welcome_existing` to the owner of a taken email (within the mail cap, checked
/// before its reset link is issued: see `account::mail`).
async fn mail_owner(st: &SecurityState, owner: &User, locale: &str) -> Result<(), MailError> {
    let cfg = &st.config;
    if !within_mail_cap(st, &owner.email) {
        return Ok(());
    }
    let reset = if cfg.recoverable {
        match crate::account::recover::reset_link(st, owner).await {
            Ok(link) => Some(link),
            Err(e) => {
                log::error!("reset link not issued: {e}");
                None
            }
        }
    } else {
        None
    };
    let confirm =
        (cfg.confirmable && owner.confirmed_at.is_none()).then(|| confirmation_link(st, owner));
    send_mail(
        st,
        locale,
        "welcome_existing",
        &owner.email,
        &cfg.email_subject_register,
        json!({
            "user": mail_user(owner),
            "reset_link": reset.as_ref().map(|r| &r.0),
            "recovery_link": reset.as_ref().map(|r| &r.0),
            "reset_token": reset.as_ref().map(|r| &r.1),
            "confirmation_link": confirm.as_ref().map(|c| &c.0),
            "confirmation_token": confirm.as_ref().map(|c| &c.1),
        }),
    )
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::account::testing::{
        config, confirmable, record_signals, state, user, RefusingMailer,
    };
    use crate::config::SecurityConfig;

    const PASSWORD: &str = "battery-horse-staple-42";

    fn form(email: &str) -> RegisterForm {
        RegisterForm {
            email: Some(email.into()),
            password: Some(PASSWORD.into()),
            password_confirm: Some(PASSWORD.into()),
            ..RegisterForm::default()
        }
    }

    async fn stored(st: &SecurityState, email: &str) -> Option<User> {
        let query = UserQuery::Email(email.into());
        st.datastore.find_user(&query, true).await.unwrap()
    }

    #[tokio::test]
    async fn a_new_user_is_stored_mailed_a_confirmation_token_and_announced() {
        let (mut st, mailer) = state(confirmable()).await;
        let signals = record_signals(&mut st);
        let outcome = register(&st, form("new@example.com"), "en").await.unwrap();
        let RegisterOutcome::Registered {
            user,
            confirmation_token: Some(token),
            sign_in,
        } = outcome
        else {
            panic!("not registered with a token: {outcome:?}");
        };
        assert!(!sign_in, "an unconfirmed user may not sign in");
        let row = stored(&st, "new@example.com").await.unwrap();
        assert_eq!(row.id, user.id);
        assert!(row.confirmed_at.is_none());
        let (ok, _) = st
            .verify_and_update(PASSWORD, row.password.as_deref().unwrap())
            .await
            .unwrap();
        assert!(ok, "the password is stored hashed");
        let mails = mailer.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0].to.as_str(), mails[0].template.as_str()),
            ("new@example.com", "welcome")
        );
        let link = format!("https://app.test/confirm/{token}");
        assert!(mails[0].text.as_deref().unwrap().contains(&link));
        assert_eq!(
            *signals.lock().unwrap(),
            [Signal::UserRegistered {
                user_id: user.id,
                confirmation_token: Some(token),
            }]
        );
    }

    #[tokio::test]
    async fn without_confirmable_the_new_user_may_sign_in_at_once() {
        let (st, _) = state(config()).await;
        let outcome = register(&st, form("new@example.com"), "en").await.unwrap();
        assert!(matches!(
            outcome,
            RegisterOutcome::Registered {
                confirmation_token: None,
                sign_in: true,
                ..
            }
        ));
    }

    #[tokio::test]
    async fn a_taken_email_is_a_field_error_and_nothing_is_sent() {
        let (st, mailer) = state(confirmable()).await;
        let owner = user(&st, "taken@example.com", PASSWORD).await;
        let outcome = register(&st, form("taken@example.com"), "en")
            .await
            .unwrap();
        let RegisterOutcome::Invalid(errors) = outcome else {
            panic!("not refused: {outcome:?}");
        };
        let mut expected = FormErrors::default();
        expected.field("email", msg::email_already_associated("taken@example.com"));
        assert_eq!(errors, expected);
        assert_eq!(stored(&st, "taken@example.com").await.unwrap(), owner);
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn generic_mode_answers_a_taken_email_as_new_and_mails_the_owner() {
        let cfg = SecurityConfig {
            return_generic_responses: true,
            recoverable: true,
            ..confirmable()
        };
        let (mut st, mailer) = state(cfg).await;
        let signals = record_signals(&mut st);
        let owner = user(&st, "taken@example.com", PASSWORD).await;
        let outcome = register(&st, form("taken@example.com"), "en")
            .await
            .unwrap();
        assert!(
            matches!(&outcome, RegisterOutcome::Generic { email } if email == "taken@example.com"),
            "{outcome:?}"
        );
        assert_eq!(stored(&st, "taken@example.com").await.unwrap(), owner);
        let mails = mailer.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0].to.as_str(), mails[0].template.as_str()),
            ("taken@example.com", "welcome_existing")
        );
        let text = mails[0].text.as_deref().unwrap();
        assert!(text.contains("https://app.test/reset/"), "{text}");
        assert!(text.contains("https://app.test/confirm/"), "{text}");
        assert_eq!(
            *signals.lock().unwrap(),
            [Signal::UserNotRegistered {
                user_id: Some(owner.id),
                existing_email: true,
                existing_username: false,
            }]
        );
    }

    #[tokio::test]
    async fn a_mismatched_password_confirmation_stores_nothing() {
        let (st, mailer) = state(confirmable()).await;
        let submitted = RegisterForm {
            password_confirm: Some("something-else-entirely".into()),
            ..form("new@example.com")
        };
        let outcome = register(&st, submitted, "en").await.unwrap();
        let RegisterOutcome::Invalid(errors) = outcome else {
            panic!("not refused: {outcome:?}");
        };
        let mut expected = FormErrors::default();
        expected.field("password_confirm", msg::RETYPE_PASSWORD_MISMATCH);
        assert_eq!(errors, expected);
        assert!(stored(&st, "new@example.com").await.is_none());
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn reading_errors_come_first_and_every_field_is_checked() {
        let (st, _) = state(confirmable()).await;
        let mut read_errors = FormErrors::default();
        read_errors.field("csrf_token", msg::API_ERROR);
        read_errors.field("email", msg::API_ERROR);
        let submitted = RegisterForm {
            email: None,
            password: None,
            next: Some("https://elsewhere.test/".into()),
            read_errors,
            ..form("unused@example.com")
        };
        let outcome = register(&st, submitted, "en").await.unwrap();
        let RegisterOutcome::Invalid(errors) = outcome else {
            panic!("not refused: {outcome:?}");
        };
        let mut expected = FormErrors::default();
        expected.field("csrf_token", msg::API_ERROR);
        // A value that was not a string is not also "not provided".
        expected.field("email", msg::API_ERROR);
        // Nothing to compare the retyped password with: no mismatch either.
        expected.field("password", msg::PASSWORD_NOT_PROVIDED);
        expected.field("next", msg::INVALID_REDIRECT);
        assert_eq!(errors, expected);
    }

    #[tokio::test]
    async fn a_failed_confirmation_mail_deletes_the_new_user() {
        let (mut st, _) = state(confirmable()).await;
        st.mailer = Arc::new(RefusingMailer);
        let outcome = register(&st, form("new@example.com"), "en").await.unwrap();
        assert!(
            matches!(
                outcome,
                RegisterOutcome::MailFailed(MailError::Transport(_))
            ),
            "{outcome:?}"
        );
        assert!(stored(&st, "new@example.com").await.is_none());
    }

    #[tokio::test]
    async fn generic_mode_hides_a_failed_confirmation_mail_but_still_deletes() {
        let cfg = SecurityConfig {
            return_generic_responses: true,
            ..confirmable()
        };
        let (mut st, _) = state(cfg).await;
        st.mailer = Arc::new(RefusingMailer);
        let outcome = register(&st, form("new@example.com"), "en").await.unwrap();
        assert!(
            matches!(&outcome, RegisterOutcome::Generic { email } if email == "new@example.com"),
            "{outcome:?}"
        );
        assert!(stored(&st, "new@example.com").await.is_none());
    }

    #[tokio::test]
    async fn a_failed_welcome_mail_without_confirmable_keeps_the_user() {
        let (mut st, _) = state(config()).await;
        st.mailer = Arc::new(RefusingMailer);
        let outcome = register(&st, form("new@example.com"), "en").await.unwrap();
        assert!(
            matches!(outcome, RegisterOutcome::Registered { sign_in: true, .. }),
            "{outcome:?}"
        );
        assert!(stored(&st, "new@example.com").await.is_some());
    }
}
