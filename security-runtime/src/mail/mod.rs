//! Outgoing mail: the [`MailUtil`] trait the flows send through, its implementations
//! ([`SmtpMailer`], [`LogMailer`], [`CapturingMailer`]) and the mail templates
//! ([`MailTemplates`]).
//!
//! Parity: `flask_security.MailUtil` and the `security/email/*` templates. The flows render
//! a template with [`MailTemplates::render`], wrap the result in a [`MailMessage`] and hand it
//! to the application's [`MailUtil`] (by default the one [`mailer_from_config`] picks).
//!
//! Every implementation here refuses, with [`MailError::Invalid`], a recipient or subject that
//! could smuggle a header or an option into the transport (see [`validate`]).

mod cap;
mod queue;
mod smtp;
pub(crate) mod templates;

use std::sync::{Arc, Mutex};

pub use cap::MailCap;
pub use queue::QueuedMailer;
pub use smtp::SmtpMailer;
pub use templates::MailTemplates;

use crate::config::SecurityConfig;

/// One outgoing message (what tests and custom [`MailUtil`]s see).
///
/// Parity: the arguments of Flask-Security's `MailUtil.send_mail`.
#[derive(Debug, Clone, PartialEq)]
pub struct MailMessage {
    /// The recipient address (`user@example.com` or `Name <user@example.com>`).
    pub to: String,
    /// The subject line, e.g. `SecurityConfig::email_subject_password_reset`.
    pub subject: String,
    /// The template name the bodies were rendered from (`reset_instructions`).
    pub template: String,
    /// The plain-text body, when `email_plaintext` is on.
    pub text: Option<String>,
    /// The HTML body, when `email_html` is on.
    pub html: Option<String>,
}

/// Why a message could not be built, rendered or sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MailError {
    /// The message or the mail configuration is malformed (bad address, CR/LF in a header).
    #[error("invalid mail: {0}")]
    Invalid(String),
    /// The SMTP server could not be reached or refused the message.
    #[error("mail transport: {0}")]
    Transport(String),
    /// A template is missing, does not compile or fails to render.
    #[error("mail template: {0}")]
    Template(String),
}

/// Sends the mails of the security flows. Replaceable by the application.
///
/// Parity: `flask_security.MailUtil` (`send_mail`).
#[rocket::async_trait]
pub trait MailUtil: Send + Sync + 'static {
    /// Sends one message; an error is reported to the caller, never retried here.
    async fn send(&self, msg: MailMessage) -> Result<(), MailError>;
}

/// Checks the header fields of a message before any transport sees it.
///
/// Refuses a recipient or subject with a line break or other control character (header
/// injection) or a leading `-` (read as an option by a sendmail-style transport), and a
/// recipient that is empty or not a mailbox lettre can parse. Every mailer in this module calls it; a custom [`MailUtil`] should too.
pub fn validate(msg: &MailMessage) -> Result<(), MailError> {
    check_header_value("recipient", &msg.to)?;
    check_header_value("subject", &msg.subject)?;
    if msg.to.trim().is_empty() {
        return Err(MailError::Invalid("empty recipient".into()));
    }
    parse_mailbox("recipient", &msg.to).map(|_| ())
}

/// Refuses CR, LF (and other control characters) and a leading `-`.
fn check_header_value(what: &str, value: &str) -> Result<(), MailError> {
    if value.chars().any(|c| c.is_control()) {
        return Err(MailError::Invalid(format!(
            "{what} contains a line break or control character"
        )));
    }
    if value.trim_start().starts_with('-') {
        return Err(MailError::Invalid(format!("{what} starts with `-`")));
    }
    Ok(())
}

/// Parses an address with lettre; the error never repeats the address (it may be user input).
fn parse_mailbox(what: &str, value: &str) -> Result<lettre::message::Mailbox, MailError> {
    value
        .trim()
        .parse::<lettre::message::Mailbox>()
        .map_err(|e| MailError::Invalid(format!("{what} is not a valid address: {e}")))
}

/// Writes every message to the log instead of sending it.
///
/// **Development only**: the log gets the whole plain-text body, links and tokens included.
/// [`mailer_from_config`] picks it only when no `mail_server` is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogMailer;

