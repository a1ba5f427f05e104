//! `POST /logout` (methods from `logout_methods`).
//!
//! Parity: `views.logout`: always succeeds, JSON `{}` or a redirect to `next` /
//! `post_logout_view`.

use rocket::http::Status;
use serde_json::json;

use super::SecurityCtx;
use crate::auth::logout_user;
use crate::redirect::post_action_redirect;
use crate::responses::{json_reply, Reply};

/// `POST /logout`.
#[rocket::post("/", data = "<input>")]
pub async fn logout(ctx: SecurityCtx<'_>, input: crate::input::FormInput) -> Reply {
    let st = ctx.state;
    if st.config.logout_csrf {
        let token = input.str("csrf_token").ok().flatten();
        if let Err(e) = ctx.check_csrf(token) {
            return if ctx.want_json {
                crate::responses::errors_reply(
                    st,
                    rocket::http::Status::BadRequest,
                    &[e.message()],
                    ctx.locale,
                )
            } else {
                crate::responses::Reply::new(
                    rocket::http::Status::BadRequest,
                    crate::responses::ReplyBody::Text(e.message().into()),
                )
            };
        }
    }
    let user_id = ctx.current.as_ref().map(|a| a.user.id);
    let partial = ctx.session().tf != crate::session::TwoFactorState::default();
    if ctx.current.is_some() || ctx.session().user_id.is_some() || partial {
        // A partial (two-factor) sign-in ends too, as Flask-Security's `tf_clean_session`.
        logout_user(st, &ctx.session, user_id);
    }
    if ctx.want_json {
        return json_reply(st, Status::Ok, json!({}));
    }
    let cfg = &st.config;
    Reply::redirect(post_action_redirect(
        cfg,
        &[ctx.next_query.as_deref()],
        &cfg.post_logout_view,
        ctx.host.as_deref(),
    ))
}

/// `GET /logout` (or any method not in `logout_methods`): 405, as Flask answers a route
/// that exists for other methods. Ranked low so an application route wins.
#[rocket::get("/", rank = 100)]
pub fn logout_not_allowed() -> rocket::http::Status {
    rocket::http::Status::MethodNotAllowed
}
