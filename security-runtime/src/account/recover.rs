//! Forgot password, reset through a mailed link, recover username: the rules, without HTTP.
//!
//! Parity: `views.forgot_password`, `views.reset_password`, `views.recover_username`
//! (`ForgotPasswordForm`, `ResetPasswordForm`, `UsernameRecoveryForm`).
//! A reset token carries `[fs_uniquifier, hash_data(password, email, nonce)]`: it dies
//! when the password or the email changes, or when a newer link is issued (each link
//! stores a new nonce), and the reset rotates `fs_uniquifier`, so it works once.

use serde_json::{json, Value};

use crate::account::form::validate_password;
use crate::account::links::{check_link, hash_data, hash_matches, make_token, LinkToken};
use crate::account::mail::{
    known_identity_work, link, mail_user, notify, send_mail, token_path, within_mail_cap,
    within_text, Unsent,
};
use crate::account::FormErrors;
use crate::config::SecurityConfig;
use crate::datastore::UserQuery;
use crate::error::Result;
use crate::mail::MailError;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

/// A submitted recovery form: forgot password or recover username.
#[derive(Debug, Clone, Default)]
pub struct RecoveryForm {
    /// `email`, as typed (absent when empty).
    pub email: Option<String>,
    /// What reading the request already refused (the CSRF token, a value that is not a
    /// string). The rules add theirs; any error refuses the form before the address is
    /// looked up.
    pub errors: FormErrors,
}

/// What a recovery request came to.
#[derive(Debug)]
pub enum RecoveryOutcome {
    /// The form is refused; nothing was sent.
    Invalid(FormErrors),
    /// The mail to a known address could not be sent (never reported with generic
    /// responses, where it would tell a known address from an unknown one).
    MailFailed(MailError),
    /// Done; `notice` tells the user what to expect. With generic responses an unknown,
    /// disabled or unconfirmed address ends here too, with nothing sent.
    Requested {
        /// What to tell the user.
        notice: Text,
    },
}

/// A submitted new password for a reset link.
#[derive(Debug, Clone, Default)]
pub struct ResetForm {
    /// `password`.
    pub password: Option<String>,
    /// `password_confirm`.
    pub password_confirm: Option<String>,
    /// What reading the request already refused (see [`RecoveryForm::errors`]).
    pub errors: FormErrors,
}

/// Why a mailed link (reset, change email) is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    /// Not ours, tampered with, already used, or its user is gone.
    Invalid,
    /// Ours, but older than the flow allows.
    Expired,
}

