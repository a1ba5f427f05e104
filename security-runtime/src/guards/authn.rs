//! Who is calling: token, session (or remember cookie) and HTTP Basic authentication,
//! each at most once per request, and freshness.

use std::borrow::Cow;
use std::sync::Arc;

use base64::Engine;
use rocket::request::Request;

use super::local::GuardLocal;
use super::requirement::Mechanism;
use crate::auth::{self, Credentials, TokenCheck};
use crate::csrf;
use crate::datastore::CacheCheck;
use crate::model::User;
use crate::session::{CsrfCookie, Session};
use crate::state::SecurityState;

/// A successful authentication of this request.
#[derive(Debug, Clone)]
pub struct Authn {
    /// The user (shared with the auth cache: not copied per request).
    pub user: Arc<User>,
    /// How the user authenticated.
    pub via: Mechanism,
    /// Primary-authenticated-at (from session or token).
    pub paa: Option<f64>,
}

/// What one mechanism found: someone, no one, or an unavailable store.
pub(crate) type Loaded = Result<Option<Authn>, ()>;

pub(crate) fn state<'r>(req: &'r Request<'_>) -> Option<&'r SecurityState> {
    req.rocket().state::<SecurityState>()
}

/// The auth token of a request: query key wins over header, as Flask-Security; with
/// `token_in_query = false` a query token is not read (tokens in URLs end up in logs,
/// browser history and `Referer` headers), so such a request is unauthenticated.
fn request_token<'r>(req: &'r Request<'_>, st: &SecurityState) -> Option<Cow<'r, str>> {
    if st.config.token_in_query {
        if let Some(Ok(v)) = req.query_value::<String>(&st.config.token_authentication_key) {
            return Some(Cow::Owned(v));
        }
    } else if req
        .query_value::<&str>(&st.config.token_authentication_key)
        .is_some()
    {
        return None;
    }
    crate::headers::first(req.headers(), &st.config.token_authentication_header).map(Cow::Borrowed)
}

async fn load_token(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let Some(token) = request_token(req, st) else {
        return Ok(None);
    };
    let lookup = auth::Lookup::for_method(req.method(), req.local_cache(CacheCheck::new));
    match auth::check_auth_token_as(st, &token, lookup).await {
        Ok(TokenCheck::Valid(user, paa)) => Ok(Some(Authn {
            user,
            via: Mechanism::Token,
            paa,
        })),
        Ok(_) => Ok(None),
        Err(e) => {
            rocket::warn!("token authentication: datastore error: {e}");
            Err(())
        }
    }
}

async fn load_session(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let cfg = &st.config;
    let session = Session::of(req, &*st.sessions).await;
    if session.unavailable() {
        return Err(());
    }
    let jar = session.jar();
    let lookup = auth::Lookup::for_method(req.method(), req.local_cache(CacheCheck::new));
    if let Some((uid, paa)) = session.read(|d| d.user_id.clone().map(|uid| (uid, d.fs_paa))) {
        return match lookup
            .find(st, &crate::datastore::UserQuery::FsUniquifier(uid))
            .await
        {
            Ok(Some(user)) if user.active => Ok(Some(Authn {
                paa,
                user,
                via: Mechanism::Session,
            })),
            Ok(_) => {
                // Rotated uniquifier or deactivated: the session is dead.
                let mut data = session.get();
                data.user_id = None;
                data.fs_paa = None;
                data.fs_gexp = None;
                session.set(data);
                Ok(None)
            }
            Err(e) => {
                rocket::warn!("session authentication: datastore error: {e}");
                Err(())
            }
        };
    }
    if jar.get(&cfg.remember_cookie_name).is_none() {
        return Ok(None);
    }
    let uid = match session.recall(cfg, st.now()).await {
        Ok(Some(uid)) => uid,
        Ok(None) => return Ok(None),
        Err(e) => {
            rocket::warn!("remember-me authentication: session store error: {e}");
            return Err(());
        }
    };
    match lookup
        .find(st, &crate::datastore::UserQuery::FsUniquifier(uid))
        .await
    {
        Ok(Some(user)) if user.active => {
            // Flask-Login restores the session from the remember cookie; it is not fresh.
            let mut data = session.get();
            data.user_id = Some(user.fs_uniquifier.clone());
            data.fs_paa = None;
            data.fs_cc = Some(CsrfCookie::Set);
            data.authn_via = Some("remember".into());
            csrf::ensure_secret(&mut data);
            session.set(data);
            Ok(Some(Authn {
                user,
                via: Mechanism::Session,
                paa: None,
            }))
        }
        Ok(_) => {
            session.forget(cfg);
            Ok(None)
        }
        Err(e) => {
            rocket::warn!("remember-me authentication: datastore error: {e}");
            Err(())
        }
    }
}

