//! `/tf-validate` (the code of a sign-in or of a new method), `/tf-rescue` and
//! `/tf-select`.
//!
//! Parity: `views.two_factor_token_validation`, `views.two_factor_rescue`,
//! `tf_plugin.tf_select`.

use serde_json::{json, Map, Value};

use super::common::{
    csrf, field, flash_redirect, json_ok, page_extra, user_json, HtmlField, PageForm,
};
use super::two_factor::{
    code_field, entered, illegal_state, send_failed, send_user_code, signing_in_user,
};
use super::SecurityCtx;
use crate::account::two_factor as tf;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};
use crate::second_factor::{self as sf, CodeCheck, Pending};
use crate::signals::Signal;

/// The ways out of a sign-in whose second factor is lost: `help` (mail the
/// administrators), `email` (the code by mail) and `recovery_code`.
fn recovery_options(ctx: &SecurityCtx<'_>, user: &User) -> Map<String, Value> {
    let cfg = &ctx.state.config;
    let rescue = cfg.url(&cfg.two_factor_rescue_url);
    let mut o = Map::new();
    o.insert("help".into(), json!(rescue));
    if cfg.two_factor_rescue_email && sf::method_of(user).is_some() {
        o.insert("email".into(), json!(rescue));
    }
    if cfg.multi_factor_recovery_codes
        && user
            .mf_recovery_codes
            .as_deref()
            .is_some_and(|c| !c.is_empty())
    {
        o.insert(
            "recovery_code".into(),
            json!(cfg.url(&cfg.multi_factor_recovery_url)),
        );
    }
    o
}

/// The code page of a sign-in (with the rescue form) or of a setup.
fn code_page(
    ctx: &SecurityCtx<'_>,
    user: Option<&User>,
    errors: &FormErrors,
    notices: &[Text],
) -> Reply {
    let cfg = &ctx.state.config;
    let mut extra = Map::new();
    if let Some(u) = user {
        let labels = [
            ("email", ctx.t("Send the code by email")),
            ("help", ctx.t("Contact an administrator")),
            ("recovery_code", ctx.t("Use a recovery code")),
        ];
        let options = recovery_options(ctx, u);
        let choices: Vec<Value> = labels
            .iter()
            .filter(|(k, _)| options.contains_key(*k))
            .map(|(k, l)| json!([k, l]))
            .collect();
        extra.insert("rescue_choices".into(), json!(choices));
        extra.insert(
            "rescue_action".into(),
            json!(cfg.url(&cfg.two_factor_rescue_url)),
        );
        extra.insert("method".into(), json!(sf::method_of(u)));
    }
    let mut action = cfg.url(&cfg.two_factor_token_validation_url);
    if let Some(n) = ctx.next_query.as_deref() {
        action = format!("{action}?next={}", crate::responses::quote(n));
    }
    let fields = [HtmlField::password("code")];
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices,
    };
    page_extra(ctx, "two_factor_verify_code", &form, extra)
}

