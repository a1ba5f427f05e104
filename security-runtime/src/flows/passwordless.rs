//! Passwordless `/login` (GET, POST) and `/login/<token>` (GET): with `passwordless` on,
//! `/login` mails a sign-in link instead of asking for a password.
//!
//! Parity: `views.send_login`, `views.token_login`.

use serde_json::{json, Map};

use super::common::{
    csrf, field, flash_redirect, generic_floor, hold_until, json_ok, page, redirect_with, spa,
    within_text, HtmlField,
};
use super::SecurityCtx;
use crate::account::mail::known_identity_work;
use crate::account::passwordless::{self as pl, LinkCheck};
use crate::auth::lookup_identity;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};
use crate::signin::{complete, FirstFactor, SignInOutcome};

fn send_page(ctx: &SecurityCtx<'_>, email: &str, errors: &FormErrors, notices: &[Text]) -> Reply {
    let cfg = &ctx.state.config;
    let fields = [HtmlField {
        name: "email",
        kind: "email",
        value: email.to_owned(),
    }];
    let action = cfg.url(&cfg.login_url);
    if errors.is_empty() {
        return page(ctx, "send_login", &action, &fields, notices);
    }
    super::common::fail(ctx, errors, "send_login", &action, &fields)
}

/// `GET /login`: the form, or `identity_attributes` and a CSRF token (JSON).
#[rocket::get("/")]
pub async fn send_login_get(ctx: SecurityCtx<'_>) -> Reply {
    let st = ctx.state;
    let mut data = ctx.session();
    data.fs_cc = Some(crate::session::CsrfCookie::Set);
    crate::csrf::ensure_secret(&mut data);
    ctx.save_session(&data);
    if ctx.want_json {
        let mut p = Map::new();
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
    send_page(&ctx, "", &FormErrors::default(), &[])
}

/// `POST /login`: mails a sign-in link to the account of `email`.
#[rocket::post("/", data = "<input>")]
pub async fn send_login_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let floor = generic_floor(&ctx);
    hold_until(floor, async {
        send_login(&ctx, &input)
            .await
            .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
    })
    .await
}

/// The active user `email` names; the error goes into `errors` otherwise.
async fn recipient(
    ctx: &SecurityCtx<'_>,
    email: Option<&str>,
    errors: &mut FormErrors,
) -> crate::Result<Option<User>> {
    let Some(email) = email else {
        errors.field("email", msg::EMAIL_NOT_PROVIDED);
        return Ok(None);
    };
    match lookup_identity(ctx.state, email).await? {
        None => errors.field("email", msg::USER_DOES_NOT_EXIST),
        Some(u) if !u.active => errors.field("email", msg::DISABLED_ACCOUNT),
        Some(u) => return Ok(Some(u)),
    }
    Ok(None)
}

async fn send_login(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let mut errors = FormErrors::default();
    let email = field(input, "email", &mut errors).filter(|e| !e.trim().is_empty());
    csrf(ctx, input, &mut errors);
    let generic = st.config.return_generic_responses;
    let mut user = None;
    if errors.is_empty() {
        user = recipient(ctx, email.as_deref(), &mut errors).await?;
    }
    let only_email = errors.fields.iter().all(|(n, _)| n == "email");
    let squashed = generic && only_email && email.is_some();
    if !errors.is_empty() && !squashed {
        return Ok(if ctx.want_json {
            form_error_reply(st, &errors, ctx.locale)
        } else {
            send_page(ctx, email.as_deref().unwrap_or(""), &errors, &[])
        });
    }
    let shown = email.clone().unwrap_or_default();
    if let Some(user) = user.clone() {
        let locale = ctx.locale.to_owned();
        let sent = known_identity_work(st, move |st| async move {
            pl::send_instructions(&st, &user, &locale).await
        })
        .await;
        if let Err(e) = sent {
            return Ok(super::common::mail_failed(ctx, &e));
        }
    }
    if ctx.want_json {
        let user = user.as_ref().filter(|_| !generic).map(|u| (u, false));
        return Ok(json_ok(ctx, Map::new(), user));
    }
    let notice = msg::login_email_sent(&shown);
    Ok(send_page(ctx, &shown, &FormErrors::default(), &[notice]))
}

/// `GET /login/<token>`: a mailed link signs its user in (once); an expired one mails
/// a new link.
#[rocket::get("/<token>")]
pub async fn token_login(ctx: SecurityCtx<'_>, token: &str) -> Reply {
    if ctx.current.is_some() {
        return Reply::redirect(ctx.state.config.post_login_view.clone());
    }
    link_login(&ctx, token)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, false, ctx.locale, &e))
}

async fn link_login(ctx: &SecurityCtx<'_>, token: &str) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let user = match pl::use_link(st, token).await? {
        LinkCheck::Valid(u) => u,
        LinkCheck::Invalid => {
            return Ok(link_error(ctx, Text::new(msg::INVALID_LOGIN_TOKEN), None))
        }
        LinkCheck::Expired(u) => {
            if let Err(e) = pl::send_instructions(st, &u, ctx.locale).await {
                log::warn!("passwordless: a new link was not sent: {e}");
            }
            let within = within_text(&st.catalog, ctx.locale, cfg.login_within as u64);
            let m = msg::login_expired(&within, &u.email);
            return Ok(link_error(ctx, m, Some(&u)));
        }
    };
    let factor = FirstFactor {
        user: *user,
        dirty: false,
        remember: false,
        authn_via: "token",
        remote: ctx.remote,
        mfa: true,
    };
    Ok(match complete(st, &ctx.session, factor).await? {
        SignInOutcome::SignedIn(user) if spa(st) => {
            let q = [
                ("email", user.email.as_str()),
                ("identity", user.calc_username()),
            ];
            redirect_with(&cfg.post_login_view, &q)
        }
        SignInOutcome::SignedIn(_) => flash_redirect(
            cfg.post_login_view.clone(),
            "success",
            msg::PASSWORDLESS_LOGIN_SUCCESSFUL,
        ),
        SignInOutcome::Refused(r) => link_error(ctx, Text::new(r.message()), None),
        SignInOutcome::SecondFactor { user, pending } => {
            return super::two_factor::entered(ctx, &user, &pending, None).await;
        }
    })
}

/// A link's failure: `login_error_view?error=` (SPA; with the user's `email` and
/// `identity` when a new link went out), else the form with the message flashed.
fn link_error(ctx: &SecurityCtx<'_>, m: Text, user: Option<&User>) -> Reply {
    let cfg = &ctx.state.config;
    let m = ctx.t(m);
    if spa(ctx.state) {
        let view = cfg.login_error_view.clone().unwrap_or_else(|| "/".into());
        let mut q = vec![("error", m.as_str())];
        if let Some(u) = user {
            q.push(("email", u.email.as_str()));
            q.push(("identity", u.calc_username()));
        }
        return redirect_with(&view, &q);
    }
    flash_redirect(cfg.url(&cfg.login_url), "error", Text::from(m))
}
