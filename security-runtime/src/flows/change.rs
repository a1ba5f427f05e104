//! `/change` (password), `/change-email` (+ `/change-email/<token>`), `/change-username`:
//! the web side.
//!
//! Parity: `views.change_password`, `change_email.change_email`,
//! `change_email.change_email_confirm`, `change_username.change_username`. The handlers
//! read the form, call the account functions of [`crate::account::change`],
//! [`crate::account::change_email`] and [`crate::account::username`], and render what
//! they return.

use rocket::http::Status;
use serde_json::{json, Map};

use super::common::{
    csrf, fail, field, flash_redirect, json_ok, mail_failed, one_field, page, redirect_with,
    sign_in_after, spa, within_text, AfterSignIn, Authed, Fresh, HtmlField,
};
use super::SecurityCtx;
use crate::account::change::{self, ChangePasswordForm, ChangePasswordOutcome};
use crate::account::change_email::{
    self, ChangeEmailForm, ChangeEmailOutcome, ConfirmEmailOutcome,
};
use crate::account::recover::LinkProblem;
use crate::account::username::{self, ChangeUsernameForm, ChangeUsernameOutcome};
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{errors_reply, internal_error, json_reply, FormErrors, Reply};

fn pw_fields() -> [HtmlField<'static>; 3] {
    let f = |name| HtmlField {
        name,
        kind: "password",
        value: String::new(),
    };
    [f("password"), f("new_password"), f("new_password_confirm")]
}

/// `GET /change`: `user` and `active_password`.
#[rocket::get("/")]
pub async fn change_password_get(ctx: SecurityCtx<'_>, who: Authed) -> Reply {
    let user = who.0.user;
    if ctx.want_json {
        let mut m = Map::new();
        m.insert("active_password".into(), json!(user.password.is_some()));
        return json_ok(&ctx, m, Some((&user, false)));
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "change_password",
        &cfg.url(&cfg.change_url),
        &pw_fields(),
        &[],
    )
}

/// `POST /change`.
#[rocket::post("/", data = "<input>")]
pub async fn change_password_post(ctx: SecurityCtx<'_>, who: Authed, input: FormInput) -> Reply {
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    let form = ChangePasswordForm {
        password: field(&input, "password", &mut errors),
        new_password: field(&input, "new_password", &mut errors),
        new_password_confirm: field(&input, "new_password_confirm", &mut errors),
        include_auth_token: ctx.include_auth_token,
        errors,
    };
    let via_token = who.0.via == crate::Mechanism::Token;
    let reply = match change::change_password(
        ctx.state,
        std::sync::Arc::unwrap_or_clone(who.0.user),
        via_token,
        form,
    )
    .await
    {
        Ok(outcome) => password_change_reply(&ctx, outcome).await,
        Err(e) => Err(e),
    };
    reply.unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// Renders a password change; a changed password first signs this browser in again
/// (with the remember cookie when there was one) when the account logic says so.
async fn password_change_reply(
    ctx: &SecurityCtx<'_>,
    outcome: ChangePasswordOutcome,
) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let (mut user, sign_in) = match outcome {
        ChangePasswordOutcome::Invalid(errors) => {
            let action = cfg.url(&cfg.change_url);
            return Ok(fail(ctx, &errors, "change_password", &action, &pw_fields()));
        }
        ChangePasswordOutcome::Changed { user, sign_in } => (*user, sign_in),
    };
    let mut refused = false;
    if sign_in {
        let remember = ctx.jar.get(&cfg.remember_cookie_name).is_some();
        // The new password is stored already (`change_password`).
        let after = sign_in_after(ctx, &mut user, "change", remember, false).await?;
        refused = !matches!(after, AfterSignIn::SignedIn);
        if refused {
            // Refused (the account was disabled or lost its confirmation meanwhile): the
            // new password stays stored, and this browser is signed out.
            crate::auth::logout_user(ctx.state, &ctx.session, Some(user.id));
        }
    }
    change::password_changed(ctx.state, &user, ctx.locale).await;
    if ctx.want_json {
        // A user the pipeline refused gets no auth token.
        return Ok(json_ok(ctx, Map::new(), Some((&user, !refused))));
    }
    Ok(flash_redirect(
        cfg.post_change_view
            .clone()
            .unwrap_or_else(|| cfg.post_login_view.clone()),
        "success",
        msg::PASSWORD_CHANGE,
    ))
}

/// `GET /change-email`: `user` and `current_email`.
#[rocket::get("/")]
pub async fn change_email_get(ctx: SecurityCtx<'_>, who: Fresh) -> Reply {
    let user = who.0.user;
    if ctx.want_json {
        return current_email_json(&ctx, &user);
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "change_email",
        &cfg.url(&cfg.change_email_url),
        &one_field("email", "email", ""),
        &[],
    )
}

/// The JSON answer of `/change-email`: `user`, `current_email`, `csrf_token`.
fn current_email_json(ctx: &SecurityCtx<'_>, user: &User) -> Reply {
    let mut m = Map::new();
    m.insert("current_email".into(), json!(user.email));
    json_ok(ctx, m, Some((user, false)))
}

