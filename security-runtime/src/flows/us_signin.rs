//! `/us-signin` (GET, POST), `/us-signin/send-code` (POST) and `/us-verify-link` (GET):
//! unified sign-in with a password or a code, codes sent by email (with a magic link)
//! or SMS.
//!
//! Parity: `unified_signin.us_signin`, `us_signin_send_code`, `us_verify_link`.

use serde_json::{json, Map};

use super::common::{
    csrf, field, flash_redirect, generic_errors, generic_floor, hold_until, json_ok, page_extra,
    passcode_field, redirect_with, throttled, HtmlField, PageForm,
};
use super::SecurityCtx;
use crate::account::mail::known_identity_work;
use crate::account::two_factor::SendError;
use crate::account::unified::{self as us, Passcode};
use crate::auth::lookup_identity;
use crate::datastore::UserQuery;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};
use crate::signin::{complete, FirstFactor, SignInOutcome};

/// What the sign-in page shows besides its fields.
fn signin_page(
    ctx: &SecurityCtx<'_>,
    input: Option<&FormInput>,
    errors: &FormErrors,
    notices: &[Text],
) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let value = |n: &str| {
        input
            .and_then(|i| i.str(n).ok().flatten())
            .unwrap_or_default()
            .to_owned()
    };
    let next = input
        .and_then(|i| i.str("next").ok().flatten())
        .or(ctx.next_query.as_deref())
        .unwrap_or_default()
        .to_owned();
    let fields = [
        HtmlField {
            name: "identity",
            kind: "text",
            value: value("identity"),
        },
        HtmlField::password("passcode"),
        HtmlField {
            name: "remember",
            kind: "checkbox",
            value: "y".into(),
        },
        HtmlField {
            name: "next",
            kind: "hidden",
            value: next,
        },
    ];
    let mut extra = Map::new();
    extra.insert("code_methods".into(), json!(us::code_methods(st)));
    extra.insert("chosen_method".into(), json!(value("chosen_method")));
    extra.insert(
        "identity_attributes".into(),
        json!(cfg.identity_attributes()),
    );
    extra.insert(
        "send_code_action".into(),
        json!(cfg.url(&cfg.us_signin_send_code_url)),
    );
    let action = cfg.url(&cfg.us_signin_url);
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices,
    };
    page_extra(ctx, "us_signin", &form, extra)
}

/// `GET /us-signin`: the form, or `available_methods`, `code_methods` and
/// `identity_attributes` (JSON).
#[rocket::get("/")]
pub async fn signin_get(ctx: SecurityCtx<'_>) -> Reply {
    let st = ctx.state;
    let mut data = ctx.session();
    data.tf = crate::session::TwoFactorState::default();
    data.fs_cc = Some(crate::session::CsrfCookie::Set);
    crate::csrf::ensure_secret(&mut data);
    ctx.save_session(&data);
    if ctx.want_json {
        let mut p = Map::new();
        p.insert(
            "available_methods".into(),
            json!(st.config.us_enabled_methods),
        );
        p.insert("code_methods".into(), json!(us::code_methods(st)));
        p.insert(
            "identity_attributes".into(),
            json!(st.config.identity_attributes()),
        );
        let user = ctx.current.as_ref().map(|a| (&*a.user, false));
        return json_ok(&ctx, p, user);
    }
    if ctx.current.is_some() {
        return Reply::redirect(st.config.post_login_view.clone());
    }
    signin_page(&ctx, None, &FormErrors::default(), &[])
}

