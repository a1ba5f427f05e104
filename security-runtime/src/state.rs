//! The state every security request works with, managed by Rocket: configuration,
//! datastore, hashing, serializers, mail and the application's hooks.
//!
//! It sits below the web layer and the fairing (which builds it), so identity and
//! account logic use it without reaching upward.

use std::sync::Arc;

use rocket::request::Request;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::config::SecurityConfig;
use crate::datastore::UserDatastore;
use crate::hashing::PasswordContext;
use crate::mail::{MailTemplates, MailUtil};
use crate::messages::Catalog;
use crate::model::User;
use crate::session::{CookieStore, SessionStore};
use crate::tokens::TokenSerializer;
use crate::validation::{
    DefaultPasswordUtil, DefaultPhoneUtil, DefaultUsernameUtil, PasswordUtil, PhoneUtil,
    UsernameUtil,
};

/// Builds the JSON body from a payload and status code.
pub type RenderJsonHook = Arc<dyn Fn(Value, u16) -> Value + Send + Sync>;
/// Decides whether a request wants JSON.
pub type WantJsonHook = Arc<dyn Fn(&Request<'_>) -> bool + Send + Sync>;
/// Per-user auth-token expiry (epoch seconds, 0 = none).
pub type TokenExpireHook = Arc<dyn Fn(&User) -> i64 + Send + Sync>;
/// Adds claims to a new auth token.
pub type AugmentTokenHook = Arc<dyn Fn(&User, &mut serde_json::Map<String, Value>) + Send + Sync>;
/// Extra verification of an auth token's claims.
pub type VerifyTokenHook =
    Arc<dyn Fn(&User, &serde_json::Map<String, Value>) -> bool + Send + Sync>;
/// Builds the JSON `user` object (`get_security_payload`).
pub type UserPayloadHook = Arc<dyn Fn(&User) -> serde_json::Map<String, Value> + Send + Sync>;
/// Chooses the locale of a request's answers (`None`: let negotiation or the default
/// decide).
pub type LocaleHook = Arc<dyn Fn(&Request<'_>) -> Option<String> + Send + Sync>;
/// The clock: epoch seconds.
pub type Clock = Arc<dyn Fn() -> f64 + Send + Sync>;

/// Application hooks.
///
/// Parity: `Security.render_json`, `want_json`, `SECURITY_TOKEN_EXPIRE_TIMESTAMP`,
/// `UserMixin.augment_auth_token`, `UserMixin.verify_auth_token`.
#[derive(Clone)]
pub struct Hooks {
    /// Builds every JSON body.
    pub render_json: RenderJsonHook,
    /// JSON or HTML.
    pub want_json: WantJsonHook,
    /// Per-user token expiry.
    pub token_expire_timestamp: TokenExpireHook,
    /// Extra token claims.
    pub augment_auth_token: Option<AugmentTokenHook>,
    /// Extra token verification.
    pub verify_auth_token: Option<VerifyTokenHook>,
    /// Time source.
    pub clock: Clock,
    /// Signal subscribers.
    pub listeners: Vec<crate::signals::Listener>,
    /// Builds the JSON `user` object from the stored user.
    pub user_payload: UserPayloadHook,
    /// The application's locale selector.
    pub locale: Option<LocaleHook>,
}

impl Default for Hooks {
    fn default() -> Self {
        Hooks {
            render_json: Arc::new(default_render_json),
            want_json: Arc::new(default_want_json),
            token_expire_timestamp: Arc::new(|_| 0),
            augment_auth_token: None,
            verify_auth_token: None,
            clock: Arc::new(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs_f64())
                    .unwrap_or(0.0)
            }),
            listeners: Vec::new(),
            user_payload: Arc::new(<User as crate::model::UserModel>::security_payload),
            locale: None,
        }
    }
}

/// Everything the guards and routes need, managed as Rocket state: a cheap handle (its
/// clones share one [`StateData`], which it dereferences to), so that work outliving a
/// request, such as a mail sent after the answer, can hold it.
#[derive(Clone)]
pub struct SecurityState(Arc<StateData>);

impl std::ops::Deref for SecurityState {
    type Target = StateData;

    fn deref(&self) -> &StateData {
        &self.0
    }
}

