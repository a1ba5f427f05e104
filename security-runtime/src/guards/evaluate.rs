//! Evaluating a route's requirement: authentication, freshness, CSRF, roles and
//! permissions, in Flask-Security's order.

use std::sync::Arc;

use rocket::http::Method;
use rocket::request::{FromRequest, Outcome, Request};

use super::authn::{authenticate, check_fresh, current_user, state, Authn};
use super::local::GuardLocal;
use super::requirement::{AuthRequirement, Mechanism, Requirement, UnauthCsrf};
use crate::csrf::{self, Check};
use crate::model::User;
use crate::responses::Denial;
use crate::session::Session;
use crate::state::SecurityState;

/// Evaluates `req` against a requirement. On success returns the authentication used
/// (if any) and records it for [`CurrentUser`].
pub(crate) async fn evaluate(
    req: &Request<'_>,
    reqm: &Requirement,
    handler: &str,
) -> Result<Option<Authn>, Denial> {
    evaluate_with(req, reqm, handler, true).await
}

/// The header CSRF check of a route, when the policy asks for one.
async fn csrf_check(req: &Request<'_>, st: &SecurityState, check: Check) -> Result<(), Denial> {
    if !csrf::required(&st.config, check) {
        return Ok(());
    }
    let session = Session::of(req, &*st.sessions).await.get();
    csrf::check(req, st, &session).map_err(|e| Denial::Csrf(e.message()))
}

/// [`evaluate`], optionally leaving the CSRF check to the caller (the security forms
/// accept the token in the body too).
pub(crate) async fn evaluate_with(
    req: &Request<'_>,
    reqm: &Requirement,
    handler: &str,
    check_csrf_header: bool,
) -> Result<Option<Authn>, Denial> {
    let Some(st) = state(req) else {
        return Err(Denial::Unavailable);
    };
    GuardLocal::of(req).mark_guarded();
    if req.method() == Method::Options {
        return Ok(None);
    }
    if reqm.anonymous_only
        && current_user(req)
            .await
            .map_err(|_| Denial::Unavailable)?
            .is_some()
    {
        return Err(Denial::AnonymousRequired);
    }
    let authn = match &reqm.auth {
        Some(a) if !(a.login_required && st.config.login_disabled) => {
            Some(authenticate_for(req, st, a, check_csrf_header).await?)
        }
        _ => None,
    };
    if reqm.has_authz() {
        let user = match &authn {
            Some(a) => Some(a.user.clone()),
            None => authz_user(req, st, check_csrf_header).await?,
        };
        authorize(user.as_deref(), reqm, handler)?;
    }
    if let Some(uc) = reqm.unauth_csrf {
        unauth_csrf(req, st, uc, authn.is_some()).await?;
    }
    if let Some(a) = &authn {
        GuardLocal::of(req).set_route_auth(a.clone());
    }
    Ok(authn)
}

/// Authenticates with the first of the route's mechanisms that finds the caller, in
/// Flask-Security's order (token, session, basic), then checks freshness and CSRF.
async fn authenticate_for(
    req: &Request<'_>,
    st: &SecurityState,
    a: &AuthRequirement,
    check_csrf_header: bool,
) -> Result<Authn, Denial> {
    let mechs: &[Mechanism] = if a.mechanisms.is_empty() {
        &[Mechanism::Token, Mechanism::Session]
    } else {
        a.mechanisms
    };
    let mut found = None;
    for m in [Mechanism::Token, Mechanism::Session, Mechanism::Basic] {
        if mechs.contains(&m) {
            found = authenticate(req, m)
                .await
                .map_err(|_| Denial::Unavailable)?;
            if found.is_some() {
                break;
            }
        }
    }
    let Some(found) = found else {
        return Err(Denial::Unauthenticated {
            mechanisms: mechs.to_vec(),
            realm: a
                .realm
                .map(str::to_owned)
                .unwrap_or_else(|| st.config.default_http_auth_realm.clone()),
        });
    };
    if let Some(within) = a.within {
        let grace = a.grace.unwrap_or(st.config.freshness_grace_period / 60);
        if !check_fresh(req, st, &found, within, grace).await {
            return Err(Denial::Reauthenticate {
                within,
                grace,
                has_webauthn_verify_credential: crate::account::has_webauthn_verify(
                    st,
                    &found.user,
                )
                .await
                .map_err(|_| Denial::Unavailable)?,
            });
        }
    }
    if check_csrf_header {
        let check = Check::Route {
            method: req.method(),
            via: found.via,
        };
        csrf_check(req, st, check).await?;
    }
    Ok(found)
}

