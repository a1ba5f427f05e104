//! `/tf-setup` (GET, POST), `/tf-setup/<state_token>`, and what a sign-in answers when
//! a second factor is needed.
//!
//! Parity: `views.two_factor_setup`, `views.two_factor_setup_validate`,
//! `tf_plugin.TfPlugin.tf_enter` (its responses).

use rocket::http::Status;
use rocket::request::{FromRequest, Outcome, Request};
use serde_json::{json, Map, Value};

use super::common::{
    authed, csrf, field, flash_redirect, json_ok, page_extra, within_text, Authed, HtmlField,
    PageForm,
};
use super::SecurityCtx;
use crate::account::two_factor::{self as tf, SendError, SetupChoice, SetupForm, TokenProblem};
use crate::guards::{deny, Authn};
use crate::input::FormInput;
use crate::messages::{self as msg, Text};
use crate::model::User;
use crate::responses::{
    errors_reply, form_error_reply, internal_error, Denial, FormErrors, Reply, ReplyBody,
};
use crate::second_factor::{self as sf, CodeCheck, Pending};

/// Who may use `/tf-setup`: a signed-in user whose sign-in is fresh, or a visitor in the
/// middle of a sign-in that must set a method up first.
pub enum SetupCaller {
    /// Signed in, freshly.
    Fresh(Box<Authn>),
    /// Not signed in (the session must hold a setup state).
    Anonymous,
}

#[rocket::async_trait]
impl<'r> FromRequest<'r> for SetupCaller {
    type Error = Denial;
    async fn from_request(req: &'r Request<'_>) -> Outcome<Self, Self::Error> {
        match crate::guards::current_user(req).await {
            Ok(None) => Outcome::Success(SetupCaller::Anonymous),
            Ok(Some(_)) => match authed(req, true).await {
                Ok(a) => Outcome::Success(SetupCaller::Fresh(Box::new(a))),
                Err(d) => deny(req, d),
            },
            Err(()) => deny(req, Denial::Unavailable),
        }
    }
}

/// The answer to a two-factor view reached in the wrong state: the partial sign-in is
/// dropped; JSON 400, or a redirect to `two_factor_error_view` with the message.
pub(crate) fn illegal_state(ctx: &SecurityCtx<'_>) -> Reply {
    sf::clear(&ctx.session);
    if ctx.want_json {
        return errors_reply(
            ctx.state,
            Status::BadRequest,
            &[msg::TWO_FACTOR_PERMISSION_DENIED],
            ctx.locale,
        );
    }
    let cfg = &ctx.state.config;
    let to = cfg
        .two_factor_error_view
        .clone()
        .unwrap_or_else(|| cfg.url(&cfg.login_url));
    flash_redirect(to, "error", msg::TWO_FACTOR_PERMISSION_DENIED)
}

/// The user of this anonymous browser's partial sign-in awaiting a code (`ready`), while
/// it has wrong codes left; `None` when there is none.
pub(crate) async fn signing_in_user(ctx: &SecurityCtx<'_>) -> crate::Result<Option<User>> {
    let st = ctx.state;
    if ctx.current.is_some() {
        return Ok(None);
    }
    match sf::pending_user(st, &ctx.session(), &[sf::READY]).await? {
        Some(u) if !sf::exhausted(st, &u).await? => Ok(Some(u)),
        _ => Ok(None),
    }
}

/// The answer when a code could not be sent: 500 with `FAILED_TO_SEND_CODE`.
pub(crate) fn send_failed(ctx: &SecurityCtx<'_>, e: &SendError) -> Reply {
    rocket::error!("two-factor code not sent: {e}");
    if ctx.want_json {
        errors_reply(
            ctx.state,
            Status::InternalServerError,
            &[msg::FAILED_TO_SEND_CODE],
            ctx.locale,
        )
    } else {
        Reply::new(
            Status::InternalServerError,
            ReplyBody::Text(ctx.t(msg::FAILED_TO_SEND_CODE)),
        )
    }
}

/// Sends the user's own code when their method delivers one (email, sms).
pub(crate) async fn send_user_code(
    ctx: &SecurityCtx<'_>,
    user: &User,
    method: &str,
) -> crate::Result<Result<(), SendError>> {
    let Some(secret) = user.tf_totp_secret.as_deref() else {
        return Ok(Ok(()));
    };
    let phone = user.tf_phone_number.as_deref();
    tf::send_code(ctx.state, user, method, secret, phone, ctx.locale).await
}

