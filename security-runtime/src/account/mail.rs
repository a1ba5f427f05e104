//! Mail the account flows send: rendering, sending, notices, absolute links.

use std::future::Future;

use serde_json::{json, Value};

use crate::mail::{MailError, MailMessage};
use crate::messages::{Catalog, Text};
use crate::model::User;
use crate::state::SecurityState;

/// Sends a notice about a change to the user; a failure is logged, not fatal (the
/// change is already stored).
pub(crate) async fn notify(
    st: &SecurityState,
    locale: &str,
    template: &str,
    user: &User,
    subject: &str,
) {
    if let Err(e) = send_mail(
        st,
        locale,
        template,
        &user.email,
        subject,
        json!({"user": mail_user(user)}),
    )
    .await
    {
        log::warn!("{template} mail not sent: {e}");
    }
}

/// Runs `work`, what a request does only for a known identity (issuing a link, mailing
/// it). With mail queued ([`SecurityConfig::mail_queued`], on with generic responses) it
/// runs after the answer, so a request does the same work whichever identity it names
/// and takes the same time; its failure is then logged. Otherwise it runs here and its
/// failure is the caller's.
///
/// [`SecurityConfig::mail_queued`]: crate::config::SecurityConfig::mail_queued
pub(crate) async fn known_identity_work<F, Fut, E>(st: &SecurityState, work: F) -> Result<(), E>
where
    F: FnOnce(SecurityState) -> Fut,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: std::fmt::Display + Send + 'static,
{
    let job = work(st.clone());
    if !st.config.mail_queued() {
        return job.await;
    }
    tokio::spawn(async move {
        // A task spawned here would run on this worker as soon as the request's task
        // pauses, before its answer goes out; yielding first puts it behind the answer.
        tokio::task::yield_now().await;
        if let Err(e) = job.await {
            log::error!("security mail failed: {e}");
        }
    });
    Ok(())
}

/// Why a mail to a known identity did not go out: storing what it carries (a link's
/// nonce) failed, or sending it did.
#[derive(Debug)]
pub(crate) enum Unsent {
    /// The datastore failed.
    Store(crate::SecurityError),
    /// The mail was not sent.
    Mail(MailError),
}

impl std::fmt::Display for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsent::Store(e) => write!(f, "{e}"),
            Unsent::Mail(e) => write!(f, "{e}"),
        }
    }
}

impl From<crate::SecurityError> for Unsent {
    fn from(e: crate::SecurityError) -> Self {
        Unsent::Store(e)
    }
}

impl From<MailError> for Unsent {
    fn from(e: MailError) -> Self {
        Unsent::Mail(e)
    }
}

/// An absolute link for a mail, built from `external_url`, never from the request.
pub(crate) fn link(st: &SecurityState, path: &str) -> String {
    let base = st
        .config
        .external_url
        .as_deref()
        .unwrap_or("http://localhost:8000")
        .trim_end_matches('/');
    format!("{base}{}", st.config.url(path))
}

/// `{url}/{token}` as Flask-Security builds token URLs.
pub(crate) fn token_path(url: &str, token: &str) -> String {
    if url.ends_with('/') {
        format!("{url}{token}")
    } else {
        format!("{url}/{token}")
    }
}

/// The user as mail templates see it.
pub(crate) fn mail_user(user: &User) -> Value {
    json!({"email": user.email, "username": user.username, "id": user.id})
}

/// Mails an anonymous caller can have sent to any address: capped per address
/// (`mail_max_per_hour`). Notices of a change the user made are not. Mails that carry a
/// reset link (`reset_instructions`, `welcome_existing`) are checked by their callers
/// with [`within_mail_cap`] before the link is issued, since issuing one voids the last;
/// so are unified sign-in codes (`us_instructions`, and texts), since sending one voids the
/// earlier codes.
const CAPPED: [&str; 6] = [
    "confirmation_instructions",
    "username_recovery",
    "two_factor_instructions",
    "welcome_existing_username",
    "change_email_instructions",
    "login_instructions",
];

/// Counts a capped mail to `to` and says whether it may go (see [`CAPPED`]).
pub(crate) fn within_mail_cap(st: &SecurityState, to: &str) -> bool {
    let ok = st.mail_cap.allow(to, st.now());
    if !ok {
        log::warn!("a mail was dropped: its address is over `mail_max_per_hour`");
    }
    ok
}

/// Renders and sends one mail in `locale` (templates see it as `lang`; the subject is
/// translated too). A capped mail over its address's cap is dropped, answering as sent.
pub(crate) async fn send_mail(
    st: &SecurityState,
    locale: &str,
    template: &str,
    to: &str,
    subject: &str,
    mut context: Value,
) -> Result<(), MailError> {
    if CAPPED.contains(&template) && !within_mail_cap(st, to) {
        return Ok(());
    }
    if let Value::Object(m) = &mut context {
        m.insert("lang".into(), json!(locale));
    }
    let (text, html) = st.mail_templates.render(template, &context, &st.config)?;
    st.mailer
        .send(MailMessage {
            to: to.to_owned(),
            subject: st.catalog.gettext(locale, subject).to_owned(),
            template: template.to_owned(),
            text,
            html,
        })
        .await
}

/// A duration in words, as `_td_format`: "2 days", "1 hour, 30 minutes" (translated).
pub(crate) fn within_text(catalog: &Catalog, locale: &str, secs: u64) -> String {
    // One msgid per unit and number (no plural forms in the catalogs).
    let units = [
        (86_400, "%(num)d day", "%(num)d days"),
        (3_600, "%(num)d hour", "%(num)d hours"),
        (60, "%(num)d minute", "%(num)d minutes"),
        (1, "%(num)d second", "%(num)d seconds"),
    ];
    let unit = |n: u64, one: &'static str, many: &'static str| {
        catalog.text(
            locale,
            &Text::new(if n == 1 { one } else { many }).arg("num", n),
        )
    };
    let mut rest = secs;
    let mut parts = Vec::new();
    for (size, one, many) in units {
        let n = rest / size;
        if n > 0 {
            parts.push(unit(n, one, many));
            rest %= size;
        }
    }
    if parts.is_empty() {
        unit(0, "%(num)d second", "%(num)d seconds")
    } else {
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::time::Duration;

    use super::*;
    use crate::account::testing::{config, state};
    use crate::config::SecurityConfig;

    /// A job that never ends: awaited here, it would hold the request forever.
    async fn never(_: SecurityState) -> Result<(), MailError> {
        std::future::pending().await
    }

    #[tokio::test]
    async fn with_mail_queued_known_identity_work_runs_after_the_answer() {
        let cfg = SecurityConfig {
            return_generic_responses: true,
            ..config()
        };
        let (st, _) = state(cfg).await;
        let done = tokio::time::timeout(Duration::from_secs(5), known_identity_work(&st, never));
        assert!(matches!(done.await, Ok(Ok(()))), "the request did not wait");
    }

    #[tokio::test]
    async fn without_the_queue_it_runs_here_and_its_failure_is_returned() {
        let cfg = SecurityConfig {
            return_generic_responses: true,
            mail_queue: Some(false),
            ..config()
        };
        let (st, _) = state(cfg).await;
        let failing = |_| async { Err::<(), _>(MailError::Transport("refused".into())) };
        let out = known_identity_work(&st, failing).await;
        assert!(matches!(out, Err(MailError::Transport(_))), "{out:?}");
        let waited =
            tokio::time::timeout(Duration::from_millis(50), known_identity_work(&st, never));
        assert!(waited.await.is_err(), "the job is awaited in the request");
    }
}
