//! Outgoing text messages: the [`SmsSender`] trait, a development sender and Twilio.
//!
//! Parity: `flask_security.SmsSenderBaseClass`, `SmsSenderFactory`, `DummySmsSender`,
//! `TwilioSmsSender` (`SMS_SERVICE`, `SMS_SERVICE_CONFIG`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
pub enum SmsError {
    /// The sender is misconfigured.
    #[error("sms sender misconfigured: {0}")]
    Config(String),
    /// The service refused or could not be reached.
    #[error("sms not sent: {0}")]
    Transport(String),
}

/// Sends a text message; an application may implement its own.
#[rocket::async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends `msg` to `to` (E.164).
    async fn send(&self, to: &str, msg: &str) -> Result<(), SmsError>;
}

/// The development sender (`sms_service = "Dummy"`): sends nothing and logs only that a
/// message would have gone (never its text, which holds a code).
#[derive(Debug, Default)]
pub struct DummySender;

#[rocket::async_trait]
impl SmsSender for DummySender {
    async fn send(&self, to: &str, _msg: &str) -> Result<(), SmsError> {
        log::info!("sms (not sent, sms_service = \"Dummy\") to {}", mask(to));
        Ok(())
    }
}

/// A sender that keeps what it is given, for tests.
#[derive(Debug, Default, Clone)]
pub struct CapturingSender {
    sent: Arc<Mutex<Vec<(String, String)>>>,
}

impl CapturingSender {
    /// The messages sent so far: (to, text).
    pub fn sent(&self) -> Vec<(String, String)> {
        self.sent.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

#[rocket::async_trait]
impl SmsSender for CapturingSender {
    async fn send(&self, to: &str, msg: &str) -> Result<(), SmsError> {
        if let Ok(mut v) = self.sent.lock() {
            v.push((to.to_owned(), msg.to_owned()));
        }
        Ok(())
    }
}

/// Twilio's Messages API over HTTPS (`sms_service = "Twilio"`), with a configurable
/// base URL (`BASE_URL`, default `https://api.twilio.com`).
pub struct TwilioSender {
    agent: ureq::Agent,
    url: String,
    account_sid: String,
    auth_token: String,
    from: String,
}

impl std::fmt::Debug for TwilioSender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwilioSender")
            .field("url", &self.url)
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl TwilioSender {
    /// A sender from `sms_service_config` (`ACCOUNT_SID`, `AUTH_TOKEN`, `PHONE_NUMBER`,
    /// optional `BASE_URL`).
    pub fn new(config: &BTreeMap<String, String>) -> Result<Self, SmsError> {
        let get = |k: &str| {
            config
                .get(k)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| SmsError::Config(format!("`sms_service_config.{k}` is not set")))
        };
        let account_sid = get("ACCOUNT_SID")?;
        if !account_sid.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SmsError::Config(
                "`ACCOUNT_SID` must be alphanumeric".into(),
            ));
        }
        let base = config
            .get("BASE_URL")
            .cloned()
            .unwrap_or_else(|| "https://api.twilio.com".into());
        Ok(TwilioSender {
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(10))
                .build(),
            url: format!(
                "{}/2010-04-01/Accounts/{account_sid}/Messages.json",
                base.trim_end_matches('/')
            ),
            auth_token: get("AUTH_TOKEN")?,
            from: get("PHONE_NUMBER")?,
            account_sid,
        })
    }
}

#[rocket::async_trait]
impl SmsSender for TwilioSender {
    async fn send(&self, to: &str, msg: &str) -> Result<(), SmsError> {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.account_sid, self.auth_token));
        let request = self
            .agent
            .post(&self.url)
            .set("Authorization", &format!("Basic {auth}"));
        let form = [
            ("To".to_owned(), to.to_owned()),
            ("From".to_owned(), self.from.clone()),
            ("Body".to_owned(), msg.to_owned()),
        ];
        // ureq's error is large: reduce it to the message inside the blocking task.
        tokio::task::spawn_blocking(move || {
            let pairs: Vec<(&str, &str)> =
                form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            request.send_form(&pairs).map(|_| ()).map_err(|e| match e {
                ureq::Error::Status(code, _) => SmsError::Transport(format!("HTTP {code}")),
                ureq::Error::Transport(t) => SmsError::Transport(t.kind().to_string()),
            })
        })
        .await
        .map_err(|e| SmsError::Transport(e.to_string()))?
    }
}

/// The sender `sms_service` names: `Dummy` or `Twilio`.
pub fn sender_from_config(
    service: &str,
    config: &BTreeMap<String, String>,
) -> Result<Arc<dyn SmsSender>, SmsError> {
    match service {
        "Dummy" | "dummy" => Ok(Arc::new(DummySender)),
        "Twilio" | "twilio" => Ok(Arc::new(TwilioSender::new(config)?)),
        other => Err(SmsError::Config(format!(
            "`security.sms_service` `{other}` is not known; use `Dummy`, `Twilio`, or \
             `Security::sms_sender`"
        ))),
    }
}

/// A phone number for a log line: all but the last two digits hidden.
fn mask(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    let keep = chars.len().saturating_sub(2);
    let tail: String = chars[keep..].iter().collect();
    format!("{}{tail}", "*".repeat(keep))
}
