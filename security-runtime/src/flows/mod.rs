//! The security endpoints, mountable as Rocket routes.
//!
//! Each flow file holds short Rocket handlers that call a plain `async fn`. URLs come
//! from the configuration (`login_url`, `logout_url`, `url_prefix`).

use std::net::IpAddr;

use rocket::http::{CookieJar, Method};
use rocket::request::{FromRequest, Outcome, Request};
use rocket::Route;

use crate::config::SecurityConfig;
use crate::guards::{self, deny, Authn};
use crate::responses::Denial;
use crate::session::{self, Session, SessionData};
use crate::state::SecurityState;

pub mod change;
pub(crate) mod common;
pub mod confirm;
pub mod login;
pub mod logout;
pub mod passwordless;
pub mod recover;
pub mod recovery;
pub mod register;
pub mod tf_validate;
pub mod two_factor;
pub mod us_setup;
pub mod us_signin;
pub mod us_verify;
pub mod verify;
#[cfg(feature = "webauthn")]
pub mod wan_register;
#[cfg(feature = "webauthn")]
pub mod wan_signin;
#[cfg(feature = "webauthn")]
pub mod wan_static;

/// Route names of this crate start with this, so responses can be recognised.
const ROUTE_PREFIX: &str = "security::";

/// Everything a flow handler needs about its request.
pub struct SecurityCtx<'r> {
    /// Shared state.
    pub state: &'r SecurityState,
    /// The page templates.
    pub pages: &'r crate::render::Pages,
    /// The cookie jar.
    pub jar: &'r CookieJar<'r>,
    /// The request's session.
    pub session: Session<'r>,
    /// JSON or HTML.
    pub want_json: bool,
    /// Client address.
    pub remote: Option<IpAddr>,
    /// Host header.
    pub host: Option<String>,
    /// `?next=`.
    pub next_query: Option<String>,
    /// `?include_auth_token` present.
    pub include_auth_token: bool,
    /// CSRF token sent in a header.
    pub csrf_header: Option<&'r str>,
    /// Who is signed in (token, then session).
    pub current: Option<Authn>,
    /// The locale answers are given in (see [`crate::responses::request_locale`]).
    pub locale: &'r str,
    /// A message (category, text) flashed by the previous response. Only the HTML pages
    /// show it, and only then is the cookie removed (so a JSON call leaves it in place).
    pub flash: Option<(String, String)>,
}

