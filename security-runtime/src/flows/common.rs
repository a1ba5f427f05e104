//! Pieces every account flow uses: auth guards, field reading, replies, mail, links.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{json, Map, Value};

use super::SecurityCtx;
pub(crate) use crate::account::mail::{token_path, within_text};
use crate::guards::requirement::{AuthRequirement, Mechanism, Requirement};
use crate::guards::{deny, evaluate_with, Authn};
use crate::input::FormInput;
use crate::mail::MailError;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{form_error_reply, json_reply, Denial, FormErrors, Reply, ReplyBody};
use crate::signin::{complete, FirstFactor, SignInOutcome};
use crate::state::SecurityState;

const API_METHODS: &[Mechanism] = &[Mechanism::Token, Mechanism::Session];

/// An authenticated caller (token or session), for `/change`.
///
/// Parity: `auth_required(*API_ENABLED_METHODS)`.
pub struct Authed(pub Authn);

/// An authenticated caller who authenticated within `freshness`, for `/change-email`
/// and `/change-username`.
///
/// Parity: `auth_required(within=FRESHNESS, grace=FRESHNESS_GRACE_PERIOD)`.
pub struct Fresh(pub Authn);

pub(crate) async fn authed(req: &Request<'_>, fresh: bool) -> Result<Authn, Denial> {
    let Some(st) = req.rocket().state::<SecurityState>() else {
        return Err(Denial::Unavailable);
    };
    let cfg = &st.config;
    let within = (fresh && cfg.freshness >= 0).then_some(cfg.freshness / 60);
    let reqm = Requirement {
        auth: Some(AuthRequirement {
            mechanisms: API_METHODS,
            within,
            grace: Some(cfg.freshness_grace_period / 60),
            ..AuthRequirement::DEFAULT
        }),
        ..Requirement::NONE
    };
    match evaluate_with(req, &reqm, "security", false).await {
        Ok(Some(a)) => Ok(a),
        Ok(None) => Err(Denial::Unauthenticated {
            mechanisms: API_METHODS.to_vec(),
            realm: cfg.default_http_auth_realm.clone(),
        }),
        Err(d) => Err(d),
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Authed {
    type Error = Denial;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match authed(req, false).await {
            Ok(a) => Outcome::Success(Authed(a)),
            Err(d) => deny(req, d),
        }
    }
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for Fresh {
    type Error = Denial;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match authed(req, true).await {
            Ok(a) => Outcome::Success(Fresh(a)),
            Err(d) => deny(req, d),
        }
    }
}

/// What [`sign_in_after`] did.
pub(crate) enum AfterSignIn {
    /// Signed in (`user` holds what was stored).
    SignedIn,
    /// Refused (disabled, unconfirmed): nothing written.
    Refused,
    /// A second factor is awaited (the session holds the partial sign-in).
    SecondFactor(crate::second_factor::Pending),
}

/// Hands `user` to the sign-in pipeline after a flow proved who it is (`register`,
/// `confirm`, `change`).
pub(crate) async fn sign_in_after(
    ctx: &SecurityCtx<'_>,
    user: &mut User,
    authn_via: &str,
    remember: bool,
    dirty: bool,
) -> crate::Result<AfterSignIn> {
    let factor = FirstFactor {
        user: user.clone(),
        dirty,
        remember,
        authn_via,
        remote: ctx.remote,
        mfa: true,
    };
    Ok(match complete(ctx.state, &ctx.session, factor).await? {
        SignInOutcome::SignedIn(u) => {
            *user = *u;
            AfterSignIn::SignedIn
        }
        SignInOutcome::Refused(_) => AfterSignIn::Refused,
        SignInOutcome::SecondFactor { user: u, pending } => {
            *user = *u;
            AfterSignIn::SecondFactor(pending)
        }
    })
}

/// Reads a string field; a non-string JSON value records `API_ERROR`.
pub(crate) fn field(input: &FormInput, name: &str, errors: &mut FormErrors) -> Option<String> {
    match input.str(name) {
        Ok(v) => v.map(str::to_owned).filter(|s| !s.is_empty()),
        Err(_) => {
            errors.field(name, msg::API_ERROR);
            None
        }
    }
}

/// Reads the `next` field: `INVALID_REDIRECT` in `errors` when it leads off the site.
pub(crate) fn next_field(
    ctx: &SecurityCtx<'_>,
    input: &FormInput,
    errors: &mut FormErrors,
) -> Option<String> {
    let next = field(input, "next", errors);
    let cfg = &ctx.state.config;
    let host = ctx.host.as_deref();
    if next
        .as_deref()
        .is_some_and(|n| crate::redirect::validate_redirect_url(cfg, n, host).is_err())
    {
        errors.field("next", msg::INVALID_REDIRECT);
    }
    next
}

/// Reads the `passcode` field (a string, or a JSON integer read as a code): a missing
/// or empty one is `INVALID_PASSWORD_CODE` and a non-string `API_ERROR`, in `errors`.
pub(crate) fn passcode_field(input: &FormInput, errors: &mut FormErrors) -> Option<String> {
    match input.code("passcode") {
        Ok(Some(p)) if !p.is_empty() => Some(p),
        Ok(_) => {
            errors.field("passcode", msg::INVALID_PASSWORD_CODE);
            None
        }
        Err(_) => {
            errors.field("passcode", msg::API_ERROR);
            None
        }
    }
}

/// Checks the CSRF token of a form into `errors`.
pub(crate) fn csrf(ctx: &SecurityCtx<'_>, input: &FormInput, errors: &mut FormErrors) {
    let token = field(input, "csrf_token", errors);
    if let Err(e) = ctx.check_csrf(token.as_deref()) {
        errors.field("csrf_token", e.message());
    }
}

/// The JSON `user` object, with the auth token when the request asked for one.
pub(crate) fn user_json(ctx: &SecurityCtx<'_>, user: &User, with_token: bool) -> Value {
    let st = ctx.state;
    let mut u = (st.hooks.user_payload)(user);
    if with_token && ctx.token_wanted() {
        let paa = ctx.session().fs_paa.unwrap_or_else(|| st.now());
        u.insert(
            "authentication_token".into(),
            json!(crate::auth::get_auth_token(st, user, paa)),
        );
    }
    Value::Object(u)
}

/// A 200 JSON success: `payload` plus `user` (when given) and `csrf_token`.
///
/// Parity: `base_render_json`.
pub(crate) fn json_ok(
    ctx: &SecurityCtx<'_>,
    mut payload: Map<String, Value>,
    user: Option<(&User, bool)>,
) -> Reply {
    if let Some((u, token)) = user {
        payload.insert("user".into(), user_json(ctx, u, token));
    }
    payload.insert("csrf_token".into(), json!(ctx.csrf_token()));
    json_reply(ctx.state, Status::Ok, Value::Object(payload))
}

/// A field of a built-in HTML form.
pub(crate) struct HtmlField<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub value: String,
}

