//! `/reset` (forgot password), `/reset/<token>`, `/recover-username`.
//!
//! Parity: `views.forgot_password`, `views.reset_password`, `views.recover_username`.
//! A reset token carries `[fs_uniquifier, hash_data(password)]`: it dies when the
//! password changes, and the reset rotates `fs_uniquifier`, so it works once.

use rocket::http::Status;
use serde_json::{json, Map, Value};

use super::common::{
    check_token, csrf, fail, field, flash_redirect, hash_data, json_ok, link, mail_failed,
    mail_user, make_token, notify, one_field, page, read_email, redirect_with, same_hash,
    send_mail, spa, token_path, validate_password, within_text, HtmlField,
};
use super::SecurityCtx;
use crate::datastore::UserQuery;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{json_reply, FormErrors, Reply};
use crate::signals::Signal;
use crate::state::SecurityState;

/// The reset link and token for `user`.
pub(crate) fn reset_link(st: &SecurityState, user: &User) -> (String, String) {
    let pw_hash = user.password.as_deref().map(|p| hash_data(st, p));
    let token = make_token(
        st,
        &st.config.reset_salt,
        json!([user.fs_uniquifier, pw_hash]),
    );
    (link(st, &token_path(&st.config.reset_url, &token)), token)
}

/// Reads and checks the `email` of a recovery form; finds its user.
async fn recovery_user(
    ctx: &SecurityCtx<'_>,
    input: &FormInput,
    errors: &mut FormErrors,
) -> crate::Result<(Option<String>, Option<User>)> {
    let st = ctx.state;
    let cfg = &st.config;
    csrf(ctx, input, errors);
    let (raw, email) = read_email(input, errors);
    if !errors.is_empty() {
        return Ok((raw, None));
    }
    let Some(email) = email else {
        return Ok((raw, None));
    };
    let user = st
        .datastore
        .find_user(&UserQuery::Email(email), true)
        .await?;
    match &user {
        None => {
            // Same cost as for a real user.
            st.hash_password("not-a-password").await?;
            if !cfg.return_generic_responses {
                errors.field("email", msg::USER_DOES_NOT_EXIST);
            }
            return Ok((raw, None));
        }
        Some(u) => {
            let problem = if !u.active {
                Some(msg::DISABLED_ACCOUNT)
            } else if cfg.confirmable && !cfg.login_without_confirmation && u.confirmed_at.is_none()
            {
                Some(msg::CONFIRMATION_REQUIRED)
            } else {
                None
            };
            if let Some(p) = problem {
                if !cfg.return_generic_responses {
                    errors.field("email", p);
                }
                return Ok((raw, None));
            }
        }
    }
    Ok((raw, user))
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
    match forgot(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The forgot-password flow without Rocket.
pub async fn forgot(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    let (raw, user) = recovery_user(ctx, input, &mut errors).await?;
    let action = cfg.url(&cfg.reset_url);
    if !errors.is_empty() {
        return Ok(fail(
            ctx,
            &errors,
            "forgot_password",
            &action,
            &one_field("email", "email", raw.as_deref().unwrap_or("")),
        ));
    }
    if let Some(u) = user {
        if cfg.send_password_reset_email {
            let (link, token) = reset_link(st, &u);
            let sent = send_mail(
                st,
                ctx.locale,
                "reset_instructions",
                &u.email,
                &cfg.email_subject_password_reset,
                json!({
                    "user": mail_user(&u),
                    "reset_link": link,
                    "reset_token": token,
                    "within": within_text(cfg.reset_password_within),
                }),
            )
            .await;
            match sent {
                Ok(()) => st.send(Signal::ResetPasswordInstructionsSent {
                    user_id: u.id,
                    token,
                }),
                Err(e) if !cfg.return_generic_responses => return Ok(mail_failed(ctx, &e)),
                Err(e) => rocket::error!("security mail failed: {e}"),
            }
        }
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    let info = if cfg.return_generic_responses {
        Text::new(msg::GENERIC_RECOVERY)
    } else {
        msg::password_reset_request(raw.as_deref().unwrap_or(""))
    };
    Ok(page(
        ctx,
        "forgot_password",
        &action,
        &one_field("email", "email", ""),
        &[info],
    ))
}

/// Outcome of checking a reset token.
enum ResetCheck {
    Valid(Box<User>),
    Expired,
    Invalid,
}

async fn check_reset(st: &SecurityState, token: &str) -> crate::Result<ResetCheck> {
    let cfg = &st.config;
    let (expired, invalid, data) =
        check_token(st, &cfg.reset_salt, token, cfg.reset_password_within);
    if invalid {
        return Ok(ResetCheck::Invalid);
    }
    let parts = data
        .as_ref()
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let Some(uid) = parts.first().and_then(Value::as_str) else {
        return Ok(ResetCheck::Invalid);
    };
    let Some(user) = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.to_owned()), false)
        .await?
    else {
        return Ok(ResetCheck::Invalid);
    };
    let current = user.password.as_deref().map(|p| hash_data(st, p));
    let bound = parts.get(1).and_then(Value::as_str);
    let matches = match (current.as_deref(), bound) {
        (Some(c), Some(b)) => same_hash(c, b),
        (None, None) => true,
        _ => false,
    };
    if !matches {
        return Ok(ResetCheck::Invalid);
    }
    if expired {
        return Ok(ResetCheck::Expired);
    }
    Ok(ResetCheck::Valid(Box::new(user)))
}

fn reset_fields() -> [HtmlField<'static>; 2] {
    [
        HtmlField {
            name: "password",
            kind: "password",
            value: String::new(),
        },
        HtmlField {
            name: "password_confirm",
            kind: "password",
            value: String::new(),
        },
    ]
}

/// A bad, expired or used reset link. `link` is the GET of the mailed link, which in SPA
/// mode always redirects to `reset_error_view` (whatever `Accept` says); JSON otherwise
/// answers 400 with the message as a form-level error, and a form POST goes back to
/// "forgot password" with it flashed (Flask-Security's `reset_password` view).
fn token_error(ctx: &SecurityCtx<'_>, err: Text, link: bool) -> Reply {
    let st = ctx.state;
    let err = ctx.t(err);
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
    let check = match check_reset(st, token).await {
        Ok(c) => c,
        Err(e) => return crate::responses::internal_error(st, ctx.want_json, ctx.locale, &e),
    };
    let within = within_text(cfg.reset_password_within);
    match check {
        ResetCheck::Invalid => {
            token_error(&ctx, Text::new(msg::INVALID_RESET_PASSWORD_TOKEN), true)
        }
        ResetCheck::Expired => token_error(&ctx, msg::password_reset_expired(&within), true),
        ResetCheck::Valid(_) => {
            if spa(st) {
                let view = cfg.reset_view.clone().unwrap_or_else(|| "/".into());
                return redirect_with(&view, &[("token", token)]);
            }
            if ctx.want_json {
                return json_ok(&ctx, Map::new(), None);
            }
            let action = cfg.url(&token_path(&cfg.reset_url, token));
            page(&ctx, "reset_password", &action, &reset_fields(), &[])
        }
    }
}

/// `POST /reset/<token>`: sets the new password.
#[rocket::post("/<token>", data = "<input>")]
pub async fn reset_post(ctx: SecurityCtx<'_>, token: &str, input: FormInput) -> Reply {
    match reset(&ctx, token, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The reset flow without Rocket.
pub async fn reset(ctx: &SecurityCtx<'_>, token: &str, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let password = field(input, "password", &mut errors);
    let confirm = field(input, "password_confirm", &mut errors);
    let check = check_reset(st, token).await?;
    let within = within_text(cfg.reset_password_within);
    let mut user = match check {
        ResetCheck::Invalid => {
            return Ok(token_error(
                ctx,
                Text::new(msg::INVALID_RESET_PASSWORD_TOKEN),
                false,
            ))
        }
        ResetCheck::Expired => {
            return Ok(token_error(
                ctx,
                msg::password_reset_expired(&within),
                false,
            ))
        }
        ResetCheck::Valid(u) => *u,
    };
    let inputs: Vec<String> = std::iter::once(user.email.clone())
        .chain(user.username.clone())
        .collect();
    let normalized = match password.as_deref() {
        None => {
            if errors.first("password").is_none() {
                errors.field("password", msg::PASSWORD_NOT_PROVIDED);
            }
            None
        }
        Some(p) => validate_password(st, p, false, &inputs, "password", &mut errors).await,
    };
    match (password.as_deref(), confirm.as_deref()) {
        (_, None)
            if cfg.password_confirm_required && errors.first("password_confirm").is_none() =>
        {
            errors.field("password_confirm", msg::PASSWORD_NOT_PROVIDED)
        }
        (Some(p), Some(c)) if p != c => {
            errors.field("password_confirm", msg::RETYPE_PASSWORD_MISMATCH)
        }
        _ => {}
    }
    let action = cfg.url(&token_path(&cfg.reset_url, token));
    let Some(pw) = normalized.filter(|_| errors.is_empty()) else {
        return Ok(fail(
            ctx,
            &errors,
            "reset_password",
            &action,
            &reset_fields(),
        ));
    };
    // One write: new hash and new uniquifiers (every session and token dies).
    user.password = Some(st.hash_password(&pw).await?);
    user.rotate_identity();
    st.datastore.put_user(&mut user).await?;
    st.send(Signal::PasswordReset { user_id: user.id });
    if cfg.send_password_reset_notice_email {
        notify(
            st,
            ctx.locale,
            "reset_notice",
            &user,
            &cfg.email_subject_password_notice,
        )
        .await;
    }
    if ctx.want_json {
        // Parity: `{}` without csrf_token.
        return Ok(json_reply(st, Status::Ok, json!({})));
    }
    Ok(flash_redirect(
        cfg.post_reset_view
            .clone()
            .unwrap_or_else(|| cfg.url(&cfg.login_url)),
        "success",
        msg::PASSWORD_RESET_NO_LOGIN,
    ))
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
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    match recover_username(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The username-recovery flow without Rocket.
pub async fn recover_username(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    let (raw, user) = recovery_user(ctx, input, &mut errors).await?;
    let action = cfg.url(&cfg.username_recovery_url);
    if !errors.is_empty() {
        return Ok(fail(
            ctx,
            &errors,
            "recover_username",
            &action,
            &one_field("email", "email", raw.as_deref().unwrap_or("")),
        ));
    }
    if let Some(u) = user {
        let sent = send_mail(
            st,
            ctx.locale,
            "username_recovery",
            &u.email,
            &cfg.email_subject_username_recovery,
            json!({"user": mail_user(&u), "username": u.username}),
        )
        .await;
        match sent {
            Ok(()) => st.send(Signal::UsernameRecoveryEmailSent { user_id: u.id }),
            Err(e) if !cfg.return_generic_responses => return Ok(mail_failed(ctx, &e)),
            Err(e) => rocket::error!("security mail failed: {e}"),
        }
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    Ok(flash_redirect(
        cfg.url(&cfg.login_url),
        "info",
        msg::USERNAME_RECOVERY_REQUEST,
    ))
}
