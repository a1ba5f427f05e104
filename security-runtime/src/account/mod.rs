//! Account logic: what the account flows do, without HTTP.
//!
//! Functions here take the state and typed inputs and return typed outcomes; the web
//! layer parses requests into them and renders what they return.

use crate::error::Result;
use crate::model::User;
use crate::signals::Signal;
use crate::state::SecurityState;

pub mod change;
pub mod change_email;
pub mod confirm;
pub(crate) mod form;
pub(crate) mod links;
pub(crate) mod mail;
pub mod passwordless;
pub mod recover;
pub mod recovery;
pub mod register;
pub mod state_token;
pub mod two_factor;
pub mod unified;
pub mod username;
#[cfg(feature = "webauthn")]
pub mod webauthn;

pub use form::FormErrors;

/// Sets a user's password as an administrator: new hash, new `fs_uniquifier` (every
/// session and token of the user dies), in one write; mails `change_notice` when
/// `notify`. The password must already be validated.
///
/// Parity: `flask_security.admin_change_password(user, new_passwd, notify=True)`.
pub async fn admin_change_password(
    state: &SecurityState,
    user: &mut User,
    new_password: &str,
    notify: bool,
) -> Result<()> {
    let hash = state.hash_password(new_password).await?;
    crate::datastore::update(state.datastore.as_ref(), user, |u| {
        u.password = Some(hash);
        u.rotate_identity();
    })
    .await?;
    state.send(Signal::PasswordChanged { user_id: user.id });
    if notify && state.config.send_password_change_email {
        let subject = &state.config.email_subject_password_change_notice;
        crate::account::mail::notify(
            state,
            state.catalog.default_locale(),
            "change_notice",
            user,
            subject,
        )
        .await;
    }
    Ok(())
}

/// Whether `user` holds a WebAuthn credential that may re-authenticate: one of a usage
/// in `wan_allow_as_verify`.
///
/// Parity: `has_webauthn(current_user, WAN_ALLOW_AS_VERIFY)`.
pub async fn has_webauthn_verify(state: &SecurityState, user: &User) -> Result<bool> {
    let usages = &state.config.wan_allow_as_verify;
    crate::second_factor::has_webauthn(state, user, usages).await
}

/// What the account unit tests build on: a state over a fresh in-memory SQLite database
/// with captured mail, and no Rocket.
#[cfg(test)]
pub(crate) mod testing {
    #![allow(clippy::unwrap_used)]

    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};

    use crate::config::SecurityConfig;
    use crate::datastore::{NewUser, SqlDatastore, UserDatastore};
    use crate::mail::CapturingMailer;
    use crate::mail::{MailError, MailMessage, MailUtil};
    use crate::model::User;
    use crate::signals::Signal;
    use crate::state::SecurityState;

    /// The test settings: a fixed secret, cheap hashing, mail to `https://app.test`.
    pub(crate) fn config() -> SecurityConfig {
        SecurityConfig {
            secret_key: Some("account-unit-tests-secret-key-0123456789".into()),
            password_salt: Some("account-unit-tests-salt".into()),
            external_url: Some("https://app.test".into()),
            argon2_memory_cost: 1024,
            argon2_time_cost: 1,
            argon2_parallelism: 1,
            ..SecurityConfig::default()
        }
    }

    /// A state over an empty, migrated database, and the mailer that captures its mail.
    pub(crate) async fn state(cfg: SecurityConfig) -> (SecurityState, CapturingMailer) {
        // One connection: every connection to `sqlite::memory:` is a database of its own.
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(1)
            .connect("sqlite::memory:")
            .await
            .unwrap();
        let ds: Arc<dyn UserDatastore> = Arc::new(SqlDatastore::from(pool));
        ds.migrate().await.unwrap();
        let mailer = CapturingMailer::new();
        let st = SecurityState::new(cfg, ds, Arc::new(mailer.clone())).unwrap();
        (st, mailer)
    }

    /// `config()` with `confirmable` on.
    pub(crate) fn confirmable() -> SecurityConfig {
        SecurityConfig {
            confirmable: true,
            ..config()
        }
    }

    /// Records every signal `st` sends.
    pub(crate) fn record_signals(st: &mut SecurityState) -> Arc<Mutex<Vec<Signal>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = seen.clone();
        st.hooks.listeners.push(Arc::new(move |s: &Signal| {
            sink.lock().unwrap().push(s.clone())
        }));
        seen
    }

    /// A mailer whose every send fails.
    pub(crate) struct RefusingMailer;

    // Written out as `async_trait` expands it, so these tests need no Rocket.
    impl MailUtil for RefusingMailer {
        fn send<'a, 'f>(
            &'a self,
            _msg: MailMessage,
        ) -> Pin<Box<dyn Future<Output = Result<(), MailError>> + Send + 'f>>
        where
            'a: 'f,
            Self: 'f,
        {
            Box::pin(async { Err(MailError::Transport("refused".into())) })
        }
    }

    /// The one mail `mailer` caught; it used `template`.
    pub(crate) fn one_mail(mailer: &CapturingMailer, template: &str) -> MailMessage {
        let mut mails = mailer.messages();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert_eq!(mails[0].template, template);
        mails.remove(0)
    }

    /// Creates an active user with a password.
    pub(crate) async fn user(st: &SecurityState, email: &str, password: &str) -> User {
        let hash = st.hash_password(password).await.unwrap();
        st.datastore
            .create_user(NewUser {
                email: email.into(),
                password: Some(hash),
                ..NewUser::default()
            })
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn a_state_is_never_built_without_a_secret_key() {
        let (st, _) = state(config()).await;
        let build =
            |cfg| SecurityState::new(cfg, st.datastore.clone(), Arc::new(CapturingMailer::new()));
        for key in [None, Some(String::new())] {
            let cfg = SecurityConfig {
                secret_key: key,
                ..config()
            };
            assert!(build(cfg).is_err_and(|e| e.contains("secret_key")));
        }
        let cfg = SecurityConfig {
            max_concurrent_hashes: 0,
            ..config()
        };
        assert!(build(cfg).is_err_and(|e| e.contains("max_concurrent_hashes")));
    }

    #[tokio::test]
    async fn a_state_without_rocket_stores_and_hashes() {
        let (st, mailer) = state(config()).await;
        let u = user(&st, "a@example.com", "password123").await;
        let found =
            crate::auth::verify_credentials(&st, "a@example.com", "password123", "password", None)
                .await
                .unwrap();
        assert!(
            matches!(found, crate::auth::Credentials::Verified { user, .. } if user.id == u.id)
        );
        assert!(mailer.messages().is_empty());
    }
}
