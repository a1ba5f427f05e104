//! `/change` (password), `/change-email` (+ `/change-email/<token>`), `/change-username`.
//!
//! Parity: `views.change_password`, `change_email.change_email`,
//! `change_email.change_email_confirm`, `change_username.change_username`.

use rocket::http::Status;
use serde_json::{json, Map, Value};

use super::common::{
    check_token, csrf, fail, field, flash_redirect, hash_data, json_ok, link, mail_failed,
    mail_user, make_token, notify, one_field, page, read_email, redirect_with, same_hash,
    send_mail, sign_in_after, spa, token_path, within_text, Authed, Fresh, HtmlField,
};
use super::SecurityCtx;
use crate::account::change::{self, ChangePasswordForm, ChangePasswordOutcome};
use crate::datastore::UserQuery;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::responses::{errors_reply, internal_error, json_reply, FormErrors, Reply};
use crate::signals::Signal;
use crate::SecurityError;

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
    let reply = match change::change_password(ctx.state, who.0.user, via_token, form).await {
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
    if sign_in {
        let remember = ctx.jar.get(&cfg.remember_cookie_name).is_some();
        sign_in_after(ctx, &mut user, "change", remember, true).await?;
    }
    change::password_changed(ctx.state, &user, ctx.locale).await;
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((&user, true))));
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
        let mut m = Map::new();
        m.insert("current_email".into(), json!(user.email));
        return json_ok(&ctx, m, Some((&user, false)));
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

