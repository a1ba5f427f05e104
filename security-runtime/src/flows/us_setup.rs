//! `/us-setup` (GET, POST) and `/us-setup/<state>` (POST): a signed-in user sets up
//! or removes unified sign-in methods.
//!
//! Parity: `unified_signin.us_setup`, `us_setup_validate`.

use rocket::http::Status;
use serde_json::{json, Map, Value};

use super::common::{
    csrf, field, flash_redirect, json_ok, page_extra, passcode_field, Authed, Fresh, HtmlField,
    PageForm,
};
use super::two_factor::{authr, send_failed, Authr};
use super::SecurityCtx;
use crate::account::two_factor::TokenProblem;
use crate::account::unified::{self as us, SetupState};
use crate::datastore::UserQuery;
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{errors_reply, form_error_reply, internal_error, FormErrors, Reply};

/// The set-up overview (`GET /us-setup`'s JSON).
fn overview(ctx: &SecurityCtx<'_>, user: &User) -> Map<String, Value> {
    let st = ctx.state;
    let mut p = Map::new();
    p.insert(
        "identity_attributes".into(),
        json!(st.config.identity_attributes()),
    );
    p.insert(
        "available_methods".into(),
        json!(st.config.us_enabled_methods),
    );
    p.insert("active_methods".into(), json!(us::active_methods(st, user)));
    p.insert("setup_methods".into(), json!(us::setup_methods(st)));
    p.insert("phone".into(), json!(user.us_phone_number));
    p
}

/// The set-up page; `chosen` shows the code step of a method just chosen.
fn setup_page(
    ctx: &SecurityCtx<'_>,
    user: &User,
    errors: &FormErrors,
    chosen: Option<(&str, &str, Option<&Authr>)>,
) -> Reply {
    let cfg = &ctx.state.config;
    let mut extra = overview(ctx, user);
    if let Some((method, state, a)) = chosen {
        extra.insert("chosen_method".into(), json!(method));
        let url = crate::account::mail::token_path(&cfg.url(&cfg.us_setup_url), state);
        extra.insert("validate_action".into(), json!(url));
        if let Some(a) = a {
            a.page_values(ctx, &mut extra);
        }
    }
    let action = cfg.url(&cfg.us_setup_url);
    let fields = [
        HtmlField {
            name: "phone",
            kind: "tel",
            value: user.us_phone_number.clone().unwrap_or_default(),
        },
        HtmlField::password("passcode"),
    ];
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices: &[],
    };
    page_extra(ctx, "us_setup", &form, extra)
}

/// `GET /us-setup` (fresh sign-in).
#[rocket::get("/")]
pub async fn setup_get(ctx: SecurityCtx<'_>, who: Fresh) -> Reply {
    if ctx.want_json {
        let p = overview(&ctx, &who.0.user);
        return json_ok(&ctx, p, None);
    }
    setup_page(&ctx, &who.0.user, &FormErrors::default(), None)
}

