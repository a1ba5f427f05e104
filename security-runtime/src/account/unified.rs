//! Unified sign-in account logic: which methods a user has, checking a passcode (a
//! password or a code of any method), sending codes and magic links, and the set-up
//! state token.
//!
//! Beyond Flask-Security: a code that signed someone in is refused afterwards (the step
//! is claimed per method, so it works once even in parallel); sending a new code voids
//! the earlier ones; at most `us_max_code_failures` wrong passcodes count per code
//! window, after which codes are refused until a new one is sent or the window passes.
//!
//! Parity: `unified_signin.py` (`UnifiedSigninForm.validate`, `us_send_security_token`,
//! `_compute_active_methods`, `us_setup` state).

use serde_json::json;

use super::mail::{link, mail_user, send_mail, within_mail_cap, within_text};
use super::two_factor::SendError;
use crate::auth::{verify_password, Credentials};
use crate::datastore::{CodeFailures, CodeSlot, Factor};
use crate::error::Result;
use crate::lockout::Gate;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::second_factor::key_of;
use crate::signals::Signal;
use crate::state::SecurityState;

/// The methods that need a secret set up (all but the password), in Flask-Security's
/// order.
pub const SECRET_METHODS: [&str; 3] = ["email", "authenticator", "sms"];

/// The enabled methods that need setting up (`setup_methods`).
pub fn setup_methods(st: &SecurityState) -> Vec<&'static str> {
    let enabled = &st.config.us_enabled_methods;
    SECRET_METHODS
        .into_iter()
        .filter(|m| enabled.iter().any(|e| e == m))
        .collect()
}

/// The enabled methods that send a code (`code_methods`: email, sms).
pub fn code_methods(st: &SecurityState) -> Vec<&'static str> {
    setup_methods(st)
        .into_iter()
        .filter(|m| *m != "authenticator")
        .collect()
}

/// The methods `user` can sign in with now, in `us_enabled_methods` order: the
/// password when the user has one, and each method with a stored secret.
///
/// Parity: `_compute_active_methods`.
pub fn active_methods(st: &SecurityState, user: &User) -> Vec<String> {
    let secrets = st.datastore.us_get_totp_secrets(user);
    st.config
        .us_enabled_methods
        .iter()
        .filter(|m| match m.as_str() {
            "password" => user.password.is_some(),
            other => secrets.contains_key(other),
        })
        .cloned()
        .collect()
}

/// How a passcode fared.
#[derive(Debug)]
pub enum Passcode {
    /// Accepted: `via` is the method that matched.
    Accepted {
        /// The user (with a rehashed password when `rehashed`).
        user: Box<User>,
        /// `password`, `email`, `authenticator` or `sms`.
        via: &'static str,
        /// True when `user.password` holds a new hash to store.
        rehashed: bool,
    },
    /// Neither the password nor any code.
    Refused,
    /// Not checked: too many failures; wait this many seconds.
    Throttled(u64),
}

/// True when `passcode` can only be a code: six digits, shorter than any password.
fn only_a_code(st: &SecurityState, passcode: &str) -> bool {
    passcode.len() == 6
        && passcode.bytes().all(|b| b.is_ascii_digit())
        && st.config.password_length_min > 6
}

/// Checks `passcode` for `user`: the password first (when enabled, and the passcode
/// could be one), then each enabled method's current code.
///
/// Parity: `UnifiedSigninForm.validate` / `_us_verify` (password, then each TOTP with
/// window `us_token_validity`; `authn_via` the first match).
pub async fn check_passcode(
    st: &SecurityState,
    user: User,
    passcode: &str,
    from: Option<std::net::IpAddr>,
) -> Result<Passcode> {
    let password_on = st.config.us_enabled_methods.iter().any(|m| m == "password");
    let mut user = user;
    if password_on && !only_a_code(st, passcode) {
        match verify_password(st, user, passcode, "passcode", from).await? {
            Credentials::Verified { user, rehashed } => {
                return Ok(Passcode::Accepted {
                    user,
                    via: "password",
                    rehashed,
                })
            }
            Credentials::Throttled { retry_after } => {
                generic_code_work(st, passcode).await?;
                return Ok(Passcode::Throttled(retry_after));
            }
            Credentials::NoPassword(u) | Credentials::WrongPassword(u) => user = *u,
            Credentials::UnknownIdentity => return Ok(Passcode::Refused),
        }
    }
    if crate::totp::normalize(passcode).is_none() {
        return Ok(Passcode::Refused);
    }
    match check_codes(st, &user, passcode, &setup_methods(st)).await? {
        Some(Ok(via)) => Ok(Passcode::Accepted {
            user: Box::new(user),
            via,
            rehashed: false,
        }),
        Some(Err(wait)) => Ok(Passcode::Throttled(wait)),
        None => Ok(Passcode::Refused),
    }
}