/// What a sign-in answers when the first factor is proven and a second is needed.
///
/// Parity: `tf_enter`'s responses (`tf_required`, `tf_state`, `tf_primary_method`,
/// `tf_method`); forms go to `/tf-setup` or `/tf-validate?next=`.
pub(crate) async fn entered(
    ctx: &SecurityCtx<'_>,
    user: &User,
    pending: &Pending,
    next: Option<&str>,
) -> crate::Result<Reply> {
    let cfg = &ctx.state.config;
    let mut p = Map::new();
    p.insert("tf_required".into(), json!(true));
    let to = match pending {
        Pending::Setup => {
            p.insert("tf_state".into(), json!(sf::SETUP_FROM_LOGIN));
            cfg.url(&cfg.two_factor_setup_url)
        }
        Pending::Select { methods } => {
            p.insert("tf_select".into(), json!(true));
            p.insert("tf_setup_methods".into(), json!(methods));
            cfg.url(&cfg.two_factor_select_url)
        }
        Pending::Ready { method } if *method == sf::WEBAUTHN => {
            let url = cfg.url(&cfg.wan_signin_url);
            p.insert("tf_state".into(), json!(sf::READY));
            p.insert("tf_method".into(), json!(method));
            p.insert("tf_signin_url".into(), json!(url));
            url
        }
        Pending::Ready { method } => {
            if let Err(e) = send_user_code(ctx, user, method).await? {
                return Ok(send_failed(ctx, &e));
            }
            p.insert("tf_state".into(), json!(sf::READY));
            p.insert("tf_primary_method".into(), json!(method));
            p.insert("tf_method".into(), json!(method));
            cfg.url(&cfg.two_factor_token_validation_url)
        }
    };
    if ctx.want_json {
        return Ok(json_ok(ctx, p, None));
    }
    Ok(match next.filter(|n| !n.is_empty()) {
        Some(n) => super::common::redirect_with(&to, &[("next", n)]),
        None => Reply::redirect(to),
    })
}

/// The setup's user and how it is signed in: the signed-in one, or (no mechanism) the
/// one whose sign-in awaits a method.
async fn setup_user(
    ctx: &SecurityCtx<'_>,
    who: SetupCaller,
) -> crate::Result<Option<(User, Option<crate::Mechanism>)>> {
    match who {
        SetupCaller::Fresh(a) => Ok(Some((std::sync::Arc::unwrap_or_clone(a.user), Some(a.via)))),
        SetupCaller::Anonymous => {
            let states = [sf::SETUP_FROM_LOGIN, sf::VALIDATING_PROFILE];
            Ok(sf::pending_user(ctx.state, &ctx.session(), &states)
                .await?
                .map(|u| (u, None)))
        }
    }
}

/// `GET /tf-setup`.
#[rocket::get("/")]
pub async fn setup_get(ctx: SecurityCtx<'_>, who: SetupCaller) -> Reply {
    let user = match setup_user(&ctx, who).await {
        Ok(Some((u, _))) => u,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => return internal_error(ctx.state, ctx.want_json, ctx.locale, &e),
    };
    if ctx.want_json {
        let cfg = &ctx.state.config;
        let method = sf::method_of(&user);
        let mut p = Map::new();
        p.insert("tf_required".into(), json!(cfg.two_factor_required));
        p.insert("tf_primary_method".into(), json!(method));
        p.insert("tf_method".into(), json!(method));
        p.insert("tf_phone_number".into(), json!(user.tf_phone_number));
        p.insert(
            "tf_available_methods".into(),
            json!(cfg.two_factor_enabled_methods),
        );
        return json_ok(&ctx, p, None);
    }
    setup_page(&ctx, &user, &FormErrors::default(), None)
}

/// The authenticator details of a new secret: the `tf_authr_*` values.
pub(crate) struct Authr {
    pub(crate) uri: String,
    pub(crate) key: String,
    pub(crate) b32: String,
    pub(crate) username: String,
}

impl Authr {
    /// What a set-up page shows of it: `authr_qrcode`, `authr_key`, `authr_issuer`,
    /// `authr_username`.
    pub(crate) fn page_values(&self, ctx: &SecurityCtx<'_>, extra: &mut Map<String, Value>) {
        let issuer = ctx.state.totp.as_ref().map(|f| f.issuer());
        let qr = crate::totp::qr_svg_data_uri(&self.uri);
        extra.insert("authr_qrcode".into(), json!(qr));
        extra.insert("authr_key".into(), json!(self.key));
        extra.insert("authr_issuer".into(), json!(issuer));
        extra.insert("authr_username".into(), json!(self.username));
    }
}

pub(crate) async fn authr(
    ctx: &SecurityCtx<'_>,
    user: &User,
    secret: &str,
) -> crate::Result<Authr> {
    let factory = sf::factory(ctx.state)?;
    let key = sf::key_of(ctx.state, secret).await?;
    let username = user.calc_username().to_owned();
    Ok(Authr {
        uri: factory.uri(&key, &username),
        key: key.pretty(),
        b32: key.b32(),
        username,
    })
}

