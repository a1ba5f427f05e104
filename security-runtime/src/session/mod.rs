//! The session: what it holds (typed), where it is kept ([`SessionStore`]), and the
//! request's view of it ([`Session`]).
//!
//! Parity: Flask's session as Flask-Security uses it (`_user_id` = `fs_uniquifier`,
//! `fs_paa`, `fs_gexp`, `fs_cc`, the CSRF secret) and Flask-Login's `remember_token`.
//! Nothing outside this module reads or writes a session cookie.

use std::sync::{Arc, Mutex};

use rocket::http::CookieJar;
use rocket::request::Request;
use serde::{Deserialize, Serialize};

use crate::config::SecurityConfig;

mod cookie;
mod memo;
#[cfg(feature = "redis")]
mod redis;
mod sent;
mod server;

pub use cookie::CookieStore;
pub(crate) use cookie::{
    clear_remember, consume_flash, csrf_cookie, flash_cookie, read_flash, remembered, set_remember,
};
#[cfg(feature = "redis")]
pub use redis::RedisBackend;
pub use server::{store_from_config, ServerStore};

/// What the session cookie holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct SessionData {
    /// The logged-in user's `fs_uniquifier`.
    #[serde(rename = "_user_id", default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Primary-authenticated-at, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_paa: Option<f64>,
    /// Freshness grace expiry, epoch seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_gexp: Option<i64>,
    /// What the CSRF cookie should do on this response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs_cc: Option<CsrfCookie>,
    /// Raw CSRF secret (hex); the wire token is a signed, timed form of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub csrf: Option<String>,
    /// How the session was established (`password`, `remember`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authn_via: Option<String>,
    /// Two-factor sign-in or setup in progress (see [`TwoFactorState`]).
    #[serde(default, flatten)]
    pub tf: TwoFactorState,
}

/// The session keys of a two-factor step in progress; all empty when none is.
///
/// Parity: Flask-Security's `tf_user_id`, `tf_state`, `tf_primary_method`,
/// `tf_totp_secret`, `tf_remember_login`, `tf_select`.
#[derive(Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct TwoFactorState {
    /// The `fs_uniquifier` of the user who proved a first factor (not signed in yet).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_user_id: Option<String>,
    /// `setup_from_login`, `validating_profile` or `ready`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_state: Option<String>,
    /// The method being set up or validated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_primary_method: Option<String>,
    /// The encrypted secret being set up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_totp_secret: Option<String>,
    /// The phone number being set up (sms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_phone_number: Option<String>,
    /// Remember-me was asked for at the first factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_remember_login: Option<bool>,
    /// More than one method is set up: the user chooses one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_select: Option<bool>,
    /// How the first factor was proven; set only for a partial sign-in (a signed-in user
    /// changing methods has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_authn_via: Option<String>,
    /// When this step began (epoch seconds); older than `two_factor_setup_within`, it is
    /// void.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tf_started: Option<i64>,
}

/// Every key but the secret being set up.
impl std::fmt::Debug for TwoFactorState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TwoFactorState")
            .field("tf_user_id", &self.tf_user_id)
            .field("tf_state", &self.tf_state)
            .field("tf_primary_method", &self.tf_primary_method)
            .field(
                "tf_totp_secret",
                &self.tf_totp_secret.as_ref().map(|_| "***"),
            )
            .field("tf_phone_number", &self.tf_phone_number)
            .field("tf_remember_login", &self.tf_remember_login)
            .field("tf_select", &self.tf_select)
            .field("tf_authn_via", &self.tf_authn_via)
            .field("tf_started", &self.tf_started)
            .finish()
    }
}

/// The empty session, one shared copy: a request without a session allocates nothing
/// for it.
pub(crate) fn empty() -> Arc<SessionData> {
    static EMPTY: std::sync::LazyLock<Arc<SessionData>> = std::sync::LazyLock::new(Arc::default);
    Arc::clone(&EMPTY)
}

/// The CSRF-cookie state a session carries (`fs_cc`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CsrfCookie {
    /// Send the CSRF cookie (after a sign-in or `GET /login`).
    Set,
    /// Remove it (after a sign-out).
    Clear,
}