/// The start of the code window a failure counts in: a code is accepted ± the
/// validity around its 30 s step.
fn failures_since(st: &SecurityState) -> i64 {
    let span = 2 * st.config.us_token_validity + crate::totp::PERIOD;
    st.now() as i64 - i64::try_from(span).unwrap_or(i64::MAX)
}

/// Checks the code of a magic link (the email method's): `Some(Ok(()))` when accepted
/// (its step now used: a link works once), `Some(Err(wait))` when throttled.
pub async fn check_link_code(
    st: &SecurityState,
    user: &User,
    code: &str,
) -> Result<Option<std::result::Result<(), u64>>> {
    let email = setup_methods(st)
        .into_iter()
        .filter(|m| *m == "email")
        .collect::<Vec<_>>();
    Ok(check_codes(st, user, code, &email)
        .await?
        .map(|r| r.map(|_| ())))
}

/// Tries `code` against the secrets of `methods`: `Some(Ok(method))` when one
/// accepted it (its step now used), `Some(Err(wait))` when codes are throttled for the
/// account, `None` when refused.
async fn check_codes(
    st: &SecurityState,
    user: &User,
    code: &str,
    methods: &[&'static str],
) -> Result<Option<std::result::Result<&'static str, u64>>> {
    let since = failures_since(st);
    let now = st.now() as i64;
    // Counted before the check (one transaction), so parallel guesses are each counted.
    let tries = st
        .datastore
        .us_code_failures(user, CodeFailures::Add, since, now)
        .await?;
    if tries > st.config.us_max_code_failures {
        log::warn!(
            "unified sign-in: codes refused for user {} until a new one is sent",
            user.id
        );
        generic_code_work(st, code).await?;
        return Ok(None);
    }
    match crate::lockout::begin(st, user.id, Factor::Passcode).await? {
        Gate::Open => {}
        gate => {
            generic_code_work(st, code).await?;
            return Ok(Some(Err(gate.retry_after(st).unwrap_or(1))));
        }
    }
    if let Some(method) = matching_method(st, user, code, methods).await? {
        crate::lockout::succeeded(st, user.id, Factor::Passcode).await?;
        st.datastore
            .us_code_failures(user, CodeFailures::Reset, i64::MAX, now)
            .await?;
        return Ok(Some(Ok(method)));
    }
    st.send(Signal::UserFailedAuthn {
        user_id: Some(user.id),
        auth_type: "passcode".into(),
    });
    Ok(None)
}

/// The first of `methods` whose secret accepts `code` and whose step was not used
/// before; the step is claimed.
async fn matching_method(
    st: &SecurityState,
    user: &User,
    code: &str,
    methods: &[&'static str],
) -> Result<Option<&'static str>> {
    let secrets = st.datastore.us_get_totp_secrets(user);
    let missing = methods
        .iter()
        .filter(|m| !secrets.contains_key(**m))
        .count();
    if st.config.return_generic_responses {
        // As long as a user with every method: the time tells nothing of the set-up.
        decryption_work(st, missing).await?;
    }
    for &method in methods {
        let (Some(secret), Some(slot)) = (secrets.get(method), CodeSlot::unified(method)) else {
            continue;
        };
        let key = key_of(st, secret).await?;
        let Some(step) = key.verify(code, st.now(), st.config.us_token_validity, None) else {
            continue;
        };
        if st.datastore.claim_step(user, slot, step).await? {
            return Ok(Some(method));
        }
        log::warn!(
            "unified sign-in: a used {method} code was offered again for user {}",
            user.id
        );
        return Ok(None);
    }
    Ok(None)
}

/// `n` times the work of decrypting a secret, off the async executor.
async fn decryption_work(st: &SecurityState, n: usize) -> Result<()> {
    if n == 0 {
        return Ok(());
    }
    let factory = crate::second_factor::factory(st)?.clone();
    tokio::task::spawn_blocking(move || (0..n).for_each(|_| factory.decryption_work()))
        .await
        .map_err(|_| crate::SecurityError::Task)
}

/// The work `check_passcode` would do for an identity nobody has: the password hash
/// when the passcode could be a password, and (in generic mode) a decryption per method
/// when it could be a code, so the answer time does not tell the identity is unknown.
pub async fn unknown_identity_work(st: &SecurityState, passcode: &str) -> Result<()> {
    let password_on = st.config.us_enabled_methods.iter().any(|m| m == "password");
    if password_on && !only_a_code(st, passcode) {
        st.hash_password(passcode).await?;
    }
    generic_code_work(st, passcode).await
}