/// The user a roles/permissions check looks at when the route has no authentication
/// attribute: Flask-Login's `current_user`, whose mechanism's CSRF check still applies.
async fn authz_user(
    req: &Request<'_>,
    st: &SecurityState,
    check_csrf_header: bool,
) -> Result<Option<Arc<User>>, Denial> {
    let found = current_user(req).await.map_err(|_| Denial::Unavailable)?;
    if let (Some(a), true) = (&found, check_csrf_header) {
        let check = Check::Route {
            method: req.method(),
            via: a.via,
        };
        csrf_check(req, st, check).await?;
    }
    Ok(found.map(|a| a.user))
}

/// Roles and permissions: all required ones held, one of the accepted ones held. An
/// anonymous caller fails (Flask-Security answers 403, not 401).
fn authorize(user: Option<&User>, reqm: &Requirement, handler: &str) -> Result<(), Denial> {
    let fail = |names: &[&str]| Denial::Unauthorized {
        handler: handler.to_owned(),
        names: names.iter().map(|s| (*s).to_owned()).collect(),
    };
    let Some(user) = user else {
        return Err(fail(&[]));
    };
    let all = |names: &[&str], has: &dyn Fn(&str) -> bool| names.iter().all(|n| has(n));
    let any = |names: &[&str], has: &dyn Fn(&str) -> bool| {
        names.is_empty() || names.iter().any(|n| has(n))
    };
    let role = |n: &str| user.has_role(n);
    let perm = |n: &str| user.has_permission(n);
    if !all(reqm.roles_required, &role) {
        return Err(fail(reqm.roles_required));
    }
    if !any(reqm.roles_accepted, &role) {
        return Err(fail(reqm.roles_accepted));
    }
    if !all(reqm.permissions_required, &perm) {
        return Err(fail(reqm.permissions_required));
    }
    if !any(reqm.permissions_accepted, &perm) {
        return Err(fail(reqm.permissions_accepted));
    }
    Ok(())
}

/// `#[unauth_csrf]`: the header check for anonymous callers too; with `fall_through` a
/// failure is left for the handler to see through [`CsrfStatus`].
async fn unauth_csrf(
    req: &Request<'_>,
    st: &SecurityState,
    uc: UnauthCsrf,
    authenticated: bool,
) -> Result<(), Denial> {
    let method = req.method();
    let worth_asking = Check::Unauth {
        method,
        authenticated: true,
    };
    if !csrf::required(&st.config, worth_asking) {
        return Ok(());
    }
    let authenticated = authenticated
        || current_user(req)
            .await
            .map_err(|_| Denial::Unavailable)?
            .is_some();
    let check = Check::Unauth {
        method,
        authenticated,
    };
    match csrf_check(req, st, check).await {
        Err(_) if uc.fall_through => {
            GuardLocal::of(req).fail_csrf();
            Ok(())
        }
        other => other,
    }
}

/// Whether the request passed the CSRF check; `false` only after an
/// `#[unauth_csrf(fall_through)]` route let a failed check through, so the handler must
/// decide.
///
/// Parity: the `csrf_valid` request attribute of Flask-Security.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsrfStatus {
    /// False when a CSRF check failed and fell through.
    pub valid: bool,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for CsrfStatus {
    type Error = std::convert::Infallible;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        let failed = GuardLocal::of(req).csrf_failed();
        Outcome::Success(CsrfStatus { valid: !failed })
    }
}
