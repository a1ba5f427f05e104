//! `/wan-signin` (GET, POST), `/wan-signin/<state>` (POST), `/wan-verify` (GET, POST)
//! and `/wan-verify/<state>` (POST): signing in and re-authenticating with a passkey.
//!
//! Parity: `webauthn.webauthn_signin`, `webauthn_signin_response`, `webauthn_verify`,
//! `webauthn_verify_response`. As the second factor (`is_secondary`), only the key of
//! the user who gave the first factor completes the sign-in (beyond Flask-Security).

use serde_json::{json, Map, Value};

use super::common::{csrf, field, json_ok, page_extra, Authed, PageForm};
use super::wan_register::{refusal, refused, rp};
use super::SecurityCtx;
use crate::account::webauthn::signin::{self as wan, Purpose, Verified};
use crate::auth::lookup_identity;
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{internal_error, FormErrors, Reply, ReplyBody};
use crate::second_factor as sf;
use crate::signin::{complete, FirstFactor, SignInOutcome};

/// A ceremony's page: the form that starts it and, once started, the options its
/// script hands to `navigator.credentials.get`.
fn ceremony_page(
    ctx: &SecurityCtx<'_>,
    template: &str,
    url: &str,
    errors: &FormErrors,
    begun: Option<(Value, String)>,
) -> Reply {
    let cfg = &ctx.state.config;
    let mut extra = Map::new();
    extra.insert("static_url".into(), json!(cfg.static_folder_url));
    extra.insert("allow_hints".into(), json!(cfg.wan_allow_user_hints));
    extra.insert("next".into(), json!(ctx.next_query));
    if let Some((options, state)) = begun {
        extra.insert("credential_options".into(), json!(options.to_string()));
        let to = crate::account::mail::token_path(&cfg.url(url), &state);
        extra.insert("response_action".into(), json!(to));
    }
    let action = cfg.url(url);
    let form = PageForm {
        action: &action,
        fields: &[],
        errors,
        notices: &[],
    };
    page_extra(ctx, template, &form, extra)
}

/// The user of a partial sign-in awaiting a key (`tf_state = ready`, method
/// `webauthn`): `/wan-signin` is then the second factor.
async fn secondary_user(ctx: &SecurityCtx<'_>) -> crate::Result<Option<User>> {
    let data = ctx.session();
    if ctx.current.is_some() || data.tf.tf_primary_method.as_deref() != Some(sf::WEBAUTHN) {
        return Ok(None);
    }
    sf::pending_user(ctx.state, &data, &[sf::READY]).await
}

fn not_found() -> Reply {
    Reply::new(rocket::http::Status::NotFound, ReplyBody::Empty)
}

