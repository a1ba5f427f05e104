//! The sign-in pipeline: every proven first factor ends here.
//!
//! Password login (form and JSON), the automatic sign-in after register, confirm and a
//! password change, and later unified-sign-in codes, magic links and WebAuthn all hand
//! their user to [`complete`], which decides the outcome (signed in, or refused because
//! the account is disabled or unconfirmed) and alone records it: `authn_via`, a new
//! session with `fs_paa`, the remember cookie, the trackable columns and the
//! `user_authenticated` signal. With two-factor on, a user who needs a second factor
//! leaves with [`SignInOutcome::SecondFactor`] instead.

use std::net::IpAddr;

use crate::config::SecurityConfig;
use crate::error::Result;
use crate::messages as msg;
use crate::model::User;
use crate::session::{CsrfCookie, Session, SessionData};
use crate::signals::Signal;
use crate::state::SecurityState;

/// A user who has just proven a first factor.
#[derive(Debug)]
pub struct FirstFactor<'a> {
    /// The user; pending changes (a rehashed password, a new token uniquifier) are
    /// stored with the sign-in's own write.
    pub user: User,
    /// True when `user` has pending changes.
    pub dirty: bool,
    /// Set the remember-me cookie.
    pub remember: bool,
    /// How the factor was proven (`password`, `register`, `confirm`, `change`, ...).
    pub authn_via: &'a str,
    /// The client's address, for the trackable columns.
    pub remote: Option<IpAddr>,
    /// Ask for the second factor when the user needs one; false for a unified sign-in
    /// method outside `us_mfa_required` (an authenticator or SMS code is a factor of
    /// its own).
    pub mfa: bool,
}

/// Why a proven first factor does not sign the user in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `confirmable` is on, login without confirmation is off, and the email is
    /// unconfirmed.
    Unconfirmed,
    /// The account is deactivated.
    Disabled,
}

impl Refusal {
    /// Flask-Security's message (`CONFIRMATION_REQUIRED`, `DISABLED_ACCOUNT`).
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unconfirmed => msg::CONFIRMATION_REQUIRED,
            Refusal::Disabled => msg::DISABLED_ACCOUNT,
        }
    }

    /// The refusal that applies to `user`, confirmation first as Flask-Security checks.
    pub fn of(cfg: &SecurityConfig, user: &User) -> Option<Refusal> {
        if cfg.confirmable && !cfg.login_without_confirmation && user.confirmed_at.is_none() {
            Some(Refusal::Unconfirmed)
        } else if !user.active {
            Some(Refusal::Disabled)
        } else {
            None
        }
    }
}

/// What [`complete`] decided.
#[derive(Debug)]
pub enum SignInOutcome {
    /// Signed in: the session, cookie and columns are written.
    SignedIn(Box<User>),
    /// Not signed in; nothing was written.
    Refused(Refusal),
    /// The first factor is proven and a second one is needed: the session holds the
    /// partial sign-in (see [`crate::second_factor`]); the user is not signed in.
    SecondFactor {
        /// The user (with pending changes stored).
        user: Box<User>,
        /// What the user must do next.
        pending: crate::second_factor::Pending,
    },
}

/// First factors proven by a user who is signed in already (a password change): they
/// renew the session without asking for the second factor again.
const WITHIN_SESSION: &[&str] = &["change"];

/// Ends a sign-in: refuses a disabled or unconfirmed account, or signs the user in.
pub async fn complete(
    state: &SecurityState,
    session: &Session<'_>,
    factor: FirstFactor<'_>,
) -> Result<SignInOutcome> {
    if let Some(refusal) = Refusal::of(&state.config, &factor.user) {
        return Ok(SignInOutcome::Refused(refusal));
    }
    let FirstFactor {
        mut user,
        dirty,
        remember,
        authn_via,
        remote,
        mfa,
    } = factor;
    if mfa
        && !WITHIN_SESSION.contains(&authn_via)
        && crate::second_factor::needed(state, session.jar(), &user).await?
    {
        if dirty {
            state.datastore.put_user(&mut user).await?;
        }
        let pending =
            crate::second_factor::enter(state, session, &user, remember, authn_via).await?;
        return Ok(SignInOutcome::SecondFactor {
            user: Box::new(user),
            pending,
        });
    }
    login_user(
        state,
        session,
        &mut user,
        remember,
        &[authn_via],
        remote,
        dirty,
    )
    .await?;
    Ok(SignInOutcome::SignedIn(Box::new(user)))
}

/// Logs `user` in: a new session (fresh CSRF secret, `fs_paa`), remember cookie,
/// trackable columns, the `user_authenticated` signal. Any pending change on `user`
/// (for example a rehashed password) is stored in the same single write. A deactivated
/// user is refused with an error, as Flask-Login does; to sign in with the
/// confirmation rule too, and to learn why a user was refused, use [`complete`].
///
/// Parity: `flask_security.login_user(user, remember, authn_via)`.
#[allow(clippy::too_many_arguments)]
pub async fn login_user(
    state: &SecurityState,
    session: &Session<'_>,
    user: &mut User,
    remember: bool,
    authn_via: &[&str],
    remote_ip: Option<IpAddr>,
    mut dirty: bool,
) -> Result<()> {
    if !user.active {
        // Flask-Login's rule; `complete` refuses unconfirmed accounts as well.
        return Err(crate::SecurityError::Invalid(
            "the user is deactivated".into(),
        ));
    }
    let now = state.now();
    if state.config.trackable {
        let now_dt = state.now_naive();
        user.last_login_at = Some(user.current_login_at.unwrap_or(now_dt));
        user.current_login_at = Some(now_dt);
        user.last_login_ip = user.current_login_ip.clone();
        user.current_login_ip = remote_ip.map(|ip| ip.to_string());
        user.login_count = Some(user.login_count.unwrap_or(0) + 1);
        dirty = true;
    }
    if dirty {
        state.datastore.put_user(user).await?;
    }
    let mut data = SessionData {
        user_id: Some(user.fs_uniquifier.clone()),
        fs_paa: Some(now),
        fs_cc: Some(CsrfCookie::Set),
        authn_via: authn_via.first().map(|s| (*s).to_owned()),
        ..SessionData::default()
    };
    crate::csrf::ensure_secret(&mut data);
    session.renew(data);
    if remember {
        session.remember(&state.config, &user.fs_uniquifier, now);
    } else {
        session.forget(&state.config);
    }
    state.send(Signal::UserAuthenticated {
        user_id: user.id,
        authn_via: authn_via.iter().map(|s| (*s).to_owned()).collect(),
    });
    Ok(())
}
