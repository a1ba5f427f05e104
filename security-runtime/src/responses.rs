//! Every HTTP answer the security layer gives, built in one place.
//!
//! Parity: `default_render_json`, `base_render_json`, `json_error_response` and the
//! default `unauthn_handler` / `unauthz_handler` / `reauthn_handler` of Flask-Security.

use std::io::Cursor;

use rocket::http::{ContentType, Header, Status};
use rocket::request::Request;
use rocket::response::{self, Responder, Response};
use serde_json::{json, Value};

pub use crate::account::FormErrors;
use crate::guards::requirement::Mechanism;
use crate::messages::{self, Text};
use crate::state::SecurityState;
pub use crate::state::{default_render_json, default_want_json};

/// Body of a [`Reply`].
#[derive(Debug, Clone, PartialEq)]
pub enum ReplyBody {
    /// A JSON document (already enveloped where needed).
    Json(Value),
    /// Plain text.
    Text(String),
    /// An HTML page.
    Html(String),
    /// No body.
    Empty,
}

/// A complete response: status, headers and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// HTTP status.
    pub status: Status,
    /// Extra headers (Location, WWW-Authenticate...).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: ReplyBody,
    /// A message for the next page (category, text), as Flask's `flash()`. It travels in
    /// a cookie in Rocket's flash format, so the application's own pages read it with
    /// [`rocket::request::FlashMessage`]; the security pages show it themselves.
    pub flash: Option<(String, Text)>,
}

impl Reply {
    /// A reply with a status and a body.
    pub fn new(status: Status, body: ReplyBody) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body,
            flash: None,
        }
    }

    /// Adds a flash message (`category` is Flask-Security's: `success`, `info`, `error`);
    /// not sent when `flash_messages` is off.
    pub fn flash(mut self, category: &str, message: impl Into<Text>) -> Self {
        self.flash = Some((category.to_owned(), message.into()));
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// A 302 redirect.
    pub fn redirect(location: impl Into<String>) -> Self {
        Reply::new(Status::Found, ReplyBody::Empty).header("Location", location)
    }
}

impl<'r> Responder<'r, 'static> for Reply {
    fn respond_to(self, req: &'r Request<'_>) -> response::Result<'static> {
        let mut b = Response::build();
        b.status(self.status);
        match self.body {
            ReplyBody::Json(v) => {
                let s = v.to_string();
                b.header(ContentType::JSON)
                    .sized_body(s.len(), Cursor::new(s));
            }
            ReplyBody::Text(s) => {
                b.header(ContentType::Plain)
                    .sized_body(s.len(), Cursor::new(s));
            }
            ReplyBody::Html(s) => {
                b.header(ContentType::HTML)
                    .sized_body(s.len(), Cursor::new(s));
            }
            ReplyBody::Empty => {}
        }
        for (k, v) in self.headers {
            b.header(Header::new(k, v));
        }
        // A header rather than the cookie jar: denial replies are built in `on_response`,
        // after Rocket has written the jar's changes.
        // `flash_messages = false` silences every flash, the crate's and a hook's alike.
        if let Some((category, message)) = &self.flash {
            let state = req.rocket().state::<SecurityState>();
            let cfg = state.map(|s| &s.config);
            if cfg.is_none_or(|c| c.flash_messages) {
                let text = match state {
                    Some(st) => st.catalog.text(request_locale(req), message),
                    None => message.english(),
                };
                b.header_adjoin(crate::session::flash_cookie(cfg, category, &text));
            }
        }
        Ok(b.finalize())
    }
}

/// A JSON reply through the configured `render_json` hook.
pub(crate) fn json_reply(state: &SecurityState, status: Status, payload: Value) -> Reply {
    let body = (state.hooks.render_json)(payload, status.code);
    Reply::new(status, ReplyBody::Json(body))
}

/// A 400 JSON error reply for a failed form (429 for too many failed attempts).
pub(crate) fn form_error_reply(state: &SecurityState, errors: &FormErrors, locale: &str) -> Reply {
    let status = match errors.retry_after {
        Some(_) => Status::TooManyRequests,
        None => Status::BadRequest,
    };
    json_reply(state, status, errors.payload(&state.catalog, locale))
}

/// A JSON reply with only `errors` (handler-generated errors).
pub(crate) fn errors_reply(
    state: &SecurityState,
    status: Status,
    msgs: &[&str],
    locale: &str,
) -> Reply {
    let msgs: Vec<String> = msgs
        .iter()
        .map(|m| state.catalog.text(locale, &Text::from(m.to_string())))
        .collect();
    json_reply(state, status, json!({ "errors": msgs }))
}

