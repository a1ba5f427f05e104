//! `GET/POST /register`.
//!
//! Parity: `views.register` with `RegisterFormV2`. With `confirmable`, the user is not
//! logged in and a confirmation link is mailed; otherwise the user is logged in at once.
//!
//! Mail failure rule: when the welcome mail carries the confirmation link (confirmable),
//! a failed send deletes the new user again and answers 503, so the address can register
//! again; the database never keeps a user who cannot confirm. Without confirmable the
//! welcome mail is informational: the user is kept and logged in, the failure logged.

use serde_json::{json, Map, Value};

use super::common::{
    csrf, fail, field, flash_redirect, json_ok, link, mail_failed, mail_user, make_token, page,
    send_mail, sign_in_after, token_path, validate_password, within_text, HtmlField,
};
use super::SecurityCtx;
use crate::datastore::{NewUser, UserQuery};
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::{post_action_redirect, validate_redirect_url};
use crate::responses::{FormErrors, Reply};
use crate::signals::Signal;
use crate::validation::normalize_email;
use crate::SecurityError;

fn html_fields(email: &str, username: Option<&str>) -> Vec<HtmlField<'static>> {
    let mut f = vec![
        HtmlField {
            name: "email",
            kind: "email",
            value: email.to_owned(),
        },
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

/// The confirmation link and token for `user`.
///
/// Parity: `generate_confirmation_link` (`[fs_uniquifier, hash_data(email)]`).
pub(crate) fn confirmation_link(st: &crate::state::SecurityState, user: &User) -> (String, String) {
    let token = make_token(
        st,
        &st.config.confirm_salt,
        json!([
            user.fs_uniquifier,
            super::common::hash_data(st, &user.email)
        ]),
    );
    let url = link(st, &token_path(&st.config.confirm_url, &token));
    (url, token)
}

/// `POST /register`.
#[rocket::post("/", data = "<input>")]
pub async fn register_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    if ctx.current.is_some() {
        return ctx.already_authenticated();
    }
    match register(&ctx, &input).await {
        Ok(r) => r,
        Err(e) => crate::responses::internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
}

/// The register flow without Rocket.
pub async fn register(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let ds = &st.datastore;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let raw_email = field(input, "email", &mut errors);
    let password = field(input, "password", &mut errors);
    let password_confirm = field(input, "password_confirm", &mut errors);
    let raw_username = if cfg.username_enable {
        field(input, "username", &mut errors)
    } else {
        None
    };
    let next = field(input, "next", &mut errors);

    let email = match raw_email.as_deref() {
        None => {
            if errors.first("email").is_none() {
                errors.field("email", msg::EMAIL_NOT_PROVIDED);
            }
            None
        }
        Some(e) => match normalize_email(e) {
            Ok(n) => Some(n),
            Err(m) => {
                errors.field("email", m);
                None
            }
        },
    };
    let username = match raw_username.as_deref() {
        Some(u) => match st.username_util.validate(u) {
            Ok(n) => Some(n),
            Err(m) => {
                errors.field("username", m);
                None
            }
        },
        None => {
            if cfg.username_enable && cfg.username_required && errors.first("username").is_none() {
                errors.field("username", msg::USERNAME_NOT_PROVIDED);
            }
            None
        }
    };
    let mut inputs: Vec<String> = email.iter().cloned().collect();
    inputs.extend(username.iter().cloned());
    let normalized_pw = match password.as_deref() {
        None => {
            if errors.first("password").is_none() {
                errors.field("password", msg::PASSWORD_NOT_PROVIDED);
            }
            None
        }
        Some(p) => validate_password(st, p, true, &inputs, "password", &mut errors).await,
    };
    if cfg.password_confirm_required {
        match (password.as_deref(), password_confirm.as_deref()) {
            (_, None) if errors.first("password_confirm").is_none() => {
                errors.field("password_confirm", msg::PASSWORD_NOT_PROVIDED);
            }
            (Some(p), Some(c)) if p != c => {
                errors.field("password_confirm", msg::RETYPE_PASSWORD_MISMATCH)
            }
            _ => {}
        }
    }
    if let Some(n) = &next {
        if validate_redirect_url(cfg, n, ctx.host.as_deref()).is_err() {
            errors.field("next", msg::INVALID_REDIRECT);
        }
    }
    // Identity already in use? All fields are validated even then, as Flask-Security.
    let existing_email = match &email {
        Some(e) => ds.find_user(&UserQuery::Email(e.clone()), true).await?,
        None => None,
    };
    let existing_username = match &username {
        Some(u) => ds.find_user(&UserQuery::Username(u.clone()), true).await?,
        None => None,
    };
    let taken = existing_email.is_some() || existing_username.is_some();
    if taken && !cfg.return_generic_responses {
        if let Some(e) = &email {
            if existing_email.is_some() {
                errors.field("email", msg::email_already_associated(e));
            }
        }
        if let Some(u) = &username {
            if existing_username.is_some() {
                errors.field("username", msg::username_already_associated(u));
            }
        }
    }
    let form_email = raw_email.clone().unwrap_or_default();
    let action = cfg.url(&cfg.register_url);
    let fields = html_fields(
        &form_email,
        raw_username
            .as_deref()
            .or(cfg.username_enable.then_some("")),
    );
    if !errors.is_empty() {
        return Ok(fail(ctx, &errors, "register_user", &action, &fields));
    }
    let (Some(email), Some(pw)) = (email, normalized_pw) else {
        return Ok(fail(ctx, &errors, "register_user", &action, &fields));
    };
    if taken {
        // Generic responses: answer as for a new address, tell the owner by mail.
        st.hash_password("not-a-password").await?;
        return Ok(generic_existing(
            ctx,
            existing_email,
            existing_username,
            &email,
            username,
            next.as_deref(),
        )
        .await);
    }
    let hash = st.hash_password(&pw).await?;
    let created = ds
        .create_user(NewUser {
            email: email.clone(),
            username: username.clone(),
            password: Some(hash),
            ..NewUser::default()
        })
        .await;
    let mut user = match created {
        Ok(u) => u,
        // Lost a race with a concurrent registration of the same identity.
        Err(SecurityError::AlreadyExists { .. }) => {
            if cfg.return_generic_responses {
                return Ok(generic_answer(ctx, next.as_deref(), &email));
            }
            errors.field("email", msg::email_already_associated(&email));
            return Ok(fail(ctx, &errors, "register_user", &action, &fields));
        }
        Err(e) => return Err(e),
    };
    let confirm = cfg.confirmable.then(|| confirmation_link(st, &user));
    if cfg.send_register_email {
        let mail = send_mail(
            st,
            ctx.locale,
            "welcome",
            &user.email,
            &cfg.email_subject_register,
            json!({
                "user": mail_user(&user),
                "confirmation_link": confirm.as_ref().map(|c| c.0.clone()),
                "confirmation_token": confirm.as_ref().map(|c| c.1.clone()),
                "within": within_text(cfg.confirm_email_within),
            }),
        )
        .await;
        if let Err(e) = mail {
            if confirm.is_some() {
                ds.delete_user(&user).await?;
                if cfg.return_generic_responses {
                    rocket::error!("security mail failed: {e}");
                    return Ok(generic_answer(ctx, next.as_deref(), &email));
                }
                return Ok(mail_failed(ctx, &e));
            }
            rocket::warn!("welcome mail not sent: {e}");
        }
    }
    st.send(Signal::UserRegistered {
        user_id: user.id,
        confirmation_token: confirm.as_ref().map(|c| c.1.clone()),
    });
    let login_now = (!cfg.confirmable || cfg.login_without_confirmation)
        && sign_in_after(ctx, &mut user, "register", false, false).await?;
    if ctx.want_json {
        if cfg.return_generic_responses {
            return Ok(generic_answer(ctx, next.as_deref(), &email));
        }
        return Ok(json_ok(ctx, Map::new(), Some((&user, login_now))));
    }
    Ok(after_register(ctx, next.as_deref(), &email))
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

async fn generic_existing(
    ctx: &SecurityCtx<'_>,
    existing_email: Option<User>,
    existing_username: Option<User>,
    email: &str,
    username: Option<String>,
    next: Option<&str>,
) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    st.send(Signal::UserNotRegistered {
        user_id: existing_email.as_ref().map(|u| u.id),
        existing_email: existing_email.is_some(),
        existing_username: existing_username.is_some(),
    });
    let sent = if let Some(u) = &existing_email {
        let reset = cfg.recoverable.then(|| super::recover::reset_link(st, u));
        let confirm =
            (cfg.confirmable && u.confirmed_at.is_none()).then(|| confirmation_link(st, u));
        send_mail(
            st,
            ctx.locale,
            "welcome_existing",
            &u.email,
            &cfg.email_subject_register,
            json!({
                "user": mail_user(u),
                "reset_link": reset.as_ref().map(|r| r.0.clone()),
                "recovery_link": reset.as_ref().map(|r| r.0.clone()),
                "reset_token": reset.as_ref().map(|r| r.1.clone()),
                "confirmation_link": confirm.as_ref().map(|c| c.0.clone()),
                "confirmation_token": confirm.as_ref().map(|c| c.1.clone()),
            }),
        )
        .await
    } else if existing_username.is_some() {
        send_mail(
            st,
            ctx.locale,
            "welcome_existing_username",
            email,
            &cfg.email_subject_register,
            json!({"email": email, "username": username}),
        )
        .await
    } else {
        Ok(())
    };
    if let Err(e) = sent {
        rocket::error!("security mail failed: {e}");
    }
    generic_answer(ctx, next, email)
}