/// `POST /us-signin`.
#[rocket::post("/", data = "<input>")]
pub async fn signin_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    signin(&ctx, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// The fields of a sign-in.
struct SigninFields {
    identity: String,
    passcode: String,
    remember: bool,
    next: Option<String>,
}

fn read_signin(
    ctx: &SecurityCtx<'_>,
    input: &FormInput,
    errors: &mut FormErrors,
) -> Option<SigninFields> {
    let cfg = &ctx.state.config;
    let identity = field(input, "identity", errors).filter(|s| !s.trim().is_empty());
    let passcode = passcode_field(input, errors);
    let next = super::common::next_field(ctx, input, errors);
    csrf(ctx, input, errors);
    if identity.is_none() && errors.first("identity").is_none() {
        errors.field("identity", msg::US_SPECIFY_IDENTITY);
    }
    if !errors.is_empty() {
        return None;
    }
    Some(SigninFields {
        identity: identity?,
        passcode: passcode?,
        remember: input.bool("remember").unwrap_or(cfg.default_remember_me),
        next,
    })
}

/// A failed sign-in: the errors (in generic mode one form-level message for anything
/// about the identity or passcode), as JSON 400 or the page again.
fn failure(ctx: &SecurityCtx<'_>, errors: FormErrors, input: &FormInput) -> Reply {
    let errors = generic_errors(
        ctx,
        errors,
        &["identity", "passcode"],
        msg::GENERIC_AUTHN_FAILED,
    );
    let reply = if ctx.want_json {
        form_error_reply(ctx.state, &errors, ctx.locale)
    } else {
        signin_page(ctx, Some(input), &errors, &[])
    };
    match errors.retry_after {
        Some(s) => throttled(reply, s),
        None => reply,
    }
}

async fn signin(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let mut errors = FormErrors::default();
    let Some(f) = read_signin(ctx, input, &mut errors) else {
        return Ok(failure(ctx, errors, input));
    };
    let (mut user, via, rehashed) = match lookup_identity(st, &f.identity).await? {
        None => {
            // The same work as a checked passcode: the answer time tells nothing.
            us::unknown_identity_work(st, &f.passcode).await?;
            errors.field("identity", msg::US_SPECIFY_IDENTITY);
            return Ok(failure(ctx, errors, input));
        }
        Some(u) => match us::check_passcode(st, u, &f.passcode, ctx.remote).await? {
            Passcode::Accepted {
                user,
                via,
                rehashed,
            } => (user, via, rehashed),
            Passcode::Refused => {
                errors.field("passcode", msg::INVALID_PASSWORD_CODE);
                return Ok(failure(ctx, errors, input));
            }
            Passcode::Throttled(wait) => {
                errors.field("passcode", msg::TOO_MANY_ATTEMPTS);
                errors.retry_after = Some(wait);
                return Ok(failure(ctx, errors, input));
            }
        },
    };
    let token_wanted = ctx.want_json && ctx.token_wanted();
    let dirty = rehashed | crate::auth::prepare_token_identity(&mut user, token_wanted);
    let factor = FirstFactor {
        user: *user,
        dirty,
        remember: f.remember,
        authn_via: via,
        remote: ctx.remote,
        // A password never stands alone for a user with a second factor, whatever
        // `us_mfa_required` says (beyond Flask-Security).
        mfa: via == "password" || cfg.us_mfa_required.iter().any(|m| m == via),
    };
    let next = f.next.as_deref().or(ctx.next_query.as_deref());
    signed_in(ctx, complete(st, &ctx.session, factor).await?, next, input).await
}

/// What a sign-in answers once its first factor is proven.
async fn signed_in(
    ctx: &SecurityCtx<'_>,
    outcome: SignInOutcome,
    next: Option<&str>,
    input: &FormInput,
) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let user = match outcome {
        SignInOutcome::SignedIn(user) => user,
        SignInOutcome::Refused(r) => {
            let mut errors = FormErrors::default();
            errors.field("identity", r.message());
            return Ok(failure(ctx, errors, input));
        }
        SignInOutcome::SecondFactor { user, pending } => {
            return super::two_factor::entered(ctx, &user, &pending, next).await;
        }
    };
    if ctx.want_json {
        let mut p = Map::new();
        p.insert("tf_required".into(), json!(false));
        return Ok(json_ok(ctx, p, Some((&user, true))));
    }
    Ok(Reply::redirect(post_action_redirect(
        cfg,
        &[next],
        &cfg.post_login_view,
        ctx.host.as_deref(),
    )))
}

