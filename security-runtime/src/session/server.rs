//! [`ServerStore`]: sessions and remember-me series kept on the server (SQL or Redis,
//! behind [`SessionBackend`]), so that logout ends a session on every instance.
//!
//! Beyond Flask-Security, whose session is a signed cookie that stays good after logout.
//! A signed-in session is stored under a random 256-bit id; the private session cookie
//! holds `sid:<id>`, and the store holds the id's SHA-256 only. A session without a
//! signed-in user (the CSRF secret of a login form, a second factor still to prove)
//! stays in the cookie as with [`CookieStore`], so anonymous visitors add no rows.
//!
//! The remember-me cookie holds `<series>:<token>`; the store holds both as digests. A
//! token is replaced by a new one each time it signs in; the one it replaced stays good
//! for `remember_rotation_grace` seconds, for requests the browser sent alongside. The
//! replacement is stored at the end of the request, and only if the response carries the
//! new cookie (an error page built by a catcher loses it), so that a browser is never
//! left holding a token the store has retired.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use base64::Engine;
use rand::RngCore;
use rocket::http::{Cookie, CookieJar};

use super::sent::{Sent, SentIds, SessionId, ID_PREFIX};
use super::{CookieStore, Flushed, Recalled, Rotation, SessionData, SessionKeys, SessionStore};
use crate::config::{SecurityConfig, SessionStoreKind};
use crate::datastore::{
    CacheCheck, NewSeries, RememberUse, SessionBackend, StoredSession, UserDatastore,
};
use crate::hashing::sha256_hex;
use crate::state::Clock;

/// How often expired rows are purged (seconds).
const PURGE_EVERY: i64 = 600;

/// Sessions of signed-in users in a [`SessionBackend`], with idle and absolute lifetimes.
pub struct ServerStore {
    backend: Arc<dyn SessionBackend>,
    cookie: CookieStore,
    ids: SentIds,
    idle: i64,
    lifetime: i64,
    touch: i64,
    grace: i64,
    clock: Clock,
    last_purge: AtomicI64,
}

impl ServerStore {
    /// The store the configuration describes (`session_*`), over `backend`.
    pub fn new(cfg: &SecurityConfig, backend: Arc<dyn SessionBackend>, clock: Clock) -> Self {
        ServerStore {
            backend,
            cookie: CookieStore::new(cfg),
            ids: SentIds::new(),
            idle: cfg.session_idle_timeout,
            lifetime: cfg.session_lifetime,
            touch: cfg.session_touch_interval,
            grace: cfg.remember_rotation_grace,
            clock,
            last_purge: AtomicI64::new(0),
        }
    }

    fn now(&self) -> i64 {
        (self.clock)().floor() as i64
    }

    fn live(&self, s: &StoredSession, now: i64) -> bool {
        now - s.last_seen <= self.idle && now - s.created <= self.lifetime
    }

    /// Opens the stored session `id`; `None` when it is gone or over a lifetime.
    async fn open(
        &self,
        id: &SessionId,
        check: &CacheCheck,
    ) -> crate::Result<Option<Arc<SessionData>>> {
        let key = &id.key;
        let Some(stored) = self.backend.load_session_within(key, check).await? else {
            return Ok(None);
        };
        let now = self.now();
        if !self.live(&stored, now) {
            self.backend.delete_session(key).await?;
            return Ok(None);
        }
        if now - stored.last_seen >= self.touch {
            self.backend.touch_session(key, now).await?;
        }
        self.purge_now_and_then(now).await;
        Ok(super::memo::parse(&stored.data))
    }

    /// Removes expired rows at most every [`PURGE_EVERY`] seconds (per instance).
    async fn purge_now_and_then(&self, now: i64) {
        let last = self.last_purge.load(Ordering::Relaxed);
        if now - last < PURGE_EVERY
            || self
                .last_purge
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let (idle, old) = (now - self.idle, now - self.lifetime);
        if let Err(e) = self.backend.purge(idle, old, now).await {
            rocket::warn!("session store: purging expired sessions failed: {e}");
        }
    }

