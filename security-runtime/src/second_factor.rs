//! The second factor of a sign-in: whether one is needed (a code method, or a
//! `secondary` WebAuthn key), the partial sign-in kept in the session between the two
//! steps, code checks (windows, replay protection), and the remember-this-browser
//! cookie.
//!
//! A user who proved only the first factor is not signed in: the session holds
//! `tf_user_id` (not `_user_id`), so every guard, the token endpoint and the account
//! views treat the request as anonymous until [`complete_login`] runs.
//!
//! Parity: `tf_plugin.TfPlugin.tf_enter`, `tf_plugin.tf_clean_session`,
//! `twofactor.tf_login`, `twofactor.complete_two_factor_process`.

use std::net::IpAddr;

use rocket::http::{Cookie, CookieJar};
use serde_json::json;

use crate::datastore::{CodeFailures, CodeSlot, Factor, UserQuery};
use crate::error::Result;
use crate::lockout::Gate;
use crate::model::User;
use crate::session::{CsrfCookie, Session, SessionData, TwoFactorState};
use crate::signals::Signal;
use crate::state::SecurityState;
use crate::totp::TotpKey;

/// `tf_state` while the user sets up a method at sign-in.
pub const SETUP_FROM_LOGIN: &str = "setup_from_login";
/// `tf_state` while a new method's code is awaited.
pub const VALIDATING_PROFILE: &str = "validating_profile";
/// `tf_state` while the sign-in's code is awaited.
pub const READY: &str = "ready";

/// The code methods, as Flask-Security names them.
pub const CODE_METHODS: [&str; 3] = ["email", "authenticator", "sms"];

/// A method's canonical name; the legacy `google_authenticator` and `mail` are read too.
pub fn canonical(method: &str) -> Option<&'static str> {
    match method {
        "email" | "mail" => Some("email"),
        "authenticator" | "google_authenticator" => Some("authenticator"),
        "sms" => Some("sms"),
        _ => None,
    }
}

/// The user's method, when one is set up.
pub fn method_of(user: &User) -> Option<&'static str> {
    user.tf_primary_method
        .as_deref()
        .and_then(canonical)
        .filter(|_| user.tf_totp_secret.is_some())
}

/// The second-factor method of a WebAuthn security key (a `secondary` credential).
pub const WEBAUTHN: &str = "webauthn";

/// What the user must do after the first factor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pending {
    /// Set a method up first (`tf_state = setup_from_login`).
    Setup,
    /// Enter the code of `method`, or use a key (`webauthn`) (`tf_state = ready`).
    Ready {
        /// The user's method.
        method: &'static str,
    },
    /// Choose one of `methods` first (`tf_select`).
    Select {
        /// The user's methods.
        methods: Vec<&'static str>,
    },
}

/// True when `webauthn` is on and the user has a credential of one of `usages`.
///
/// Parity: `has_webauthn(user, usage)`.
pub async fn has_webauthn<S: AsRef<str>>(
    st: &SecurityState,
    user: &User,
    usages: &[S],
) -> Result<bool> {
    let Some(store) = &st.webauthn else {
        return Ok(false);
    };
    let creds = store.credentials_of(user.id).await?;
    Ok(creds
        .iter()
        .any(|c| usages.iter().any(|u| u.as_ref() == c.usage)))
}

/// True when the user has a `secondary` key: a second factor.
///
/// Parity: `WebAuthnTfPlugin.get_setup_methods`.
pub async fn has_secondary_key(st: &SecurityState, user: &User) -> Result<bool> {
    has_webauthn(st, user, &["secondary"]).await
}

/// The user's second-factor methods: the code method (two-factor on) and `webauthn`.
pub async fn methods(st: &SecurityState, user: &User) -> Result<Vec<&'static str>> {
    let mut out: Vec<&'static str> = method_of(user)
        .filter(|_| st.config.two_factor)
        .into_iter()
        .collect();
    if has_secondary_key(st, user).await? {
        out.push(WEBAUTHN);
    }
    Ok(out)
}

/// True when `user` must pass a second factor now: two-factor is on, the user has a
/// method or one is required, and no valid remember-this-browser cookie spares them.
///
/// Parity: `TfPlugin.tf_enter`'s condition (`check_tf_required`, `tf_validity`).
pub async fn needed(st: &SecurityState, jar: &CookieJar<'_>, user: &User) -> Result<bool> {
    Ok(required_for(st, user).await?
        && (st.config.two_factor_always_validate || !validity_cookie_valid(st, jar, user)))
}

/// True when `user` signs in with two factors: two-factor is on and the user has a
/// method, or one is required. A mechanism that cannot carry a second factor (HTTP
/// Basic) is refused for such a user.
///
/// Parity: `UserMixin.check_tf_required`.
pub async fn required_for(st: &SecurityState, user: &User) -> Result<bool> {
    let cfg = &st.config;
    if cfg.two_factor && (cfg.two_factor_required || method_of(user).is_some()) {
        return Ok(true);
    }
    has_secondary_key(st, user).await
}