impl HtmlField<'static> {
    /// A password input (never refilled).
    pub(crate) fn password(name: &'static str) -> Self {
        HtmlField {
            name,
            kind: "password",
            value: String::new(),
        }
    }
}

/// A one-field form.
pub(crate) fn one_field(
    name: &'static str,
    kind: &'static str,
    value: &str,
) -> [HtmlField<'static>; 1] {
    [HtmlField {
        name,
        kind,
        value: value.to_owned(),
    }]
}

/// A built-in HTML form page with no errors; `notices` are listed with the messages.
pub(crate) fn page(
    ctx: &SecurityCtx<'_>,
    template: &str,
    action: &str,
    fields: &[HtmlField<'_>],
    notices: &[Text],
) -> Reply {
    page_with(
        ctx,
        template,
        action,
        fields,
        &FormErrors::default(),
        notices,
    )
}

/// A built-in HTML form page: `security/<template>.html` with the documented context
/// (see [`crate::render`]).
pub(crate) fn page_with(
    ctx: &SecurityCtx<'_>,
    template: &str,
    action: &str,
    fields: &[HtmlField<'_>],
    errors: &FormErrors,
    notices: &[Text],
) -> Reply {
    let form = PageForm {
        action,
        fields,
        errors,
        notices,
    };
    page_extra(ctx, template, &form, Map::new())
}

/// What a page's form shows.
#[derive(Clone, Copy)]
pub(crate) struct PageForm<'a> {
    pub action: &'a str,
    pub fields: &'a [HtmlField<'a>],
    pub errors: &'a FormErrors,
    pub notices: &'a [Text],
}