/// What a reset came to.
#[derive(Debug)]
pub enum ResetOutcome {
    /// The new password is refused; nothing changed.
    Invalid(FormErrors),
    /// The link is refused; nothing changed.
    BadLink(LinkProblem),
    /// The password is reset and stored with a new `fs_uniquifier` (every session and
    /// token of the user died); the user is not signed in. The web answer does not show
    /// the user; tests read it.
    Reset(#[cfg_attr(not(test), allow(dead_code))] Box<User>),
}

/// Issues a reset link for `user`: its link and token. Every earlier link dies.
pub(crate) async fn reset_link(st: &SecurityState, user: &User) -> Result<(String, String)> {
    let nonce = crate::datastore::new_uniquifier();
    st.datastore.set_reset_nonce(user.id, &nonce).await?;
    let bound = hash_data(st, &reset_binding(user, &nonce));
    let token = make_token(
        st,
        &st.config.reset_salt,
        json!([user.fs_uniquifier, bound]),
    );
    Ok((link(st, &token_path(&st.config.reset_url, &token)), token))
}

/// What a reset link is bound to: the password, the email and the link's nonce.
fn reset_binding(user: &User, nonce: &str) -> String {
    let password = user.password.as_deref().unwrap_or_default();
    format!("{password}\u{1f}{}\u{1f}{nonce}", user.email)
}

/// Mails reset instructions to the user of `form.email`.
///
/// Parity: `views.forgot_password`, `send_reset_password_instructions`.
pub async fn forgot_password(
    st: &SecurityState,
    form: RecoveryForm,
    locale: &str,
) -> Result<RecoveryOutcome> {
    let cfg = &st.config;
    let notice = if cfg.return_generic_responses {
        Text::new(msg::GENERIC_RECOVERY)
    } else {
        msg::password_reset_request(form.email.as_deref().unwrap_or(""))
    };
    let mut errors = form.errors;
    let user = recovering_user(st, form.email.as_deref(), &mut errors).await?;
    if !errors.is_empty() {
        return Ok(RecoveryOutcome::Invalid(errors));
    }
    if let Some(u) = user.filter(|_| cfg.send_password_reset_email) {
        let locale = locale.to_owned();
        let work = move |st: SecurityState| async move { mail_reset(&st, &u, &locale).await };
        if let Some(failed) = mail_outcome(st, known_identity_work(st, work).await)? {
            return Ok(failed);
        }
    }
    Ok(RecoveryOutcome::Requested { notice })
}

/// Issues a reset link to `user` and mails it. Over the mail cap no link is issued, so a
/// flood cannot void the one mailed last.
async fn mail_reset(st: &SecurityState, user: &User, locale: &str) -> Result<(), Unsent> {
    let cfg = &st.config;
    if !within_mail_cap(st, &user.email) {
        return Ok(());
    }
    let (link, token) = reset_link(st, user).await?;
    send_mail(
        st,
        locale,
        "reset_instructions",
        &user.email,
        &cfg.email_subject_password_reset,
        json!({
            "user": mail_user(user),
            "reset_link": link,
            "reset_token": token,
            "within": within_text(&st.catalog, locale, cfg.reset_password_within),
        }),
    )
    .await?;
    st.send(Signal::ResetPasswordInstructionsSent {
        user_id: user.id,
        token,
    });
    Ok(())
}

/// Mails the username to the user of `form.email`.
///
/// Parity: `views.recover_username`, `send_username_recovery_email`.
pub async fn recover_username(
    st: &SecurityState,
    form: RecoveryForm,
    locale: &str,
) -> Result<RecoveryOutcome> {
    let mut errors = form.errors;
    let user = recovering_user(st, form.email.as_deref(), &mut errors).await?;
    if !errors.is_empty() {
        return Ok(RecoveryOutcome::Invalid(errors));
    }
    if let Some(u) = user {
        let locale = locale.to_owned();
        let work = move |st: SecurityState| async move {
            let cfg = &st.config;
            let context = json!({"user": mail_user(&u), "username": u.username});
            let subject = &cfg.email_subject_username_recovery;
            send_mail(
                &st,
                &locale,
                "username_recovery",
                &u.email,
                subject,
                context,
            )
            .await?;
            st.send(Signal::UsernameRecoveryEmailSent { user_id: u.id });
            Ok(())
        };
        if let Some(failed) = mail_outcome(st, known_identity_work(st, work).await)? {
            return Ok(failed);
        }
    }
    Ok(RecoveryOutcome::Requested {
        notice: Text::new(msg::USERNAME_RECOVERY_REQUEST),
    })
}

/// What a recovery mail's failure makes of the request: a failed send is the answer,
/// unless responses are generic (then it is only logged, so the answer does not tell a
/// known address); a datastore failure is an error.
fn mail_outcome(
    st: &SecurityState,
    sent: std::result::Result<(), Unsent>,
) -> Result<Option<RecoveryOutcome>> {
    match sent {
        Ok(()) => Ok(None),
        Err(Unsent::Store(e)) => Err(e),
        Err(Unsent::Mail(e)) if !st.config.return_generic_responses => {
            Ok(Some(RecoveryOutcome::MailFailed(e)))
        }
        Err(Unsent::Mail(e)) => {
            log::error!("security mail failed: {e}");
            Ok(None)
        }
    }
}

/// The user a recovery form's `email` names, when they may recover; a refusal goes into
/// `errors`, except with generic responses, where it is silent (`None`).
async fn recovering_user(
    st: &SecurityState,
    email: Option<&str>,
    errors: &mut FormErrors,
) -> Result<Option<User>> {
    let email = checked_email(email, errors);
    let Some(email) = email.filter(|_| errors.is_empty()) else {
        return Ok(None);
    };
    let user = st
        .datastore
        .find_user(&UserQuery::Email(email), true)
        .await?;
    // A known and an unknown address do the same work here: one lookup (what a known
    // one gets besides runs after the answer when responses are generic).
    let refusal = match &user {
        None => Some(msg::USER_DOES_NOT_EXIST),
        Some(u) => recovery_refusal(&st.config, u),
    };
    match refusal {
        None => Ok(user),
        Some(_) if st.config.return_generic_responses => Ok(None),
        Some(m) => {
            errors.field("email", m);
            Ok(None)
        }
    }
}

/// Why `user` may not recover their account, if they may not.
fn recovery_refusal(cfg: &SecurityConfig, user: &User) -> Option<&'static str> {
    if !user.active {
        Some(msg::DISABLED_ACCOUNT)
    } else if cfg.confirmable && !cfg.login_without_confirmation && user.confirmed_at.is_none() {
        Some(msg::CONFIRMATION_REQUIRED)
    } else {
        None
    }
}

