//! Request guards: who is calling, and may they.
//!
//! [`Guard`] evaluates a [`Requirement`] (what the attribute
//! macros expand to); [`CurrentUser`] hands the authenticated user to a handler without
//! another query. Denials are recorded for the fairing, which answers them as
//! Flask-Security does (JSON 401/403, redirect to login, `WWW-Authenticate`...).

use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Mutex;

use base64::Engine;
use rocket::http::Method;
use rocket::request::{FromRequest, Outcome, Request};
use rocket::{Response, Sentinel};

use crate::auth::{self, Credentials, TokenCheck};
use crate::csrf::{self, CSRF_HEADERS};
use crate::model::{User, UserModel};
use crate::responses::Denial;
use crate::session;
use crate::state::SecurityState;

pub mod requirement;

use requirement::{Mechanism, Requirement, RouteRequirement};

/// Where a guard leaves its denial for the fairing.
#[derive(Default)]
pub struct DenialSlot(Mutex<Option<Denial>>);

impl DenialSlot {
    /// Takes the recorded denial.
    pub fn take(&self) -> Option<Denial> {
        self.0.lock().ok().and_then(|mut g| g.take())
    }

    fn set(&self, d: Denial) {
        if let Ok(mut g) = self.0.lock() {
            *g = Some(d);
        }
    }
}

/// Records `denial` and returns the matching error outcome.
pub fn deny<T>(req: &Request<'_>, denial: Denial) -> Outcome<T, Denial> {
    if matches!(denial, Denial::Unauthenticated { .. }) {
        if let Some(state) = req.rocket().state::<SecurityState>() {
            state.send(crate::signals::Signal::UserUnauthenticated);
        }
    }
    let status = denial.status();
    req.local_cache(DenialSlot::default).set(denial.clone());
    Outcome::Error((status, denial))
}

/// A successful authentication of this request.
#[derive(Debug, Clone)]
pub struct Authn {
    /// The user.
    pub user: User,
    /// How the user authenticated.
    pub via: Mechanism,
    /// Primary-authenticated-at (from session or token).
    pub paa: Option<f64>,
}

type Loaded = Result<Option<Authn>, ()>;

struct TokenAuth(Loaded);
struct SessionAuth(Loaded);
struct BasicAuth(Loaded);
/// The authentication a route's guard settled on.
#[derive(Default)]
struct RouteAuth(Mutex<Option<Authn>>);

fn state<'r>(req: &'r Request<'_>) -> Option<&'r SecurityState> {
    req.rocket().state::<SecurityState>()
}

/// The auth token of a request: query key wins over header, as Flask-Security.
fn request_token(req: &Request<'_>, st: &SecurityState) -> Option<String> {
    if let Some(Ok(v)) = req.query_value::<String>(&st.config.token_authentication_key) {
        return Some(v);
    }
    req.headers()
        .get_one(&st.config.token_authentication_header)
        .map(str::to_owned)
}

async fn load_token(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let Some(token) = request_token(req, st) else {
        return Ok(None);
    };
    match auth::check_auth_token(st, &token).await {
        Ok(TokenCheck::Valid(user, paa)) => Ok(Some(Authn {
            user: *user,
            via: Mechanism::Token,
            paa,
        })),
        Ok(_) => Ok(None),
        Err(e) => {
            rocket::warn!("token authentication: datastore error: {e}");
            Err(())
        }
    }
}