/// A page with template-specific values (`extra`) beside the documented context.
pub(crate) fn page_extra(
    ctx: &SecurityCtx<'_>,
    template: &str,
    page: &PageForm<'_>,
    extra: Map<String, Value>,
) -> Reply {
    let PageForm {
        action,
        fields,
        errors,
        notices,
    } = *page;
    let st = ctx.state;
    // A message flashed by the redirect that led here comes first, as in Flask-Security's
    // templates (`get_flashed_messages(with_categories=true)`).
    let flashed: Vec<Value> = ctx
        .flash
        .iter()
        .map(|(kind, message)| {
            crate::session::consume_flash(ctx.jar);
            json!([kind, message])
        })
        .collect();
    let values: Map<String, Value> = fields
        .iter()
        .filter(|f| f.kind != "password")
        .map(|f| (f.name.to_owned(), json!(f.value)))
        .collect();
    let field_errors: Map<String, Value> = errors
        .fields
        .iter()
        .map(|(n, m)| {
            (
                n.clone(),
                json!(m.iter().map(|t| ctx.t(t.clone())).collect::<Vec<_>>()),
            )
        })
        .collect();
    let mut all: Vec<String> = notices.iter().map(|t| ctx.t(t.clone())).collect();
    all.extend(errors.all(&st.catalog, ctx.locale));
    let user = ctx.current.as_ref().map(|a| &a.user);
    let mut context = json!({
        "lang": ctx.locale,
        "csrf_token": ctx.csrf_token(),
        "messages": flashed,
        "security": security_context(&st.config),
        "current_user": user.map(|u| json!({"email": u.email, "username": u.username})),
        "current_email": user.map(|u| &u.email),
        "current_username": user.and_then(|u| u.username.as_ref()),
        "identity_attributes": st.config.identity_attributes(),
        "form": {
            "action": action,
            "values": values,
            "errors": field_errors,
            "form_errors": errors.form.iter().map(|t| ctx.t(t.clone())).collect::<Vec<_>>(),
            "all_errors": all,
        },
    });
    if let Value::Object(c) = &mut context {
        c.extend(extra);
    }
    match ctx.pages.render(template, &context) {
        Ok(html) => Reply::new(Status::Ok, ReplyBody::Html(html)),
        Err(e) => {
            rocket::error!("security page: {e}");
            Reply::new(
                Status::InternalServerError,
                ReplyBody::Text(ctx.t(msg::INTERNAL_ERROR)),
            )
        }
    }
}

/// The `security` value of the page context: URLs of the enabled endpoints and the
/// feature switches.
fn security_context(cfg: &crate::config::SecurityConfig) -> Value {
    let mut urls = Map::new();
    let mut add = |on: bool, key: &str, path: &str| {
        if on {
            urls.insert(key.into(), json!(cfg.url(path)));
        }
    };
    add(true, "login", &cfg.login_url);
    add(true, "logout", &cfg.logout_url);
    add(cfg.registerable, "register", &cfg.register_url);
    add(cfg.recoverable, "reset", &cfg.reset_url);
    add(cfg.confirmable, "confirm", &cfg.confirm_url);
    add(cfg.changeable, "change", &cfg.change_url);
    add(cfg.change_email, "change_email", &cfg.change_email_url);
    add(
        cfg.change_username,
        "change_username",
        &cfg.change_username_url,
    );
    add(
        cfg.username_recovery,
        "recover_username",
        &cfg.username_recovery_url,
    );
    add(
        cfg.two_factor,
        "two_factor_setup",
        &cfg.two_factor_setup_url,
    );
    add(cfg.unified_signin, "us_signin", &cfg.us_signin_url);
    add(cfg.unified_signin, "us_setup", &cfg.us_setup_url);
    add(
        cfg.multi_factor_recovery_codes,
        "mf_recovery_codes",
        &cfg.multi_factor_recovery_codes_url,
    );
    json!({
        "urls": urls,
        "registerable": cfg.registerable,
        "recoverable": cfg.recoverable,
        "confirmable": cfg.confirmable,
        "changeable": cfg.changeable,
        "change_email": cfg.change_email,
        "change_username": cfg.change_username,
        "username_recovery": cfg.username_recovery,
        "username_enable": cfg.username_enable,
        "two_factor": cfg.two_factor,
        "multi_factor_recovery_codes": cfg.multi_factor_recovery_codes,
    })
}