/// Records `missing` on `name` when `value` is absent, unless reading the field already
/// failed (a value that is not a string gets one error, not two).
pub(crate) fn required<'a>(
    value: Option<&'a str>,
    name: &str,
    missing: &'static str,
    errors: &mut FormErrors,
) -> Option<&'a str> {
    if value.is_none() && errors.first(name).is_none() {
        errors.field(name, missing);
    }
    value
}

/// The normalised `email`, or `None` with the reason recorded in `errors`.
pub(crate) fn checked_email(email: Option<&str>, errors: &mut FormErrors) -> Option<String> {
    let email = required(email, "email", msg::EMAIL_NOT_PROVIDED, errors)?;
    match crate::validation::normalize_email(email) {
        Ok(e) => Some(e),
        Err(m) => {
            errors.field("email", m);
            None
        }
    }
}

/// What a new password of `user` must not resemble: the email and the username.
pub(crate) fn password_inputs(user: &User) -> Vec<String> {
    std::iter::once(user.email.clone())
        .chain(user.username.clone())
        .collect()
}

/// The user a reset link is for, or why it is refused.
pub async fn check_reset_link(
    st: &SecurityState,
    token: &str,
) -> Result<std::result::Result<User, LinkProblem>> {
    let cfg = &st.config;
    let (parts, expired) = match check_link(st, &cfg.reset_salt, token, cfg.reset_password_within) {
        LinkToken::Valid(parts) => (parts, false),
        LinkToken::Expired(parts) => (parts, true),
        LinkToken::Invalid => return Ok(Err(LinkProblem::Invalid)),
    };
    // An expired link is matched first too: one for a password since changed is invalid.
    match password_bound_user(st, &parts).await? {
        None => Ok(Err(LinkProblem::Invalid)),
        Some(_) if expired => Ok(Err(LinkProblem::Expired)),
        Some(user) => Ok(Ok(user)),
    }
}

/// The user a reset token's `parts` name, while their password, email and latest reset
/// link are still the ones the token was made for.
async fn password_bound_user(st: &SecurityState, parts: &[Value]) -> Result<Option<User>> {
    let Some(uid) = parts.first().and_then(Value::as_str) else {
        return Ok(None);
    };
    let Some(user) = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.to_owned()), false)
        .await?
    else {
        return Ok(None);
    };
    let Some(bound) = parts.get(1).and_then(Value::as_str) else {
        return Ok(None);
    };
    let nonce = st.datastore.reset_nonce(user.id).await?.unwrap_or_default();
    let same = hash_matches(st, &reset_binding(&user, &nonce), bound);
    Ok(same.then_some(user))
}

/// Sets the password of the user a reset link is for, and mails `reset_notice`.
///
/// Parity: `views.reset_password` (`update_password`, `password_reset` signal); no sign-in
/// afterwards (`PASSWORD_RESET_NO_LOGIN`).
pub async fn reset_password(
    st: &SecurityState,
    token: &str,
    form: ResetForm,
    locale: &str,
) -> Result<ResetOutcome> {
    let cfg = &st.config;
    let mut user = match check_reset_link(st, token).await? {
        Ok(user) => user,
        Err(problem) => return Ok(ResetOutcome::BadLink(problem)),
    };
    let ResetForm {
        password,
        password_confirm,
        mut errors,
    } = form;
    let new = checked_reset_password(
        st,
        &user,
        password.as_deref(),
        password_confirm.as_deref(),
        &mut errors,
    )
    .await;
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return Ok(ResetOutcome::Invalid(errors));
    };
    // One write: new hash and new uniquifiers (every session and token dies), only while
    // the uniquifier is the one the link was checked against: a link used twice in
    // parallel resets once, and the other use is an invalid link.
    let checked = user.fs_uniquifier.clone();
    user.password = Some(st.hash_password(&new).await?);
    user.rotate_identity();
    if !st.datastore.put_user_if(&mut user, &checked).await? {
        return Ok(ResetOutcome::BadLink(LinkProblem::Invalid));
    }
    // A new password is a new authenticator: its lockout ends (NIST's "rebind").
    st.datastore
        .clear_failed_attempts(user.id, crate::datastore::Factor::Password)
        .await?;
    st.send(Signal::PasswordReset { user_id: user.id });
    if cfg.send_password_reset_notice_email {
        let subject = &cfg.email_subject_password_notice;
        notify(st, locale, "reset_notice", &user, subject).await;
    }
    Ok(ResetOutcome::Reset(Box::new(user)))
}