/// `POST /us-signin/send-code`: mails (with a magic link) or texts a code.
#[rocket::post("/", data = "<input>")]
pub async fn send_code_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let floor = generic_floor(&ctx);
    hold_until(floor, async {
        send_code(&ctx, &input)
            .await
            .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
    })
    .await
}

/// Why a code was not sent.
#[derive(Debug)]
enum Unsent {
    Store(crate::SecurityError),
    Send(SendError),
}

impl std::fmt::Display for Unsent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unsent::Store(e) => write!(f, "{e}"),
            Unsent::Send(e) => write!(f, "{e}"),
        }
    }
}

/// The user an identity names when it may be sent a code by `method`; the error goes
/// into `errors` otherwise.
async fn code_recipient(
    ctx: &SecurityCtx<'_>,
    identity: &str,
    method: &str,
    errors: &mut FormErrors,
) -> crate::Result<Option<User>> {
    let st = ctx.state;
    let Some(user) = lookup_identity(st, identity).await? else {
        errors.field("identity", msg::US_SPECIFY_IDENTITY);
        return Ok(None);
    };
    if !user.active {
        errors.field("identity", msg::DISABLED_ACCOUNT);
        return Ok(None);
    }
    if !us::active_methods(st, &user).iter().any(|m| m == method) {
        errors.field("chosen_method", msg::US_METHOD_NOT_AVAILABLE);
        return Ok(None);
    }
    Ok(Some(user))
}

/// What a send-code form names: the identity and an enabled code method.
fn read_send_code(
    ctx: &SecurityCtx<'_>,
    input: &FormInput,
    errors: &mut FormErrors,
) -> (Option<String>, Option<String>) {
    let identity = field(input, "identity", errors).filter(|s| !s.trim().is_empty());
    let method = field(input, "chosen_method", errors);
    csrf(ctx, input, errors);
    let method = method.filter(|m| us::code_methods(ctx.state).contains(&m.as_str()));
    if method.is_none() && errors.first("chosen_method").is_none() {
        errors.field("chosen_method", msg::US_METHOD_NOT_AVAILABLE);
    }
    if identity.is_none() && errors.first("identity").is_none() {
        errors.field("identity", msg::US_SPECIFY_IDENTITY);
    }
    (identity, method)
}

async fn send_code(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let mut errors = FormErrors::default();
    let (identity, method) = read_send_code(ctx, input, &mut errors);
    let mut user = None;
    if let (true, Some(i), Some(m)) = (errors.is_empty(), &identity, &method) {
        user = code_recipient(ctx, i, m, &mut errors).await?;
    }
    // In generic mode what depends on the identity is not told (a bad request still is).
    let about_the_user = ["identity", "chosen_method"];
    let only_user_errors = errors
        .fields
        .iter()
        .all(|(n, _)| about_the_user.contains(&n.as_str()))
        && method.is_some();
    let generic = st.config.return_generic_responses;
    let squashed = generic && only_user_errors;
    if !errors.is_empty() && !squashed {
        return Ok(if ctx.want_json {
            form_error_reply(st, &errors, ctx.locale)
        } else {
            signin_page(ctx, Some(input), &errors, &[])
        });
    }
    if let (Some(user), Some(method)) = (user, method) {
        if let Some(failed) = queue_code(ctx, user, method).await? {
            return Ok(failed);
        }
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    let notice = if generic {
        msg::GENERIC_US_SIGNIN
    } else {
        msg::CODE_HAS_BEEN_SENT
    };
    let notices = [Text::new(notice)];
    Ok(signin_page(
        ctx,
        Some(input),
        &FormErrors::default(),
        &notices,
    ))
}

/// Sends `user` a code by `method` (after the answer when mail is queued); the answer
/// when it failed here.
async fn queue_code(
    ctx: &SecurityCtx<'_>,
    user: User,
    method: String,
) -> crate::Result<Option<Reply>> {
    let locale = ctx.locale.to_owned();
    let sent = known_identity_work(ctx.state, move |st| async move {
        let link = st.config.us_magic_link;
        match us::send_code(&st, &user, &method, &locale, link).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Unsent::Send(e)),
            Err(e) => Err(Unsent::Store(e)),
        }
    })
    .await;
    match sent {
        Ok(()) => Ok(None),
        Err(Unsent::Send(e)) => Ok(Some(super::two_factor::send_failed(ctx, &e))),
        Err(Unsent::Store(e)) => Err(e),
    }
}