/// `GET /tf-validate`: the code page; JSON gets the signing-in `user` and the
/// `recovery_options`.
#[rocket::get("/")]
pub async fn validate_get(ctx: SecurityCtx<'_>) -> Reply {
    let data = ctx.session();
    let state = data.tf.tf_state.as_deref();
    if ctx.current.is_some() && state == Some(sf::VALIDATING_PROFILE) {
        if ctx.want_json {
            return json_ok(&ctx, Map::new(), None);
        }
        return code_page(&ctx, None, &FormErrors::default(), &[]);
    }
    let states = [sf::READY, sf::VALIDATING_PROFILE];
    let user = match sf::pending_user(ctx.state, &data, &states).await {
        Ok(Some(u)) if ctx.current.is_none() => u,
        Ok(_) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    let signing_in = state == Some(sf::READY);
    if ctx.want_json {
        let mut p = Map::new();
        p.insert("user".into(), user_json(&ctx, &user, false));
        if signing_in {
            p.insert(
                "recovery_options".into(),
                json!(recovery_options(&ctx, &user)),
            );
        }
        return json_ok(&ctx, p, None);
    }
    code_page(
        &ctx,
        signing_in.then_some(&user),
        &FormErrors::default(),
        &[],
    )
}

/// `POST /tf-validate`: the code of the sign-in (`ready`) or of a new method
/// (`validating_profile`).
#[rocket::post("/", data = "<input>")]
pub async fn validate_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let state = ctx.session().tf.tf_state;
    let reply = match state.as_deref() {
        Some(sf::VALIDATING_PROFILE) => validate_setup(&ctx, &input).await,
        Some(sf::READY) if ctx.current.is_none() => validate_sign_in(&ctx, &input).await,
        _ => return illegal_state(&ctx),
    };
    reply.unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// A wrong code: JSON 400 (with `recovery_options` while signing in), or the page again.
fn wrong_code(ctx: &SecurityCtx<'_>, user: Option<&User>, errors: &FormErrors) -> Reply {
    let reply = if ctx.want_json {
        let mut reply = form_error_reply(ctx.state, errors, ctx.locale);
        if let (Some(u), crate::responses::ReplyBody::Json(v)) = (user, &mut reply.body) {
            if let Some(r) = v.get_mut("response").and_then(Value::as_object_mut) {
                r.insert("recovery_options".into(), json!(recovery_options(ctx, u)));
            }
        }
        reply
    } else {
        code_page(ctx, user, errors, &[])
    };
    match errors.retry_after {
        Some(wait) => super::common::throttled(reply, wait),
        None => reply,
    }
}

async fn validate_sign_in(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let Some(mut user) = signing_in_user(ctx).await? else {
        return Ok(illegal_state(ctx));
    };
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let code = code_field(input, &mut errors);
    let chosen = ctx.session().tf.tf_primary_method;
    let method = sf::method_of(&user).filter(|m| chosen.as_deref() == Some(*m));
    let (Some(method), Some(secret)) = (method, user.tf_totp_secret.clone()) else {
        return Ok(illegal_state(ctx));
    };
    if errors.is_empty() {
        match sf::check_code(st, &user, &secret, method, &code, true).await? {
            CodeCheck::Accepted => {}
            CodeCheck::Throttled(wait) => {
                errors.field("code", msg::TOO_MANY_ATTEMPTS);
                errors.retry_after = Some(wait);
            }
            CodeCheck::Refused => {
                errors.field("code", msg::TWO_FACTOR_INVALID_TOKEN);
                if sf::count_failure(st, &ctx.session, &user).await? {
                    return Ok(wrong_code(ctx, None, &errors));
                }
            }
        }
    }
    if !errors.is_empty() {
        return Ok(wrong_code(ctx, Some(&user), &errors));
    }
    st.send(Signal::TfCodeConfirmed {
        user_id: user.id,
        method: method.into(),
    });
    sf::complete_login(st, &ctx.session, &mut user, method, ctx.remote, true).await?;
    signed_in(ctx, &user, msg::TWO_FACTOR_LOGIN_SUCCESSFUL)
}

/// The answer once a second factor signed the user in.
fn signed_in(ctx: &SecurityCtx<'_>, user: &User, message: &'static str) -> crate::Result<Reply> {
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((user, true))));
    }
    let cfg = &ctx.state.config;
    let to = post_action_redirect(
        cfg,
        &[ctx.next_query.as_deref()],
        &cfg.post_login_view,
        ctx.host.as_deref(),
    );
    Ok(flash_redirect(to, "success", message))
}

async fn validate_setup(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let data = ctx.session();
    let mut user = match &ctx.current {
        Some(a) if data.tf.tf_user_id.as_deref() == Some(a.user.fs_uniquifier.as_str()) => {
            (*a.user).clone()
        }
        Some(_) => return Ok(illegal_state(ctx)),
        None => match sf::pending_user(st, &data, &[sf::VALIDATING_PROFILE]).await? {
            Some(u) => u,
            None => return Ok(illegal_state(ctx)),
        },
    };
    let (Some(method), Some(secret)) = (
        data.tf.tf_primary_method.clone(),
        data.tf.tf_totp_secret.clone(),
    ) else {
        return Ok(illegal_state(ctx));
    };
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let code = code_field(input, &mut errors);
    if errors.is_empty()
        && sf::check_code(st, &user, &secret, &method, &code, false).await? != CodeCheck::Accepted
    {
        errors.field("code", msg::TWO_FACTOR_INVALID_TOKEN);
    }
    if !errors.is_empty() {
        return Ok(wrong_code(ctx, None, &errors));
    }
    let phone = data.tf.tf_phone_number.clone();
    tf::set_method(st, &mut user, &method, &secret, phone.as_deref()).await?;
    if ctx.current.is_none() {
        // Set up at sign-in: the new method completes the sign-in.
        sf::complete_login(st, &ctx.session, &mut user, &method, ctx.remote, true).await?;
        return signed_in(ctx, &user, msg::TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL);
    }
    sf::clear(&ctx.session);
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((&user, false))));
    }
    let cfg = &st.config;
    let to = cfg
        .two_factor_post_setup_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.two_factor_setup_url));
    Ok(flash_redirect(
        to,
        "success",
        msg::TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL,
    ))
}

