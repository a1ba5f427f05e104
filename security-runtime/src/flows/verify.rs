//! `/verify`: a signed-in user proves it is them again (the password), which makes the
//! sign-in fresh for the routes that ask for freshness.
//!
//! Parity: `views.verify` (`VerifyForm`); sets `fs_paa`, and here also renews the
//! session (a new session, as a sign-in does).

use serde_json::{json, Map};

use super::common::{csrf, fail, field, flash_redirect, json_ok, page, Authed, HtmlField};
use super::SecurityCtx;
use crate::auth::{verify_password, Credentials};
use crate::input::FormInput;
use crate::messages as msg;
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{internal_error, FormErrors, Reply};

fn fields(next: &str) -> [HtmlField<'static>; 2] {
    [
        HtmlField::password("password"),
        HtmlField {
            name: "next",
            kind: "hidden",
            value: next.to_owned(),
        },
    ]
}

/// `GET /verify`: `user` (JSON) or the password form.
#[rocket::get("/")]
pub async fn verify_get(ctx: SecurityCtx<'_>, who: Authed) -> Reply {
    if ctx.want_json {
        let mut p = Map::new();
        let wan = crate::account::has_webauthn_verify(ctx.state, &who.0.user).await;
        p.insert(
            "has_webauthn_verify_credential".into(),
            json!(wan.unwrap_or(false)),
        );
        return json_ok(&ctx, p, Some((&who.0.user, false)));
    }
    let cfg = &ctx.state.config;
    let next = ctx.next_query.clone().unwrap_or_default();
    page(
        &ctx,
        "verify_user",
        &cfg.url(&cfg.verify_url),
        &fields(&next),
        &[],
    )
}

/// `POST /verify`: the signed-in user's password; a password of another account never
/// refreshes this one (only this user's hash is checked).
#[rocket::post("/", data = "<input>")]
pub async fn verify_post(ctx: SecurityCtx<'_>, who: Authed, input: FormInput) -> Reply {
    verify(&ctx, std::sync::Arc::unwrap_or_clone(who.0.user), &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn verify(ctx: &SecurityCtx<'_>, user: User, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let password = field(input, "password", &mut errors);
    let next = super::common::next_field(ctx, input, &mut errors);
    if password.is_none() && errors.first("password").is_none() {
        errors.field("password", msg::PASSWORD_NOT_PROVIDED);
    }
    let mut verified = None;
    if let (true, Some(p)) = (errors.is_empty(), &password) {
        match verify_password(st, user, p, "password", ctx.remote).await? {
            Credentials::Verified { user, .. } => verified = Some(user),
            Credentials::Throttled { retry_after } => {
                errors.field("password", msg::TOO_MANY_ATTEMPTS);
                errors.retry_after = Some(retry_after);
            }
            _ => errors.field("password", msg::INVALID_PASSWORD),
        }
    }
    let Some(user) = verified.filter(|_| errors.is_empty()) else {
        let action = cfg.url(&cfg.verify_url);
        let shown = next.clone().unwrap_or_default();
        return Ok(fail(ctx, &errors, "verify_user", &action, &fields(&shown)));
    };
    Ok(reauthenticated(ctx, &user, next.as_deref()))
}

/// A re-authentication succeeded (password, code or passkey): a new session with a
/// fresh `fs_paa`, then `user` (JSON) or a redirect to `next` / `post_verify_view`
/// flashing `REAUTHENTICATION_SUCCESSFUL`.
pub(crate) fn reauthenticated(ctx: &SecurityCtx<'_>, user: &User, next: Option<&str>) -> Reply {
    let st = ctx.state;
    let cfg = &st.config;
    let mut data = ctx.session();
    data.fs_paa = Some(st.now());
    data.fs_gexp = None;
    data.csrf = None;
    crate::csrf::ensure_secret(&mut data);
    ctx.session.renew(data);
    if ctx.want_json {
        return json_ok(ctx, Map::new(), Some((user, true)));
    }
    let fallback = cfg
        .post_verify_view
        .clone()
        .unwrap_or_else(|| cfg.post_login_view.clone());
    let to = post_action_redirect(
        cfg,
        &[next, ctx.next_query.as_deref()],
        &fallback,
        ctx.host.as_deref(),
    );
    flash_redirect(to, "success", msg::REAUTHENTICATION_SUCCESSFUL)
}