/// The locale of this request's answers: the application's locale hook, else the
/// best `Accept-Language` match when `i18n_negotiate` is on, else `default_locale`.
/// Chosen once per request.
pub fn request_locale<'r>(req: &'r Request<'_>) -> &'r str {
    struct Chosen(String);
    &req.local_cache(|| {
        let Some(st) = req.rocket().state::<SecurityState>() else {
            return Chosen("en".into());
        };
        let hooked = st.hooks.locale.as_ref().and_then(|h| h(req));
        let negotiated = || {
            st.config
                .i18n_negotiate
                .then(|| req.headers().get_one("Accept-Language"))
                .flatten()
                .and_then(|al| st.catalog.negotiate(al))
        };
        Chosen(
            hooked
                .and_then(|l| st.catalog.resolve(&l))
                .or_else(negotiated)
                .unwrap_or_else(|| st.catalog.default_locale().to_owned()),
        )
    })
    .0
}

/// Why a guard refused a request.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Denial {
    /// No acceptable credentials.
    Unauthenticated {
        /// Mechanisms the route accepts.
        mechanisms: Vec<Mechanism>,
        /// Realm for `WWW-Authenticate` when basic is accepted.
        realm: String,
    },
    /// Authenticated but lacking a role or permission.
    Unauthorized {
        /// The handler's name.
        handler: String,
        /// The roles or permissions checked.
        names: Vec<String>,
    },
    /// Authenticated, but not recently enough.
    Reauthenticate {
        /// Freshness window in minutes.
        within: i64,
        /// Grace in minutes.
        grace: i64,
        /// The user holds a WebAuthn credential allowed to re-authenticate
        /// (`wan_allow_as_verify`).
        has_webauthn_verify_credential: bool,
    },
    /// The route is for anonymous users only.
    AnonymousRequired,
    /// CSRF check failed.
    Csrf(&'static str),
    /// The datastore failed.
    Unavailable,
    /// Malformed request body.
    BadRequest(&'static str),
    /// Request body over the limit.
    PayloadTooLarge,
}

impl Denial {
    /// The status Rocket is told about (the final response comes from the handlers).
    pub fn status(&self) -> Status {
        match self {
            Denial::Unauthenticated { .. } | Denial::Reauthenticate { .. } => Status::Unauthorized,
            Denial::Unauthorized { .. } => Status::Forbidden,
            Denial::AnonymousRequired | Denial::Csrf(_) => Status::BadRequest,
            Denial::Unavailable => Status::ServiceUnavailable,
            Denial::BadRequest(_) => Status::BadRequest,
            Denial::PayloadTooLarge => Status::PayloadTooLarge,
        }
    }
}

/// The request path plus query, used as `next`.
pub(crate) fn relative_url(req: &Request<'_>) -> String {
    let uri = req.uri();
    match uri.query() {
        Some(q) => format!("{}?{}", uri.path(), q),
        None => uri.path().to_string(),
    }
}

/// Percent-encodes a query value.
pub(crate) fn quote(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The default answer to a denial.
///
/// Parity: `default_unauthn_handler`, `default_unauthz_handler`, `default_reauthn_handler`,
/// `anonymous_user_required`, CSRF errors.
///
/// Redirects flash their reason (category `error`), as Flask-Security's handlers do.
pub fn default_denial_reply(state: &SecurityState, denial: &Denial, req: &Request<'_>) -> Reply {
    let cfg = &state.config;
    let answer = Answer {
        state,
        want_json: (state.hooks.want_json)(req),
        locale: request_locale(req),
    };
    let status = denial.status();
    match denial {
        Denial::Unauthenticated { mechanisms, realm } => {
            let basic = mechanisms.contains(&Mechanism::Basic);
            if !basic && !answer.want_json {
                // Parity: `US_SIGNIN_REPLACES_LOGIN` makes `/us-signin` the login view.
                let view = if cfg.unified_signin && cfg.us_signin_replaces_login {
                    &cfg.us_signin_url
                } else {
                    &cfg.login_url
                };
                return answer.to_view(view, req, messages::UNAUTHENTICATED);
            }
            let r = answer.error(status, messages::UNAUTHENTICATED);
            if basic {
                r.header("WWW-Authenticate", format!("Basic realm=\"{realm}\""))
            } else {
                r
            }
        }
        Denial::Unauthorized { .. } => match &cfg.unauthorized_view {
            Some(view) if !answer.want_json => {
                Reply::redirect(view.clone()).flash("error", messages::UNAUTHORIZED)
            }
            _ => answer.error(status, messages::UNAUTHORIZED),
        },
        Denial::Reauthenticate {
            has_webauthn_verify_credential,
            ..
        } if answer.want_json => answer.reauthenticate(*has_webauthn_verify_credential),
        Denial::Reauthenticate { .. } => {
            let view = if cfg.unified_signin {
                &cfg.us_verify_url
            } else {
                &cfg.verify_url
            };
            answer.to_view(view, req, messages::REAUTHENTICATION_REQUIRED)
        }
        Denial::AnonymousRequired => {
            anonymous_required_reply(state, answer.want_json, answer.locale)
        }
        Denial::Csrf(msg) | Denial::BadRequest(msg) => answer.error(status, msg),
        Denial::PayloadTooLarge => answer.error(status, messages::TOO_LARGE),
        Denial::Unavailable => answer.error(status, messages::SERVICE_UNAVAILABLE),
    }
}

/// How a denial is answered: in JSON or not, in which language.
struct Answer<'a> {
    state: &'a SecurityState,
    want_json: bool,
    locale: &'a str,
}

impl Answer<'_> {
    /// `{"errors": [message]}` for JSON, the message as plain text otherwise.
    fn error(&self, status: Status, message: &str) -> Reply {
        if self.want_json {
            return errors_reply(self.state, status, &[message], self.locale);
        }
        let text = self
            .state
            .catalog
            .text(self.locale, &Text::from(message.to_owned()));
        Reply::new(status, ReplyBody::Text(text))
    }

    /// A redirect to a security view with `next` pointing back here, the reason flashed.
    fn to_view(&self, path: &str, req: &Request<'_>, message: &'static str) -> Reply {
        let cfg = &self.state.config;
        Reply::redirect(format!(
            "{}?next={}",
            cfg.url(path),
            quote(&relative_url(req))
        ))
        .flash("error", message)
    }

    /// The JSON 401 of a stale session, with what the client may re-authenticate with.
    ///
    /// Parity: `default_reauthn_handler`.
    fn reauthenticate(&self, has_webauthn_verify_credential: bool) -> Reply {
        let cfg = &self.state.config;
        let text = self
            .state
            .catalog
            .text(self.locale, &Text::new(messages::REAUTHENTICATION_REQUIRED));
        json_reply(
            self.state,
            Status::Unauthorized,
            json!({
                "errors": [text],
                "reauth_required": true,
                "unified_signin_enabled": cfg.unified_signin,
                "has_webauthn_verify_credential": has_webauthn_verify_credential,
                "oauth_enabled": cfg.oauth_enable,
                "oauth_providers": if cfg.oauth_enable {
                    cfg.oauth_builtin_providers.clone()
                } else {
                    Vec::new()
                },
            }),
        )
    }
}