/// The setup page; `chosen` shows the code step for a method just chosen.
fn setup_page(
    ctx: &SecurityCtx<'_>,
    user: &User,
    errors: &FormErrors,
    chosen: Option<(&str, Option<&Authr>)>,
) -> Reply {
    let cfg = &ctx.state.config;
    let label = |m: &str| match m {
        "email" => ctx.t("Set up using email"),
        "authenticator" => {
            ctx.t("Set up using an authenticator app (e.g. Google, Lastpass, Authy)")
        }
        "sms" => ctx.t("Set up using SMS"),
        _ => ctx.t("Disable two factor authentication"),
    };
    let mut choices: Vec<Value> = cfg
        .two_factor_enabled_methods
        .iter()
        .map(|m| json!([m, label(m)]))
        .collect();
    if !cfg.two_factor_required && sf::method_of(user).is_some() {
        choices.push(json!(["disable", label("disable")]));
    }
    let mut extra = Map::new();
    extra.insert("choices".into(), json!(choices));
    extra.insert(
        "has_sms".into(),
        json!(cfg.two_factor_enabled_methods.iter().any(|m| m == "sms")),
    );
    extra.insert("current_method".into(), json!(sf::method_of(user)));
    // A sign-in's `next` goes on through the setup to the code step.
    let with_next = |url: String| match ctx.next_query.as_deref() {
        Some(n) => format!("{url}?next={}", crate::responses::quote(n)),
        None => url,
    };
    extra.insert(
        "validate_action".into(),
        json!(with_next(cfg.url(&cfg.two_factor_token_validation_url))),
    );
    if let Some((method, a)) = chosen {
        extra.insert("chosen_method".into(), json!(method));
        if let Some(a) = a {
            a.page_values(ctx, &mut extra);
        }
    }
    let action = with_next(cfg.url(&cfg.two_factor_setup_url));
    let fields = [
        HtmlField {
            name: "phone",
            kind: "tel",
            value: user.tf_phone_number.clone().unwrap_or_default(),
        },
        HtmlField::password("code"),
    ];
    let form = PageForm {
        action: &action,
        fields: &fields,
        errors,
        notices: &[],
    };
    page_extra(ctx, "two_factor_setup", &form, extra)
}