/// `POST /change-email`: mails a confirmation link to the new address.
#[rocket::post("/", data = "<input>")]
pub async fn change_email_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    let until = super::common::generic_floor(&ctx);
    super::common::hold_until(until, change_email_post_inner(ctx, who, input)).await
}

async fn change_email_post_inner(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    let user = who.0.user;
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    let form = ChangeEmailForm {
        email: field(&input, "email", &mut errors),
        errors,
    };
    let typed = form.email.clone().unwrap_or_default();
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.change_email_url);
    match change_email::request_email_change(ctx.state, &user, form, ctx.locale).await {
        Ok(ChangeEmailOutcome::Invalid(errors)) => {
            let fields = one_field("email", "email", &typed);
            fail(&ctx, &errors, "change_email", &action, &fields)
        }
        Ok(ChangeEmailOutcome::MailFailed(e)) => mail_failed(&ctx, &e),
        Ok(ChangeEmailOutcome::Requested { .. }) if ctx.want_json => {
            current_email_json(&ctx, &user)
        }
        Ok(ChangeEmailOutcome::Requested { notice }) => {
            let fields = one_field("email", "email", "");
            page(&ctx, "change_email", &action, &fields, &[notice])
        }
        Err(e) => internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// `GET /change-email/<token>`: the link in the mail; needs no login.
#[rocket::get("/<token>")]
pub async fn change_email_confirm(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let user = match change_email::confirm_email_change(st, token).await {
        Ok(ConfirmEmailOutcome::Changed(user)) => user,
        Ok(ConfirmEmailOutcome::BadLink(LinkProblem::Expired)) => {
            let within = within_text(&ctx.state.catalog, ctx.locale, cfg.change_email_within);
            return confirm_error(&ctx, msg::change_email_expired(&within));
        }
        // A bad link, or the address was taken after the link was sent.
        Ok(ConfirmEmailOutcome::BadLink(LinkProblem::Invalid))
        | Ok(ConfirmEmailOutcome::AddressTaken) => {
            return confirm_error(&ctx, msg::API_ERROR.into())
        }
        Err(e) => return internal_error(st, ctx.want_json, ctx.locale, &e),
    };
    let view = cfg
        .post_change_email_view
        .clone()
        .unwrap_or_else(|| cfg.post_login_view.clone());
    if spa(st) {
        return redirect_with(
            &view,
            &[
                ("success", msg::CHANGE_EMAIL_CONFIRMED),
                ("email", &user.email),
                ("identity", user.calc_username()),
            ],
        );
    }
    if ctx.want_json {
        return json_reply(st, Status::Ok, json!({}));
    }
    flash_redirect(view, "success", msg::CHANGE_EMAIL_CONFIRMED)
}

/// A refused change-email link. Parity: a mailed link opened in SPA mode always
/// redirects, whatever `Accept` says.
fn confirm_error(ctx: &SecurityCtx<'_>, message: Text) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let m = ctx.t(message);
    if spa(st) {
        let view = cfg
            .change_email_error_view
            .clone()
            .unwrap_or_else(|| "/".into());
        return redirect_with(&view, &[("error", &m)]);
    }
    if ctx.want_json {
        return errors_reply(st, Status::BadRequest, &[&m], ctx.locale);
    }
    // A browser goes back to the change-email page, with the reason flashed.
    let to = cfg
        .change_email_error_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.change_email_url));
    flash_redirect(to, "error", Text::from(m))
}

/// `GET /change-username`: `user` and `current_username`.
#[rocket::get("/")]
pub async fn change_username_get(ctx: SecurityCtx<'_>, who: Fresh) -> Reply {
    let user = who.0.user;
    if ctx.want_json {
        let mut m = Map::new();
        m.insert("current_username".into(), json!(user.username));
        return json_ok(&ctx, m, Some((&user, false)));
    }
    let cfg = &ctx.state.config;
    page(
        &ctx,
        "change_username",
        &cfg.url(&cfg.change_username_url),
        &one_field("username", "text", ""),
        &[],
    )
}

/// `POST /change-username`.
#[rocket::post("/", data = "<input>")]
pub async fn change_username_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    let form = ChangeUsernameForm {
        username: field(&input, "username", &mut errors),
        errors,
    };
    let typed = form.username.clone().unwrap_or_default();
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.change_username_url);
    let refused = |errors: FormErrors, shown: &str| {
        let fields = one_field("username", "text", shown);
        fail(&ctx, &errors, "change_username", &action, &fields)
    };
    match username::change_username(
        ctx.state,
        std::sync::Arc::unwrap_or_clone(who.0.user),
        form,
        ctx.locale,
    )
    .await
    {
        Ok(ChangeUsernameOutcome::Invalid(errors)) => refused(errors, &typed),
        Ok(ChangeUsernameOutcome::TakenMeanwhile { errors, username }) => {
            refused(errors, &username)
        }
        Ok(ChangeUsernameOutcome::Changed(user)) if ctx.want_json => {
            json_ok(&ctx, Map::new(), Some((&user, false)))
        }
        Ok(ChangeUsernameOutcome::Changed(_)) => flash_redirect(
            cfg.post_change_username_view
                .clone()
                .unwrap_or_else(|| cfg.post_login_view.clone()),
            "success",
            msg::USERNAME_CHANGE,
        ),
        Err(e) => internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}