/// In generic mode, when `passcode` could be a code, the work of checking it against
/// every method's secret (for an answer that skips the check).
async fn generic_code_work(st: &SecurityState, passcode: &str) -> Result<()> {
    if st.config.return_generic_responses && crate::totp::normalize(passcode).is_some() {
        decryption_work(st, setup_methods(st).len()).await?;
    }
    Ok(())
}

/// Checks a code of a secret being set up: the step it matched (nothing is counted:
/// the secret is not stored yet; [`set_method`] uses the step up).
pub async fn check_setup_code(st: &SecurityState, secret: &str, code: &str) -> Result<Option<u64>> {
    let key = key_of(st, secret).await?;
    Ok(key.verify(code, st.now(), st.config.us_token_validity, None))
}

/// Sends the current code of the user's `method` secret (email, sms): earlier codes
/// of that method die, the count of wrong passcodes starts again. `magic_link` adds
/// the `/us-verify-link` link to the mail. `Ok(Err(NoPhone))` when the method is not
/// set up.
///
/// Parity: `us_send_security_token`.
pub async fn send_code(
    st: &SecurityState,
    user: &User,
    method: &str,
    locale: &str,
    magic_link: bool,
) -> Result<std::result::Result<(), SendError>> {
    let secrets = st.datastore.us_get_totp_secrets(user);
    let (Some(secret), Some(slot)) = (secrets.get(method), CodeSlot::unified(method)) else {
        return Ok(Err(SendError::NoPhone));
    };
    let phone = user.us_phone_number.as_deref();
    // An anonymous caller can have codes sent to anyone: capped per address and number
    // (over the cap, nothing is sent and nothing changes).
    let to = match method {
        "sms" => format!("sms:{}", phone.unwrap_or_default()),
        _ => user.email.clone(),
    };
    if !within_mail_cap(st, &to) {
        return Ok(Ok(()));
    }
    let key = key_of(st, secret).await?;
    let now = st.now();
    let code = key.current_code(now);
    let link = magic_link.then(|| magic_link_url(st, user, &code));
    let sent = deliver(st, user, method, &code, phone, locale, link).await?;
    if sent.is_ok() {
        // Claiming the step before this one voids every code sent earlier; the wrong
        // tries at earlier codes are forgotten (not those at this one: a resend within
        // its step is the same code).
        let step = crate::totp::step_of(now);
        st.datastore
            .claim_step(user, slot, step.saturating_sub(1))
            .await?;
        let this_step = i64::try_from(step * crate::totp::PERIOD).unwrap_or(i64::MAX);
        st.datastore
            .us_code_failures(user, CodeFailures::Reset, this_step, now as i64)
            .await?;
    }
    Ok(sent)
}

/// `/us-verify-link?id=<fs_uniquifier>&code=<code>`, absolute.
fn magic_link_url(st: &SecurityState, user: &User, code: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("id", &user.fs_uniquifier)
        .append_pair("code", code)
        .finish();
    format!("{}?{query}", link(st, &st.config.us_verify_link_url))
}

/// Sends the code of a secret being set up (email to the user, sms to `phone`).
pub async fn send_setup_code(
    st: &SecurityState,
    user: &User,
    method: &str,
    secret: &str,
    phone: Option<&str>,
    locale: &str,
) -> Result<std::result::Result<(), SendError>> {
    let key = key_of(st, secret).await?;
    let code = key.current_code(st.now());
    deliver(st, user, method, &code, phone, locale, None).await
}

async fn deliver(
    st: &SecurityState,
    user: &User,
    method: &str,
    code: &str,
    phone: Option<&str>,
    locale: &str,
    login_link: Option<String>,
) -> Result<std::result::Result<(), SendError>> {
    let sent = match method {
        "email" => {
            let within = within_text(&st.catalog, locale, st.config.us_token_validity);
            let context = json!({
                "user": mail_user(user),
                "username": user.calc_username(),
                "token": code,
                "login_token": code,
                "login_link": login_link,
                "within": within,
            });
            let subject = &st.config.us_email_subject;
            send_mail(st, locale, "us_instructions", &user.email, subject, context)
                .await
                .map_err(SendError::from)
        }
        "sms" => match phone {
            Some(p) => {
                let text = st
                    .catalog
                    .text(locale, &Text::new(msg::USE_CODE).arg("code", code));
                st.sms.send(p, &text).await.map_err(SendError::from)
            }
            None => Err(SendError::NoPhone),
        },
        _ => return Ok(Ok(())),
    };
    if sent.is_ok() {
        st.send(Signal::UsSecurityTokenSent {
            user_id: user.id,
            method: method.to_owned(),
            magic_link: login_link.is_some(),
        });
    }
    Ok(sent)
}