async fn load_session(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let cfg = &st.config;
    let jar = req.cookies();
    let mut data = session::load(req.local_cache(session::SessionCell::default), jar, cfg);
    let ds = &st.datastore;
    if let Some(uid) = data.user_id.clone() {
        return match ds
            .find_user(&crate::datastore::UserQuery::FsUniquifier(uid), false)
            .await
        {
            Ok(Some(user)) if user.active => Ok(Some(Authn {
                paa: data.fs_paa,
                user,
                via: Mechanism::Session,
            })),
            Ok(_) => {
                // Rotated uniquifier or deactivated: the session is dead.
                data.user_id = None;
                data.fs_paa = None;
                data.fs_gexp = None;
                session::save(
                    req.local_cache(session::SessionCell::default),
                    jar,
                    cfg,
                    &data,
                );
                Ok(None)
            }
            Err(e) => {
                rocket::warn!("session authentication: datastore error: {e}");
                Err(())
            }
        };
    }
    let Some(uid) = session::remembered(jar, cfg, st.now()) else {
        return Ok(None);
    };
    match ds
        .find_user(&crate::datastore::UserQuery::FsUniquifier(uid), false)
        .await
    {
        Ok(Some(user)) if user.active => {
            // Flask-Login restores the session from the remember cookie; it is not fresh.
            data.user_id = Some(user.fs_uniquifier.clone());
            data.fs_paa = None;
            data.fs_cc = Some("set".into());
            data.authn_via = Some("remember".into());
            csrf::ensure_secret(&mut data);
            session::save(
                req.local_cache(session::SessionCell::default),
                jar,
                cfg,
                &data,
            );
            Ok(Some(Authn {
                user,
                via: Mechanism::Session,
                paa: None,
            }))
        }
        Ok(_) => {
            session::clear_remember(jar, cfg);
            Ok(None)
        }
        Err(e) => {
            rocket::warn!("remember-me authentication: datastore error: {e}");
            Err(())
        }
    }
}

/// Parses `Authorization: Basic ...` into (identity, password).
pub fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, pw) = text.split_once(':')?;
    Some((id.to_owned(), pw.to_owned()))
}

async fn load_basic(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let Some((identity, password)) = req.headers().get_one("Authorization").and_then(parse_basic)
    else {
        return Ok(None);
    };
    if password.chars().count() > 128 {
        return Ok(None);
    }
    let (mut user, rehashed) =
        match auth::verify_credentials(st, &identity, &password, "basic").await {
            Ok(Credentials::Verified { user, rehashed }) => (user, rehashed),
            Ok(_) => return Ok(None),
            Err(e) => {
                rocket::warn!("basic authentication: {e}");
                return Err(());
            }
        };
    if !user.active {
        return Ok(None);
    }
    if rehashed {
        if let Err(e) = st.datastore.put_user(&mut user).await {
            rocket::warn!("basic authentication: rehash not stored: {e}");
        }
    }
    Ok(Some(Authn {
        user: *user,
        via: Mechanism::Basic,
        paa: None,
    }))
}

/// Authenticates the request with one mechanism (cached per request).
pub async fn authenticate(req: &Request<'_>, mechanism: Mechanism) -> Loaded {
    let Some(st) = state(req) else {
        return Err(());
    };
    match mechanism {
        Mechanism::Token => req
            .local_cache_async(async { TokenAuth(load_token(req, st).await) })
            .await
            .0
            .clone(),
        Mechanism::Session => req
            .local_cache_async(async { SessionAuth(load_session(req, st).await) })
            .await
            .0
            .clone(),
        Mechanism::Basic => req
            .local_cache_async(async { BasicAuth(load_basic(req, st).await) })
            .await
            .0
            .clone(),
    }
}

