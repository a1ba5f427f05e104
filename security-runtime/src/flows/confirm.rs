//! `/confirm` (send instructions again) and `/confirm/<token>`.
//!
//! Parity: `views.send_confirmation`, `views.confirm_email`. The rules live in
//! [`crate::account::confirm`]; here the request is read, a session on this browser is
//! dealt with, and the outcome answered.

use rocket::http::Status;
use serde_json::{json, Map};

use super::common::{
    csrf, fail, field, flash_redirect, json_ok, mail_failed, one_field, page, redirect_with,
    sign_in_after, spa, within_text,
};
use super::SecurityCtx;
use crate::account::confirm::{
    self as account, ConfirmOutcome, SendConfirmationForm, SendConfirmationOutcome,
};
use crate::auth::logout_user;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{errors_reply, json_reply, FormErrors, Reply};

/// `GET /confirm`: the form (email prefilled from `?email=`), or `{csrf_token}`.
#[rocket::get("/?<email>")]
pub async fn send_confirmation_get(ctx: SecurityCtx<'_>, email: Option<String>) -> Reply {
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), None);
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "send_confirmation",
        &cfg.url(&cfg.confirm_url),
        &one_field("email", "email", email.as_deref().unwrap_or("")),
        &[],
    )
}

/// `POST /confirm`: mails the confirmation link again.
#[rocket::post("/", data = "<input>")]
pub async fn send_confirmation_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let until = super::common::generic_floor(&ctx);
    super::common::hold_until(until, send_confirmation_post_inner(ctx, input)).await
}

async fn send_confirmation_post_inner(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    match send_confirmation(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// `POST /confirm`: reads the form, asks [`account::send_confirmation`], answers with its
/// outcome.
pub async fn send_confirmation(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let mut read_errors = FormErrors::default();
    csrf(ctx, input, &mut read_errors);
    let email = field(input, "email", &mut read_errors);
    let action = cfg.url(&cfg.confirm_url);
    let typed = email.clone().unwrap_or_default();
    let fields = one_field("email", "email", &typed);
    let form = SendConfirmationForm { email, read_errors };
    let reply = match account::send_confirmation(ctx.state, form, ctx.locale).await? {
        SendConfirmationOutcome::Invalid(errors) => {
            fail(ctx, &errors, "send_confirmation", &action, &fields)
        }
        SendConfirmationOutcome::MailFailed(e) => mail_failed(ctx, &e),
        SendConfirmationOutcome::Sent if ctx.want_json => json_ok(ctx, Map::new(), None),
        SendConfirmationOutcome::Sent => {
            let info = msg::confirmation_request(&typed);
            page(ctx, "send_confirmation", &action, &fields, &[info])
        }
    };
    Ok(reply)
}

/// `GET /confirm/<token>`: the link in the mail.
#[rocket::get("/<token>")]
pub async fn confirm_email_get(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    confirm_email(&ctx, token).await
}

/// `POST /confirm/<token>`.
#[rocket::post("/<token>")]
pub async fn confirm_email_post(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    confirm_email(&ctx, token).await
}

async fn confirm_email(ctx: &SecurityCtx<'_>, token: &str) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let outcome = match account::confirm_email(st, token).await {
        Ok(o) => o,
        Err(e) => return crate::responses::internal_error(st, ctx.want_json, ctx.locale, &e),
    };
    let within = within_text(&ctx.state.catalog, ctx.locale, cfg.confirm_email_within);
    // Anything but a fresh confirmation goes back to the start-over view with a notice.
    let (category, m) = match outcome {
        ConfirmOutcome::Confirmed { user, sign_in } => return confirmed(ctx, *user, sign_in).await,
        ConfirmOutcome::Invalid => ("error", Text::new(msg::INVALID_CONFIRMATION_TOKEN)),
        ConfirmOutcome::Expired => ("error", msg::confirmation_expired(&within)),
        ConfirmOutcome::AlreadyConfirmed => ("info", Text::new(msg::ALREADY_CONFIRMED)),
    };
    let m = ctx.t(m);
    if spa(st) {
        let view = cfg.confirm_error_view.clone().unwrap_or_else(|| "/".into());
        return redirect_with(&view, &[(category, &m)]);
    }
    if ctx.want_json {
        return if category == "error" {
            errors_reply(st, Status::BadRequest, &[&m], ctx.locale)
        } else {
            json_reply(st, Status::Ok, json!({}))
        };
    }
    // A browser goes back to "send me a new link", with the notice flashed.
    let to = cfg
        .confirm_error_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.confirm_url));
    flash_redirect(to, category, Text::from(m))
}

/// A fresh confirmation: another user signed in on this browser is signed out, the user
/// signed in when `sign_in`, then the answer.
async fn confirmed(ctx: &SecurityCtx<'_>, mut user: User, sign_in: bool) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    // Someone else logged in on this browser is logged out first.
    if ctx.current.as_ref().is_some_and(|a| a.user.id != user.id) {
        logout_user(st, &ctx.session, ctx.current.as_ref().map(|a| a.user.id));
    }
    if sign_in {
        if let Err(e) = sign_in_after(ctx, &mut user, "confirm", false, false).await {
            return crate::responses::internal_error(st, ctx.want_json, ctx.locale, &e);
        }
    }
    if spa(st) {
        let view = cfg.post_confirm_view.clone().unwrap_or_else(|| "/".into());
        return redirect_with(
            &view,
            &[
                ("success", msg::EMAIL_CONFIRMED),
                ("email", &user.email),
                ("identity", user.calc_username()),
            ],
        );
    }
    if ctx.want_json {
        return json_reply(st, Status::Ok, json!({}));
    }
    let to = cfg.post_confirm_view.clone().unwrap_or_else(|| {
        if sign_in {
            cfg.post_login_view.clone()
        } else {
            cfg.url(&cfg.login_url)
        }
    });
    flash_redirect(to, "success", msg::EMAIL_CONFIRMED)
}