/// `POST /us-setup` (fresh sign-in): `chosen_method` (and `phone`) starts a set-up,
/// `delete_method` removes methods.
#[rocket::post("/", data = "<input>")]
pub async fn setup_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    setup(&ctx, std::sync::Arc::unwrap_or_clone(who.0.user), &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// What a valid set-up form asked for.
enum Choice {
    Delete(Vec<String>),
    Add {
        method: &'static str,
        phone: Option<String>,
    },
}

async fn read_choice(
    ctx: &SecurityCtx<'_>,
    user: &User,
    input: &FormInput,
    errors: &mut FormErrors,
) -> crate::Result<Option<Choice>> {
    let st = ctx.state;
    csrf(ctx, input, errors);
    let chosen = field(input, "chosen_method", errors);
    let phone = field(input, "phone", errors);
    let delete = input.list("delete_method").unwrap_or_else(|_| {
        errors.field("delete_method", msg::API_ERROR);
        Vec::new()
    });
    let setup = us::setup_methods(st);
    if !delete.is_empty() {
        if delete.iter().any(|m| !setup.contains(&m.as_str())) {
            errors.field("delete_method", msg::US_METHOD_NOT_AVAILABLE);
        }
        return Ok(errors.is_empty().then_some(Choice::Delete(delete)));
    }
    let Some(chosen) = chosen else {
        if errors.is_empty() {
            errors.form(msg::API_ERROR);
        }
        return Ok(None);
    };
    let Some(method) = setup.into_iter().find(|m| *m == chosen) else {
        errors.field("chosen_method", msg::US_METHOD_NOT_AVAILABLE);
        return Ok(None);
    };
    let mut canonical = None;
    if method == "sms" {
        canonical = check_phone(ctx, user, phone.as_deref(), errors).await?;
    }
    Ok(errors.is_empty().then_some(Choice::Add {
        method,
        phone: canonical,
    }))
}

/// The canonical form of a phone number no other user has; errors otherwise.
async fn check_phone(
    ctx: &SecurityCtx<'_>,
    user: &User,
    phone: Option<&str>,
    errors: &mut FormErrors,
) -> crate::Result<Option<String>> {
    let st = ctx.state;
    let Some(p) = phone.and_then(|p| st.phone_util.validate_phone_number(p).ok()) else {
        errors.field("phone", msg::PHONE_INVALID);
        return Ok(None);
    };
    let owner = st
        .datastore
        .find_user(&UserQuery::UsPhoneNumber(p.clone()), false)
        .await?;
    if owner.is_some_and(|o| o.id != user.id) {
        errors.field(
            "phone",
            msg::identity_already_associated("us_phone_number", &p),
        );
        return Ok(None);
    }
    Ok(Some(p))
}

async fn setup(ctx: &SecurityCtx<'_>, mut user: User, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    let choice = read_choice(ctx, &user, input, &mut errors).await?;
    let (method, phone) = match choice {
        None if ctx.want_json => return Ok(form_error_reply(st, &errors, ctx.locale)),
        None => return Ok(setup_page(ctx, &user, &errors, None)),
        Some(Choice::Delete(methods)) => {
            if !us::delete_methods(st, &mut user, &methods).await? {
                return Ok(refused(ctx, msg::API_ERROR));
            }
            if ctx.want_json {
                let p = overview(ctx, &user);
                return Ok(json_ok(ctx, p, None));
            }
            return Ok(flash_redirect(
                post_setup_view(ctx),
                "info",
                msg::US_SETUP_SUCCESSFUL,
            ));
        }
        Some(Choice::Add { method, phone }) => (method, phone),
    };
    let secret = crate::second_factor::new_secret(st).await?;
    let sent =
        us::send_setup_code(st, &user, method, &secret, phone.as_deref(), ctx.locale).await?;
    if let Err(e) = sent {
        return Ok(send_failed(ctx, &e));
    }
    let state = SetupState {
        method: method.to_owned(),
        secret: secret.clone(),
        phone: phone.clone(),
    };
    let token = us::state_token(st, &user, &state);
    let a = match method {
        "authenticator" => Some(authr(ctx, &user, &secret).await?),
        _ => None,
    };
    if !ctx.want_json {
        let errors = FormErrors::default();
        return Ok(setup_page(
            ctx,
            &user,
            &errors,
            Some((method, &token, a.as_ref())),
        ));
    }
    let mut p = Map::new();
    p.insert("chosen_method".into(), json!(method));
    p.insert("phone".into(), json!(phone));
    p.insert("state".into(), json!(token));
    if let Some(a) = a {
        p.insert("authr_key".into(), json!(a.key));
        p.insert("authr_b32key".into(), json!(a.b32));
        p.insert("authr_username".into(), json!(a.username));
        p.insert("authr_issuer".into(), json!(cfg.totp_issuer));
        p.insert("authr_uri".into(), json!(a.uri));
    }
    Ok(json_ok(ctx, p, None))
}

fn post_setup_view(ctx: &SecurityCtx<'_>) -> String {
    let cfg = &ctx.state.config;
    cfg.us_post_setup_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.us_setup_url))
}