/// Flask-Login's `current_user`: token, then session.
pub async fn current_user(req: &Request<'_>) -> Loaded {
    if let Some(a) = req
        .local_cache(RouteAuth::default)
        .0
        .lock()
        .ok()
        .and_then(|g| g.clone())
    {
        return Ok(Some(a));
    }
    for m in [Mechanism::Token, Mechanism::Session] {
        if let Some(a) = authenticate(req, m).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

fn is_unsafe(method: Method) -> bool {
    !matches!(
        method,
        Method::Get | Method::Head | Method::Options | Method::Trace
    )
}

/// The CSRF token a request carries in a header.
pub(crate) fn header_csrf<'r>(req: &'r Request<'_>, st: &SecurityState) -> Option<&'r str> {
    CSRF_HEADERS
        .iter()
        .copied()
        .chain(std::iter::once(st.config.csrf_header.as_str()))
        .find_map(|h| req.headers().get_one(h))
}

/// Checks the request's header CSRF token against its session.
pub fn check_csrf(req: &Request<'_>, st: &SecurityState) -> Result<(), csrf::CsrfError> {
    let data = session::load(
        req.local_cache(session::SessionCell::default),
        req.cookies(),
        &st.config,
    );
    csrf::validate(
        &st.csrf_tokens,
        &data,
        header_csrf(req, st),
        st.config.csrf_time_limit,
        st.now() as u64,
    )
}

/// Freshness check, updating the grace expiry in the session.
///
/// Parity: `check_and_update_authn_fresh`.
fn check_fresh(req: &Request<'_>, st: &SecurityState, a: &Authn, within: i64, grace: i64) -> bool {
    if a.via == Mechanism::Basic || within < 0 {
        return true;
    }
    let cfg = &st.config;
    let now = st.now();
    let grace_ts = (now + (grace * 60) as f64) as i64;
    let jar = req.cookies();
    let mut data = session::load(req.local_cache(session::SessionCell::default), jar, cfg);
    let from_session = a.via == Mechanism::Session;
    if from_session {
        if let Some(gexp) = data.fs_gexp {
            if now < gexp as f64 {
                data.fs_gexp = Some(grace_ts);
                session::save(
                    req.local_cache(session::SessionCell::default),
                    jar,
                    cfg,
                    &data,
                );
                return true;
            }
        }
    }
    let paa = match a.via {
        Mechanism::Session => data.fs_paa,
        Mechanism::Token if cfg.freshness_allow_auth_token => a.paa,
        _ => None,
    };
    if within == 0 {
        if from_session {
            data.fs_gexp = Some(grace_ts);
            session::save(
                req.local_cache(session::SessionCell::default),
                jar,
                cfg,
                &data,
            );
        }
        return false;
    }
    let Some(paa) = paa else {
        return false;
    };
    if now - (within * 60) as f64 > paa {
        return false;
    }
    if from_session {
        data.fs_gexp = Some(grace_ts);
        session::save(
            req.local_cache(session::SessionCell::default),
            jar,
            cfg,
            &data,
        );
    }
    true
}

/// Evaluates `req` against a requirement. On success returns the authentication used
/// (if any) and records it for [`CurrentUser`].
pub async fn evaluate(
    req: &Request<'_>,
    reqm: &Requirement,
    handler: &str,
) -> Result<Option<Authn>, Denial> {
    evaluate_with(req, reqm, handler, true).await
}

/// The header CSRF check of an unsafe request by a caller that `via` authenticated, when
/// that mechanism is in `csrf_protect_mechanisms`.
fn csrf_for(req: &Request<'_>, st: &SecurityState, via: Mechanism) -> Result<(), Denial> {
    let cfg = &st.config;
    if cfg.csrf_enabled && is_unsafe(req.method()) && cfg.csrf_mechanisms().contains(&via) {
        check_csrf(req, st).map_err(|e| Denial::Csrf(e.message()))?;
    }
    Ok(())
}

/// [`evaluate`], optionally leaving the CSRF check to the caller (the security forms
/// accept the token in the body too).
pub async fn evaluate_with(
    req: &Request<'_>,
    reqm: &Requirement,
    handler: &str,
    check_csrf_header: bool,
) -> Result<Option<Authn>, Denial> {
    let Some(st) = state(req) else {
        return Err(Denial::Unavailable);
    };
    let cfg = &st.config;
    if req.method() == Method::Options {
        return Ok(None);
    }
    if reqm.anonymous_only {
        match current_user(req).await {
            Err(()) => return Err(Denial::Unavailable),
            Ok(Some(_)) => return Err(Denial::AnonymousRequired),
            Ok(None) => {}
        }
    }
    let mut authn: Option<Authn> = None;
    if let Some(a) = &reqm.auth {
        let skip = a.login_required && cfg.login_disabled;
        if !skip {
            let mechs: &[Mechanism] = if a.mechanisms.is_empty() {
                &[Mechanism::Token, Mechanism::Session]
            } else {
                a.mechanisms
            };
            for m in [Mechanism::Token, Mechanism::Session, Mechanism::Basic] {
                if !mechs.contains(&m) {
                    continue;
                }
                match authenticate(req, m).await {
                    Err(()) => return Err(Denial::Unavailable),
                    Ok(Some(found)) => {
                        authn = Some(found);
                        break;
                    }
                    Ok(None) => {}
                }
            }
            let Some(found) = &authn else {
                return Err(Denial::Unauthenticated {
                    mechanisms: mechs.to_vec(),
                    realm: a
                        .realm
                        .map(str::to_owned)
                        .unwrap_or_else(|| cfg.default_http_auth_realm.clone()),
                });
            };
            if let Some(within) = a.within {
                let grace = a.grace.unwrap_or(cfg.freshness_grace_period / 60);
                if !check_fresh(req, st, found, within, grace) {
                    return Err(Denial::Reauthenticate { within, grace });
                }
            }
            if check_csrf_header {
                csrf_for(req, st, found.via)?;
            }
        }
    }
    if reqm.has_authz() {
        let user = match &authn {
            Some(a) => Some(a.user.clone()),
            None => {
                let found = current_user(req).await.map_err(|_| Denial::Unavailable)?;
                // Without an authentication attribute the CSRF check of the mechanism
                // that found the user still applies to unsafe methods.
                if let Some(a) = &found {
                    if check_csrf_header {
                        csrf_for(req, st, a.via)?;
                    }
                }
                found.map(|a| a.user)
            }
        };
        let Some(user) = user else {
            return Err(Denial::Unauthorized {
                handler: handler.to_owned(),
                names: Vec::new(),
            });
        };
        let fail = |names: &[&str]| Denial::Unauthorized {
            handler: handler.to_owned(),
            names: names.iter().map(|s| (*s).to_owned()).collect(),
        };
        if !reqm.roles_required.iter().all(|r| user.has_role(r)) {
            return Err(fail(reqm.roles_required));
        }
        if !reqm.roles_accepted.is_empty() && !reqm.roles_accepted.iter().any(|r| user.has_role(r))
        {
            return Err(fail(reqm.roles_accepted));
        }
        if !reqm
            .permissions_required
            .iter()
            .all(|p| user.has_permission(p))
        {
            return Err(fail(reqm.permissions_required));
        }
        if !reqm.permissions_accepted.is_empty()
            && !reqm
                .permissions_accepted
                .iter()
                .any(|p| user.has_permission(p))
        {
            return Err(fail(reqm.permissions_accepted));
        }
    }
    if let Some(uc) = reqm.unauth_csrf {
        if cfg.csrf_enabled && is_unsafe(req.method()) {
            let authed = match &authn {
                Some(_) => true,
                None => current_user(req)
                    .await
                    .map_err(|_| Denial::Unavailable)?
                    .is_some(),
            };
            if !cfg.csrf_ignore_unauth_endpoints || authed {
                if let Err(e) = check_csrf(req, st) {
                    if !uc.fall_through {
                        return Err(Denial::Csrf(e.message()));
                    }
                    // The handler can see it through `CsrfStatus`.
                    if let Ok(mut g) = req.local_cache(CsrfFailed::default).0.lock() {
                        *g = true;
                    }
                }
            }
        }
    }
    if let Some(a) = &authn {
        if let Ok(mut g) = req.local_cache(RouteAuth::default).0.lock() {
            *g = Some(a.clone());
        }
    }
    Ok(authn)
}

#[derive(Default)]
struct CsrfFailed(Mutex<bool>);

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
        let failed = req
            .local_cache(CsrfFailed::default)
            .0
            .lock()
            .map(|g| *g)
            .unwrap_or(true);
        Outcome::Success(CsrfStatus { valid: !failed })
    }
}

