//! Two-factor account logic: sending codes, choosing and storing a method, turning it
//! off, asking for help, and the setup state token.
//!
//! Parity: `twofactor.tf_send_security_token`, `views.two_factor_setup`,
//! `views.two_factor_setup_validate`, `views.two_factor_rescue`, `tf_disable`.

use serde_json::json;

use super::form::FormErrors;
use super::mail::{mail_user, notify, send_mail, within_text};
use crate::error::Result;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::second_factor::{canonical, window};
use crate::signals::Signal;
use crate::state::SecurityState;

/// Why a code was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The mail failed.
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
    /// The text message failed.
    #[error(transparent)]
    Sms(#[from] crate::sms::SmsError),
    /// An sms method without a phone number.
    #[error("no phone number")]
    NoPhone,
}

/// Sends the current code of `secret` by `method` (`email` or `sms`; the authenticator
/// needs nothing sent). The mail's `within` states the primary method's window.
pub async fn send_code(
    st: &SecurityState,
    user: &User,
    method: &str,
    secret: &str,
    phone: Option<&str>,
    locale: &str,
) -> Result<std::result::Result<(), SendError>> {
    let key = crate::second_factor::key_of(st, secret).await?;
    let code = key.current_code(st.now());
    let sent = match canonical(method) {
        Some("email") => {
            let within = within_text(&st.catalog, locale, window(st, method));
            let context = json!({
                "user": mail_user(user),
                "token": code,
                "username": user.calc_username(),
                "within": within,
            });
            let cfg = &st.config;
            send_mail(
                st,
                locale,
                "two_factor_instructions",
                &user.email,
                &cfg.email_subject_two_factor,
                context,
            )
            .await
            .map_err(SendError::from)
        }
        Some("sms") => match phone {
            Some(p) => {
                let text = st
                    .catalog
                    .text(locale, &Text::new(msg::USE_CODE).arg("code", code.as_str()));
                st.sms.send(p, &text).await.map_err(SendError::from)
            }
            None => Err(SendError::NoPhone),
        },
        _ => return Ok(Ok(())),
    };
    if sent.is_ok() {
        st.send(Signal::TfSecurityTokenSent {
            user_id: user.id,
            method: method.to_owned(),
        });
    }
    Ok(sent)
}

/// What `/tf-setup` was asked for.
#[derive(Debug)]
pub struct SetupForm {
    /// `setup`: a method, or `disable`.
    pub setup: Option<String>,
    /// `phone` (sms).
    pub phone: Option<String>,
    /// Errors found while reading (CSRF, types).
    pub errors: FormErrors,
}

/// What a valid `/tf-setup` form chose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetupChoice {
    /// Turn two-factor off.
    Disable,
    /// Set up `method` with a new secret.
    Method {
        /// The method.
        method: &'static str,
        /// The canonical phone number (sms).
        phone: Option<String>,
    },
}

/// Checks a `/tf-setup` form: the method is enabled (`disable` only when two-factor
/// is not required), and sms has a valid phone number.
///
/// Parity: `TwoFactorSetupForm.validate`.
pub fn read_setup(
    st: &SecurityState,
    mut form: SetupForm,
) -> std::result::Result<SetupChoice, FormErrors> {
    let cfg = &st.config;
    let choice = match form.setup.as_deref() {
        Some("disable") if !cfg.two_factor_required => Some(SetupChoice::Disable),
        Some(m) => canonical(m)
            .filter(|c| cfg.two_factor_enabled_methods.iter().any(|e| e == c))
            .map(|method| SetupChoice::Method {
                method,
                phone: None,
            }),
        None => None,
    };
    let Some(mut choice) = choice else {
        form.errors
            .field("setup", msg::TWO_FACTOR_METHOD_NOT_AVAILABLE);
        return Err(form.errors);
    };
    if let SetupChoice::Method {
        method: "sms",
        phone,
    } = &mut choice
    {
        match form
            .phone
            .as_deref()
            .map(|p| st.phone_util.validate_phone_number(p))
        {
            Some(Ok(canonical)) => *phone = Some(canonical),
            _ => form.errors.field("phone", msg::PHONE_INVALID),
        }
    }
    if form.errors.is_empty() {
        Ok(choice)
    } else {
        Err(form.errors)
    }
}

/// Stores a validated method and its secret (and phone), and sends `tf_profile_changed`.
pub async fn set_method(
    st: &SecurityState,
    user: &mut User,
    method: &str,
    secret: &str,
    phone: Option<&str>,
) -> Result<()> {
    st.datastore
        .tf_set(user, method, Some(secret), phone)
        .await?;
    st.send(Signal::TfProfileChanged {
        user_id: user.id,
        method: method.to_owned(),
    });
    Ok(())
}

/// Turns two-factor off for `user`, sends `tf_disabled` and mails a notice.
///
/// Parity: `tf_disable`.
pub async fn disable(st: &SecurityState, user: &mut User, locale: &str) -> Result<()> {
    st.datastore.tf_reset(user).await?;
    st.send(Signal::TfDisabled { user_id: user.id });
    let subject = st.config.email_subject_two_factor_disabled.clone();
    notify(st, locale, "two_factor_disabled", user, &subject).await;
    Ok(())
}

/// Mails a request for help to `two_factor_rescue_mail`.
pub async fn ask_for_help(
    st: &SecurityState,
    user: &User,
    locale: &str,
) -> std::result::Result<(), crate::mail::MailError> {
    let cfg = &st.config;
    send_mail(
        st,
        locale,
        "two_factor_rescue",
        &cfg.two_factor_rescue_mail,
        &cfg.email_subject_two_factor_rescue,
        json!({"user": mail_user(user), "username": user.calc_username()}),
    )
    .await
}

/// The setup state token of an authenticated setup: the secret, method and phone, bound
/// to the user, signed with salt `two_factor_setup_salt`.
pub fn state_token(st: &SecurityState, user: &User, choice: (&str, &str, Option<&str>)) -> String {
    let (method, secret, phone) = choice;
    let payload = json!({"totp_secret": secret, "method": method, "phone": phone});
    let salt = &st.config.two_factor_setup_salt;
    super::state_token::issue(st, salt, Some(user), payload)
}

/// A setup read back from its state token (its `Debug` leaves the secret out).
#[derive(Clone)]
pub struct TokenSetup {
    /// The method.
    pub method: String,
    /// The encrypted secret.
    pub secret: String,
    /// The phone (sms).
    pub phone: Option<String>,
}

impl std::fmt::Debug for TokenSetup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSetup")
            .field("method", &self.method)
            .field("phone", &self.phone)
            .finish_non_exhaustive()
    }
}

pub use super::state_token::TokenProblem;

/// Reads a setup state token issued to `user`.
pub fn read_state_token(
    st: &SecurityState,
    user: &User,
    token: &str,
) -> std::result::Result<TokenSetup, TokenProblem> {
    use super::state_token::{read, text};
    let cfg = &st.config;
    let within = cfg.two_factor_setup_within;
    let v = read(st, &cfg.two_factor_setup_salt, within, Some(user), token)?;
    match (text(&v, "method"), text(&v, "totp_secret")) {
        (Some(method), Some(secret)) => Ok(TokenSetup {
            method,
            secret,
            phone: text(&v, "phone"),
        }),
        _ => Err(TokenProblem::Invalid),
    }
}
