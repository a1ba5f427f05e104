//! `GET/POST /register`.
//!
//! Parity: `views.register`. The rules live in [`crate::account::register`]; here the
//! request is read, the new user signed in when the outcome allows it, and the outcome
//! answered: JSON, the form again, or a redirect. A failed confirmation mail answers 503.

use serde_json::{Map, Value};

use super::common::{
    csrf, fail, field, flash_redirect, json_ok, mail_failed, page, sign_in_after, AfterSignIn,
    HtmlField,
};
use super::SecurityCtx;
use crate::account::register::{self as account, RegisterForm, RegisterOutcome};
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{FormErrors, Reply};

fn html_fields(email: &str, username: Option<&str>) -> Vec<HtmlField<'static>> {
    let mut f = vec![
        HtmlField {
            name: "email",
            kind: "email",
            value: email.to_owned(),
        },
        HtmlField::password("password"),
        HtmlField::password("password_confirm"),
    ];
    if let Some(u) = username {
        f.push(HtmlField {
            name: "username",
            kind: "text",
            value: u.to_owned(),
        });
    }
    f
}

/// `GET /register`: the form, or `{csrf_token}` as JSON.
#[rocket::get("/")]
pub async fn register_get(ctx: SecurityCtx<'_>) -> Reply {
    let st = ctx.state;
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), None);
    }
    let un = st.config.username_enable.then_some("");
    page(
        &ctx,
        "register_user",
        &st.config.url(&st.config.register_url),
        &html_fields("", un),
        &[],
    )
}

/// `POST /register`.
#[rocket::post("/", data = "<input>")]
pub async fn register_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let until = super::common::generic_floor(&ctx);
    super::common::hold_until(until, register_post_inner(ctx, input)).await
}

async fn register_post_inner(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    match register(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// `POST /register` for an anonymous caller: reads the form, registers through
/// [`account::register`], answers with its outcome.
pub async fn register(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let form = read_form(ctx, input);
    // The page shown again keeps what was typed.
    let fields = html_fields(
        form.email.as_deref().unwrap_or(""),
        form.username
            .as_deref()
            .or(cfg.username_enable.then_some("")),
    );
    let next = form.next.clone();
    let reply = match account::register(ctx.state, form, ctx.locale).await? {
        RegisterOutcome::Invalid(errors) => {
            let action = cfg.url(&cfg.register_url);
            fail(ctx, &errors, "register_user", &action, &fields)
        }
        RegisterOutcome::Generic { email } => generic_answer(ctx, next.as_deref(), &email),
        RegisterOutcome::MailFailed(e) => mail_failed(ctx, &e),
        RegisterOutcome::Registered {
            mut user, sign_in, ..
        } => {
            if !sign_in {
                return Ok(registered(ctx, &user, false, next.as_deref()));
            }
            match sign_in_after(ctx, &mut user, "register", false, false).await? {
                AfterSignIn::SignedIn => registered(ctx, &user, true, next.as_deref()),
                AfterSignIn::Refused => registered(ctx, &user, false, next.as_deref()),
                // Parity: `register` hands a new user who needs a second factor (two-factor
                // required) to `tf_enter`.
                AfterSignIn::SecondFactor(pending) => {
                    super::two_factor::entered(ctx, &user, &pending, next.as_deref()).await?
                }
            }
        }
    };
    Ok(reply)
}

/// Reads the submitted fields; the CSRF token is checked here.
fn read_form(ctx: &SecurityCtx<'_>, input: &FormInput) -> RegisterForm {
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let email = field(input, "email", &mut errors);
    let password = field(input, "password", &mut errors);
    let password_confirm = field(input, "password_confirm", &mut errors);
    let username = if ctx.state.config.username_enable {
        field(input, "username", &mut errors)
    } else {
        None
    };
    let next = field(input, "next", &mut errors);
    RegisterForm {
        email,
        password,
        password_confirm,
        username,
        next,
        host: ctx.host.clone(),
        read_errors: errors,
    }
}

/// The answer to a new registration: JSON with the user (and whether they are signed
/// in), or, for a form and under generic responses, the answer a taken identity gets.
fn registered(ctx: &SecurityCtx<'_>, user: &User, signed_in: bool, next: Option<&str>) -> Reply {
    if ctx.want_json && !ctx.state.config.return_generic_responses {
        return json_ok(ctx, Map::new(), Some((user, signed_in)));
    }
    generic_answer(ctx, next, &user.email)
}

/// Where a form registration goes afterwards: a valid `next`, else the configured view;
/// with confirmable on, `CONFIRM_REGISTRATION` is flashed (Parity: `register_user`).
fn after_register(ctx: &SecurityCtx<'_>, next: Option<&str>, email: &str) -> Reply {
    let cfg = &ctx.state.config;
    let fallback = cfg
        .post_register_view
        .clone()
        .unwrap_or_else(|| cfg.post_login_view.clone());
    let to = post_action_redirect(
        cfg,
        &[next, ctx.next_query.as_deref()],
        &fallback,
        ctx.host.as_deref(),
    );
    if cfg.confirmable {
        flash_redirect(to, "success", msg::confirm_registration(email))
    } else {
        Reply::redirect(to)
    }
}

/// The answer for generic mode: the same for new and known identities (`next` included).
fn generic_answer(ctx: &SecurityCtx<'_>, next: Option<&str>, email: &str) -> Reply {
    if ctx.want_json {
        json_ok(ctx, Map::<String, Value>::new(), None)
    } else {
        after_register(ctx, next, email)
    }
}