/// `GET /tf-rescue`: the `recovery_options` (JSON) or the code page with them.
#[rocket::get("/")]
pub async fn rescue_get(ctx: SecurityCtx<'_>) -> Reply {
    let user = match rescue_user(&ctx).await {
        Ok(Some(u)) => u,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    if ctx.want_json {
        let mut p = Map::new();
        p.insert(
            "recovery_options".into(),
            json!(recovery_options(&ctx, &user)),
        );
        return json_ok(&ctx, p, None);
    }
    code_page(&ctx, Some(&user), &FormErrors::default(), &[])
}

async fn rescue_user(ctx: &SecurityCtx<'_>) -> crate::Result<Option<User>> {
    if ctx.current.is_some() {
        return Ok(None);
    }
    sf::pending_user(ctx.state, &ctx.session(), &[sf::READY]).await
}

/// `POST /tf-rescue`: `help_setup` = `email` (the code by mail), `help` (mail the
/// administrators) or `recovery_code` (to `/mf-recovery`).
#[rocket::post("/", data = "<input>")]
pub async fn rescue_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let user = match rescue_user(&ctx).await {
        Ok(Some(u)) => u,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    rescue(&ctx, &user, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn rescue(ctx: &SecurityCtx<'_>, user: &User, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let choice = field(input, "help_setup", &mut errors);
    let options = recovery_options(ctx, user);
    let choice = choice.filter(|c| options.contains_key(c.as_str()));
    if choice.is_none() && errors.first("help_setup").is_none() {
        errors.field("help_setup", msg::TWO_FACTOR_METHOD_NOT_AVAILABLE);
    }
    if !errors.is_empty() {
        return Ok(wrong_code(ctx, Some(user), &errors));
    }
    let notice = match choice.as_deref() {
        Some("email") => {
            // The user's own secret's current code, checked later with the window of the
            // user's method (as Flask-Security does).
            if let Err(e) = send_user_code(ctx, user, "email").await? {
                return Ok(send_failed(ctx, &e));
            }
            Text::new(msg::CODE_HAS_BEEN_SENT)
        }
        Some("help") => {
            if let Err(e) = tf::ask_for_help(st, user, ctx.locale).await {
                return Ok(send_failed(ctx, &tf::SendError::Mail(e)));
            }
            Text::new(msg::HELP_REQUEST_SENT)
        }
        _ => {
            let cfg = &st.config;
            if ctx.want_json {
                return Ok(json_ok(ctx, Map::new(), None));
            }
            return Ok(Reply::redirect(cfg.url(&cfg.multi_factor_recovery_url)));
        }
    };
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), None));
    }
    Ok(code_page(
        ctx,
        Some(user),
        &FormErrors::default(),
        &[notice],
    ))
}

/// `GET /tf-select`: the methods to choose from (only while the session asks for a
/// choice).
#[rocket::get("/")]
pub async fn select_get(ctx: SecurityCtx<'_>) -> Reply {
    let user = match select_user(&ctx).await {
        Ok(Some(u)) => u,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    let methods = match sf::methods(ctx.state, &user).await {
        Ok(m) => m,
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    if ctx.want_json {
        let mut p = Map::new();
        p.insert("tf_select".into(), json!(true));
        p.insert("tf_setup_methods".into(), json!(methods));
        return json_ok(&ctx, p, None);
    }
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.two_factor_select_url);
    let mut extra = Map::new();
    extra.insert(
        "choices".into(),
        json!(methods.iter().map(|m| json!([m, m])).collect::<Vec<_>>()),
    );
    let form = PageForm {
        action: &action,
        fields: &[],
        errors: &FormErrors::default(),
        notices: &[],
    };
    page_extra(&ctx, "two_factor_select", &form, extra)
}

async fn select_user(ctx: &SecurityCtx<'_>) -> crate::Result<Option<User>> {
    let data = ctx.session();
    if ctx.current.is_some() || data.tf.tf_select != Some(true) {
        return Ok(None);
    }
    sf::pending_user(ctx.state, &data, &[sf::READY]).await
}

/// `POST /tf-select`: `which` method to continue with.
#[rocket::post("/", data = "<input>")]
pub async fn select_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    let user = match select_user(&ctx).await {
        Ok(Some(u)) => u,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    let which = field(&input, "which", &mut errors);
    let methods = match sf::methods(ctx.state, &user).await {
        Ok(m) => m,
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    let method = methods.into_iter().find(|m| which.as_deref() == Some(*m));
    let Some(method) = method.filter(|_| errors.is_empty()) else {
        if errors.is_empty() {
            errors.field("which", msg::TWO_FACTOR_METHOD_NOT_AVAILABLE);
        }
        return form_error_reply(ctx.state, &errors, ctx.locale);
    };
    ctx.session.update(|d| {
        d.tf.tf_select = None;
        d.tf.tf_primary_method = Some(method.to_owned());
    });
    entered(
        &ctx,
        &user,
        &Pending::Ready { method },
        ctx.next_query.as_deref(),
    )
    .await
    .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}