#[rocket::async_trait]
impl MailUtil for LogMailer {
    async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
        validate(&msg)?;
        let body = msg.text.as_deref().or(msg.html.as_deref()).unwrap_or("");
        rocket::info!(
            "mail (not sent: no `mail_server` configured) to: {} subject: {} template: {}\n{}",
            msg.to,
            msg.subject,
            msg.template,
            body
        );
        Ok(())
    }
}

/// Keeps every message in memory, for tests.
///
/// Clones share the same list, so a test can keep one clone and give the other to the app.
#[derive(Debug, Clone, Default)]
pub struct CapturingMailer {
    messages: Arc<Mutex<Vec<MailMessage>>>,
}

impl CapturingMailer {
    /// A mailer with an empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// The messages sent so far, oldest first.
    pub fn messages(&self) -> Vec<MailMessage> {
        // A panic while holding the lock cannot leave a Vec half-updated: take it anyway.
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The messages sent so far once there are at least `n`, or after `timeout`: mail
    /// queued after the answer (`mail_queue`) arrives a moment later.
    pub async fn wait_for(&self, n: usize, timeout: std::time::Duration) -> Vec<MailMessage> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let got = self.messages();
            if got.len() >= n || tokio::time::Instant::now() >= deadline {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }

    /// Forgets the messages sent so far.
    pub fn clear(&self) {
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
    }
}

#[rocket::async_trait]
impl MailUtil for CapturingMailer {
    async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
        validate(&msg)?;
        self.messages
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(msg);
        Ok(())
    }
}

/// The default mailer: [`SmtpMailer`] when `mail_server` is set, else [`LogMailer`].
///
/// Parity: Flask-Security's default `MailUtil` over Flask-Mail (`MAIL_SERVER`).
pub fn mailer_from_config(cfg: &SecurityConfig) -> Result<Arc<dyn MailUtil>, MailError> {
    match cfg.mail_server.as_deref().map(str::trim) {
        Some(host) if !host.is_empty() => Ok(Arc::new(SmtpMailer::from_config(cfg)?)),
        _ => {
            rocket::info!("`security.mail_server` is not set: mail is written to the log");
            Ok(Arc::new(LogMailer))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(to: &str, subject: &str) -> MailMessage {
        MailMessage {
            to: to.into(),
            subject: subject.into(),
            template: "reset_notice".into(),
            text: Some("hi".into()),
            html: None,
        }
    }

    #[test]
    fn validate_refuses_injection() {
        assert!(validate(&msg("a@example.com", "Hello")).is_ok());
        assert!(validate(&msg("Ann <a@example.com>", "Hello")).is_ok());
        for (to, subject) in [
            ("a@example.com\r\nBcc: x@evil.test", "Hello"),
            ("a@example.com\n", "Hello"),
            ("a@example.com", "Hi\r\nBcc: x@evil.test"),
            ("-oQ/tmp@example.com", "Hello"),
            ("a@example.com", "-f evil"),
            ("not an address", "Hello"),
            ("", "Hello"),
            ("a@example.com\0", "Hello"),
        ] {
            assert!(
                matches!(validate(&msg(to, subject)), Err(MailError::Invalid(_))),
                "{to:?} / {subject:?}"
            );
        }
    }

    #[tokio::test]
    async fn capturing_mailer_shares_its_list() {
        let m = CapturingMailer::new();
        let clone = m.clone();
        clone.send(msg("a@example.com", "Hello")).await.unwrap();
        assert_eq!(m.messages(), vec![msg("a@example.com", "Hello")]);
        assert!(clone.send(msg("a@example.com\r\n", "x")).await.is_err());
        assert_eq!(m.messages().len(), 1);
        m.clear();
        assert!(clone.messages().is_empty());
    }

    #[test]
    fn mailer_from_config_accepts_no_server_and_refuses_bad_security() {
        let cfg = SecurityConfig::default();
        assert!(mailer_from_config(&cfg).is_ok());
        let cfg = SecurityConfig {
            mail_server: Some("127.0.0.1".into()),
            mail_security: "bogus".into(),
            ..SecurityConfig::default()
        };
        assert!(matches!(
            mailer_from_config(&cfg),
            Err(MailError::Invalid(_))
        ));
    }
}