/// A failed form: JSON 400, or the page again with the messages.
pub(crate) fn fail(
    ctx: &SecurityCtx<'_>,
    errors: &FormErrors,
    template: &str,
    action: &str,
    fields: &[HtmlField<'_>],
) -> Reply {
    let reply = if ctx.want_json {
        form_error_reply(ctx.state, errors, ctx.locale)
    } else {
        page_with(ctx, template, action, fields, errors, &[])
    };
    match errors.retry_after {
        Some(s) => throttled(reply, s),
        None => reply,
    }
}

/// `reply` as a refusal for too many failed attempts: 429 with `Retry-After` (a JSON
/// reply has its status from [`form_error_reply`] already).
pub(crate) fn throttled(mut reply: Reply, retry_after: u64) -> Reply {
    reply.status = Status::TooManyRequests;
    reply.header("Retry-After", retry_after.max(1).to_string())
}

/// The error answer when a mail the flow depends on failed.
pub(crate) fn mail_failed(ctx: &SecurityCtx<'_>, e: &MailError) -> Reply {
    rocket::error!("security mail failed: {e}");
    if ctx.want_json {
        json_reply(
            ctx.state,
            Status::ServiceUnavailable,
            json!({"errors": [ctx.t(msg::MAIL_FAILED)]}),
        )
    } else {
        Reply::new(
            Status::ServiceUnavailable,
            ReplyBody::Text(ctx.t(msg::MAIL_FAILED)),
        )
    }
}

/// The first message of `errors` (a field's, else the form's; `API_ERROR` when none):
/// what a page that cannot show the form again flashes.
pub(crate) fn first_error(errors: &FormErrors) -> Text {
    errors
        .fields
        .iter()
        .flat_map(|(_, m)| m.iter())
        .chain(errors.form.iter())
        .next()
        .cloned()
        .unwrap_or_else(|| Text::new(msg::API_ERROR))
}

/// A form-mode redirect carrying a flashed message (dropped when `flash_messages` is
/// off, see [`Reply::flash`]).
///
/// Parity: `do_flash(m, c); return redirect(...)`.
pub(crate) fn flash_redirect(
    to: impl Into<String>,
    category: &str,
    message: impl Into<Text>,
) -> Reply {
    Reply::redirect(to).flash(category, message)
}

/// A redirect to a configured view with query parameters (SPA behaviour).
pub(crate) fn redirect_with(view: &str, params: &[(&str, &str)]) -> Reply {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let sep = if view.contains('?') { '&' } else { '?' };
    if q.is_empty() {
        Reply::redirect(view.to_owned())
    } else {
        Reply::redirect(format!("{view}{sep}{q}"))
    }
}

/// True when `redirect_behavior = "spa"`.
pub(crate) fn spa(st: &SecurityState) -> bool {
    st.config.redirect_behavior == crate::config::RedirectBehavior::Spa
}

/// When a POST that names an identity may answer (`generic_response_floor_ms` after it
/// began), in generic mode; `None` otherwise.
pub(crate) fn generic_floor(ctx: &SecurityCtx<'_>) -> Option<tokio::time::Instant> {
    let cfg = &ctx.state.config;
    let ms = cfg.generic_response_floor_ms;
    (cfg.return_generic_responses && ms > 0)
        .then(|| tokio::time::Instant::now() + std::time::Duration::from_millis(ms))
}

/// `reply`, held until `until`: a registered and an unknown identity answer after the
/// same floor, whatever is left of the difference in the work between them.
pub(crate) async fn hold_until(
    until: Option<tokio::time::Instant>,
    reply: impl std::future::Future<Output = Reply>,
) -> Reply {
    let reply = reply.await;
    if let Some(t) = until {
        tokio::time::sleep_until(t).await;
    }
    reply
}

/// In generic mode, errors of `fields` become one form-level `generic` message (the
/// CSRF error stays as it is); otherwise `errors` unchanged.
pub(crate) fn generic_errors(
    ctx: &SecurityCtx<'_>,
    errors: FormErrors,
    fields: &[&str],
    generic: &'static str,
) -> FormErrors {
    if !ctx.state.config.return_generic_responses {
        return errors;
    }
    let mut out = FormErrors {
        form: errors.form.clone(),
        ..FormErrors::default()
    };
    for (n, m) in &errors.fields {
        if !fields.contains(&n.as_str()) {
            out.fields.push((n.clone(), m.clone()));
        }
    }
    if errors
        .fields
        .iter()
        .any(|(n, _)| fields.contains(&n.as_str()))
    {
        out.form(generic);
    }
    out
}