impl std::ops::DerefMut for SecurityState {
    /// Changing the state is for building it (the fairing, tools, tests): before a clone
    /// shares it. Changing a shared state is a bug and panics.
    fn deref_mut(&mut self) -> &mut StateData {
        Arc::get_mut(&mut self.0).expect("the security state is changed only before it is shared")
    }
}

/// What a [`SecurityState`] holds.
pub struct StateData {
    /// Validated configuration.
    pub config: SecurityConfig,
    /// The datastore.
    pub datastore: Arc<dyn UserDatastore>,
    /// Password hashing.
    pub passwords: PasswordContext,
    /// Auth-token serializer (`remember_salt`).
    pub auth_tokens: TokenSerializer,
    /// CSRF-token serializer (`wtf-csrf-token`).
    pub csrf_tokens: TokenSerializer,
    /// Application hooks.
    pub hooks: Hooks,
    /// Bounds concurrent password hashing.
    pub(crate) hash_slots: Semaphore,
    /// Sends mail.
    pub mailer: Arc<dyn MailUtil>,
    /// Mail templates.
    pub mail_templates: MailTemplates,
    /// Validates new passwords.
    pub password_util: Arc<dyn PasswordUtil>,
    /// Validates usernames.
    pub username_util: Arc<dyn UsernameUtil>,
    /// Canonicalises phone numbers.
    pub phone_util: Arc<dyn PhoneUtil>,
    /// Translations and message replacements.
    pub catalog: Arc<Catalog>,
    /// Where sessions are kept.
    pub sessions: Arc<dyn SessionStore>,
    /// TOTP secrets and codes (two-factor on).
    pub totp: Option<crate::totp::TotpFactory>,
    /// How recovery codes are kept at rest.
    pub recovery_codes: Arc<crate::recovery_codes::CodeStore>,
    /// Where texted codes go.
    pub sms: Arc<dyn crate::sms::SmsSender>,
    /// Where WebAuthn credentials are kept (`webauthn` on).
    pub webauthn: Option<Arc<dyn crate::datastore::WebAuthnStore>>,
    /// Failed attempts per client address (`failed_attempts_per_address`).
    pub(crate) addresses: crate::throttle::AddressLimiter,
    /// Capped mails sent per address (`mail_max_per_hour`).
    pub(crate) mail_cap: crate::mail::MailCap,
}

impl SecurityState {
    /// A state from a checked configuration, with the default utilities and hooks: what
    /// the fairing starts from, and what tools and tests use without Rocket.
    pub fn new(
        config: SecurityConfig,
        datastore: Arc<dyn UserDatastore>,
        mailer: Arc<dyn MailUtil>,
    ) -> Result<SecurityState, String> {
        let conf_err = |e: &dyn std::fmt::Display| format!("security configuration: {e}");
        // Every token, link and CSRF secret is signed with it: never with an empty key.
        if config.secret_key.as_deref().is_none_or(str::is_empty) {
            return Err(conf_err(&"`security.secret_key` must be set"));
        }
        config.validate(true).map_err(|e| conf_err(&e))?;
        let passwords = PasswordContext::new(config.hashing()).map_err(|e| conf_err(&e))?;
        let catalog = Arc::new(Catalog::load(&config).map_err(|e| conf_err(&e))?);
        let mail_templates = MailTemplates::with_catalog(&config, catalog.clone())
            .map_err(|e| format!("security configuration (mail templates): {e}"))?;
        let keys = secret_keys(&config);
        let totp = config.totp_factory().map_err(|e| conf_err(&e))?;
        let recovery_codes = crate::recovery_codes::CodeStore::new(
            &config.multi_factor_recovery_codes_keys,
            config.multi_factor_recovery_code_ttl,
        )
        .map_err(|e| conf_err(&e))?;
        let sms = crate::sms::sender_from_config(&config.sms_service, &config.sms_service_config)
            .map_err(|e| conf_err(&e))?;
        let webauthn = datastore.webauthn_store().filter(|_| config.webauthn);
        if config.webauthn && webauthn.is_none() {
            return Err(conf_err(
                &"`security.webauthn` needs a datastore that keeps WebAuthn credentials",
            ));
        }
        Ok(SecurityState(Arc::new(StateData {
            totp,
            recovery_codes: Arc::new(recovery_codes),
            sms,
            webauthn,
            mailer,
            mail_templates,
            password_util: Arc::new(DefaultPasswordUtil::new(&config)),
            username_util: Arc::new(DefaultUsernameUtil::new(&config)),
            phone_util: Arc::new(DefaultPhoneUtil::new(&config)),
            auth_tokens: TokenSerializer::new(keys.clone(), config.remember_salt.clone()),
            csrf_tokens: TokenSerializer::new(keys, "wtf-csrf-token"),
            hash_slots: Semaphore::new(config.max_concurrent_hashes),
            passwords,
            datastore,
            hooks: Hooks::default(),
            catalog,
            sessions: Arc::new(CookieStore::new(&config)),
            addresses: crate::throttle::AddressLimiter::new(config.failed_attempts_per_address),
            mail_cap: crate::mail::MailCap::new(config.mail_max_per_hour),
            config,
        })))
    }
}