/// `POST /tf-setup`: chooses a method (a new secret each time) or turns two-factor off.
#[rocket::post("/", data = "<input>")]
pub async fn setup_post(ctx: SecurityCtx<'_>, who: SetupCaller, input: FormInput) -> Reply {
    let reply = match setup_user(&ctx, who).await {
        Ok(Some((user, via))) => setup(&ctx, user, via, &input).await,
        Ok(None) => return illegal_state(&ctx),
        Err(e) => Err(e),
    };
    reply.unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn setup(
    ctx: &SecurityCtx<'_>,
    mut user: User,
    via: Option<crate::Mechanism>,
    input: &FormInput,
) -> crate::Result<Reply> {
    let authenticated = via.is_some();
    let st = ctx.state;
    let cfg = &st.config;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let form = SetupForm {
        setup: field(input, "setup", &mut errors),
        phone: field(input, "phone", &mut errors),
        errors,
    };
    let (method, phone) = match tf::read_setup(st, form) {
        Err(errors) if ctx.want_json => return Ok(form_error_reply(st, &errors, ctx.locale)),
        Err(errors) => return Ok(setup_page(ctx, &user, &errors, None)),
        Ok(SetupChoice::Disable) if !authenticated => return Ok(illegal_state(ctx)),
        Ok(SetupChoice::Disable) => {
            tf::disable(st, &mut user, ctx.locale).await?;
            sf::clear(&ctx.session);
            if ctx.want_json {
                return Ok(json_ok(ctx, Map::new(), None));
            }
            let to = cfg
                .two_factor_post_setup_view
                .clone()
                .unwrap_or_else(|| cfg.url(&cfg.two_factor_setup_url));
            return Ok(flash_redirect(to, "success", msg::TWO_FACTOR_DISABLED));
        }
        Ok(SetupChoice::Method { method, phone }) => (method, phone),
    };
    let factory = sf::factory(st)?;
    let secret = sf::new_secret(st).await?;
    // A token caller finishes with the state token; only a browser keeps the step in its
    // session (a token must not turn into a browser sign-in).
    if via != Some(crate::Mechanism::Token) {
        let now = st.now() as i64;
        ctx.session.update(|d| {
            d.tf.tf_user_id = Some(user.fs_uniquifier.clone());
            d.tf.tf_state = Some(sf::VALIDATING_PROFILE.into());
            d.tf.tf_primary_method = Some(method.into());
            d.tf.tf_totp_secret = Some(secret.clone());
            d.tf.tf_phone_number = phone.clone();
            d.tf.tf_started = Some(now);
        });
    }
    if let Err(e) = tf::send_code(st, &user, method, &secret, phone.as_deref(), ctx.locale).await? {
        return Ok(send_failed(ctx, &e));
    }
    let a = match method {
        "authenticator" => Some(authr(ctx, &user, &secret).await?),
        _ => None,
    };
    if !ctx.want_json {
        return Ok(setup_page(
            ctx,
            &user,
            &FormErrors::default(),
            Some((method, a.as_ref())),
        ));
    }
    let mut p = Map::new();
    p.insert("tf_state".into(), json!(sf::VALIDATING_PROFILE));
    p.insert("tf_primary_method".into(), json!(method));
    p.insert("tf_method".into(), json!(method));
    let token =
        authenticated.then(|| tf::state_token(st, &user, (method, &secret, phone.as_deref())));
    p.insert("tf_state_token".into(), json!(token));
    if let Some(a) = a {
        p.insert("tf_authr_uri".into(), json!(a.uri));
        p.insert("tf_authr_key".into(), json!(a.key));
        p.insert("tf_authr_b32key".into(), json!(a.b32));
        p.insert("tf_authr_issuer".into(), json!(factory.issuer()));
        p.insert("tf_authr_username".into(), json!(a.username));
    }
    Ok(json_ok(ctx, p, None))
}

/// Reads the `code` field into `errors` (a missing code is an invalid one).
pub(crate) fn code_field(input: &FormInput, errors: &mut FormErrors) -> String {
    match input.code("code") {
        Ok(Some(c)) if !c.is_empty() => c,
        Ok(_) => {
            errors.field("code", msg::TWO_FACTOR_INVALID_TOKEN);
            String::new()
        }
        Err(_) => {
            errors.field("code", msg::API_ERROR);
            String::new()
        }
    }
}

/// `POST /tf-setup/<state_token>`: validates the code of a setup started by a signed-in
/// user (no session needed) and stores the method.
#[rocket::post("/<token>", data = "<input>")]
pub async fn setup_validate(
    ctx: SecurityCtx<'_>,
    who: Authed,
    token: &str,
    input: FormInput,
) -> Reply {
    let mut user = std::sync::Arc::unwrap_or_clone(who.0.user);
    setup_with_token(&ctx, &mut user, token, &input)
        .await
        .unwrap_or_else(|e| internal_error(ctx.state, ctx.want_json, ctx.locale, &e))
}

async fn setup_with_token(
    ctx: &SecurityCtx<'_>,
    user: &mut User,
    token: &str,
    input: &FormInput,
) -> crate::Result<Reply> {
    let st = ctx.state;
    let mut errors = FormErrors::default();
    csrf(ctx, input, &mut errors);
    let code = code_field(input, &mut errors);
    let setup = match tf::read_state_token(st, user, token) {
        Ok(s) => s,
        Err(TokenProblem::Expired) => {
            let within = within_text(
                &st.catalog,
                ctx.locale,
                st.config.two_factor_setup_within as u64,
            );
            let m = ctx.t(msg::two_factor_setup_expired(&within));
            return Ok(errors_reply(st, Status::BadRequest, &[&m], ctx.locale));
        }
        Err(TokenProblem::Invalid) => {
            return Ok(errors_reply(
                st,
                Status::BadRequest,
                &[msg::API_ERROR],
                ctx.locale,
            ))
        }
    };
    if errors.is_empty()
        && sf::check_code(st, user, &setup.secret, &setup.method, &code, false).await?
            != CodeCheck::Accepted
    {
        errors.field("code", msg::TWO_FACTOR_INVALID_TOKEN);
    }
    if !errors.is_empty() {
        return Ok(form_error_reply(st, &errors, ctx.locale));
    }
    tf::set_method(
        st,
        user,
        &setup.method,
        &setup.secret,
        setup.phone.as_deref(),
    )
    .await?;
    if !ctx.want_json {
        let cfg = &st.config;
        let to = cfg
            .two_factor_post_setup_view
            .clone()
            .unwrap_or_else(|| cfg.url(&cfg.two_factor_setup_url));
        return Ok(flash_redirect(
            to,
            "success",
            Text::new(msg::TWO_FACTOR_CHANGE_METHOD_SUCCESSFUL),
        ));
    }
    let mut p = Map::new();
    p.insert("tf_method".into(), json!(setup.method));
    p.insert("tf_primary_method".into(), json!(setup.method));
    p.insert("tf_phone".into(), json!(setup.phone));
    Ok(json_ok(ctx, p, None))
}
