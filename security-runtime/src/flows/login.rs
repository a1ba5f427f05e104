//! `GET/POST /login`.
//!
//! Parity: `views.login` with `LoginForm`.

use rocket::http::Status;
use serde_json::{json, Map, Value};

use super::common::{csrf, fail, field, json_ok, page, user_json, HtmlField};
use super::SecurityCtx;
use crate::auth::{verify_credentials, Credentials};
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{json_reply, FormErrors, Reply};
use crate::signin::{complete, FirstFactor, SignInOutcome};

fn identity_attributes(ctx: &SecurityCtx<'_>) -> Value {
    json!(ctx.state.config.identity_attributes())
}

/// `GET /login`: the form (HTML) or `identity_attributes` and a CSRF token (JSON).
#[rocket::get("/")]
pub async fn login_get(ctx: SecurityCtx<'_>) -> Reply {
    let st = ctx.state;
    // One session write: the CSRF cookie flag and the CSRF secret together.
    let mut data = ctx.session();
    // A sign-in starts again: any partial (two-factor) one is dropped.
    data.tf = crate::session::TwoFactorState::default();
    data.fs_cc = Some(crate::session::CsrfCookie::Set);
    crate::csrf::ensure_secret(&mut data);
    ctx.save_session(&data);
    if ctx.want_json {
        let csrf = ctx.csrf_token();
        let mut p = Map::new();
        if let Some(a) = &ctx.current {
            p.insert("user".into(), user_json(&ctx, &a.user, false));
        }
        p.insert("identity_attributes".into(), identity_attributes(&ctx));
        p.insert("csrf_token".into(), json!(csrf));
        return json_reply(st, Status::Ok, Value::Object(p));
    }
    if ctx.current.is_some() {
        return Reply::redirect(st.config.post_login_view.clone());
    }
    let next = ctx.next_query.clone().unwrap_or_default();
    let action = st.config.url(&st.config.login_url);
    page(&ctx, "login_user", &action, &login_fields("", &next), &[])
}

/// The login form: `email`, `password`, `remember`, `next`.
///
/// Parity: `security/login_user.html`.
fn login_fields(email: &str, next: &str) -> [HtmlField<'static>; 4] {
    let f = |name, kind, value: &str| HtmlField {
        name,
        kind,
        value: value.to_owned(),
    };
    [
        f("email", "email", email),
        f("password", "password", ""),
        f("remember", "checkbox", "y"),
        f("next", "hidden", next),
    ]
}

/// What a valid login form carried.
struct LoginFields {
    identity: String,
    password: String,
    remember: bool,
    next: Option<String>,
}

fn read_fields(
    ctx: &SecurityCtx<'_>,
    input: &FormInput,
    errors: &mut FormErrors,
) -> Option<LoginFields> {
    let cfg = &ctx.state.config;
    let email = field(input, "email", errors).filter(|s| !s.trim().is_empty());
    let username = if cfg.username_enable {
        field(input, "username", errors).filter(|s| !s.trim().is_empty())
    } else {
        None
    };
    let password = field(input, "password", errors);
    let next = super::common::next_field(ctx, input, errors);
    csrf(ctx, input, errors);
    let identity = match (email, username) {
        (Some(e), _) => {
            if !e.contains('@') && !cfg.identity_attributes().iter().any(|a| a == "username") {
                errors.field("email", msg::INVALID_EMAIL_ADDRESS);
            }
            Some(e)
        }
        (None, Some(u)) => Some(u),
        (None, None) => {
            if errors.first("email").is_none() {
                errors.field("email", msg::EMAIL_NOT_PROVIDED);
            }
            None
        }
    };
    if password.is_none() && errors.first("password").is_none() {
        errors.field("password", msg::PASSWORD_NOT_PROVIDED);
    }
    if !errors.is_empty() {
        return None;
    }
    Some(LoginFields {
        identity: identity?,
        password: password?,
        remember: input.bool("remember").unwrap_or(cfg.default_remember_me),
        next,
    })
}

/// Checks identity and password into form errors; the verified user and whether it
/// carries a new hash.
async fn check_credentials(
    ctx: &SecurityCtx<'_>,
    f: &LoginFields,
    errors: &mut FormErrors,
) -> crate::Result<Option<(Box<User>, bool)>> {
    let id_field = id_field(&f.identity);
    let from = ctx.remote;
    match verify_credentials(ctx.state, &f.identity, &f.password, "password", from).await? {
        Credentials::Verified { user, rehashed } => return Ok(Some((user, rehashed))),
        Credentials::UnknownIdentity => errors.field(id_field, msg::USER_DOES_NOT_EXIST),
        Credentials::NoPassword(_) | Credentials::WrongPassword(_) => {
            errors.field("password", msg::INVALID_PASSWORD)
        }
        Credentials::Throttled { retry_after } => {
            // Generic mode turns this into the generic failure (and a 400).
            errors.field("password", msg::TOO_MANY_ATTEMPTS);
            errors.retry_after = Some(retry_after);
        }
    }
    Ok(None)
}

/// The field an identity's errors go under.
fn id_field(identity: &str) -> &'static str {
    if identity.contains('@') {
        "email"
    } else {
        "username"
    }
}

fn failure(ctx: &SecurityCtx<'_>, errors: FormErrors, input: &FormInput) -> Reply {
    let st = ctx.state;
    let fields = ["email", "username", "password"];
    let errors = super::common::generic_errors(ctx, errors, &fields, msg::GENERIC_AUTHN_FAILED);
    let email = input.str("email").ok().flatten().unwrap_or("");
    let next = input.str("next").ok().flatten().unwrap_or("");
    let action = st.config.url(&st.config.login_url);
    fail(
        ctx,
        &errors,
        "login_user",
        &action,
        &login_fields(email, next),
    )
}

/// `POST /login`.
#[rocket::post("/", data = "<input>")]
pub async fn login_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    match login(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The login flow without Rocket: validates, authenticates, logs in.
pub async fn login(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let mut errors = FormErrors::default();
    let Some(fields) = read_fields(ctx, input, &mut errors) else {
        return Ok(failure(ctx, errors, input));
    };
    let Some((mut user, mut dirty)) = check_credentials(ctx, &fields, &mut errors).await? else {
        return Ok(failure(ctx, errors, input));
    };
    let token_wanted = ctx.want_json && ctx.token_wanted();
    dirty |= crate::auth::prepare_token_identity(&mut user, token_wanted);
    let factor = FirstFactor {
        user: *user,
        dirty,
        remember: fields.remember,
        authn_via: "password",
        remote: ctx.remote,
        mfa: true,
    };
    let user = match complete(st, &ctx.session, factor).await? {
        SignInOutcome::SignedIn(user) => user,
        SignInOutcome::Refused(r) => {
            errors.field(id_field(&fields.identity), r.message());
            return Ok(failure(ctx, errors, input));
        }
        SignInOutcome::SecondFactor { user, pending } => {
            let next = fields.next.as_deref().or(ctx.next_query.as_deref());
            return super::two_factor::entered(ctx, &user, &pending, next).await;
        }
    };
    if ctx.want_json {
        let mut p = Map::new();
        if cfg.two_factor {
            p.insert("tf_required".into(), serde_json::json!(false));
        }
        return Ok(json_ok(ctx, p, Some((&user, true))));
    }
    Ok(Reply::redirect(post_action_redirect(
        cfg,
        &[fields.next.as_deref(), ctx.next_query.as_deref()],
        &cfg.post_login_view,
        ctx.host.as_deref(),
    )))
}