impl SecurityCtx<'_> {
    /// The answer of an anonymous-only view to a signed-in caller.
    pub fn already_authenticated(&self) -> crate::responses::Reply {
        crate::responses::anonymous_required_reply(self.state, self.want_json, self.locale)
    }

    /// True when the answer carries an auth token (`?include_auth_token`, or
    /// `backwards_compat_auth_token`): only for JSON.
    pub fn token_wanted(&self) -> bool {
        self.include_auth_token || self.state.config.backwards_compat_auth_token
    }

    /// A message in this request's locale.
    pub fn t(&self, text: impl Into<crate::messages::Text>) -> String {
        self.state.catalog.text(self.locale, &text.into())
    }

    /// The session's data.
    pub fn session(&self) -> SessionData {
        self.session.get()
    }

    /// Stores the session.
    pub fn save_session(&self, data: &SessionData) {
        self.session.set(data.clone())
    }

    /// Makes sure the session has a CSRF secret and returns the wire token.
    pub fn csrf_token(&self) -> String {
        let mut data = self.session();
        if crate::csrf::ensure_secret(&mut data) {
            self.save_session(&data);
        }
        crate::csrf::generate(&self.state.csrf_tokens, &data, self.state.now() as u64)
            .unwrap_or_default()
    }

    /// Checks a form's CSRF token (the body's, else a header's), as the security forms
    /// do; the policy ([`crate::csrf::required`]) decides whether the caller must.
    pub fn check_csrf(&self, form_token: Option<&str>) -> Result<(), crate::csrf::CsrfError> {
        let via = self.current.as_ref().map(|a| a.via);
        if !crate::csrf::required(&self.state.config, crate::csrf::Check::Form { via }) {
            return Ok(());
        }
        crate::csrf::check_token(self.state, &self.session(), form_token.or(self.csrf_header))
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SecurityCtx<'r> {
    type Error = Denial;

    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Denial> {
        let Some(state) = req.rocket().state::<SecurityState>() else {
            return Outcome::Error((
                rocket::http::Status::InternalServerError,
                Denial::Unavailable,
            ));
        };
        let Some(pages) = req.rocket().state::<crate::render::Pages>() else {
            return Outcome::Error((
                rocket::http::Status::InternalServerError,
                Denial::Unavailable,
            ));
        };
        let current = match guards::current_user(req).await {
            Ok(c) => c,
            Err(()) => return deny(req, Denial::Unavailable),
        };
        let session = Session::of(req, &*state.sessions).await;
        Outcome::Success(SecurityCtx {
            state,
            pages,
            jar: req.cookies(),
            session,
            want_json: (state.hooks.want_json)(req),
            // The peer address, as Flask's `remote_addr`; `X-Forwarded-For` only from a
            // configured trusted proxy.
            remote: crate::guards::client(req, state),
            host: req.host().map(|h| h.to_string()),
            next_query: req.query_value::<String>("next").and_then(Result::ok),
            include_auth_token: req.query_value::<&str>("include_auth_token").is_some(),
            csrf_header: crate::csrf::header_token(req, &state.config),
            current,
            flash: session::read_flash(req.cookies()),
            locale: crate::responses::request_locale(req),
        })
    }
}

fn named(mut route: Route, method: Method, name: &str) -> Route {
    route.method = method;
    route.name = Some(format!("{ROUTE_PREFIX}{name}").into());
    route
}

/// Checks that a configured URL is a usable Rocket path.
fn valid_path(p: &str) -> bool {
    p.starts_with('/')
        && !p.contains("//")
        && !p.contains('<')
        && rocket::http::uri::Origin::parse(p).is_ok_and(|o| o.query().is_none())
}

/// The routes to mount, each with its base (`url_prefix` + the configured URL).
pub fn routes(cfg: &SecurityConfig) -> Result<Vec<(String, Vec<Route>)>, String> {
    if !cfg.url_prefix.is_empty() && !valid_path(&cfg.url_prefix) {
        return Err(format!(
            "`security.url_prefix` must be empty or a path such as `/auth`, not `{}`",
            cfg.url_prefix
        ));
    }
    if !valid_path(&cfg.login_url) {
        return Err(format!(
            "`security.login_url` is not a valid path: `{}`",
            cfg.login_url
        ));
    }
    if !valid_path(&cfg.logout_url) {
        return Err(format!(
            "`security.logout_url` is not a valid path: `{}`",
            cfg.logout_url
        ));
    }
    // Parity: `PASSWORDLESS` replaces the password form of `/login` with a mailed link.
    let login_routes = if cfg.passwordless {
        rocket::routes![
            passwordless::send_login_get,
            passwordless::send_login_post,
            passwordless::token_login
        ]
    } else {
        rocket::routes![login::login_get, login::login_post]
    };
    let mut out = vec![
        mount(cfg, "login_url", &cfg.login_url, "login", login_routes)?,
        (cfg.url(&cfg.logout_url), logout_routes(cfg)?),
    ];
    for (enabled, key, url, name, routes) in feature_routes(cfg) {
        if enabled {
            out.push(mount(cfg, key, url, name, routes)?);
        }
    }
    Ok(out)
}

/// The routes of a URL, named for [`is_security_route`].
fn mount(
    cfg: &SecurityConfig,
    key: &str,
    url: &str,
    name: &str,
    routes: Vec<Route>,
) -> Result<(String, Vec<Route>), String> {
    if !valid_path(url) {
        return Err(format!("`security.{key}` is not a valid path: `{url}`"));
    }
    let named_routes = routes
        .into_iter()
        .map(|r| {
            let m = r.method;
            named(r, m, name)
        })
        .collect();
    Ok((cfg.url(url), named_routes))
}