/// `POST /us-setup/<state>`: the code of the new method; stores it.
#[rocket::post("/<state>", data = "<input>")]
pub async fn setup_validate(
    ctx: SecurityCtx<'_>,
    who: Authed,
    state: &str,
    input: FormInput,
) -> Reply {
    validate(
        &ctx,
        std::sync::Arc::unwrap_or_clone(who.0.user),
        state,
        &input,
    )
    .await
    .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn validate(
    ctx: &SecurityCtx<'_>,
    mut user: User,
    token: &str,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let passcode = passcode_field(input, &mut errors).unwrap_or_default();
    let setup = match us::read_state_token(st, &user, token) {
        Ok(s) => s,
        Err(TokenProblem::Expired) => {
            let within = super::common::within_text(
                &st.catalog,
                ctx.locale,
                st.config.us_setup_within as u64,
            );
            return Ok(refused(ctx, msg::us_setup_expired(&within)));
        }
        Err(TokenProblem::Invalid) => return Ok(refused(ctx, msg::API_ERROR)),
    };
    let mut step = None;
    if errors.is_empty() {
        step = us::check_setup_code(st, &setup.secret, &passcode).await?;
        if step.is_none() {
            errors.field("passcode", msg::INVALID_PASSWORD_CODE);
        }
    }
    if errors.is_empty() && setup.method == "sms" {
        check_phone(ctx, &user, setup.phone.as_deref(), &mut errors).await?;
    }
    let Some(step) = step.filter(|_| errors.is_empty()) else {
        return Ok(invalid(ctx, &errors));
    };
    if let Some(failed) = store(ctx, &mut user, &setup, step).await? {
        return Ok(failed);
    }
    if !ctx.want_json {
        let to = post_setup_view(ctx);
        return Ok(flash_redirect(
            to,
            "info",
            Text::new(msg::US_SETUP_SUCCESSFUL),
        ));
    }
    let mut p = Map::new();
    p.insert("chosen_method".into(), json!(setup.method));
    p.insert("phone".into(), json!(setup.phone));
    Ok(json_ok(ctx, p, None))
}

/// Stores a confirmed set-up; the answer when it could not be.
async fn store(
    ctx: &SecurityCtx<'_>,
    user: &mut User,
    setup: &SetupState,
    step: u64,
) -> crate::Result<Option<Reply>> {
    match us::set_method(ctx.state, user, setup, step).await {
        Ok(true) => Ok(None),
        Ok(false) => Ok(Some(refused(ctx, msg::API_ERROR))),
        Err(crate::SecurityError::AlreadyExists { .. }) => {
            // Another user took the number since the check.
            let phone = setup.phone.clone().unwrap_or_default();
            let mut errors = FormErrors::default();
            errors.field(
                "phone",
                msg::identity_already_associated("us_phone_number", &phone),
            );
            Ok(Some(invalid(ctx, &errors)))
        }
        Err(e) => Err(e),
    }
}

/// A refused set-up step: JSON 400 `errors`, or the set-up page with the message
/// flashed.
fn refused(ctx: &SecurityCtx<'_>, m: impl Into<Text>) -> Reply {
    let m = ctx.t(m);
    if ctx.want_json {
        return errors_reply(ctx.state, Status::BadRequest, &[&m], ctx.locale);
    }
    let cfg = &ctx.state.config;
    flash_redirect(cfg.url(&cfg.us_setup_url), "error", Text::from(m))
}

/// A code step with form errors: JSON 400, or the set-up page with the first one
/// flashed (the step's page cannot be shown again without its secret).
fn invalid(ctx: &SecurityCtx<'_>, errors: &FormErrors) -> Reply {
    if ctx.want_json {
        return form_error_reply(ctx.state, errors, ctx.locale);
    }
    refused(ctx, super::common::first_error(errors))
}
