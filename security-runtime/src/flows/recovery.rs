//! `/mf-recovery-codes` (show or renew the codes) and `/mf-recovery` (sign in with one).
//!
//! Parity: `recovery_codes.mf_recovery_codes`, `recovery_codes.mf_recovery`.

use serde_json::{json, Map};

use super::common::{csrf, flash_redirect, json_ok, page_extra, Fresh, HtmlField, PageForm};
use super::two_factor::{code_field, illegal_state, signing_in_user};
use super::SecurityCtx;
use crate::account::recovery;
use crate::datastore::Factor;
use crate::input::FormInput;
use crate::lockout::Gate;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::redirect::post_action_redirect;
use crate::responses::{form_error_reply, internal_error, FormErrors, Reply};
use crate::second_factor as sf;

fn codes_page(ctx: &SecurityCtx<'_>, codes: Option<Vec<String>>, notices: &[Text]) -> Reply {
    codes_page_with(ctx, codes, notices, &FormErrors::default())
}

fn codes_page_with(
    ctx: &SecurityCtx<'_>,
    codes: Option<Vec<String>>,
    notices: &[Text],
    errors: &FormErrors,
) -> Reply {
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.multi_factor_recovery_codes_url);
    let mut extra = Map::new();
    extra.insert("recovery_codes".into(), json!(codes));
    extra.insert(
        "show_action".into(),
        json!(format!("{action}?show_codes=1")),
    );
    let form = PageForm {
        action: &action,
        fields: &[],
        errors,
        notices,
    };
    page_extra(ctx, "mf_recovery_codes", &form, extra)
}

/// `GET /mf-recovery-codes`: the user's codes (JSON), or the page (`?show_codes=1`
/// lists them).
#[rocket::get("/?<show_codes>")]
pub async fn codes_get(ctx: SecurityCtx<'_>, who: Fresh, show_codes: Option<&str>) -> Reply {
    let codes = recovery::codes_of(ctx.state, &who.0.user);
    if ctx.want_json {
        let mut p = Map::new();
        p.insert("recovery_codes".into(), json!(codes));
        return json_ok(&ctx, p, None);
    }
    match show_codes {
        Some(_) if codes.is_empty() => {
            codes_page(&ctx, None, &[Text::new(msg::NO_RECOVERY_CODES_SETUP)])
        }
        Some(_) => codes_page(&ctx, Some(codes), &[]),
        None => codes_page(&ctx, None, &[]),
    }
}

/// `POST /mf-recovery-codes`: `multi_factor_recovery_codes_n` new codes replace the old.
#[rocket::post("/", data = "<input>")]
pub async fn codes_post(ctx: SecurityCtx<'_>, who: Fresh, input: FormInput) -> Reply {
    let mut user = std::sync::Arc::unwrap_or_clone(who.0.user);
    let mut errors = FormErrors::default();
    csrf(&ctx, &input, &mut errors);
    if !errors.is_empty() {
        if ctx.want_json {
            return form_error_reply(ctx.state, &errors, ctx.locale);
        }
        return codes_page_with(&ctx, None, &[], &errors);
    }
    let codes = match recovery::regenerate(ctx.state, &mut user).await {
        Ok(c) => c,
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    if ctx.want_json {
        let mut p = Map::new();
        p.insert("recovery_codes".into(), json!(codes));
        return json_ok(&ctx, p, None);
    }
    codes_page(&ctx, Some(codes), &[])
}

fn recovery_page(ctx: &SecurityCtx<'_>, errors: &FormErrors) -> Reply {
    let cfg = &ctx.state.config;
    let action = cfg.url(&cfg.multi_factor_recovery_url);
    let fields = [HtmlField::password("code")];
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices: &[],
    };
    page_extra(ctx, "mf_recovery", &form, Map::new())
}

/// `GET /mf-recovery`: the form, while a sign-in awaits its second factor.
#[rocket::get("/")]
pub async fn recovery_get(ctx: SecurityCtx<'_>) -> Reply {
    match sf::pending_user(ctx.state, &ctx.session(), &[sf::READY]).await {
        Ok(Some(_)) if ctx.current.is_none() => {}
        Ok(_) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    }
    if ctx.want_json {
        return json_ok(&ctx, Map::new(), None);
    }
    recovery_page(&ctx, &FormErrors::default())
}

/// `POST /mf-recovery`: a recovery code instead of the second factor. Single use; the
/// user is mailed; no auth token and no remember-this-browser cookie.
#[rocket::post("/", data = "<input>")]
pub async fn recovery_post(ctx: SecurityCtx<'_>, input: FormInput) -> Reply {
    recover(&ctx, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

/// Uses `code` (counted with the user's other one-time codes against the lockout),
/// or says why not in `errors`.
async fn check_recovery_code(
    ctx: &SecurityCtx<'_>,
    user: &mut User,
    code: &str,
    errors: &mut FormErrors,
) -> crate::Result<()> {
    let st = ctx.state;
    let gate = crate::lockout::begin(st, user.id, Factor::Code).await?;
    if gate != Gate::Open {
        errors.field("code", msg::TOO_MANY_ATTEMPTS);
        errors.retry_after = gate.retry_after(st);
    } else if recovery::use_code(st, user, code, ctx.locale).await? {
        crate::lockout::succeeded(st, user.id, Factor::Code).await?;
    } else {
        errors.field("code", msg::INVALID_RECOVERY_CODE);
        sf::count_failure(st, &ctx.session, user).await?;
    }
    Ok(())
}

async fn recover(ctx: &SecurityCtx<'_>, input: &FormInput) -> crate::Result<Reply> {
    let st = ctx.state;
    let Some(mut user) = signing_in_user(ctx).await? else {
        return Ok(illegal_state(ctx));
    };
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let code = code_field(input, &mut errors);
    if errors.is_empty() {
        check_recovery_code(ctx, &mut user, &code, &mut errors).await?;
    }
    if !errors.is_empty() {
        let reply = if ctx.want_json {
            form_error_reply(st, &errors, ctx.locale)
        } else {
            recovery_page(ctx, &errors)
        };
        return Ok(match errors.retry_after {
            Some(wait) => super::common::throttled(reply, wait),
            None => reply,
        });
    }
    sf::complete_login(
        st,
        &ctx.session,
        &mut user,
        "recovery_code",
        ctx.remote,
        false,
    )
    .await?;
    if ctx.want_json {
        return Ok(json_ok(ctx, Map::new(), Some((&user, false))));
    }
    let cfg = &st.config;
    let to = post_action_redirect(
        cfg,
        &[ctx.next_query.as_deref()],
        &cfg.post_login_view,
        ctx.host.as_deref(),
    );
    Ok(flash_redirect(
        to,
        "success",
        msg::TWO_FACTOR_LOGIN_SUCCESSFUL,
    ))
}