/// `/logout` on each of `logout_methods`, and 405 on GET/POST when not listed.
fn logout_routes(cfg: &SecurityConfig) -> Result<Vec<Route>, String> {
    let mut logout = Vec::new();
    for m in &cfg.logout_methods {
        let method: Method = m
            .parse()
            .map_err(|_| format!("`security.logout_methods`: unknown method `{m}`"))?;
        for r in rocket::routes![logout::logout] {
            logout.push(named(r, method, "logout"));
        }
    }
    if cfg.logout_methods.is_empty() {
        return Ok(logout);
    }
    for m in [Method::Get, Method::Post] {
        let listed = cfg
            .logout_methods
            .iter()
            .any(|x| x.eq_ignore_ascii_case(m.as_str()));
        if !listed {
            for r in rocket::routes![logout::logout_not_allowed] {
                logout.push(named(r, m, "logout"));
            }
        }
    }
    Ok(logout)
}

/// A feature's routes: (switched on, URL setting, URL, route name, routes).
type FeatureRoutes<'a> = (bool, &'static str, &'a str, &'static str, Vec<Route>);

/// The routes of the optional features, each under its switch.
fn feature_routes(cfg: &SecurityConfig) -> Vec<FeatureRoutes<'_>> {
    #[allow(unused_mut)]
    let mut all = account_routes(cfg);
    #[cfg(feature = "webauthn")]
    all.extend(webauthn_routes(cfg));
    all
}

/// The passkey routes (`webauthn`), and the pages' script.
#[cfg(feature = "webauthn")]
fn webauthn_routes(cfg: &SecurityConfig) -> Vec<FeatureRoutes<'_>> {
    use rocket::routes;
    let on = cfg.webauthn;
    vec![
        (
            on,
            "wan_register_url",
            &cfg.wan_register_url,
            "wan_register",
            routes![
                wan_register::register_get,
                wan_register::register_post,
                wan_register::register_response
            ],
        ),
        (
            on,
            "wan_signin_url",
            &cfg.wan_signin_url,
            "wan_signin",
            routes![
                wan_signin::signin_get,
                wan_signin::signin_post,
                wan_signin::signin_response
            ],
        ),
        (
            on,
            "wan_delete_url",
            &cfg.wan_delete_url,
            "wan_delete",
            routes![wan_register::delete_get, wan_register::delete_post],
        ),
        (
            on && cfg.freshness >= 0 && !cfg.wan_allow_as_verify.is_empty(),
            "wan_verify_url",
            &cfg.wan_verify_url,
            "wan_verify",
            routes![
                wan_signin::verify_get,
                wan_signin::verify_post,
                wan_signin::verify_response
            ],
        ),
        (
            on,
            "static_folder_url",
            &cfg.static_folder_url,
            "wan_static",
            routes![wan_static::webauthn_js],
        ),
    ]
}