    /// Keeps `data` under a new id (signed in) or in the cookie (anonymous).
    fn place(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys, new: bool) {
        if data.user_id.is_none() {
            keys.current = None;
            self.cookie.write(jar, data);
            return;
        }
        if new || keys.current.is_none() {
            let id = random_id();
            self.cookie.write_raw(jar, format!("{ID_PREFIX}{id}"));
            keys.current = Some(id);
        }
    }
}

#[rocket::async_trait]
impl SessionStore for ServerStore {
    async fn load(&self, jar: &CookieJar<'_>) -> crate::Result<(SessionData, Option<String>)> {
        let (data, id) = self.load_within(jar, &CacheCheck::new()).await?;
        Ok((Arc::unwrap_or_clone(data), id))
    }

    async fn load_within(
        &self,
        jar: &CookieJar<'_>,
        check: &CacheCheck,
    ) -> crate::Result<(Arc<SessionData>, Option<String>)> {
        let id = match self.ids.read(&self.cookie, jar) {
            Sent::Nothing => return Ok((super::empty(), None)),
            Sent::Id(id) => id,
            Sent::Data(json) => {
                let data = CookieStore::parse(&json);
                if data.user_id.is_some() {
                    // A signed-in session in the cookie (written by the cookie store):
                    // with sessions on the server, it names no stored session and signs
                    // no one in.
                    self.drop_cookie(jar);
                    return Ok((super::empty(), None));
                }
                return Ok((Arc::new(data), None));
            }
        };
        Ok(match self.open(&id, check).await? {
            Some(data) => (data, Some(String::from(&*id.id))),
            None => {
                // Ended, expired or unknown: the id is worth nothing, and is not reused.
                self.drop_cookie(jar);
                (super::empty(), None)
            }
        })
    }

    fn serve(&self, key: &rocket::config::SecretKey) {
        self.ids.serve(key);
    }

    fn cookie_decryptions(&self) -> Option<u64> {
        Some(self.ids.decrypted())
    }

    fn save(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys) {
        self.place(jar, data, keys, false);
    }

    fn renew(&self, jar: &CookieJar<'_>, data: &SessionData, keys: &mut SessionKeys) {
        self.place(jar, data, keys, true);
    }

    async fn flush(
        &self,
        _jar: &CookieJar<'_>,
        data: &SessionData,
        keys: &SessionKeys,
    ) -> crate::Result<Flushed> {
        let now = self.now();
        if let Some(old) = keys
            .loaded
            .as_deref()
            .filter(|o| keys.current.as_deref() != Some(o))
        {
            self.backend.delete_session(&sha256_hex(old)).await?;
        }
        if let Some(id) = &keys.current {
            let json = serde_json::to_string(data)
                .map_err(|e| crate::SecurityError::Invalid(e.to_string()))?;
            let user = data.user_id.as_deref();
            if keys.loaded.as_ref() == Some(id) {
                // Update only: a session ended meanwhile (a parallel logout) stays ended.
                self.backend
                    .update_session(&sha256_hex(id), user, &json, now)
                    .await?;
            } else {
                let stored = StoredSession {
                    user: user.map(str::to_owned),
                    data: json,
                    created: now,
                    last_seen: now,
                };
                self.backend
                    .insert_session(&sha256_hex(id), &stored)
                    .await?;
            }
        }
        let mut flushed = Flushed::default();
        if let Some(r) = &keys.rotation {
            // Judged at recall; here only replaced if no parallel request did it first
            // (then the browser keeps the token it sent, or gets the winner's).
            let rotated = self
                .backend
                .rotate_series(&r.series, &r.token, &r.next, now)
                .await?;
            flushed.stale_remember_cookie = !rotated;
        }
        if let Some(series) = &keys.drop_series {
            self.backend.delete_series(series).await?;
        }
        if let Some((series, new)) = &keys.new_series {
            self.backend.insert_series(series, new).await?;
        }
        Ok(flushed)
    }

    fn remember(
        &self,
        jar: &CookieJar<'_>,
        cfg: &SecurityConfig,
        user: &str,
        now: f64,
        keys: &mut SessionKeys,
    ) {
        keys.rotation = None;
        let (series, token) = (random_id(), random_id());
        let now = now.floor() as i64;
        let new = NewSeries {
            user: user.to_owned(),
            token: sha256_hex(&token),
            now,
            expires: now + cfg.remember_cookie_duration,
        };
        jar.add_private(super::cookie::remember_cookie(
            cfg,
            format!("{series}:{token}"),
        ));
        keys.new_series = Some((sha256_hex(&series), new));
    }