/// The normalised new password of a reset form, or `None` with the reasons in `errors`.
async fn checked_reset_password(
    st: &SecurityState,
    user: &User,
    password: Option<&str>,
    confirm: Option<&str>,
    errors: &mut FormErrors,
) -> Option<String> {
    let normalized = match required(password, "password", msg::PASSWORD_NOT_PROVIDED, errors) {
        None => None,
        Some(p) => {
            validate_password(st, p, false, &password_inputs(user), "password", errors).await
        }
    };
    match (password, confirm) {
        (_, None) if st.config.password_confirm_required => {
            required(None, "password_confirm", msg::PASSWORD_NOT_PROVIDED, errors);
        }
        (Some(p), Some(c)) if p != c => {
            errors.field("password_confirm", msg::RETYPE_PASSWORD_MISMATCH);
        }
        _ => {}
    }
    normalized
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use super::*;
    use crate::account::testing::{config, one_mail, state, user};

    fn form(email: &str) -> RecoveryForm {
        RecoveryForm {
            email: Some(email.into()),
            errors: FormErrors::default(),
        }
    }

    fn new_password(password: &str) -> ResetForm {
        ResetForm {
            password: Some(password.into()),
            password_confirm: Some(password.into()),
            errors: FormErrors::default(),
        }
    }

    /// The token of the reset link in a mail's text.
    fn mailed_token(text: &str) -> String {
        let start = text.find("https://app.test/reset/").unwrap() + "https://app.test/reset/".len();
        text[start..].split_whitespace().next().unwrap().to_owned()
    }

    #[tokio::test]
    async fn forgot_password_mails_a_working_reset_link_to_a_known_address() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let out = forgot_password(&st, form("A@example.com"), "en")
            .await
            .unwrap();
        let RecoveryOutcome::Requested { notice } = out else {
            panic!("{out:?}")
        };
        assert_eq!(notice, msg::password_reset_request("A@example.com"));
        let mails = mailer.messages();
        assert_eq!(mails.len(), 1);
        assert_eq!(
            (mails[0].to.as_str(), mails[0].template.as_str()),
            ("a@example.com", "reset_instructions")
        );
        let token = mailed_token(mails[0].text.as_deref().unwrap());
        let linked = check_reset_link(&st, &token).await.unwrap().unwrap();
        assert_eq!(linked.id, u.id);
    }

    /// `out` refuses the form with `message` on `email`.
    fn assert_email_refused(out: RecoveryOutcome, message: &'static str) {
        let RecoveryOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        assert_eq!(errors.first("email"), Some(&Text::new(message)));
    }

    #[tokio::test]
    async fn forgot_password_refuses_an_unknown_address_unless_responses_are_generic() {
        let (st, mailer) = state(config()).await;
        let out = forgot_password(&st, form("nobody@example.com"), "en")
            .await
            .unwrap();
        assert_email_refused(out, msg::USER_DOES_NOT_EXIST);

        let generic = SecurityConfig {
            return_generic_responses: true,
            ..config()
        };
        let (st, _) = state(generic).await;
        user(&st, "a@example.com", "password123").await;
        let unknown = forgot_password(&st, form("nobody@example.com"), "en")
            .await
            .unwrap();
        let known = forgot_password(&st, form("a@example.com"), "en")
            .await
            .unwrap();
        let notice = |o: RecoveryOutcome| match o {
            RecoveryOutcome::Requested { notice } => notice,
            other => panic!("{other:?}"),
        };
        assert_eq!(notice(unknown), Text::new(msg::GENERIC_RECOVERY));
        assert_eq!(notice(known), Text::new(msg::GENERIC_RECOVERY));
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn errors_found_while_reading_refuse_before_any_lookup() {
        let (st, mailer) = state(config()).await;
        user(&st, "a@example.com", "password123").await;
        let mut read = FormErrors::default();
        read.field("csrf_token", "The CSRF token is missing.");
        let out = forgot_password(
            &st,
            RecoveryForm {
                email: None,
                errors: read,
            },
            "en",
        )
        .await
        .unwrap();
        let RecoveryOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        let names: Vec<&str> = errors.fields.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["csrf_token", "email"]);
        assert_eq!(
            errors.first("email"),
            Some(&Text::new(msg::EMAIL_NOT_PROVIDED))
        );
        assert!(mailer.messages().is_empty());
    }

    #[tokio::test]
    async fn a_reset_link_resets_once() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = reset_link(&st, &u).await.unwrap();
        let out = reset_password(&st, &token, new_password("a new passw0rd"), "en")
            .await
            .unwrap();
        let ResetOutcome::Reset(reset) = out else {
            panic!("{out:?}")
        };
        assert_ne!(reset.fs_uniquifier, u.fs_uniquifier);
        let again = reset_password(&st, &token, new_password("another passw0rd"), "en")
            .await
            .unwrap();
        assert!(
            matches!(again, ResetOutcome::BadLink(LinkProblem::Invalid)),
            "{again:?}"
        );
        one_mail(&mailer, "reset_notice");
    }

    #[tokio::test]
    async fn a_reset_link_dies_when_the_password_changes() {
        let (st, _) = state(config()).await;
        let mut u = user(&st, "a@example.com", "password123").await;
        let (_, token) = reset_link(&st, &u).await.unwrap();
        // The uniquifier stays: only the password binding can refuse this link.
        u.password = Some(st.hash_password("changed elsewhere").await.unwrap());
        st.datastore.put_user(&mut u).await.unwrap();
        let out = check_reset_link(&st, &token).await.unwrap();
        assert_eq!(out.unwrap_err(), LinkProblem::Invalid);
    }

    #[tokio::test]
    async fn an_old_reset_link_is_expired_and_a_tampered_one_invalid() {
        let (mut st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = reset_link(&st, &u).await.unwrap();
        let later = st.now() + st.config.reset_password_within as f64 + 10.0;
        st.hooks.clock = Arc::new(move || later);
        let expired = reset_password(&st, &token, new_password("a new passw0rd"), "en")
            .await
            .unwrap();
        assert!(
            matches!(expired, ResetOutcome::BadLink(LinkProblem::Expired)),
            "{expired:?}"
        );
        let tampered = format!("{token}x");
        let out = check_reset_link(&st, &tampered).await.unwrap();
        assert_eq!(out.unwrap_err(), LinkProblem::Invalid);
    }

    #[tokio::test]
    async fn a_reset_refuses_a_missing_confirmation_and_a_mismatch() {
        let (st, _) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let (_, token) = reset_link(&st, &u).await.unwrap();
        let mut unconfirmed = new_password("a new passw0rd");
        unconfirmed.password_confirm = None;
        let out = reset_password(&st, &token, unconfirmed, "en")
            .await
            .unwrap();
        let ResetOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            errors.first("password_confirm"),
            Some(&Text::new(msg::PASSWORD_NOT_PROVIDED))
        );
        let mut mismatch = new_password("a new passw0rd");
        mismatch.password_confirm = Some("something else".into());
        let out = reset_password(&st, &token, mismatch, "en").await.unwrap();
        let ResetOutcome::Invalid(errors) = out else {
            panic!("{out:?}")
        };
        assert_eq!(
            errors.first("password_confirm"),
            Some(&Text::new(msg::RETYPE_PASSWORD_MISMATCH))
        );
    }

    #[tokio::test]
    async fn recover_username_mails_the_username_and_refuses_a_disabled_account() {
        let (st, mailer) = state(config()).await;
        let mut u = user(&st, "a@example.com", "password123").await;
        u.username = Some("alice".into());
        st.datastore.put_user(&mut u).await.unwrap();
        let out = recover_username(&st, form("a@example.com"), "en")
            .await
            .unwrap();
        assert!(matches!(out, RecoveryOutcome::Requested { .. }), "{out:?}");
        let mails = mailer.messages();
        assert_eq!(mails[0].template, "username_recovery");
        assert!(mails[0].text.as_deref().unwrap().contains("alice"));

        u.active = false;
        st.datastore.put_user(&mut u).await.unwrap();
        let out = recover_username(&st, form("a@example.com"), "en")
            .await
            .unwrap();
        assert_email_refused(out, msg::DISABLED_ACCOUNT);
        assert_eq!(mailer.messages().len(), 1);
    }
}
