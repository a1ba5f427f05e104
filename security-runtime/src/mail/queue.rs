//! Mail sent off the request path: a request only checks and queues its message; a
//! background task sends it, retrying a failed send with a doubling delay and logging
//! the message it gives up on. The request then takes the same time whether a mail
//! went out or not, and a slow or failing SMTP server never delays an answer
//! (`mail_queue`, on with generic responses).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;

use super::{validate, MailError, MailMessage, MailUtil};

/// Messages waiting beyond which a send is refused (the server is down for long).
const CAPACITY: usize = 10_000;

/// A [`MailUtil`] that queues each message for a background sender.
#[derive(Debug, Clone)]
pub struct QueuedMailer {
    tx: mpsc::Sender<MailMessage>,
}

impl QueuedMailer {
    /// Starts the background sender on the current Tokio runtime: each message is tried
    /// up to `tries` times through `inner`, waiting `retry_delay` after the first failure
    /// and twice as long after each further one.
    pub fn spawn(inner: Arc<dyn MailUtil>, tries: u32, retry_delay: Duration) -> Self {
        let (tx, mut rx) = mpsc::channel::<MailMessage>(CAPACITY);
        tokio::spawn(async move {
            while let Some(msg) = rx.recv().await {
                // Each message on its own task: one waiting for its retry delays no other.
                let inner = inner.clone();
                tokio::spawn(async move {
                    deliver(&*inner, msg, tries.max(1), retry_delay).await;
                });
            }
        });
        QueuedMailer { tx }
    }
}

/// Sends `msg`, retrying; a message given up on is logged (template, never the body).
async fn deliver(inner: &dyn MailUtil, msg: MailMessage, tries: u32, retry_delay: Duration) {
    let mut delay = retry_delay;
    for attempt in 1..=tries {
        match inner.send(msg.clone()).await {
            Ok(()) => return,
            // A malformed message fails the same way every time.
            Err(e @ (MailError::Invalid(_) | MailError::Template(_))) => {
                log::error!("{} mail not sent: {e}", msg.template);
                return;
            }
            Err(e) if attempt == tries => {
                log::error!("{} mail not sent after {tries} tries: {e}", msg.template);
            }
            Err(e) => {
                log::warn!(
                    "{} mail: try {attempt} failed ({e}); retrying",
                    msg.template
                );
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
            }
        }
    }
}

#[rocket::async_trait]
impl MailUtil for QueuedMailer {
    /// Checks the message and queues it; the answer does not wait for the server.
    async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
        validate(&msg)?;
        self.tx.try_send(msg).map_err(|e| {
            let why = match e {
                mpsc::error::TrySendError::Full(_) => "the mail queue is full",
                mpsc::error::TrySendError::Closed(_) => "the mail sender has stopped",
            };
            MailError::Transport(why.into())
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::mail::CapturingMailer;

    /// Refuses the first `fail` sends, then hands messages to a capturing mailer.
    struct Flaky {
        fail: u32,
        calls: AtomicU32,
        out: CapturingMailer,
    }

    #[rocket::async_trait]
    impl MailUtil for Flaky {
        async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fail {
                return Err(MailError::Transport("refused".into()));
            }
            self.out.send(msg).await
        }
    }

    fn message(to: &str) -> MailMessage {
        MailMessage {
            to: to.into(),
            subject: "s".into(),
            template: "reset_instructions".into(),
            text: Some("t".into()),
            html: None,
        }
    }

    #[tokio::test]
    async fn a_refused_send_is_retried_and_gives_up_after_its_tries() {
        let out = CapturingMailer::new();
        let flaky = Arc::new(Flaky {
            fail: 2,
            calls: AtomicU32::new(0),
            out: out.clone(),
        });
        let q = QueuedMailer::spawn(flaky.clone(), 3, Duration::from_millis(1));
        q.send(message("a@example.com")).await.unwrap();
        assert_eq!(out.wait_for(1, Duration::from_secs(2)).await.len(), 1);
        assert_eq!(flaky.calls.load(Ordering::SeqCst), 3);

        let never = Arc::new(Flaky {
            fail: u32::MAX,
            calls: AtomicU32::new(0),
            out: CapturingMailer::new(),
        });
        let q = QueuedMailer::spawn(never.clone(), 4, Duration::from_millis(1));
        q.send(message("b@example.com")).await.unwrap();
        for _ in 0..200 {
            if never.calls.load(Ordering::SeqCst) >= 4 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(never.calls.load(Ordering::SeqCst), 4, "no fifth try");
    }

    /// Refuses mail to `refused@`, hands the rest to a capturing mailer.
    struct Picky(CapturingMailer);

    #[rocket::async_trait]
    impl MailUtil for Picky {
        async fn send(&self, msg: MailMessage) -> Result<(), MailError> {
            if msg.to.starts_with("refused@") {
                return Err(MailError::Transport("refused".into()));
            }
            self.0.send(msg).await
        }
    }

    #[tokio::test]
    async fn a_message_waiting_for_its_retry_delays_no_other() {
        let out = CapturingMailer::new();
        let q = QueuedMailer::spawn(Arc::new(Picky(out.clone())), 3, Duration::from_secs(60));
        q.send(message("refused@example.com")).await.unwrap();
        q.send(message("b@example.com")).await.unwrap();
        let sent = out.wait_for(1, Duration::from_secs(5)).await;
        assert_eq!(
            sent.len(),
            1,
            "the second mail went out while the first waits"
        );
        assert_eq!(sent[0].to, "b@example.com");
    }

    #[tokio::test]
    async fn a_malformed_message_is_refused_at_once() {
        let q = QueuedMailer::spawn(Arc::new(CapturingMailer::new()), 3, Duration::ZERO);
        let err = q.send(message("bad\r\nBcc: x@example.com")).await;
        assert!(matches!(err, Err(MailError::Invalid(_))), "{err:?}");
    }
}