/// Starts the partial sign-in: a new session holding only the two-factor keys (and a
/// new CSRF secret), and a new count of wrong codes; the user is not signed in.
pub async fn enter(
    st: &SecurityState,
    session: &Session<'_>,
    user: &User,
    remember: bool,
    authn_via: &str,
) -> Result<Pending> {
    st.datastore
        .code_failures(user, CodeFailures::Reset)
        .await?;
    let all = methods(st, user).await?;
    let method = match all.as_slice() {
        [one] => Some(*one),
        _ => None,
    };
    let mut data = SessionData {
        fs_cc: Some(CsrfCookie::Set),
        tf: TwoFactorState {
            tf_user_id: Some(user.fs_uniquifier.clone()),
            tf_state: Some(
                if all.is_empty() {
                    SETUP_FROM_LOGIN
                } else {
                    READY
                }
                .into(),
            ),
            tf_primary_method: method.map(str::to_owned),
            tf_select: (all.len() > 1).then_some(true),
            tf_remember_login: remember.then_some(true),
            tf_authn_via: Some(authn_via.to_owned()),
            tf_started: Some(st.now() as i64),
            ..TwoFactorState::default()
        },
        ..SessionData::default()
    };
    crate::csrf::ensure_secret(&mut data);
    session.renew(data);
    Ok(match (method, all.is_empty()) {
        (Some(method), _) => Pending::Ready { method },
        (None, true) => Pending::Setup,
        (None, false) => Pending::Select { methods: all },
    })
}

/// The user of the partial sign-in in `data` when its state is one of `states`; `None`
/// when there is none, or it is void: older than `two_factor_setup_within`, not begun
/// at a sign-in, its user gone or deactivated, the user's method changed meanwhile
/// (`ready`), or a method set up meanwhile (the setup states). An old session cookie
/// sent again therefore cannot set up or use a factor the user no longer has.
pub async fn pending_user(
    st: &SecurityState,
    data: &SessionData,
    states: &[&str],
) -> Result<Option<User>> {
    let tf = &data.tf;
    let (Some(uid), Some(state), Some(_)) = (&tf.tf_user_id, &tf.tf_state, &tf.tf_authn_via) else {
        return Ok(None);
    };
    let age = tf.tf_started.map(|t| st.now() as i64 - t);
    let fresh = age.is_some_and(|a| (0..=st.config.two_factor_setup_within).contains(&a));
    if !states.contains(&state.as_str()) || !fresh {
        return Ok(None);
    }
    let user = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.clone()), false)
        .await?;
    let Some(user) = user.filter(|u| u.active) else {
        return Ok(None);
    };
    let consistent = match state.as_str() {
        READY => match tf.tf_primary_method.as_deref() {
            // The code method the user has: no credential to look up.
            Some(m) if st.config.two_factor && method_of(&user) == Some(m) => true,
            Some(m) => methods(st, &user).await?.contains(&m),
            None => tf.tf_select == Some(true) && methods(st, &user).await?.len() > 1,
        },
        _ => method_of(&user).is_none(),
    };
    Ok(consistent.then_some(user))
}

/// Ends any partial sign-in (keeps the rest of the session).
///
/// Parity: `tf_clean_session`.
pub fn clear(session: &Session<'_>) {
    if session.get().tf != TwoFactorState::default() {
        session.update(|d| d.tf = TwoFactorState::default());
    }
}

/// ± seconds a code of `method` is accepted.
pub fn window(st: &SecurityState, method: &str) -> u64 {
    let cfg = &st.config;
    match canonical(method) {
        Some("email") => cfg.two_factor_mail_validity,
        Some("sms") => cfg.two_factor_sms_validity,
        _ => cfg.two_factor_authenticator_validity,
    }
}

/// The TOTP factory; an error when two-factor is not configured.
pub fn factory(st: &SecurityState) -> Result<&crate::totp::TotpFactory> {
    st.totp
        .as_ref()
        .ok_or_else(|| crate::SecurityError::Invalid("two-factor is not configured".into()))
}

/// The key of a stored (encrypted) secret. Decrypting runs PBKDF2 (2^14 rounds, as
/// passlib), so it runs off the async executor.
pub async fn key_of(st: &SecurityState, secret: &str) -> Result<TotpKey> {
    let factory = factory(st)?.clone();
    let secret = secret.to_owned();
    tokio::task::spawn_blocking(move || factory.decrypt(&secret))
        .await
        .map_err(|_| crate::SecurityError::Task)?
        .map_err(|e| crate::SecurityError::Invalid(e.to_string()))
}

/// A new secret, encrypted for storage (PBKDF2 too: off the async executor).
pub async fn new_secret(st: &SecurityState) -> Result<String> {
    let factory = factory(st)?.clone();
    tokio::task::spawn_blocking(move || factory.generate_secret())
        .await
        .map_err(|_| crate::SecurityError::Task)
}

/// How a code fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    /// Accepted.
    Accepted,
    /// Wrong, outside its window, or (when consumed) a step already used.
    Refused,
    /// Not checked: too many failed codes; wait this many seconds.
    Throttled(u64),
}

