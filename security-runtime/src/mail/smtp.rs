//! [`SmtpMailer`]: sends through an SMTP server with lettre.

use std::fmt;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::{check_header_value, parse_mailbox, validate, MailError, MailMessage, MailUtil};
use crate::config::SecurityConfig;

/// Sends mail through the SMTP server of the configuration.
///
/// Parity: Flask-Mail's `MAIL_SERVER`, `MAIL_PORT`, `MAIL_USE_TLS` / `MAIL_USE_SSL`,
/// `MAIL_USERNAME`, `MAIL_PASSWORD`, with `SECURITY_EMAIL_SENDER` as `From`. A message with
/// both bodies goes out as `multipart/alternative`.
pub struct SmtpMailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    sender: Mailbox,
    host: String,
    port: u16,
    security: String,
    timeout: Duration,
}

impl fmt::Debug for SmtpMailer {
    // Hand-written so that the credentials inside the transport never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("sender", &self.sender.to_string())
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Builds the transport from `mail_server`, `mail_port`, `mail_security`
    /// (`none`, `starttls` or `tls`), `mail_username` / `mail_password`, `mail_timeout`
    /// and `email_sender`. No connection is made until the first message.
    ///
    /// `mail_timeout` (seconds, at least 1) bounds the whole delivery of one message,
    /// connect included.
    pub fn from_config(cfg: &SecurityConfig) -> Result<Self, MailError> {
        let host = cfg
            .mail_server
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or_else(|| MailError::Invalid("`security.mail_server` is not set".into()))?;
        check_header_value("`security.email_sender`", &cfg.email_sender)?;
        let sender = parse_mailbox("`security.email_sender`", &cfg.email_sender)?;
        let tls_err = |e: lettre::transport::smtp::Error| {
            MailError::Invalid(format!("`security.mail_server` TLS setup: {e}"))
        };
        let security = cfg.mail_security.trim().to_ascii_lowercase();
        let builder = match security.as_str() {
            "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host),
            "starttls" => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host).map_err(tls_err)?
            }
            "tls" => AsyncSmtpTransport::<Tokio1Executor>::relay(host).map_err(tls_err)?,
            other => {
                return Err(MailError::Invalid(format!(
                    "`security.mail_security` is `{other}`; expected `none`, `starttls` or `tls`"
                )))
            }
        };
        let timeout = Duration::from_secs(cfg.mail_timeout.max(1));
        let mut builder = builder.port(cfg.mail_port).timeout(Some(timeout));
        if let Some(user) = cfg.mail_username.as_deref().filter(|u| !u.is_empty()) {
            if security == "none" && !is_loopback(host) {
                rocket::warn!(
                    "`security.mail_username` is set with `mail_security = \"none\"`: \
                     the SMTP password travels unencrypted to {host}"
                );
            }
            let password = cfg.mail_password.clone().unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.to_owned(), password));
        }
        Ok(SmtpMailer {
            transport: builder.build(),
            sender,
            host: host.to_owned(),
            port: cfg.mail_port,
            security,
            timeout,
        })
    }

    /// The `From` mailbox (`email_sender`).
    pub fn sender(&self) -> &Mailbox {
        &self.sender
    }
}

fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(|c| c == '[' || c == ']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The lettre message for `msg` from `sender`; `msg` must have passed [`validate`].
pub(crate) fn build_message(sender: &Mailbox, msg: &MailMessage) -> Result<Message, MailError> {
    let to = parse_mailbox("recipient", &msg.to)?;
    let builder = Message::builder()
        .from(sender.clone())
        .to(to)
        .subject(msg.subject.clone());
    let built = match (&msg.text, &msg.html) {
        (Some(text), Some(html)) => builder.multipart(MultiPart::alternative_plain_html(
            text.clone(),
            html.clone(),
        )),
        (Some(text), None) => builder.singlepart(SinglePart::plain(text.clone())),
        (None, Some(html)) => builder.singlepart(SinglePart::html(html.clone())),
        // Both kinds switched off (`email_plaintext = email_html = false`): Flask-Mail
        // sends an empty message; so do we.
        (None, None) => builder.singlepart(SinglePart::plain(String::new())),
    };
    built.map_err(|e| MailError::Invalid(format!("cannot build message: {e}")))
}

#[rocket::async_trait]
impl MailUtil for SmtpMailer {
    async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
        validate(&msg)?;
        let message = build_message(&self.sender, &msg)?;
        // lettre's async timeout covers only the TCP connect; a server that accepts and then
        // stays silent would hold the request forever. Bound the whole exchange instead.
        match tokio::time::timeout(self.timeout, self.transport.send(message)).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(MailError::Transport(e.to_string())),
            Err(_) => Err(MailError::Transport(format!(
                "no answer from {}:{} within {} s",
                self.host,
                self.port,
                self.timeout.as_secs()
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(security: &str) -> SecurityConfig {
        SecurityConfig {
            mail_server: Some("smtp.example.com".into()),
            mail_port: 2525,
            mail_security: security.into(),
            mail_username: Some("u".into()),
            mail_password: Some("hunter2".into()),
            ..SecurityConfig::default()
        }
    }

    #[test]
    fn from_config_accepts_the_three_modes_and_hides_the_password() {
        for s in ["none", "starttls", "tls", "TLS"] {
            let m = SmtpMailer::from_config(&cfg(s)).unwrap();
            let dbg = format!("{m:?}");
            assert!(
                dbg.contains("smtp.example.com") && !dbg.contains("hunter2"),
                "{dbg}"
            );
        }
        assert!(matches!(
            SmtpMailer::from_config(&cfg("ssl")),
            Err(MailError::Invalid(_))
        ));
    }

    #[test]
    fn from_config_refuses_a_bad_sender_or_no_server() {
        let mut c = cfg("none");
        c.email_sender = "no-reply@localhost\r\nBcc: x@evil.test".into();
        assert!(matches!(
            SmtpMailer::from_config(&c),
            Err(MailError::Invalid(_))
        ));
        c.email_sender = "not an address".into();
        assert!(SmtpMailer::from_config(&c).is_err());
        let c = SecurityConfig::default();
        assert!(SmtpMailer::from_config(&c).is_err());
    }

    #[test]
    fn build_message_picks_the_mime_shape() {
        let sender: Mailbox = "Site <no-reply@example.com>".parse().unwrap();
        let mut m = MailMessage {
            to: "a@example.com".into(),
            subject: "Hi".into(),
            template: "t".into(),
            text: Some("text body".into()),
            html: Some("<p>html body</p>".into()),
        };
        let raw = String::from_utf8(build_message(&sender, &m).unwrap().formatted()).unwrap();
        assert!(raw.contains("multipart/alternative"), "{raw}");
        assert!(raw.contains("text body") && raw.contains("<p>html body</p>"));
        m.html = None;
        let raw = String::from_utf8(build_message(&sender, &m).unwrap().formatted()).unwrap();
        assert!(
            !raw.contains("multipart") && raw.contains("text/plain"),
            "{raw}"
        );
    }
}
