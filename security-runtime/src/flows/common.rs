//! Pieces every account flow uses: auth guards, field reading, replies, mail, links.

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{json, Map, Value};

use super::SecurityCtx;
use crate::state::SecurityState;
use crate::guards::requirement::{AuthRequirement, Mechanism, Requirement};
use crate::guards::{deny, evaluate_with, Authn};
use crate::input::FormInput;
use crate::mail::MailError;
pub(crate) use crate::account::links::{check_token, hash_data, make_token, same_hash};
pub(crate) use crate::account::mail::{
    link, mail_user, notify, send_mail, token_path, within_text,
};
use crate::messages as msg;
use crate::model::User;
use crate::signin::{complete, FirstFactor, SignInOutcome};
use crate::responses::{form_error_reply, json_reply, Denial, FormErrors, Reply, ReplyBody};

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

async fn authed(req: &Request<'_>, fresh: bool) -> Result<Authn, Denial> {
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

/// Hands `user` to the sign-in pipeline after a flow proved who it is (`register`,
/// `confirm`, `change`); true when signed in (`user` then holds what was stored).
pub(crate) async fn sign_in_after(
    ctx: &SecurityCtx<'_>,
    user: &mut User,
    authn_via: &str,
    remember: bool,
    dirty: bool,
) -> crate::Result<bool> {
    let factor = FirstFactor {
        user: user.clone(),
        dirty,
        remember,
        authn_via,
        remote: ctx.remote,
    };
    match complete(ctx.state, ctx.cell, ctx.jar, factor).await? {
        SignInOutcome::SignedIn(u) => {
            *user = *u;
            Ok(true)
        }
        SignInOutcome::Refused(_) => Ok(false),
    }
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
    if with_token && (ctx.include_auth_token || st.config.backwards_compat_auth_token) {
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

/// Reads and normalises the `email` field into `errors`: (as typed, normalised).
pub(crate) fn read_email(
    input: &FormInput,
    errors: &mut FormErrors,
) -> (Option<String>, Option<String>) {
    let raw = field(input, "email", errors);
    let email = match raw.as_deref().map(crate::validation::normalize_email) {
        None => {
            if errors.first("email").is_none() {
                errors.field("email", msg::EMAIL_NOT_PROVIDED);
            }
            None
        }
        Some(Err(m)) => {
            errors.field("email", m);
            None
        }
        Some(Ok(e)) => Some(e),
    };
    (raw, email)
}

/// A built-in HTML form page.
pub(crate) fn page(
    ctx: &SecurityCtx<'_>,
    title: &str,
    action: &str,
    fields: &[HtmlField<'_>],
    messages: &[String],
) -> Reply {
    use crate::html::escape;
    // A message flashed by the redirect that led here comes first, as in Flask-Security's
    // templates (`get_flashed_messages(with_categories=true)`).
    let flashed = ctx.flash.as_ref().map(|(kind, message)| {
        crate::session::consume_flash(ctx.jar);
        format!("<li class=\"{}\">{}</li>", escape(kind), escape(message))
    });
    let msgs: String = flashed
        .into_iter()
        .chain(messages.iter().map(|m| format!("<li>{}</li>", escape(m))))
        .collect();
    let inputs: String = fields
        .iter()
        .map(|f| {
            let input = format!(
                "<input type=\"{k}\" name=\"{n}\" id=\"{n}\" value=\"{v}\">",
                n = escape(f.name),
                k = escape(f.kind),
                v = escape(&f.value)
            );
            if f.kind == "hidden" {
                format!("{input}\n")
            } else {
                format!("<label>{} {input}</label>\n", escape(f.name))
            }
        })
        .collect();
    let html = format!(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>{t}</title></head><body>\n\
         <h1>{t}</h1>\n<ul class=\"messages\">{msgs}</ul>\n\
         <form action=\"{a}\" method=\"POST\">\n\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{c}\">\n{inputs}\
         <input type=\"submit\" id=\"submit\" value=\"{t}\">\n</form>\n</body></html>\n",
        t = escape(title),
        a = escape(action),
        c = escape(&ctx.csrf_token()),
    );
    Reply::new(Status::Ok, ReplyBody::Html(html))
}

/// A failed form: JSON 400, or the page again with the messages.
pub(crate) fn fail(
    ctx: &SecurityCtx<'_>,
    errors: &FormErrors,
    title: &str,
    action: &str,
    fields: &[HtmlField<'_>],
) -> Reply {
    if ctx.want_json {
        return form_error_reply(ctx.state, errors);
    }
    let mut all = errors.form.clone();
    all.extend(errors.fields.iter().flat_map(|(_, m)| m.iter().cloned()));
    page(ctx, title, action, fields, &all)
}

/// The error answer when a mail the flow depends on failed.
pub(crate) fn mail_failed(ctx: &SecurityCtx<'_>, e: &MailError) -> Reply {
    rocket::error!("security mail failed: {e}");
    if ctx.want_json {
        json_reply(
            ctx.state,
            Status::ServiceUnavailable,
            json!({"errors": [msg::MAIL_FAILED]}),
        )
    } else {
        Reply::new(
            Status::ServiceUnavailable,
            ReplyBody::Text(msg::MAIL_FAILED.into()),
        )
    }
}

/// A form-mode redirect carrying a flashed message (dropped when `flash_messages` is
/// off, see [`Reply::flash`]).
///
/// Parity: `do_flash(m, c); return redirect(...)`.
pub(crate) fn flash_redirect(
    to: impl Into<String>,
    category: &str,
    message: impl Into<String>,
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

/// Runs `PasswordUtil::validate` into `errors` on `field_name`; returns the normalised
/// password when valid.
pub(crate) async fn validate_password(
    st: &SecurityState,
    password: &str,
    is_register: bool,
    inputs: &[String],
    field_name: &str,
    errors: &mut FormErrors,
) -> Option<String> {
    match st
        .password_util
        .validate(password, is_register, inputs)
        .await
    {
        Ok(p) => Some(p),
        Err(msgs) => {
            for m in msgs {
                errors.field(field_name, m);
            }
            None
        }
    }
}