/// A set-up read back from its state token (the two-factor set-up's shape).
pub use super::two_factor::TokenSetup as SetupState;

/// The `/us-setup` state token: Flask-Security's `{totp_secret, chosen_method,
/// phone_number}` bound to the user, salt `us_setup_salt`.
pub fn state_token(st: &SecurityState, user: &User, s: &SetupState) -> String {
    let payload = json!({
        "totp_secret": s.secret,
        "chosen_method": s.method,
        "phone_number": s.phone,
    });
    super::state_token::issue(st, &st.config.us_setup_salt, Some(user), payload)
}

/// Reads a state token issued to `user`.
pub fn read_state_token(
    st: &SecurityState,
    user: &User,
    token: &str,
) -> std::result::Result<SetupState, super::state_token::TokenProblem> {
    use super::state_token::{read, text, TokenProblem};
    let cfg = &st.config;
    let v = read(
        st,
        &cfg.us_setup_salt,
        cfg.us_setup_within,
        Some(user),
        token,
    )?;
    let method = text(&v, "chosen_method").filter(|m| SECRET_METHODS.contains(&m.as_str()));
    match (method, text(&v, "totp_secret")) {
        (Some(method), Some(secret)) => Ok(SetupState {
            method,
            secret,
            phone: text(&v, "phone_number"),
        }),
        _ => Err(TokenProblem::Invalid),
    }
}

/// Stores a validated set-up (false, nothing written, when the user's row changed
/// identity meanwhile: a password reset), uses up the step of the code that confirmed
/// it, and sends `us_profile_changed`.
pub async fn set_method(
    st: &SecurityState,
    user: &mut User,
    s: &SetupState,
    step: u64,
) -> Result<bool> {
    let mut secrets = st.datastore.us_get_totp_secrets(user);
    secrets.insert(s.method.clone(), s.secret.clone());
    let json = serde_json::to_string(&secrets)
        .map_err(|e| crate::SecurityError::Invalid(e.to_string()))?;
    let phone = (s.method == "sms").then(|| s.phone.clone()).flatten();
    let stored = update_unchanged(st, user, |u| {
        u.us_totp_secrets = Some(json);
        if phone.is_some() {
            u.us_phone_number = phone;
        }
    })
    .await?;
    if !stored {
        return Ok(false);
    }
    if let Some(slot) = CodeSlot::unified(&s.method) {
        st.datastore.claim_step(user, slot, step).await?;
    }
    st.send(Signal::UsProfileChanged {
        user_id: user.id,
        methods: vec![s.method.clone()],
        delete: false,
    });
    Ok(true)
}

/// Applies `change` to a copy of `user` and stores it only while the stored row still
/// has the user's `fs_uniquifier` (a row loaded before a password reset never writes
/// the old password or identity back); true when stored.
async fn update_unchanged<F>(st: &SecurityState, user: &mut User, change: F) -> Result<bool>
where
    F: FnOnce(&mut User) + Send,
{
    let mut next = user.clone();
    change(&mut next);
    let expected = user.fs_uniquifier.clone();
    if !st.datastore.put_user_if(&mut next, &expected).await? {
        return Ok(false);
    }
    *user = next;
    Ok(true)
}

/// Removes `methods` from the user's set-up in one write (the phone number goes with
/// `sms`) and sends `us_profile_changed`; false (nothing written) when the user's row
/// changed identity meanwhile.
pub async fn delete_methods(
    st: &SecurityState,
    user: &mut User,
    methods: &[String],
) -> Result<bool> {
    let mut secrets = st.datastore.us_get_totp_secrets(user);
    secrets.retain(|m, _| !methods.contains(m));
    let json = if secrets.is_empty() {
        None
    } else {
        Some(
            serde_json::to_string(&secrets)
                .map_err(|e| crate::SecurityError::Invalid(e.to_string()))?,
        )
    };
    let drop_phone = methods.iter().any(|m| m == "sms");
    let stored = update_unchanged(st, user, |u| {
        u.us_totp_secrets = json;
        if drop_phone {
            u.us_phone_number = None;
        }
    })
    .await?;
    if stored {
        st.send(Signal::UsProfileChanged {
            user_id: user.id,
            methods: methods.to_vec(),
            delete: true,
        });
    }
    Ok(stored)
}