/// `GET /us-verify-link?id=<fs_uniquifier>&code=<code>`: the magic link of a mailed
/// code signs the user in (once), or goes to the sign-in page with the error.
#[rocket::get("/?<id>&<code>")]
pub async fn verify_link(ctx: SecurityCtx<'_>, id: Option<&str>, code: Option<&str>) -> Reply {
    if ctx.current.is_some() {
        // Anonymous only: a link (someone else's, perhaps) never switches a session.
        return Reply::redirect(ctx.state.config.post_login_view.clone());
    }
    magic_link(&ctx, id, code)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, false, ctx.locale, &e))
}

async fn magic_link(
    ctx: &SecurityCtx<'_>,
    id: Option<&str>,
    code: Option<&str>,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let generic = st.config.return_generic_responses;
    let (Some(id), Some(code)) = (id, code) else {
        return Ok(link_error(ctx, msg::API_ERROR));
    };
    let user = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(id.to_owned()), false)
        .await?;
    let user = match user {
        None if generic => return Ok(link_error(ctx, msg::GENERIC_AUTHN_FAILED)),
        None => return Ok(link_error(ctx, msg::USER_DOES_NOT_EXIST)),
        Some(u) if !u.active && generic => return Ok(link_error(ctx, msg::GENERIC_AUTHN_FAILED)),
        Some(u) if !u.active => return Ok(link_error(ctx, msg::DISABLED_ACCOUNT)),
        Some(u) => u,
    };
    match us::check_link_code(st, &user, code).await? {
        Some(Ok(())) => {}
        _ if generic => return Ok(link_error(ctx, msg::GENERIC_AUTHN_FAILED)),
        _ => return Ok(link_error(ctx, msg::INVALID_CODE)),
    }
    let factor = FirstFactor {
        user,
        dirty: false,
        remember: false,
        authn_via: "email",
        remote: ctx.remote,
        mfa: st.config.us_mfa_required.iter().any(|m| m == "email"),
    };
    Ok(match complete(st, &ctx.session, factor).await? {
        SignInOutcome::SignedIn(_) => {
            let to = st.config.post_login_view.clone();
            if super::common::spa(st) {
                Reply::redirect(to)
            } else {
                flash_redirect(to, "success", msg::PASSWORDLESS_LOGIN_SUCCESSFUL)
            }
        }
        SignInOutcome::Refused(r) => link_error(ctx, r.message()),
        SignInOutcome::SecondFactor { user, pending } => {
            return super::two_factor::entered(ctx, &user, &pending, None).await;
        }
    })
}

/// A magic link's failure: to `login_error_view?error=` (SPA), else the sign-in page
/// with the message flashed.
fn link_error(ctx: &SecurityCtx<'_>, message: &'static str) -> Reply {
    let cfg = &ctx.state.config;
    if super::common::spa(ctx.state) {
        if let Some(view) = &cfg.login_error_view {
            return redirect_with(view, &[("error", &ctx.t(message))]);
        }
    }
    flash_redirect(cfg.url(&cfg.us_signin_url), "error", message)
}