/// `GET /wan-signin`: `is_secondary` (JSON) or the page; 404 when passkeys neither sign
/// in alone nor are awaited as the second factor.
#[rocket::get("/")]
pub async fn signin_get(ctx: SecurityCtx<'_>) -> Reply {
    let cfg = &ctx.state.config;
    let secondary = match secondary_user(&ctx).await {
        Ok(u) => u.is_some(),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    if !secondary && !cfg.wan_allow_as_first_factor {
        return not_found();
    }
    if !ctx.want_json {
        if ctx.current.is_some() {
            return Reply::redirect(cfg.post_login_view.clone());
        }
        let none = FormErrors::default();
        return ceremony_page(&ctx, "wan_signin", &cfg.wan_signin_url, &none, None);
    }
    let mut p = Map::new();
    p.insert("is_secondary".into(), json!(secondary));
    json_ok(&ctx, p, None)
}

/// `POST /wan-signin`: `identity` (a hint, when `wan_allow_user_hints`; an unknown one
/// is ignored) and `remember`; the request options and `wan_state`. As the second
/// factor, the options list the user's `secondary` keys.
#[rocket::post("/", data = "<input>")]
pub async fn signin_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    signin_begin(&ctx, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn signin_begin(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let second = secondary_user(ctx).await?;
    if second.is_none() && !cfg.wan_allow_as_first_factor {
        return Ok(not_found());
    }
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let identity = field(input, "identity", &mut errors);
    let remember = input.bool("remember").unwrap_or(cfg.default_remember_me);
    if !errors.is_empty() {
        return Ok(refused(ctx, &errors, &cfg.url(&cfg.wan_signin_url)));
    }
    let mut hint = None;
    if let (Some(id), true, None) = (&identity, cfg.wan_allow_user_hints, &second) {
        hint = lookup_identity(st, id).await?;
    }
    let purpose = match &second {
        Some(u) => Purpose::SecondFactor(u),
        None => Purpose::FirstFactor,
    };
    let begun = wan::begin(st, &rp(ctx), purpose, hint.as_ref()).await?;
    if !ctx.want_json {
        let page = ceremony_page(ctx, "wan_signin", &cfg.wan_signin_url, &errors, Some(begun));
        return Ok(page);
    }
    let mut p = Map::new();
    p.insert("credential_options".into(), begun.0);
    p.insert("wan_state".into(), json!(begun.1));
    p.insert("remember".into(), json!(remember));
    p.insert("is_secondary".into(), json!(second.is_some()));
    Ok(json_ok(ctx, p, None))
}

/// `POST /wan-signin/<state>`: the assertion (`credential`), `remember`, `next`.
#[rocket::post("/<state>", data = "<input>")]
pub async fn signin_response(ctx: SecurityCtx<'_>, state: &str, input: FormInput) -> Reply {
    signin_finish(&ctx, state, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// The posted assertion and `next`, checked for `purpose`; errors into `errors`.
async fn checked(
    ctx: &SecurityCtx<'_>,
    purpose: Purpose<'_>,
    state: &str,
    input: &FormInput,
    errors: &mut FormErrors,
) -> crate::Result<(Option<Verified>, Option<String>)> {
    csrf(ctx, input, errors);
    let posted = field(input, "credential", errors);
    let next = super::common::next_field(ctx, input, errors);
    if posted.is_none() && errors.is_empty() {
        errors.field("credential", msg::API_ERROR);
    }
    let (Some(posted), true) = (posted, errors.is_empty()) else {
        return Ok((None, next));
    };
    match wan::check(ctx.state, &rp(ctx), purpose, state, &posted, ctx.locale).await? {
        Ok(v) => Ok((Some(v), next)),
        Err(r) => {
            refusal(errors, r);
            Ok((None, next))
        }
    }
}

async fn signin_finish(
    ctx: &SecurityCtx<'_>,
    state: &str,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    if ctx.current.is_some() {
        return Ok(ctx.already_authenticated());
    }
    let page = cfg.url(&cfg.wan_signin_url);
    let mut errors = FormErrors::default();
    if let Some(u) = secondary_user(ctx).await? {
        let purpose = Purpose::SecondFactor(&u);
        let (verified, next) = checked(ctx, purpose, state, input, &mut errors).await?;
        let Some(v) = verified else {
            return Ok(refused(ctx, &errors, &page));
        };
        return second_factor_done(ctx, v.user, next.as_deref()).await;
    }
    if !cfg.wan_allow_as_first_factor {
        return Ok(not_found());
    }
    let (verified, next) = checked(ctx, Purpose::FirstFactor, state, input, &mut errors).await?;
    let Some(v) = verified else {
        return Ok(refused(ctx, &errors, &page));
    };
    let mut user = v.user;
    let token_wanted = ctx.want_json && ctx.token_wanted();
    let dirty = crate::auth::prepare_token_identity(&mut user, token_wanted);
    let factor = FirstFactor {
        user,
        dirty,
        remember: input.bool("remember").unwrap_or(cfg.default_remember_me),
        authn_via: "webauthn",
        remote: ctx.remote,
        // A user-verified passkey is two factors in one.
        mfa: !(v.user_verified && cfg.wan_allow_as_multi_factor),
    };
    let next = next.as_deref().or(ctx.next_query.as_deref());
    let user = match complete(st, &ctx.session, factor).await? {
        SignInOutcome::SignedIn(u) => u,
        SignInOutcome::Refused(r) => {
            errors.form(r.message());
            return Ok(refused(ctx, &errors, &page));
        }
        SignInOutcome::SecondFactor { user, pending } => {
            return super::two_factor::entered(ctx, &user, &pending, next).await;
        }
    };
    Ok(signed_in(ctx, &user, next))
}

/// The answer once a passkey signed the user in: `user`, `post_login_url` and
/// `tf_required: false` (JSON), or the redirect there.
fn signed_in(ctx: &SecurityCtx<'_>, user: &User, next: Option<&str>) -> Reply {
    let cfg = &ctx.state.config;
    let to = post_action_redirect(cfg, &[next], &cfg.post_login_view, ctx.host.as_deref());
    if !ctx.want_json {
        return Reply::redirect(to);
    }
    let mut p = Map::new();
    p.insert("tf_required".into(), json!(false));
    p.insert("post_login_url".into(), json!(to));
    json_ok(ctx, p, Some((user, true)))
}

/// The key of the user who gave the first factor: the partial sign-in ends signed in.
async fn second_factor_done(
    ctx: &SecurityCtx<'_>,
    mut user: User,
    next: Option<&str>,
) -> crate::Result<Reply> {
    let st = ctx.state;
    // As at `/tf-validate`: the sign-in's own write is the only one.
    sf::complete_login(st, &ctx.session, &mut user, sf::WEBAUTHN, ctx.remote, true).await?;
    let next = next.or(ctx.next_query.as_deref());
    Ok(signed_in(ctx, &user, next))
}

/// `GET /wan-verify`: `user` (JSON) or the page.
#[rocket::get("/")]
pub async fn verify_get(ctx: SecurityCtx<'_>, who: Authed) -> Reply {
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), Some((&who.0.user, false)));
    }
    let url = &ctx.state.config.wan_verify_url;
    ceremony_page(&ctx, "wan_verify", url, &FormErrors::default(), None)
}

/// `POST /wan-verify`: the request options (the user's keys of the usages in
/// `wan_allow_as_verify`) and `wan_state`.
#[rocket::post("/", data = "<input>")]
pub async fn verify_post(ctx: SecurityCtx<'_>, who: Authed, input: FormInput) -> Reply {
    let user = &who.0.user;
    let run = async {
        let cfg = &ctx.state.config;
        let mut errors = FormErrors::default();
        csrf(&ctx, &input, &mut errors);
        if !errors.is_empty() {
            return Ok(refused(&ctx, &errors, &cfg.url(&cfg.wan_verify_url)));
        }
        let begun = wan::begin(ctx.state, &rp(&ctx), Purpose::Verify(user), None).await?;
        if !ctx.want_json {
            let url = &cfg.wan_verify_url;
            return Ok(ceremony_page(&ctx, "wan_verify", url, &errors, Some(begun)));
        }
        let mut p = Map::new();
        p.insert("credential_options".into(), begun.0);
        p.insert("wan_state".into(), json!(begun.1));
        Ok(json_ok(&ctx, p, None))
    };
    run.await.unwrap_or_else(|e: crate::SecurityError| {
        internal_error(ctx.state, ctx.want_json, ctx.locale, &e)
    })
}

/// `POST /wan-verify/<state>`: an assertion by one of the signed-in user's own keys
/// refreshes the sign-in.
#[rocket::post("/<state>", data = "<input>")]
pub async fn verify_response(
    ctx: SecurityCtx<'_>,
    who: Authed,
    state: &str,
    input: FormInput,
) -> Reply {
    let user = &who.0.user;
    let run = async {
        let cfg = &ctx.state.config;
        let mut errors = FormErrors::default();
        let purpose = Purpose::Verify(user);
        let (verified, next) = checked(&ctx, purpose, state, &input, &mut errors).await?;
        if verified.is_none() {
            return Ok(refused(&ctx, &errors, &cfg.url(&cfg.wan_verify_url)));
        }
        Ok(super::verify::reauthenticated(&ctx, user, next.as_deref()))
    };
    run.await.unwrap_or_else(|e: crate::SecurityError| {
        internal_error(ctx.state, ctx.want_json, ctx.locale, &e)
    })
}