/// The routes of the account features.
fn account_routes(cfg: &SecurityConfig) -> Vec<FeatureRoutes<'_>> {
    use rocket::routes;
    vec![
        (
            cfg.registerable,
            "register_url",
            &cfg.register_url,
            "register",
            routes![register::register_get, register::register_post],
        ),
        (
            cfg.confirmable,
            "confirm_url",
            &cfg.confirm_url,
            "confirm",
            routes![
                confirm::send_confirmation_get,
                confirm::send_confirmation_post,
                confirm::confirm_email_get,
                confirm::confirm_email_post
            ],
        ),
        (
            cfg.recoverable,
            "reset_url",
            &cfg.reset_url,
            "reset",
            routes![
                recover::forgot_get,
                recover::forgot_post,
                recover::reset_get,
                recover::reset_post
            ],
        ),
        (
            cfg.username_recovery,
            "username_recovery_url",
            &cfg.username_recovery_url,
            "recover_username",
            routes![
                recover::recover_username_get,
                recover::recover_username_post
            ],
        ),
        (
            cfg.changeable,
            "change_url",
            &cfg.change_url,
            "change_password",
            routes![change::change_password_get, change::change_password_post],
        ),
        (
            cfg.change_email,
            "change_email_url",
            &cfg.change_email_url,
            "change_email",
            routes![
                change::change_email_get,
                change::change_email_post,
                change::change_email_confirm
            ],
        ),
        (
            cfg.change_username,
            "change_username_url",
            &cfg.change_username_url,
            "change_username",
            routes![change::change_username_get, change::change_username_post],
        ),
        (
            cfg.freshness >= 0,
            "verify_url",
            &cfg.verify_url,
            "verify",
            routes![verify::verify_get, verify::verify_post],
        ),
        (
            cfg.two_factor,
            "two_factor_setup_url",
            &cfg.two_factor_setup_url,
            "two_factor_setup",
            routes![
                two_factor::setup_get,
                two_factor::setup_post,
                two_factor::setup_validate
            ],
        ),
        (
            cfg.two_factor,
            "two_factor_token_validation_url",
            &cfg.two_factor_token_validation_url,
            "two_factor_token_validation",
            routes![tf_validate::validate_get, tf_validate::validate_post],
        ),
        (
            cfg.two_factor,
            "two_factor_rescue_url",
            &cfg.two_factor_rescue_url,
            "two_factor_rescue",
            routes![tf_validate::rescue_get, tf_validate::rescue_post],
        ),
        (
            cfg.two_factor,
            "two_factor_select_url",
            &cfg.two_factor_select_url,
            "tf_select",
            routes![tf_validate::select_get, tf_validate::select_post],
        ),
        (
            cfg.unified_signin,
            "us_signin_url",
            &cfg.us_signin_url,
            "us_signin",
            routes![us_signin::signin_get, us_signin::signin_post],
        ),
        (
            cfg.unified_signin,
            "us_signin_send_code_url",
            &cfg.us_signin_send_code_url,
            "us_signin_send_code",
            routes![us_signin::send_code_post],
        ),
        (
            cfg.unified_signin && cfg.us_magic_link,
            "us_verify_link_url",
            &cfg.us_verify_link_url,
            "us_verify_link",
            routes![us_signin::verify_link],
        ),
        (
            cfg.unified_signin,
            "us_setup_url",
            &cfg.us_setup_url,
            "us_setup",
            routes![
                us_setup::setup_get,
                us_setup::setup_post,
                us_setup::setup_validate
            ],
        ),
        (
            cfg.unified_signin && cfg.freshness >= 0,
            "us_verify_url",
            &cfg.us_verify_url,
            "us_verify",
            routes![us_verify::verify_get, us_verify::verify_post],
        ),
        (
            cfg.unified_signin && cfg.freshness >= 0,
            "us_verify_send_code_url",
            &cfg.us_verify_send_code_url,
            "us_verify_send_code",
            routes![us_verify::send_code_post],
        ),
        (
            cfg.multi_factor_recovery_codes,
            "multi_factor_recovery_codes_url",
            &cfg.multi_factor_recovery_codes_url,
            "mf_recovery_codes",
            routes![recovery::codes_get, recovery::codes_post],
        ),
        (
            cfg.multi_factor_recovery_codes,
            "multi_factor_recovery_url",
            &cfg.multi_factor_recovery_url,
            "mf_recovery",
            routes![recovery::recovery_get, recovery::recovery_post],
        ),
    ]
}

/// True when the request was routed to one of this crate's endpoints.
pub fn is_security_route(req: &Request<'_>) -> bool {
    req.route()
        .and_then(|r| r.name.as_deref())
        .is_some_and(|n| n.starts_with(ROUTE_PREFIX))
}
