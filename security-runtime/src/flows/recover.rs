//! `/reset` (forgot password), `/reset/<token>`, `/recover-username`: the web side.
//!
//! Parity: `views.forgot_password`, `views.reset_password`, `views.recover_username`.
//! The handlers read the form, call the account functions of
//! [`crate::account::recover`] and render what they return.

use rocket::http::Status;
use serde_json::{json, Map};

use super::common::{
    csrf, fail, field, flash_redirect, json_ok, mail_failed, one_field, page, redirect_with, spa,
    token_path, within_text, HtmlField,
};
use super::SecurityCtx;
use crate::account::recover::{
    self as account, LinkProblem, RecoveryForm, RecoveryOutcome, ResetForm, ResetOutcome,
};
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::responses::{internal_error, json_reply, FormErrors, Reply};

/// Reads a recovery form (`email`), checking its CSRF token.
fn recovery_form(ctx: &SecurityCtx<'_>, input: &FormInput) -> RecoveryForm {
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    RecoveryForm {
        email: field(input, "email", &mut errors),
        errors,
    }
}

/// `GET /reset`: the forgot-password form, or `{csrf_token}`.
#[rocket::get("/")]
pub async fn forgot_get(ctx: SecurityCtx<'_>) -> Reply {
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), None);
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "forgot_password",
        &cfg.url(&cfg.reset_url),
        &one_field("email", "email", ""),
        &[],
    )
}

/// `POST /reset`: mails reset instructions.
#[rocket::post("/", data = "<input>")]
pub async fn forgot_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let until = super::common::generic_floor(&ctx);
    super::common::hold_until(until, forgot_post_inner(ctx, input)).await
}