/// Which stored session a request reads and writes, and the remember-me series it
/// starts or ends: what a server-side store writes at [`SessionStore::flush`]. The
/// cookie store uses none of it.
#[derive(Debug, Clone, Default)]
pub struct SessionKeys {
    /// The id of the stored session the request arrived with, when it opened one.
    pub loaded: Option<String>,
    /// The id the request's session is kept under now (`None`: not stored).
    pub current: Option<String>,
    /// A remember-me series to store: its digest and first token.
    pub new_series: Option<(String, crate::datastore::NewSeries)>,
    /// The digest of a remember-me series to end.
    pub drop_series: Option<String>,
    /// A remember-me token to replace, if the response carries its successor.
    pub rotation: Option<Rotation>,
}

/// A remember-me token replaced on use (digests). It is stored at
/// [`SessionStore::flush`], and only when the response carries the new cookie: a
/// response that loses it (an error page) leaves the browser's token current.
#[derive(Debug, Clone)]
pub struct Rotation {
    /// The series.
    pub series: String,
    /// The token the browser presented.
    pub token: String,
    /// The token its new cookie holds.
    pub next: String,
}

/// Whom a remember-me cookie signs in, and the token rotation that goes with it.
#[derive(Debug, Clone)]
pub struct Recalled {
    /// The user's `fs_uniquifier`.
    pub user: String,
    /// The rotation to store at the end of the request, if any.
    pub rotation: Option<Rotation>,
}

/// What [`SessionStore::flush`] found out too late to change in the jar.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flushed {
    /// The remember-me cookie the response sets holds a token the store did not take
    /// (a parallel request rotated first): the response must not set it.
    pub stale_remember_cookie: bool,
}

/// Where sessions are kept.
///
/// `load` is async so that a server-side store can read its row; `save` is called when
/// the request changes its session, while the response can still set cookies (a
/// cookie store writes there; a server-side store sets its id cookie there, and notes
/// the id in [`SessionKeys`], because the jar no longer shows cookies set during the
/// request by the time the response is sent); `flush` runs once at the end of a request
/// that changed its session (a server-side store writes its rows there).
///
/// The remember-me methods default to Flask-Login's way: a cookie that names the user
/// until it expires, which logout removes from the browser only.
#[rocket::async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// The session a request carries, and the id of the stored session it opened;
    /// empty when there is none or it cannot be read. An error: the store cannot be
    /// reached (the request then reads as signed out, and guards answer 503).
    async fn load(&self, jar: &CookieJar<'_>) -> crate::Result<(SessionData, Option<String>)>;
    /// [`SessionStore::load`] for one request, whose lookups share `check` (see
    /// [`crate::CacheCheck`]), as a shared value (a store that keeps parsed sessions hands
    /// out its copy); the default ignores `check` and calls `load`: a store whose `load`
    /// calls this one must override both.
    async fn load_within(
        &self,
        jar: &CookieJar<'_>,
        check: &crate::datastore::CacheCheck,
    ) -> crate::Result<(Arc<SessionData>, Option<String>)> {
        let _ = check;
        let (data, id) = self.load(jar).await?;
        Ok((Arc::new(data), id))
    }
    /// Called at lift-off of each application the store serves, with the secret key
    /// that encrypts its cookies. The default does nothing.
    fn serve(&self, key: &rocket::config::SecretKey) {
        let _ = key;
    }
    /// Session cookie texts the store has decrypted, for watching a store that decrypts
    /// each text once ([`ServerStore`]); `None` (the default) when it does not count.
    fn cookie_decryptions(&self) -> Option<u64> {
        None
    }
    /// Keeps `data` as the request's session; an empty one ends it.
    fn save(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys);
    /// Starts a new session holding `data` (sign-in and sign-out): a store that keys
    /// sessions by an id must issue a new id here and drop the old session, so an id
    /// known before (planted, or copied) is worth nothing after.
    fn renew(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys);
    /// Makes the request's last `save` durable (and its remember-me changes).
    async fn flush(
        &self,
        _jar: &CookieJar<'_>,
        _data: &SessionData,
        _keys: &SessionKeys,
    ) -> crate::Result<Flushed> {
        Ok(Flushed::default())
    }
    /// Signs `user` (an `fs_uniquifier`) in on this browser for `remember_cookie_duration`.
    fn remember(
        &self,
        jar: &CookieJar<'_>,
        cfg: &SecurityConfig,
        user: &str,
        now: f64,
        _keys: &mut SessionKeys,
    ) {
        set_remember(jar, cfg, user, now);
    }
    /// The user a valid remember-me cookie signs in.
    async fn recall(
        &self,
        jar: &CookieJar<'_>,
        cfg: &SecurityConfig,
        now: f64,
    ) -> crate::Result<Option<Recalled>> {
        Ok(remembered(jar, cfg, now).map(|user| Recalled {
            user,
            rotation: None,
        }))
    }
    /// Ends this browser's remember-me sign-in.
    fn forget(&self, jar: &CookieJar<'_>, cfg: &SecurityConfig, _keys: &mut SessionKeys) {
        clear_remember(jar, cfg);
    }
}