/// `POST /change-email`: mails a confirmation link to the new address.
#[rocket::post("/", data = "<input>")]
pub async fn change_email_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    match change_email(&ctx, who, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The change-email request flow without Rocket.
pub async fn change_email(
    ctx: &SecurityCtx<'_>,
    who: Fresh,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let user = who.0.user;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let (raw, new_email) = read_email(input, &mut errors);
    let mut taken = false;
    if let Some(e) = &new_email {
        taken = st
            .datastore
            .find_user(&UserQuery::Email(e.clone()), true)
            .await?
            .is_some();
        if taken && !cfg.return_generic_responses {
            errors.field("email", msg::email_already_associated(e));
        }
    }
    let action = cfg.url(&cfg.change_email_url);
    let Some(new_email) = new_email.filter(|_| errors.is_empty()) else {
        return Ok(fail(
            ctx,
            &errors,
            "change_email",
            &action,
            &one_field("email", "email", raw.as_deref().unwrap_or("")),
        ));
    };
    if !taken {
        let token = make_token(
            st,
            &cfg.change_email_salt,
            json!([user.fs_uniquifier, hash_data(st, &user.email), new_email]),
        );
        let url = link(st, &token_path(&cfg.change_email_url, &token));
        let sent = send_mail(
            st,
            ctx.locale,
            "change_email_instructions",
            &new_email,
            &cfg.change_email_subject,
            json!({
                "user": mail_user(&user),
                "link": url,
                "token": token,
                "within": within_text(cfg.change_email_within),
            }),
        )
        .await;
        match sent {
            Ok(()) => st.send(Signal::ChangeEmailInstructionsSent {
                user_id: user.id,
                new_email: new_email.clone(),
                token,
            }),
            Err(e) => return Ok(mail_failed(ctx, &e)),
        }
    }
    if ctx.want_json {
        let mut m = Map::new();
        m.insert("current_email".into(), json!(user.email));
        return Ok(json_ok(ctx, m, Some((&user, false))));
    }
    let info =
        Text::new("Instructions to confirm your new email address have been sent to %(email)s.")
            .arg("email", &new_email);
    Ok(page(
        ctx,
        "change_email",
        &action,
        &one_field("email", "email", ""),
        &[info],
    ))
}

/// `GET /change-email/<token>`: the link in the mail; needs no login.
#[rocket::get("/<token>")]
pub async fn change_email_confirm(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    match confirm_change(&ctx, token).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

async fn confirm_change(ctx: &SecurityCtx<'_>, token: &str) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let (expired, invalid, data) =
        check_token(st, &cfg.change_email_salt, token, cfg.change_email_within);
    let parts = data
        .as_ref()
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    // Parity: a mailed link opened in SPA mode always redirects, whatever `Accept` says.
    let err = |m: Text| -> Reply {
        let m = ctx.t(m);
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
    };
    if expired && !invalid {
        return Ok(err(msg::change_email_expired(&within_text(
            cfg.change_email_within,
        ))));
    }
    let (Some(uid), Some(old_hash), Some(new_email)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
        parts.get(2).and_then(Value::as_str),
    ) else {
        return Ok(err(msg::API_ERROR.into()));
    };
    if invalid {
        return Ok(err(msg::API_ERROR.into()));
    }
    let user = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.to_owned()), false)
        .await?;
    let Some(mut user) = user.filter(|u| same_hash(&hash_data(st, &u.email), old_hash)) else {
        return Ok(err(msg::API_ERROR.into()));
    };
    let old_email = std::mem::replace(&mut user.email, new_email.to_owned());
    user.confirmed_at =
        chrono::DateTime::from_timestamp_micros((st.now() * 1e6) as i64).map(|d| d.naive_utc());
    match st.datastore.put_user(&mut user).await {
        Ok(()) => {}
        // The address was taken after the link was sent.
        Err(SecurityError::AlreadyExists { .. }) => return Ok(err(msg::API_ERROR.into())),
        Err(e) => return Err(e),
    }
    st.send(Signal::ChangeEmailConfirmed {
        user_id: user.id,
        old_email,
    });
    if spa(st) {
        let view = cfg
            .post_change_email_view
            .clone()
            .unwrap_or_else(|| cfg.post_login_view.clone());
        return Ok(redirect_with(
            &view,
            &[
                ("success", msg::CHANGE_EMAIL_CONFIRMED),
                ("email", &user.email),
                ("identity", user.calc_username()),
            ],
        ));
    }
    if ctx.want_json {
        return Ok(json_reply(st, Status::Ok, json!({})));
    }
    Ok(flash_redirect(
        cfg.post_change_email_view
            .clone()
            .unwrap_or_else(|| cfg.post_login_view.clone()),
        "success",
        msg::CHANGE_EMAIL_CONFIRMED,
    ))
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
    match change_username(&ctx, who, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The change-username flow without Rocket.
pub async fn change_username(
    ctx: &SecurityCtx<'_>,
    who: Fresh,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut user = who.0.user;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let raw = field(input, "username", &mut errors);
    let new = match raw.as_deref() {
        None => {
            if errors.first("username").is_none() {
                errors.field("username", msg::USERNAME_NOT_PROVIDED);
            }
            None
        }
        Some(u) => match st.username_util.validate(u) {
            Ok(n) => Some(n),
            Err(m) => {
                errors.field("username", m);
                None
            }
        },
    };
    if let Some(n) = &new {
        let other = st
            .datastore
            .find_user(&UserQuery::Username(n.clone()), true)
            .await?;
        if other.is_some_and(|o| o.id != user.id) {
            errors.field("username", msg::username_already_associated(n));
        }
    }
    let action = cfg.url(&cfg.change_username_url);
    let Some(new) = new.filter(|_| errors.is_empty()) else {
        return Ok(fail(
            ctx,
            &errors,
            "change_username",
            &action,
            &one_field("username", "text", raw.as_deref().unwrap_or("")),
        ));
    };
    let old = user.username.replace(new.clone());
    match st.datastore.put_user(&mut user).await {
        Ok(()) => {}
        Err(SecurityError::AlreadyExists { .. }) => {
            errors.field("username", msg::username_already_associated(&new));
            return Ok(fail(
                ctx,
                &errors,
                "change_username",
                &action,
                &one_field("username", "text", &new),
            ));
        }
        Err(e) => return Err(e),
    }
    st.send(Signal::UsernameChanged {
        user_id: user.id,
        old_username: old,
    });
    if cfg.send_username_change_email {
        notify(
            st,
            ctx.locale,
            "change_username_notice",
            &user,
            &cfg.email_subject_username_change_notice,
        )
        .await;
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((&user, false))));
    }
    Ok(flash_redirect(
        cfg.post_change_username_view
            .clone()
            .unwrap_or_else(|| cfg.post_login_view.clone()),
        "success",
        msg::USERNAME_CHANGE,
    ))
}
