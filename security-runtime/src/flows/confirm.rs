//! `/confirm` (send instructions again) and `/confirm/<token>`.
//!
//! Parity: `views.send_confirmation`, `views.confirm_email`.

use rocket::http::Status;
use serde_json::{json, Map, Value};

use super::common::{
    check_token, csrf, fail, flash_redirect, hash_data, json_ok, mail_failed, mail_user, one_field,
    page, read_email, redirect_with, same_hash, send_mail, sign_in_after, spa, within_text,
};
use super::register::confirmation_link;
use super::SecurityCtx;
use crate::auth::logout_user;
use crate::datastore::UserQuery;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::responses::{errors_reply, json_reply, FormErrors, Reply};
use crate::signals::Signal;

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
    match send_confirmation(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The send-confirmation flow without Rocket.
pub async fn send_confirmation(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let (raw, email) = read_email(input, &mut errors);
    let action = cfg.url(&cfg.confirm_url);
    let fields = one_field("email", "email", raw.as_deref().unwrap_or(""));
    let user = match (&email, errors.is_empty()) {
        (Some(e), true) => {
            st.datastore
                .find_user(&UserQuery::Email(e.clone()), true)
                .await?
        }
        _ => None,
    };
    if errors.is_empty() {
        match &user {
            None => {
                if !cfg.return_generic_responses {
                    errors.field("email", msg::USER_DOES_NOT_EXIST);
                }
            }
            Some(u) if u.confirmed_at.is_some() => {
                if !cfg.return_generic_responses {
                    errors.field("email", msg::ALREADY_CONFIRMED);
                }
            }
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Ok(fail(ctx, &errors, "send_confirmation", &action, &fields));
    }
    if let Some(u) = user.filter(|u| u.confirmed_at.is_none()) {
        let (link, token) = confirmation_link(st, &u);
        let sent = send_mail(
            st,
            ctx.locale,
            "confirmation_instructions",
            &u.email,
            &cfg.email_subject_confirm,
            json!({
                "user": mail_user(&u),
                "confirmation_link": link,
                "confirmation_token": token,
                "within": within_text(cfg.confirm_email_within),
            }),
        )
        .await;
        match sent {
            Ok(()) => st.send(Signal::ConfirmInstructionsSent {
                user_id: u.id,
                token,
            }),
            Err(e) if !cfg.return_generic_responses => return Ok(mail_failed(ctx, &e)),
            Err(e) => rocket::error!("security mail failed: {e}"),
        }
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    let info = msg::confirmation_request(raw.as_deref().unwrap_or(""));
    Ok(page(ctx, "send_confirmation", &action, &fields, &[info]))
}

/// Outcome of checking a confirmation token.
enum Confirmed {
    Done(Box<crate::model::User>),
    Already,
    Expired,
    Invalid,
}

async fn check_confirm(ctx: &SecurityCtx<'_>, token: &str) -> crate::Result<Confirmed> {
    let st = ctx.state;
    let cfg = &st.config;
    let (expired, invalid, data) =
        check_token(st, &cfg.confirm_salt, token, cfg.confirm_email_within);
    let parts = data
        .as_ref()
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let (Some(uid), Some(email_hash)) = (
        parts.first().and_then(Value::as_str),
        parts.get(1).and_then(Value::as_str),
    ) else {
        return Ok(Confirmed::Invalid);
    };
    if invalid {
        return Ok(Confirmed::Invalid);
    }
    let user = st
        .datastore
        .find_user(&UserQuery::FsUniquifier(uid.to_owned()), false)
        .await?;
    // The token is bound to the address it was sent to.
    let Some(mut user) = user.filter(|u| same_hash(&hash_data(st, &u.email), email_hash)) else {
        return Ok(Confirmed::Invalid);
    };
    if expired {
        return Ok(Confirmed::Expired);
    }
    if user.confirmed_at.is_some() {
        return Ok(Confirmed::Already);
    }
    let now = chrono::DateTime::from_timestamp_micros((st.now() * 1e6) as i64)
        .map(|d| d.naive_utc())
        .unwrap_or_default();
    user.confirmed_at = Some(now);
    st.datastore.put_user(&mut user).await?;
    st.send(Signal::UserConfirmed { user_id: user.id });
    Ok(Confirmed::Done(Box::new(user)))
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
    let outcome = match check_confirm(ctx, token).await {
        Ok(o) => o,
        Err(e) => return crate::responses::internal_error(st, ctx.want_json, ctx.locale, &e),
    };
    let within = within_text(cfg.confirm_email_within);
    // Anything but a fresh confirmation goes back to the start-over view with a notice.
    let (category, m) = match outcome {
        Confirmed::Done(user) => return confirmed(ctx, *user).await,
        Confirmed::Invalid => ("error", Text::new(msg::INVALID_CONFIRMATION_TOKEN)),
        Confirmed::Expired => ("error", msg::confirmation_expired(&within)),
        Confirmed::Already => ("info", Text::new(msg::ALREADY_CONFIRMED)),
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

/// A fresh confirmation: other sessions on this browser end, optional login, redirect.
async fn confirmed(ctx: &SecurityCtx<'_>, mut user: crate::model::User) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    // Someone else logged in on this browser is logged out first.
    if ctx.current.as_ref().is_some_and(|a| a.user.id != user.id) {
        logout_user(st, &ctx.session, ctx.current.as_ref().map(|a| a.user.id));
    }
    if cfg.auto_login_after_confirm {
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
        if cfg.auto_login_after_confirm {
            cfg.post_login_view.clone()
        } else {
            cfg.url(&cfg.login_url)
        }
    });
    flash_redirect(to, "success", msg::EMAIL_CONFIRMED)
}
