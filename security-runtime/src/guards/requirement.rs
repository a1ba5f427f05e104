//! What a protected route demands, as data.
//!
//! The attribute macros build one [`Requirement`] per handler at compile time; the
//! [`Guard`](super::Guard) request guard evaluates it. Writing a `Requirement` by hand
//! and using [`Guard`](super::Guard) directly gives the same protection without macros.

pub use crate::mechanism::Mechanism;

/// Authentication part of a [`Requirement`].
///
/// Parity: `auth_required(*methods, within, grace)`, `auth_token_required`,
/// `http_auth_required(realm)` and `login_required`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthRequirement {
    /// Accepted mechanisms; always tried in the order token, session, basic. Empty means
    /// `[Token, Session]`, as `auth_required()` with no arguments.
    pub mechanisms: &'static [Mechanism],
    /// Freshness window in minutes; `None` means no freshness check (Flask-Security's `-1`).
    pub within: Option<i64>,
    /// Grace period in minutes; `None` means `freshness_grace_period` from config.
    pub grace: Option<i64>,
    /// Realm for `WWW-Authenticate`; `None` means `default_http_auth_realm`.
    pub realm: Option<&'static str>,
    /// Set by `login_required`: the check is skipped when `login_disabled` is on.
    pub login_required: bool,
}

impl AuthRequirement {
    /// `auth_required()` with no arguments: token or session, no freshness.
    pub const DEFAULT: AuthRequirement = AuthRequirement {
        mechanisms: &[],
        within: None,
        grace: None,
        realm: None,
        login_required: false,
    };
}

/// `unauth_csrf` settings.
///
/// Parity: `flask_security.unauth_csrf(fall_through=False)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnauthCsrf {
    /// When true a CSRF failure does not answer 400 but lets the request through
    /// marked as not CSRF-valid.
    pub fall_through: bool,
}

/// Everything a route demands: the combination of all security attributes on a handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirement {
    /// Authentication step; `None` for routes with only role/permission/anonymous checks.
    pub auth: Option<AuthRequirement>,
    /// Every role must be held (`roles_required`).
    pub roles_required: &'static [&'static str],
    /// At least one role must be held (`roles_accepted`); empty means no check.
    pub roles_accepted: &'static [&'static str],
    /// Every permission must be held (`permissions_required`).
    pub permissions_required: &'static [&'static str],
    /// At least one permission must be held (`permissions_accepted`); empty means no check.
    pub permissions_accepted: &'static [&'static str],
    /// `anonymous_user_required`: an authenticated caller is refused.
    pub anonymous_only: bool,
    /// `unauth_csrf`: CSRF checked for anonymous callers.
    pub unauth_csrf: Option<UnauthCsrf>,
}

impl Requirement {
    /// No demands at all; the starting point the macros fill in.
    pub const NONE: Requirement = Requirement {
        auth: None,
        roles_required: &[],
        roles_accepted: &[],
        permissions_required: &[],
        permissions_accepted: &[],
        anonymous_only: false,
        unauth_csrf: None,
    };

    /// True when an authorization (role or permission) check is configured.
    pub fn has_authz(&self) -> bool {
        !(self.roles_required.is_empty()
            && self.roles_accepted.is_empty()
            && self.permissions_required.is_empty()
            && self.permissions_accepted.is_empty())
    }
}

/// Ties a handler to its [`Requirement`]. The macros implement it on a hidden unit
/// struct per handler; implement it yourself to use [`Guard`](super::Guard) by hand.
pub trait RouteRequirement: Send + Sync + 'static {
    /// What the route demands.
    const REQUIREMENT: Requirement;
    /// The handler's name, for reports and `unauthz_handler`.
    const HANDLER: &'static str;
}