impl StateData {
    /// Now, epoch seconds, from the configured clock.
    pub fn now(&self) -> f64 {
        (self.hooks.clock)()
    }

    /// Now from the configured clock as a naive UTC time (Flask-Security's datetime
    /// columns), to the microsecond.
    pub fn now_naive(&self) -> chrono::NaiveDateTime {
        chrono::DateTime::from_timestamp_micros((self.now() * 1e6) as i64)
            .map(|d| d.naive_utc())
            .unwrap_or_default()
    }

    /// Sends a signal to every subscriber.
    pub fn send(&self, signal: crate::signals::Signal) {
        for l in &self.hooks.listeners {
            l(&signal);
        }
    }

    /// A serializer for another purpose (salt), with the same keys.
    pub fn serializer(&self, salt: &str) -> TokenSerializer {
        TokenSerializer::new(secret_keys(&self.config), salt)
    }

    /// Parity: `hash_password`, run off the async executor.
    pub async fn hash_password(&self, password: &str) -> crate::Result<String> {
        let ctx = self.passwords.clone();
        let pw = ctx.normalize(password);
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| crate::SecurityError::Task)?;
        tokio::task::spawn_blocking(move || ctx.hash_password(&pw))
            .await
            .map_err(|_| crate::SecurityError::Task)?
            .map_err(Into::into)
    }

    /// Parity: `verify_and_update_password`, off the executor; returns validity and a
    /// replacement hash when the stored one uses an outdated scheme.
    pub async fn verify_and_update(
        &self,
        password: &str,
        stored: &str,
    ) -> crate::Result<(bool, Option<String>)> {
        let ctx = self.passwords.clone();
        let pw = ctx.normalize(password);
        let stored = stored.to_owned();
        let _slot = self
            .hash_slots
            .acquire()
            .await
            .map_err(|_| crate::SecurityError::Task)?;
        tokio::task::spawn_blocking(move || ctx.verify_and_update(&pw, &stored))
            .await
            .map_err(|_| crate::SecurityError::Task)
    }
}

/// The serializers' keys, oldest first: the fallbacks, then `secret_key`. A serializer
/// signs with the last key and verifies with any, so `secret_key` signs and the
/// fallbacks only verify, as Flask documents `SECRET_KEY_FALLBACKS`. (Flask-Security
/// passes `[SECRET_KEY, *FALLBACKS]`, which signs with the last fallback and so never
/// lets a rotation take effect; its tokens still verify here.)
fn secret_keys(cfg: &SecurityConfig) -> Vec<Vec<u8>> {
    cfg.secret_key_fallbacks
        .iter()
        .map(|k| k.as_bytes().to_vec())
        .chain(std::iter::once(
            cfg.secret_key.clone().unwrap_or_default().into_bytes(),
        ))
        .collect()
}

/// The default JSON envelope: `{"meta":{"code":N},"response":payload}`.
///
/// Parity: `default_render_json`.
pub fn default_render_json(payload: Value, code: u16) -> Value {
    json!({"meta": {"code": code}, "response": payload})
}

/// JSON wanted: JSON body, or `Accept` preferring `application/json`.
///
/// Parity: `_default_want_json`.
pub fn default_want_json(req: &Request<'_>) -> bool {
    if let Some(ct) = req.content_type() {
        if ct.is_json() || ct.sub().as_str().ends_with("+json") {
            return true;
        }
    }
    req.accept()
        .map(|a| {
            let p = a.preferred();
            p.top() == "application" && p.sub() == "json"
        })
        .unwrap_or(false)
}
