//! CSRF protection, as Flask-WTF does it for Flask-Security: the whole policy
//! ([`required`]), the check ([`check`], once per request) and the SPA cookie.
//!
//! A random secret lives in the session; the token sent to clients (`csrf_token` in JSON
//! responses, the CSRF cookie) is that secret signed with a timestamp (salt
//! `wtf-csrf-token`, valid `csrf_time_limit`). A POST must send it back in the form field
//! `csrf_token` or a header (`X-CSRFToken`, `X-CSRF-Token`, `csrf_header`). Secrets are
//! compared in constant time.

use rand::RngCore;
use subtle::ConstantTimeEq;

use rocket::http::Method;
use rocket::{Request, Response};

use crate::config::SecurityConfig;
use crate::mechanism::Mechanism;
use crate::session::{csrf_cookie, CsrfCookie, SessionData};
use crate::state::SecurityState;
use crate::tokens::{TokenError, TokenSerializer};

/// Why a CSRF check failed; the message is Flask-WTF's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfError {
    /// No token in the request.
    Missing,
    /// The session has no CSRF secret.
    SessionMissing,
    /// The token is older than `csrf_time_limit`.
    Expired,
    /// The signature does not verify.
    Invalid,
    /// The token belongs to another session.
    Mismatch,
}

impl CsrfError {
    /// Flask-WTF's message for this failure.
    pub fn message(self) -> &'static str {
        match self {
            CsrfError::Missing => "The CSRF token is missing.",
            CsrfError::SessionMissing => "The CSRF session token is missing.",
            CsrfError::Expired => "The CSRF token has expired.",
            CsrfError::Invalid => "The CSRF token is invalid.",
            CsrfError::Mismatch => "The CSRF tokens do not match.",
        }
    }
}

/// Header names accepted for the token (besides the configured `csrf_header`).
pub const CSRF_HEADERS: &[&str] = &["X-CSRFToken", "X-CSRF-Token"];

/// Makes sure the session has a CSRF secret; returns true when one was created.
pub fn ensure_secret(session: &mut SessionData) -> bool {
    if session.csrf.is_some() {
        return false;
    }
    let mut b = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    session.csrf = Some(b.iter().map(|x| format!("{x:02x}")).collect());
    true
}

/// The wire token for the session's secret.
///
/// Parity: `flask_wtf.csrf.generate_csrf`.
pub fn generate(ser: &TokenSerializer, session: &SessionData, now: u64) -> Option<String> {
    let raw = session.csrf.as_ref()?;
    Some(ser.dumps_at(&serde_json::Value::String(raw.clone()), now))
}

/// Checks a submitted token against the session.
///
/// Parity: `flask_wtf.csrf.validate_csrf`.
pub fn validate(
    ser: &TokenSerializer,
    session: &SessionData,
    submitted: Option<&str>,
    time_limit: u64,
    now: u64,
) -> Result<(), CsrfError> {
    let submitted = submitted
        .filter(|s| !s.is_empty())
        .ok_or(CsrfError::Missing)?;
    let raw = session.csrf.as_ref().ok_or(CsrfError::SessionMissing)?;
    let value = ser
        .loads_at(submitted, Some(time_limit), now)
        .map_err(|e| match e {
            TokenError::Expired => CsrfError::Expired,
            _ => CsrfError::Invalid,
        })?;
    let got = value.as_str().ok_or(CsrfError::Invalid)?;
    if bool::from(got.as_bytes().ct_eq(raw.as_bytes())) {
        Ok(())
    } else {
        Err(CsrfError::Mismatch)
    }
}

/// Which check a request is up for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// A security form (`/login`, `/change`...): token in the body or a header.
    Form {
        /// How the caller authenticated; `None` when anonymous.
        via: Option<Mechanism>,
    },
    /// A guarded application route, for the mechanism that authenticated the caller.
    Route {
        /// The request's method.
        method: Method,
        /// How the caller authenticated.
        via: Mechanism,
    },
    /// An `#[unauth_csrf]` route.
    Unauth {
        /// The request's method.
        method: Method,
        /// True when someone is signed in.
        authenticated: bool,
    },
}

/// The whole CSRF policy: whether `check` needs a valid token under `cfg`.
///
/// Parity: Flask-WTF's `CSRFProtect` as Flask-Security configures it: off with
/// `csrf_enabled = false`; safe methods never; callers authenticated by a mechanism
/// outside `csrf_protect_mechanisms` are exempt; anonymous callers are exempt with
/// `csrf_ignore_unauth_endpoints`.
pub(crate) fn required(cfg: &SecurityConfig, check: Check) -> bool {
    let exempt_mechanism = |m: Mechanism| !cfg.csrf_mechanisms().contains(&m);
    cfg.csrf_enabled
        && match check {
            Check::Form { via: None } => !cfg.csrf_ignore_unauth_endpoints,
            Check::Form { via: Some(m) } => !exempt_mechanism(m),
            Check::Route { method, via } => is_unsafe(method) && !exempt_mechanism(via),
            Check::Unauth {
                method,
                authenticated,
            } => is_unsafe(method) && (authenticated || !cfg.csrf_ignore_unauth_endpoints),
        }
}

fn is_unsafe(method: Method) -> bool {
    !matches!(
        method,
        Method::Get | Method::Head | Method::Options | Method::Trace
    )
}

/// The token a request carries in a header (`X-CSRFToken`, `X-CSRF-Token`, `csrf_header`).
pub(crate) fn header_token<'r>(req: &'r Request<'_>, cfg: &SecurityConfig) -> Option<&'r str> {
    CSRF_HEADERS
        .iter()
        .copied()
        .chain(std::iter::once(cfg.csrf_header.as_str()))
        .find_map(|h| req.headers().get_one(h))
}

/// Checks a submitted token against the session's secret, within `csrf_time_limit`.
pub(crate) fn check_token(
    st: &SecurityState,
    session: &SessionData,
    token: Option<&str>,
) -> Result<(), CsrfError> {
    validate(
        &st.csrf_tokens,
        session,
        token,
        st.config.csrf_time_limit,
        st.now() as u64,
    )
}

/// Checks a route request's header token against its session, once per request: a
/// second check (an authentication and a roles attribute on one route) answers what
/// the first found.
pub(crate) fn check(
    req: &Request<'_>,
    st: &SecurityState,
    session: &SessionData,
) -> Result<(), CsrfError> {
    #[derive(Default)]
    struct Checked(std::sync::OnceLock<Result<(), CsrfError>>);
    *req.local_cache(Checked::default)
        .0
        .get_or_init(|| check_token(st, session, header_token(req, &st.config)))
}

/// Sets or clears the CSRF cookie as the session's `fs_cc` says, on the way out.
///
/// Parity: `_csrf_cookie_handler`.
pub(crate) fn sync_cookie(st: &SecurityState, session: &SessionData, res: &mut Response<'_>) {
    let Some(name) = &st.config.csrf_cookie_name else {
        return;
    };
    let fresh = || generate(&st.csrf_tokens, session, st.now() as u64);
    match session.fs_cc {
        Some(CsrfCookie::Clear) => {
            let mut c = csrf_cookie(&st.config, name, String::new());
            c.make_removal();
            res.adjoin_header(c);
        }
        Some(CsrfCookie::Set) => {
            if let Some(tok) = fresh() {
                res.adjoin_header(csrf_cookie(&st.config, name, tok));
            }
        }
        None if st.config.csrf_cookie_refresh_each_request => {
            if let Some(tok) = fresh() {
                res.adjoin_header(csrf_cookie(&st.config, name, tok));
            }
        }
        None => {}
    }
}