/// The request's session as it stands now (Rocket's jar only shows the cookies that
/// arrived, so changes made during the request are kept here). Request-local.
#[derive(Debug, Default)]
pub struct SessionCell(Mutex<CellState>);

#[derive(Debug, Default)]
struct CellState {
    /// Shared with the store's parsed copy until the request changes it.
    data: Option<Arc<SessionData>>,
    keys: SessionKeys,
    changed: bool,
    unavailable: bool,
}

/// A request's session: loaded once from the store, then read and changed here. As a
/// request guard it gives a handler the session to pass to [`crate::complete`] (signing
/// in a user a first factor proved) or [`crate::logout_user`].
#[derive(Clone, Copy)]
pub struct Session<'r> {
    cell: &'r SessionCell,
    jar: &'r CookieJar<'r>,
    store: &'r dyn SessionStore,
}

impl<'r> Session<'r> {
    /// The session of `req`, loaded from `store` on first use.
    pub async fn of(req: &'r Request<'_>, store: &'r dyn SessionStore) -> Session<'r> {
        let cell = req.local_cache(SessionCell::default);
        let jar = req.cookies();
        let loaded = cell.0.lock().map(|g| g.data.is_some()).unwrap_or(true);
        if !loaded {
            let check = req.local_cache(crate::datastore::CacheCheck::new);
            let loaded = store.load_within(jar, check).await;
            if let Err(e) = &loaded {
                rocket::warn!("session store: reading a session failed: {e}");
            }
            if let Ok(mut g) = cell.0.lock() {
                if g.data.is_none() {
                    g.unavailable = loaded.is_err();
                    let (data, id) = loaded.unwrap_or_else(|_| (empty(), None));
                    g.data = Some(data);
                    g.keys.loaded.clone_from(&id);
                    g.keys.current = id;
                }
            }
        }
        Session { cell, jar, store }
    }

    /// The session of `req` if the request has already read it (no store access).
    pub fn loaded(req: &'r Request<'_>, store: &'r dyn SessionStore) -> Option<Session<'r>> {
        let cell = req.local_cache(SessionCell::default);
        let loaded = cell.0.lock().map(|g| g.data.is_some()).unwrap_or(false);
        loaded.then(|| Session {
            cell,
            jar: req.cookies(),
            store,
        })
    }

    /// True when the store could not be read: the session reads as empty, but whether
    /// someone is signed in is unknown.
    pub fn unavailable(&self) -> bool {
        self.cell.0.lock().map(|g| g.unavailable).unwrap_or(true)
    }

    /// The session's data.
    pub fn get(&self) -> SessionData {
        self.cell
            .0
            .lock()
            .ok()
            .and_then(|g| g.data.as_deref().cloned())
            .unwrap_or_default()
    }

    /// Reads the session's data in place, without the copy [`get`](Self::get) makes.
    /// `f` must not use this session: its lock is held.
    pub(crate) fn read<R>(&self, f: impl FnOnce(&SessionData) -> R) -> R {
        let guard = self.cell.0.lock().ok();
        match guard.as_ref().and_then(|g| g.data.as_deref()) {
            Some(data) => f(data),
            None => f(&SessionData::default()),
        }
    }

    /// Replaces the session's data (empty ends the session).
    pub fn set(&self, data: SessionData) {
        if let Ok(mut g) = self.cell.0.lock() {
            self.store.save(self.jar, &data, &mut g.keys);
            g.data = Some(Arc::new(data));
            g.changed = true;
        }
    }

    /// Starts a new session holding `data` (see [`SessionStore::renew`]).
    pub fn renew(&self, data: SessionData) {
        if let Ok(mut g) = self.cell.0.lock() {
            self.store.renew(self.jar, &data, &mut g.keys);
            g.data = Some(Arc::new(data));
            g.changed = true;
        }
    }

    /// Keeps `user` (an `fs_uniquifier`) signed in on this browser after the session
    /// ends (remember-me), replacing any earlier remember-me sign-in of the browser.
    pub fn remember(&self, cfg: &SecurityConfig, user: &str, now: f64) {
        if let Ok(mut g) = self.cell.0.lock() {
            self.store.forget(self.jar, cfg, &mut g.keys);
            self.store.remember(self.jar, cfg, user, now, &mut g.keys);
            g.changed = true;
        }
    }

    /// Ends this browser's remember-me sign-in.
    pub fn forget(&self, cfg: &SecurityConfig) {
        if let Ok(mut g) = self.cell.0.lock() {
            self.store.forget(self.jar, cfg, &mut g.keys);
            g.changed = true;
        }
    }

    /// The `fs_uniquifier` this browser's remember-me cookie signs in, if valid.
    pub async fn recall(&self, cfg: &SecurityConfig, now: f64) -> crate::Result<Option<String>> {
        let Some(recalled) = self.store.recall(self.jar, cfg, now).await? else {
            return Ok(None);
        };
        if let (Some(rotation), Ok(mut g)) = (recalled.rotation, self.cell.0.lock()) {
            g.keys.rotation = Some(rotation);
            g.changed = true;
        }
        Ok(Some(recalled.user))
    }

    /// Changes the session's data in place.
    pub fn update(&self, f: impl FnOnce(&mut SessionData)) {
        let mut data = self.get();
        f(&mut data);
        self.set(data);
    }

    /// The cookie jar the session's cookies travel in.
    pub fn jar(&self) -> &'r CookieJar<'r> {
        self.jar
    }

    /// Makes a changed session durable (once, at the end of the request).
    /// `remember_cookie_sent`: the response sets the remember-me cookie (a response built
    /// by an error catcher has lost the cookies set before it, and then no remember-me
    /// token is rotated).
    pub async fn flush(&self, remember_cookie_sent: bool) -> crate::Result<Flushed> {
        let pending = self.cell.0.lock().ok().and_then(|mut g| {
            std::mem::take(&mut g.changed).then(|| {
                let mut keys = g.keys.clone();
                if !remember_cookie_sent {
                    keys.rotation = None;
                }
                g.keys.new_series = None;
                g.keys.drop_series = None;
                g.keys.rotation = None;
                let keys_now = &mut g.keys;
                keys_now.loaded.clone_from(&keys_now.current);
                (keys, g.data.clone().unwrap_or_else(empty))
            })
        });
        if let Some((keys, data)) = pending {
            if self.unavailable() {
                // The session the request arrived with is unknown: a sign-out could not
                // end it, and must not answer as if it had.
                let why = "the session store could not be read".to_owned();
                return Err(crate::SecurityError::SessionStore(why));
            }
            return self.store.flush(self.jar, &data, &keys).await;
        }
        Ok(Flushed::default())
    }
}

#[rocket::async_trait]
impl<'r> rocket::request::FromRequest<'r> for Session<'r> {
    type Error = ();

    async fn from_request(req: &'r Request<'_>) -> rocket::request::Outcome<Self, ()> {
        match req.rocket().state::<crate::state::SecurityState>() {
            Some(st) => rocket::request::Outcome::Success(Session::of(req, &*st.sessions).await),
            None => {
                rocket::request::Outcome::Error((rocket::http::Status::InternalServerError, ()))
            }
        }
    }
}