/// The client's address: the peer, or behind a trusted proxy its `X-Forwarded-For`.
pub(crate) fn client(req: &Request<'_>, st: &SecurityState) -> Option<std::net::IpAddr> {
    let peer = req.remote().map(|a| a.ip());
    let forwarded = req.headers().get_one("X-Forwarded-For");
    crate::throttle::client_address(&st.config, peer, forwarded)
}

/// Parses `Authorization: Basic ...` into (identity, password).
pub(crate) fn parse_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, pw) = text.split_once(':')?;
    Some((id.to_owned(), pw.to_owned()))
}

async fn load_basic(req: &Request<'_>, st: &SecurityState) -> Loaded {
    let Some((identity, password)) = req.headers().get_one("Authorization").and_then(parse_basic)
    else {
        return Ok(None);
    };
    if password.chars().count() > 128 {
        return Ok(None);
    }
    let (mut user, rehashed) =
        match auth::verify_credentials(st, &identity, &password, "basic", client(req, st)).await {
            Ok(Credentials::Verified { user, rehashed }) => (user, rehashed),
            Ok(_) => return Ok(None),
            Err(e) => {
                rocket::warn!("basic authentication: {e}");
                return Err(());
            }
        };
    // A password alone is one factor: a user who signs in with two gets no Basic access
    // (Flask-Security lets it through; a client following its protocol never relies on it).
    if !user.active {
        return Ok(None);
    }
    match crate::second_factor::required_for(st, &user).await {
        Ok(false) => {}
        Ok(true) => return Ok(None),
        Err(e) => {
            rocket::warn!("basic authentication: {e}");
            return Err(());
        }
    }
    if rehashed {
        if let Err(e) = st.datastore.put_user(&mut user).await {
            rocket::warn!("basic authentication: rehash not stored: {e}");
        }
    }
    Ok(Some(Authn {
        user: Arc::new(*user),
        via: Mechanism::Basic,
        paa: None,
    }))
}

/// Authenticates the request with one mechanism (cached per request).
pub(crate) async fn authenticate(req: &Request<'_>, mechanism: Mechanism) -> Loaded {
    let Some(st) = state(req) else {
        return Err(());
    };
    GuardLocal::of(req)
        .found(mechanism)
        .get_or_init(|| async {
            match mechanism {
                Mechanism::Token => load_token(req, st).await,
                Mechanism::Session => load_session(req, st).await,
                Mechanism::Basic => load_basic(req, st).await,
            }
        })
        .await
        .clone()
}

/// Flask-Login's `current_user`: token, then session.
pub(crate) async fn current_user(req: &Request<'_>) -> Loaded {
    if let Some(a) = GuardLocal::of(req).route_auth() {
        return Ok(Some(a));
    }
    for m in [Mechanism::Token, Mechanism::Session] {
        if let Some(a) = authenticate(req, m).await? {
            return Ok(Some(a));
        }
    }
    Ok(None)
}

/// Freshness check, updating the grace expiry in the session.
///
/// Parity: `check_and_update_authn_fresh`.
pub(crate) async fn check_fresh(
    req: &Request<'_>,
    st: &SecurityState,
    a: &Authn,
    within: i64,
    grace: i64,
) -> bool {
    if a.via == Mechanism::Basic || within < 0 {
        return true;
    }
    let now = st.now();
    let grace_ts = (now + (grace * 60) as f64) as i64;
    let session = Session::of(req, &*st.sessions).await;
    let data = session.get();
    let from_session = a.via == Mechanism::Session;
    // Within the grace period (session only): fresh, and the grace moves on.
    let in_grace = from_session && data.fs_gexp.is_some_and(|g| now < g as f64);
    let paa = match a.via {
        Mechanism::Session => data.fs_paa,
        Mechanism::Token if st.config.freshness_allow_auth_token => a.paa,
        _ => None,
    };
    let fresh =
        in_grace || (within != 0 && paa.is_some_and(|paa| now - (within * 60) as f64 <= paa));
    // A session check starts (or extends) the grace period, fresh or not when
    // `within` is 0, as Flask-Security does.
    if from_session && (fresh || within == 0) {
        session.update(|d| d.fs_gexp = Some(grace_ts));
    }
    fresh
}