/// Checks `code` against `secret` within `method`'s window. A sign-in (`consume`)
/// claims the step in the database, so a code works once even in parallel; setting up
/// a new secret does not. Every failure sends `user_failed_authn(auth_type = "code")`
/// unless setting up.
pub async fn check_code(
    st: &SecurityState,
    user: &User,
    secret: &str,
    method: &str,
    code: &str,
    consume: bool,
) -> Result<CodeCheck> {
    if consume {
        match crate::lockout::begin(st, user.id, Factor::Code).await? {
            Gate::Open => {}
            gate => return Ok(CodeCheck::Throttled(gate.retry_after(st).unwrap_or(1))),
        }
    }
    let key = key_of(st, secret).await?;
    let matched = key.verify(code, st.now(), window(st, method), None);
    let accepted = match matched {
        Some(step) if consume => {
            let claimed = st
                .datastore
                .claim_step(user, CodeSlot::TwoFactor, step)
                .await?;
            if !claimed {
                log::warn!(
                    "two-factor: a used code was offered again for user {}",
                    user.id
                );
            }
            claimed
        }
        Some(_) => true,
        None => false,
    };
    if accepted {
        if consume {
            crate::lockout::succeeded(st, user.id, Factor::Code).await?;
        }
        return Ok(CodeCheck::Accepted);
    }
    if consume {
        st.send(Signal::UserFailedAuthn {
            user_id: Some(user.id),
            auth_type: "code".into(),
        });
    }
    Ok(CodeCheck::Refused)
}

/// True when the user's partial sign-in has had `two_factor_max_code_failures` wrong
/// codes already (it is void until the password is proven again).
pub async fn exhausted(st: &SecurityState, user: &User) -> Result<bool> {
    let n = st.datastore.code_failures(user, CodeFailures::Read).await?;
    Ok(n >= st.config.two_factor_max_code_failures)
}

/// Counts a wrong code of the partial sign-in (in the database); true when it is voided
/// by it (the user starts again from the first factor).
pub async fn count_failure(st: &SecurityState, session: &Session<'_>, user: &User) -> Result<bool> {
    let n = st.datastore.code_failures(user, CodeFailures::Add).await?;
    let voided = n >= st.config.two_factor_max_code_failures;
    if voided {
        clear(session);
    }
    Ok(voided)
}

/// Ends the partial sign-in by signing the user in (with the remember cookie when it
/// was asked for at the first factor); `validity` sets the remember-this-browser cookie
/// when remember was asked for and `two_factor_always_validate` is off.
pub async fn complete_login(
    st: &SecurityState,
    session: &Session<'_>,
    user: &mut User,
    method: &str,
    remote: Option<IpAddr>,
    validity: bool,
) -> Result<()> {
    st.datastore
        .code_failures(user, CodeFailures::Reset)
        .await?;
    let tf = session.get().tf;
    let remember = tf.tf_remember_login.unwrap_or(false);
    let first = tf.tf_authn_via.unwrap_or_else(|| "password".into());
    crate::signin::login_user(
        st,
        session,
        user,
        remember,
        &[&first, method],
        remote,
        false,
    )
    .await?;
    if validity && remember && !st.config.two_factor_always_validate {
        set_validity_cookie(st, session.jar(), user);
    }
    Ok(())
}

/// Sets the remember-this-browser cookie: a signed, timed token of the user's
/// `fs_uniquifier` (salt `two_factor_validity_salt`), valid `two_factor_login_validity`.
///
/// Parity: `tf_set_validity_token_cookie`.
fn set_validity_cookie(st: &SecurityState, jar: &CookieJar<'_>, user: &User) {
    let cfg = &st.config;
    let token = st
        .serializer(&cfg.two_factor_validity_salt)
        .dumps_at(&json!(user.fs_uniquifier), st.now() as u64);
    let cookie = Cookie::build((cfg.two_factor_validity_cookie_name.clone(), token))
        .path("/")
        .http_only(true)
        .secure(true)
        .same_site(rocket::http::SameSite::Strict)
        .max_age(rocket::time::Duration::seconds(
            cfg.two_factor_login_validity,
        ));
    jar.add(cookie);
}

/// True when the request carries a valid remember-this-browser cookie for `user`.
///
/// Parity: `tf_verify_validity_token`.
fn validity_cookie_valid(st: &SecurityState, jar: &CookieJar<'_>, user: &User) -> bool {
    let cfg = &st.config;
    let Some(c) = jar.get(&cfg.two_factor_validity_cookie_name) else {
        return false;
    };
    let max_age = u64::try_from(cfg.two_factor_login_validity).unwrap_or(0);
    st.serializer(&cfg.two_factor_validity_salt)
        .loads_at(c.value(), Some(max_age), st.now() as u64)
        .is_ok_and(|v| {
            v.as_str().is_some_and(|uid| {
                subtle::ConstantTimeEq::ct_eq(uid.as_bytes(), user.fs_uniquifier.as_bytes()).into()
            })
        })
}
