//! `/us-verify` (GET, POST) and `/us-verify/send-code` (POST): a signed-in user proves
//! it is them again with any of their unified sign-in methods, which makes the sign-in
//! fresh.
//!
//! Parity: `unified_signin.us_verify`, `us_verify_send_code`.

use serde_json::{json, Map};

use super::common::{
    csrf, field, json_ok, page_extra, passcode_field, throttled, Authed, HtmlField, PageForm,
};
use super::SecurityCtx;
use crate::account::unified::{self as us, Passcode};
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};

/// The user's methods that send a code.
fn user_code_methods(ctx: &SecurityCtx<'_>, user: &User) -> Vec<String> {
    let active = us::active_methods(ctx.state, user);
    us::code_methods(ctx.state)
        .into_iter()
        .filter(|m| active.iter().any(|a| a == m))
        .map(str::to_owned)
        .collect()
}

fn verify_page(ctx: &SecurityCtx<'_>, user: &User, errors: &FormErrors, notices: &[Text]) -> Reply {
    let cfg = &ctx.state.config;
    let next = ctx.next_query.clone().unwrap_or_default();
    let fields = [
        HtmlField::password("passcode"),
        HtmlField {
            name: "next",
            kind: "hidden",
            value: next,
        },
    ];
    let mut extra = Map::new();
    extra.insert("code_methods".into(), json!(user_code_methods(ctx, user)));
    extra.insert(
        "send_code_action".into(),
        json!(cfg.url(&cfg.us_verify_send_code_url)),
    );
    let action = cfg.url(&cfg.us_verify_url);
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices,
    };
    page_extra(ctx, "us_verify", &form, extra)
}

/// `GET /us-verify`.
#[rocket::get("/")]
pub async fn verify_get(ctx: SecurityCtx<'_>, who: Authed) -> Reply {
    let user = &who.0.user;
    if ctx.want_json {
        let mut p = Map::new();
        p.insert(
            "available_methods".into(),
            json!(ctx.state.config.us_enabled_methods),
        );
        p.insert("code_methods".into(), json!(user_code_methods(&ctx, user)));
        let wan = crate::account::has_webauthn_verify(ctx.state, &who.0.user).await;
        p.insert(
            "has_webauthn_verify_credential".into(),
            json!(wan.unwrap_or(false)),
        );
        p.insert("oauth_enabled".into(), json!(false));
        p.insert("oauth_providers".into(), json!([]));
        return json_ok(&ctx, p, Some((user, false)));
    }
    verify_page(&ctx, user, &FormErrors::default(), &[])
}

/// `POST /us-verify`: the signed-in user's password or a code of one of their methods
/// (another account's never refreshes this one: only this user's secrets are tried).
#[rocket::post("/", data = "<input>")]
pub async fn verify_post(ctx: SecurityCtx<'_>, who: Authed, input: FormInput) -> Reply {
    verify(&ctx, std::sync::Arc::unwrap_or_clone(who.0.user), &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn verify(ctx: &SecurityCtx<'_>, user: User, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let passcode = passcode_field(input, &mut errors);
    let next = super::common::next_field(ctx, input, &mut errors);
    let mut verified = None;
    if let (Some(p), true) = (&passcode, errors.is_empty()) {
        verified = checked(ctx, &user, p, &mut errors).await?;
    }
    let Some(user) = verified else {
        let reply = if ctx.want_json {
            form_error_reply(st, &errors, ctx.locale)
        } else {
            verify_page(ctx, &user, &errors, &[])
        };
        return Ok(match errors.retry_after {
            Some(s) => throttled(reply, s),
            None => reply,
        });
    };
    Ok(super::verify::reauthenticated(ctx, &user, next.as_deref()))
}

/// The signed-in user's passcode checked; the error in `errors` when it is refused.
async fn checked(
    ctx: &SecurityCtx<'_>,
    user: &User,
    passcode: &str,
    errors: &mut FormErrors,
) -> crate::Result<Option<Box<User>>> {
    match us::check_passcode(ctx.state, user.clone(), passcode, ctx.remote).await? {
        Passcode::Accepted { user, .. } => return Ok(Some(user)),
        Passcode::Refused => errors.field("passcode", msg::INVALID_PASSWORD_CODE),
        Passcode::Throttled(wait) => {
            errors.field("passcode", msg::TOO_MANY_ATTEMPTS);
            errors.retry_after = Some(wait);
        }
    }
    Ok(None)
}

/// `POST /us-verify/send-code`: sends the signed-in user a code by `chosen_method`.
#[rocket::post("/", data = "<input>")]
pub async fn send_code_post(ctx: SecurityCtx<'_>, who: Authed, input: FormInput) -> Reply {
    send_code(&ctx, &who.0.user, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn send_code(ctx: &SecurityCtx<'_>, user: &User, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let method = field(input, "chosen_method", &mut errors)
        .filter(|m| user_code_methods(ctx, user).contains(m));
    if method.is_none() && errors.first("chosen_method").is_none() {
        errors.field("chosen_method", msg::US_METHOD_NOT_AVAILABLE);
    }
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        return Ok(if ctx.want_json {
            form_error_reply(st, &errors, ctx.locale)
        } else {
            verify_page(ctx, user, &errors, &[])
        });
    };
    if let Err(e) = us::send_code(st, user, &method, ctx.locale, false).await? {
        return Ok(super::two_factor::send_failed(ctx, &e));
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    Ok(verify_page(
        ctx,
        user,
        &FormErrors::default(),
        &[Text::new(msg::CODE_HAS_BEEN_SENT)],
    ))
}