/// The request guard the security attributes expand to.
///
/// Use it by hand with your own [`RouteRequirement`]:
///
/// ```
/// use security_runtime::__private::{AuthRequirement, Mechanism, Requirement, RouteRequirement};
/// use security_runtime::Guard;
///
/// struct AdminOnly;
/// impl RouteRequirement for AdminOnly {
///     const REQUIREMENT: Requirement = Requirement {
///         auth: Some(AuthRequirement { mechanisms: &[Mechanism::Session], ..AuthRequirement::DEFAULT }),
///         roles_required: &["admin"],
///         ..Requirement::NONE
///     };
///     const HANDLER: &'static str = "admin";
/// }
///
/// #[rocket::get("/admin")]
/// fn admin(_g: Guard<AdminOnly>) -> &'static str { "secret" }
/// ```
pub struct Guard<R: RouteRequirement> {
    authn: Option<Authn>,
    _r: PhantomData<R>,
}

impl<R: RouteRequirement> Guard<R> {
    /// The authentication that satisfied the route, if it demanded one.
    pub fn authn(&self) -> Option<&Authn> {
        self.authn.as_ref()
    }
}

#[rocket::async_trait]
impl<'r, R: RouteRequirement> FromRequest<'r> for Guard<R> {
    type Error = Denial;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Denial> {
        match evaluate(req, &R::REQUIREMENT, R::HANDLER).await {
            Ok(authn) => Outcome::Success(Guard {
                authn,
                _r: PhantomData,
            }),
            Err(d) => deny(req, d),
        }
    }
}