    async fn recall(
        &self,
        jar: &CookieJar<'_>,
        cfg: &SecurityConfig,
        now: f64,
    ) -> crate::Result<Option<Recalled>> {
        let Some((raw_series, token)) = remember_parts(jar, cfg) else {
            super::clear_remember(jar, cfg);
            return Ok(None);
        };
        let (series, token) = (sha256_hex(&raw_series), sha256_hex(&token));
        let now = now.floor() as i64;
        let used = self
            .backend
            .check_series(&series, &token, now, self.grace)
            .await?;
        Ok(match used {
            RememberUse::Current(user) => {
                let next = random_id();
                let value = format!("{raw_series}:{next}");
                jar.add_private(super::cookie::remember_cookie(cfg, value));
                let next = sha256_hex(&next);
                let rotation = Some(Rotation {
                    series,
                    token,
                    next,
                });
                Some(Recalled { user, rotation })
            }
            RememberUse::Concurrent(user) => Some(Recalled {
                user,
                rotation: None,
            }),
            RememberUse::Refused => {
                super::clear_remember(jar, cfg);
                None
            }
        })
    }

    fn forget(&self, jar: &CookieJar<'_>, cfg: &SecurityConfig, keys: &mut SessionKeys) {
        // The series ends: a token replaced earlier in the request stays unreplaced, and
        // the remember cookie this response sets is no longer the replacement's.
        keys.rotation = None;
        if let Some((series, _)) = remember_parts(jar, cfg) {
            keys.drop_series = Some(sha256_hex(&series));
        }
        super::clear_remember(jar, cfg);
    }
}

impl ServerStore {
    fn drop_cookie(&self, jar: &CookieJar<'_>) {
        jar.remove_private(Cookie::build(self.cookie.name().to_owned()).path("/"));
    }
}

/// The series and token of the browser's remember-me cookie.
fn remember_parts(jar: &CookieJar<'_>, cfg: &SecurityConfig) -> Option<(String, String)> {
    let c = jar.get_private(&cfg.remember_cookie_name)?;
    let (series, token) = c.value().split_once(':')?;
    Some((series.to_owned(), token.to_owned()))
}

/// A new random 256-bit id, URL-safe base64.
fn random_id() -> String {
    let mut b = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The session store the configuration names (`session_store`): the datastore's
/// backend, Redis, or the cookie.
pub async fn store_from_config(
    cfg: &SecurityConfig,
    datastore: &dyn UserDatastore,
    clock: Clock,
) -> Result<Arc<dyn SessionStore>, String> {
    let backend: Arc<dyn SessionBackend> = match cfg.session_store {
        SessionStoreKind::Cookie => return Ok(Arc::new(CookieStore::new(cfg))),
        SessionStoreKind::Sql => datastore.session_backend().ok_or(
            "`security.session_store = \"sql\"` needs a datastore that keeps sessions; \
             set `session_store = \"cookie\"` to keep them in the cookie",
        )?,
        SessionStoreKind::Redis => redis_backend(cfg).await?,
    };
    Ok(Arc::new(ServerStore::new(cfg, backend, clock)))
}

#[cfg(feature = "redis")]
async fn redis_backend(cfg: &SecurityConfig) -> Result<Arc<dyn SessionBackend>, String> {
    let url = cfg.session_redis_url.as_deref().unwrap_or_default();
    let keep = cfg.session_lifetime.max(cfg.remember_cookie_duration);
    let backend = super::RedisBackend::connect(url, cfg.session_idle_timeout, keep)
        .await
        .map_err(|e| format!("security configuration (session_redis_url): {e}"))?;
    Ok(Arc::new(backend))
}

#[cfg(not(feature = "redis"))]
async fn redis_backend(_cfg: &SecurityConfig) -> Result<Arc<dyn SessionBackend>, String> {
    Err("`security.session_store = \"redis\"` needs rocket-security's `redis` feature".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_256_bit_and_stored_only_as_digests() {
        let id = random_id();
        assert_eq!(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&id)
                .unwrap()
                .len(),
            32
        );
        assert_ne!(random_id(), id);
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