/// A 503 (datastore) or 500 (anything else) with a generic body; details go to the log
/// only, under an id the body repeats.
pub(crate) fn internal_error(
    state: &SecurityState,
    want_json: bool,
    locale: &str,
    err: &crate::SecurityError,
) -> Reply {
    use rand::Rng;
    let id: u32 = rand::thread_rng().gen();
    let (status, text) = match err {
        crate::SecurityError::Datastore(_)
        | crate::SecurityError::SessionStore(_)
        | crate::SecurityError::Task => (Status::ServiceUnavailable, messages::SERVICE_UNAVAILABLE),
        _ => (Status::InternalServerError, messages::INTERNAL_ERROR),
    };
    let text = state.catalog.text(locale, &Text::new(text));
    rocket::error!("security error {id:08x}: {err}");
    let text = format!("{text} (error id {id:08x})");
    if want_json {
        json_reply(state, status, json!({ "errors": [text] }))
    } else {
        Reply::new(status, ReplyBody::Text(text))
    }
}

/// Parity: `anonymous_user_required` for a signed-in caller: JSON 400, else a redirect to
/// `post_login_view`. The security views that are anonymous-only answer with this too.
pub(crate) fn anonymous_required_reply(
    state: &SecurityState,
    want_json: bool,
    locale: &str,
) -> Reply {
    if want_json {
        errors_reply(
            state,
            Status::BadRequest,
            &[messages::ANONYMOUS_USER_REQUIRED],
            locale,
        )
    } else {
        Reply::redirect(state.config.post_login_view.clone())
    }
}
