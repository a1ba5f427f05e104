//! `/wan-register` (GET, POST), `/wan-register/<state>` (POST) and `/wan-delete` (GET,
//! POST): a signed-in user adds, lists and removes passkeys.
//!
//! Parity: `webauthn.webauthn_register`, `webauthn_register_response`,
//! `webauthn_delete`.

use serde_json::{json, Map, Value};

use super::common::{csrf, field, flash_redirect, json_ok, page_extra, Authed, Fresh, PageForm};
use super::SecurityCtx;
use crate::account::webauthn::register::{self as reg, Refused};
use crate::account::webauthn::{store, Rp};
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};

/// The relying party of this request.
pub(crate) fn rp(ctx: &SecurityCtx<'_>) -> Rp {
    Rp::of(&ctx.state.config, ctx.host.as_deref())
}

/// A refusal into `errors` (on its field, or the form's).
pub(crate) fn refusal(errors: &mut FormErrors, (field, m): Refused) {
    match field {
        Some(f) => errors.field(f, m),
        None => errors.form(m),
    }
}

/// The register page: the user's passkeys, the form to add one and, once a name is
/// given, the options the page's script hands to `navigator.credentials.create`.
async fn register_page(
    ctx: &SecurityCtx<'_>,
    user: &User,
    errors: &FormErrors,
    begun: Option<(Value, String)>,
) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let creds = store(ctx.state)?.credentials_of(user.id).await?;
    let mut extra = Map::new();
    extra.insert("registered_credentials".into(), reg::listing(&creds));
    extra.insert("delete_action".into(), json!(cfg.url(&cfg.wan_delete_url)));
    extra.insert("allow_first".into(), json!(cfg.wan_allow_as_first_factor));
    extra.insert("static_url".into(), json!(cfg.static_folder_url));
    if let Some((options, state)) = begun {
        extra.insert("credential_options".into(), json!(options.to_string()));
        let to = crate::account::mail::token_path(&cfg.url(&cfg.wan_register_url), &state);
        extra.insert("response_action".into(), json!(to));
    }
    let action = cfg.url(&cfg.wan_register_url);
    let form = PageForm {
        action: &action,
        fields: &[],
        errors,
        notices: &[],
    };
    Ok(page_extra(ctx, "wan_register", &form, extra))
}

/// The user's passkeys: `registered_credentials` (JSON) or the register page.
async fn listing(ctx: &SecurityCtx<'_>, user: &User) -> crate::Result<Reply> {
    if !ctx.want_json {
        return register_page(ctx, user, &FormErrors::default(), None).await;
    }
    let creds = store(ctx.state)?.credentials_of(user.id).await?;
    let mut p = Map::new();
    p.insert("registered_credentials".into(), reg::listing(&creds));
    Ok(json_ok(ctx, p, Some((user, false))))
}

/// `GET /wan-register` (fresh sign-in).
#[rocket::get("/")]
pub async fn register_get(ctx: SecurityCtx<'_>, who: Fresh) -> Reply {
    listing(&ctx, &who.0.user)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// `POST /wan-register` (fresh sign-in): `name` and `usage`; the creation options and
/// `wan_state`.
#[rocket::post("/", data = "<input>")]
pub async fn register_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    begin(&ctx, &who.0.user, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn begin(ctx: &SecurityCtx<'_>, user: &User, input: &FormInput) -> crate::Result<Reply> {
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let name = field(input, "name", &mut errors);
    let usage = field(input, "usage", &mut errors);
    let mut begun = None;
    if errors.is_empty() {
        match reg::begin(ctx.state, user, &rp(ctx), name.as_deref(), usage.as_deref()).await? {
            Ok(b) => begun = Some(b),
            Err(r) => refusal(&mut errors, r),
        }
    }
    if !ctx.want_json {
        return register_page(ctx, user, &errors, begun).await;
    }
    let Some((options, state)) = begun else {
        return Ok(form_error_reply(ctx.state, &errors, ctx.locale));
    };
    let mut p = Map::new();
    p.insert("credential_options".into(), options);
    p.insert("wan_state".into(), json!(state));
    Ok(json_ok(ctx, p, None))
}

/// `POST /wan-register/<state>`: the new credential (`credential`, a JSON string).
#[rocket::post("/<state>", data = "<input>")]
pub async fn register_response(
    ctx: SecurityCtx<'_>,
    who: Authed,
    state: &str,
    input: FormInput,
) -> Reply {
    finish(&ctx, &who.0.user, state, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn finish(
    ctx: &SecurityCtx<'_>,
    user: &User,
    state: &str,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let posted = field(input, "credential", &mut errors);
    if posted.is_none() && errors.is_empty() {
        errors.field("credential", msg::API_ERROR);
    }
    let mut name = None;
    if let (Some(posted), true) = (&posted, errors.is_empty()) {
        match reg::finish(st, user, &rp(ctx), state, posted, ctx.locale).await? {
            Ok(c) => name = Some(c.name),
            Err(r) => refusal(&mut errors, r),
        }
    }
    let Some(name) = name else {
        return Ok(refused(ctx, &errors, &cfg.url(&cfg.wan_register_url)));
    };
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((user, false))));
    }
    let to = cfg
        .wan_post_register_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.wan_register_url));
    Ok(flash_redirect(
        to,
        "info",
        msg::webauthn_register_successful(&name),
    ))
}

/// A refused step: JSON 400, or back to `page` with the first message flashed.
pub(crate) fn refused(ctx: &SecurityCtx<'_>, errors: &FormErrors, page: &str) -> Reply {
    if ctx.want_json {
        return form_error_reply(ctx.state, errors, ctx.locale);
    }
    flash_redirect(page.to_owned(), "error", super::common::first_error(errors))
}

/// `GET /wan-delete` (fresh sign-in): as `GET /wan-register`.
#[rocket::get("/")]
pub async fn delete_get(ctx: SecurityCtx<'_>, who: Fresh) -> Reply {
    register_get(ctx, who).await
}

/// `POST /wan-delete` (fresh sign-in): `name`.
#[rocket::post("/", data = "<input>")]
pub async fn delete_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    delete(&ctx, &who.0.user, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn delete(ctx: &SecurityCtx<'_>, user: &User, input: &FormInput) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let name = field(input, "name", &mut errors);
    if errors.is_empty() {
        if let Err(r) = reg::delete(ctx.state, user, name.as_deref()).await? {
            refusal(&mut errors, r);
        }
    }
    if !errors.is_empty() {
        return Ok(refused(ctx, &errors, &cfg.url(&cfg.wan_register_url)));
    }
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((user, false))));
    }
    let name = name.unwrap_or_default();
    Ok(flash_redirect(
        cfg.url(&cfg.wan_register_url),
        "info",
        msg::webauthn_credential_deleted(&name),
    ))
}