async fn forgot_post_inner(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let form = recovery_form(&ctx, &input);
    let typed = form.email.clone().unwrap_or_default();
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.reset_url);
    match account::forgot_password(ctx.state, form, ctx.locale).await {
        Ok(RecoveryOutcome::Invalid(errors)) => {
            let fields = one_field("email", "email", &typed);
            fail(&ctx, &errors, "forgot_password", &action, &fields)
        }
        Ok(RecoveryOutcome::MailFailed(e)) => mail_failed(&ctx, &e),
        Ok(RecoveryOutcome::Requested { .. }) if ctx.want_json => json_ok(&ctx, Map::new(), None),
        Ok(RecoveryOutcome::Requested { notice }) => {
            let fields = one_field("email", "email", "");
            page(&ctx, "forgot_password", &action, &fields, &[notice])
        }
        Err(e) => internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

fn reset_fields() -> [HtmlField<'static>; 2] {
    [
        HtmlField::password("password"),
        HtmlField::password("password_confirm"),
    ]
}

/// What a refused reset link tells the user.
fn link_message(ctx: &SecurityCtx<'_>, problem: LinkProblem) -> Text {
    match problem {
        LinkProblem::Invalid => Text::new(msg::INVALID_RESET_PASSWORD_TOKEN),
        LinkProblem::Expired => msg::password_reset_expired(&within_text(
            &ctx.state.catalog,
            ctx.locale,
            ctx.state.config.reset_password_within,
        )),
    }
}

/// A bad, expired or used reset link. `link` is the GET of the mailed link, which in SPA
/// mode always redirects to `reset_error_view` (whatever `Accept` says); JSON otherwise
/// answers 400 with the message as a form-level error, and a form POST goes back to
/// "forgot password" with it flashed (Flask-Security's `reset_password` view).
fn token_error(ctx: &SecurityCtx<'_>, problem: LinkProblem, link: bool) -> Reply {
    let st = ctx.state;
    let err = ctx.t(link_message(ctx, problem));
    if spa(st) && link {
        let view = st
            .config
            .reset_error_view
            .clone()
            .unwrap_or_else(|| "/".into());
        return redirect_with(&view, &[("error", &err)]);
    }
    if ctx.want_json {
        let mut errors = FormErrors::default();
        errors.form(err);
        return crate::responses::form_error_reply(st, &errors, ctx.locale);
    }
    // A browser goes back to "forgot password", with the reason flashed.
    flash_redirect(st.config.url(&st.config.reset_url), "error", err)
}

/// `GET /reset/<token>`: SPA redirect, or the new-password form.
#[rocket::get("/<token>")]
pub async fn reset_get(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    match account::check_reset_link(st, token).await {
        Err(e) => internal_error(st, ctx.want_json, ctx.locale, &e),
        Ok(Err(problem)) => token_error(&ctx, problem, true),
        Ok(Ok(_)) if spa(st) => {
            let view = cfg.reset_view.clone().unwrap_or_else(|| "/".into());
            redirect_with(&view, &[("token", token)])
        }
        Ok(Ok(_)) if ctx.want_json => json_ok(&ctx, Map::new(), None),
        Ok(Ok(_)) => {
            let action = cfg.url(&token_path(&cfg.reset_url, token));
            page(&ctx, "reset_password", &action, &reset_fields(), &[])
        }
    }
}

/// `POST /reset/<token>`: sets the new password.
#[rocket::post("/<token>", data = "<input>")]
pub async fn reset_post(ctx: SecurityCtx<'_>, token: &str, input: FormInput) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    let form = ResetForm {
        password: field(&input, "password", &mut errors),
        password_confirm: field(&input, "password_confirm", &mut errors),
        errors,
    };
    match account::reset_password(st, token, form, ctx.locale).await {
        Ok(ResetOutcome::Invalid(errors)) => {
            let action = cfg.url(&token_path(&cfg.reset_url, token));
            fail(&ctx, &errors, "reset_password", &action, &reset_fields())
        }
        Ok(ResetOutcome::BadLink(problem)) => token_error(&ctx, problem, false),
        // Parity: `{}` without csrf_token.
        Ok(ResetOutcome::Reset(_)) if ctx.want_json => json_reply(st, Status::Ok, json!({})),
        Ok(ResetOutcome::Reset(_)) => flash_redirect(
            cfg.post_reset_view
                .clone()
                .unwrap_or_else(|| cfg.url(&cfg.login_url)),
            "success",
            msg::PASSWORD_RESET_NO_LOGIN,
        ),
        Err(e) => internal_error(st, ctx.want_json, ctx.locale, &e),
    }
}

/// `GET /recover-username`.
#[rocket::get("/")]
pub async fn recover_username_get(ctx: SecurityCtx<'_>) -> Reply {
    // Parity: `recover_username` is `anonymous_user_required`.
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), None);
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "recover_username",
        &cfg.url(&cfg.username_recovery_url),
        &one_field("email", "email", ""),
        &[],
    )
}

/// `POST /recover-username`: mails the username.
#[rocket::post("/", data = "<input>")]
pub async fn recover_username_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let until = super::common::generic_floor(&ctx);
    super::common::hold_until(until, recover_username_post_inner(ctx, input)).await
}

async fn recover_username_post_inner(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    let form = recovery_form(&ctx, &input);
    let typed = form.email.clone().unwrap_or_default();
    let cfg = &ctx.state.config;
    match account::recover_username(ctx.state, form, ctx.locale).await {
        Ok(RecoveryOutcome::Invalid(errors)) => {
            let action = cfg.url(&cfg.username_recovery_url);
            let fields = one_field("email", "email", &typed);
            fail(&ctx, &errors, "recover_username", &action, &fields)
        }
        Ok(RecoveryOutcome::MailFailed(e)) => mail_failed(&ctx, &e),
        Ok(RecoveryOutcome::Requested { .. }) if ctx.want_json => json_ok(&ctx, Map::new(), None),
        Ok(RecoveryOutcome::Requested { notice }) => {
            flash_redirect(cfg.url(&cfg.login_url), "info", notice)
        }
        Err(e) => internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}