impl<R: RouteRequirement> Sentinel for Guard<R> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        if rocket.state::<SecurityState>().is_none() {
            rocket::error!(
                "route `{}` is protected but the `Security` fairing is not attached",
                R::HANDLER
            );
            return true;
        }
        false
    }
}

/// The authenticated user, as the application's user type.
///
/// After a security attribute it is the user the route authenticated (no second
/// query); on its own it is Flask-Login's `current_user` (token, then session) and
/// answers 401 when nobody is signed in. Use `Option<CurrentUser>` for optional users.
pub struct CurrentUser<U: UserModel = User> {
    user: U,
    via: Mechanism,
    paa: Option<f64>,
}

impl<U: UserModel> CurrentUser<U> {
    /// How the user authenticated (`fs_authn_via`).
    pub fn authn_via(&self) -> Mechanism {
        self.via
    }

    /// When the user last authenticated with a primary factor (epoch seconds).
    pub fn fs_paa(&self) -> Option<f64> {
        self.paa
    }

    /// The application's user.
    pub fn into_inner(self) -> U {
        self.user
    }
}

impl<U: UserModel> Deref for CurrentUser<U> {
    type Target = U;
    fn deref(&self) -> &U {
        &self.user
    }
}

#[rocket::async_trait]
impl<'r, U: UserModel> FromRequest<'r> for CurrentUser<U> {
    type Error = Denial;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Denial> {
        match current_user(req).await {
            Ok(Some(a)) => Outcome::Success(CurrentUser {
                user: U::from_user(&a.user),
                via: a.via,
                paa: a.paa,
            }),
            Ok(None) => {
                let realm = state(req)
                    .map(|s| s.config.default_http_auth_realm.clone())
                    .unwrap_or_default();
                deny(
                    req,
                    Denial::Unauthenticated {
                        mechanisms: vec![Mechanism::Token, Mechanism::Session],
                        realm,
                    },
                )
            }
            Err(()) => deny(req, Denial::Unavailable),
        }
    }
}

impl<U: UserModel> Sentinel for CurrentUser<U> {
    fn abort(rocket: &rocket::Rocket<rocket::Ignite>) -> bool {
        rocket.state::<SecurityState>().is_none()
    }
}

/// Sets or clears the CSRF cookie per the session's `fs_cc` state.
///
/// Parity: `_csrf_cookie_handler`.
pub(crate) fn sync_csrf_cookie(st: &SecurityState, req: &Request<'_>, res: &mut Response<'_>) {
    let Some(name) = &st.config.csrf_cookie_name else {
        return;
    };
    // The session as this response leaves it.
    let data = session::load(
        req.local_cache(session::SessionCell::default),
        req.cookies(),
        &st.config,
    );
    match data.fs_cc.as_deref() {
        Some("clear") => {
            let mut c = session::csrf_cookie(&st.config, name, String::new());
            c.make_removal();
            res.adjoin_header(c);
        }
        Some("set") => {
            if let Some(tok) = csrf::generate(&st.csrf_tokens, &data, st.now() as u64) {
                res.adjoin_header(session::csrf_cookie(&st.config, name, tok));
            }
        }
        _ => {
            if st.config.csrf_cookie_refresh_each_request {
                if let Some(tok) = csrf::generate(&st.csrf_tokens, &data, st.now() as u64) {
                    res.adjoin_header(session::csrf_cookie(&st.config, name, tok));
                }
            }
        }
    }
}
