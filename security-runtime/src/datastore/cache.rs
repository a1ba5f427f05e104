//! The auth cache: users found by `fs_uniquifier` (sessions) and `fs_token_uniquifier`
//! (auth tokens), and server-side sessions by id digest; shared and bounded, each group
//! dropped whole on any change a guard could see.
//!
//! A generation counter keeps a lookup that raced a write from putting the old user
//! back: a lookup notes the generation before it reads the database and stores its
//! answer only if no invalidation happened since. Invalidation bumps the generation and
//! clears under a write lock that every store takes for reading, so a store lands either
//! before the clear (and is cleared) or after the bump (and is refused).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use quick_cache::sync::Cache;

use super::sessions::StoredSession;
use crate::model::User;

/// What a cached value was found by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// A user by `fs_uniquifier`: sessions and remember-me.
    Uniquifier = 0,
    /// A user by `fs_token_uniquifier`: auth tokens.
    Token = 1,
    /// A server-side session by the digest of its id.
    Session = 0x10,
}

impl Key {
    fn slot(self) -> usize {
        self as usize & 0xf
    }
}

/// The two groups, each dropped on its own: users and sessions.
pub(crate) struct Caches {
    /// Users, by both identities.
    pub(crate) users: AuthCache<Arc<User>>,
    /// Server-side sessions.
    pub(crate) sessions: AuthCache<Arc<StoredSession>>,
}

impl Caches {
    /// Empty groups of `capacity` entries per key kind.
    pub(crate) fn new(capacity: usize, serving: bool) -> Caches {
        Caches {
            users: AuthCache::new(capacity, 2, serving),
            sessions: AuthCache::new(capacity, 1, serving),
        }
    }

    /// Starts or stops serving both groups (see [`AuthCache::set_serving`]).
    pub(crate) fn set_serving(&self, on: bool) {
        self.users.set_serving(on);
        self.sessions.set_serving(on);
    }

    /// Drops each group whose change counter (users, sessions: rows 1 and 2 of
    /// `fs_auth_version`) moved from `was` to `now`; both when nothing was seen before.
    pub(crate) fn follow(&self, was: Option<(i64, i64)>, now: (i64, i64)) {
        if was.map(|w| w.0) != Some(now.0) {
            self.users.invalidate();
        }
        if was.map(|w| w.1) != Some(now.1) {
            self.sessions.invalidate();
        }
    }
}

/// One request's change check: the first cached lookup of a request brings the auth
/// cache up to date with what other processes committed (SQLite: the WAL index's
/// header, then `PRAGMA data_version` if it moved), and the request's later lookups (a
/// session's user after the session itself) rely on that instead of asking again. The
/// request then takes effect at its first check: a write committed before the request
/// started is still seen by every lookup in it, and a lookup made late in the request
/// (a handler opening the session) relies on the first check as well. Kept per request
/// (the guards keep one in Rocket's request-local cache): one kept longer would never
/// check again, and a new one for each lookup checks every time.
#[derive(Debug, Default)]
pub struct CacheCheck(AtomicU64);

/// Tells caches apart in a [`CacheCheck`] (0: none yet).
static NEXT_CACHE: AtomicU64 = AtomicU64::new(1);

impl CacheCheck {
    /// A check not made yet.
    pub fn new() -> CacheCheck {
        CacheCheck::default()
    }

    /// A new cache's id for [`CacheCheck::made`] and [`CacheCheck::record`].
    pub(crate) fn cache_id() -> u64 {
        NEXT_CACHE.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether the cache `id` was already brought up to date for this request.
    pub(crate) fn made(&self, id: u64) -> bool {
        self.0.load(Ordering::Acquire) == id
    }

    /// Notes that the cache `id` was brought up to date for this request.
    pub(crate) fn record(&self, id: u64) {
        self.0.store(id, Ordering::Release);
    }
}

/// What the cache did so far, for benchmarks and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that read the database (absent, or the cache not serving).
    pub misses: u64,
    /// Times the cache was dropped.
    pub invalidations: u64,
    /// Whether the cache answers lookups now (PostgreSQL: the notification channel is
    /// up and has been resynchronised).
    pub serving: bool,
    /// PostgreSQL: the backend process id of the notification listener while it is
    /// connected (`pg_stat_activity`, application `rocket-security-auth-cache`).
    pub listener_pid: Option<i32>,
    /// Server-side session loads answered from the cache.
    pub session_hits: u64,
    /// Server-side session loads that read the store.
    pub session_misses: u64,
    /// Times the session cache was dropped (whole or one session).
    pub session_invalidations: u64,
    /// Change checks made for other processes' writes (SQLite: one per request that
    /// reads the cache, see [`CacheCheck`]).
    pub checks: u64,
    /// SQLite: those of the checks answered by the WAL index's header alone, with
    /// nothing committed since the last check that asked SQLite.
    pub quick_checks: u64,
}

/// Values by key, with the generation that guards against stale stores.
pub(crate) struct AuthCache<V: Clone> {
    maps: Vec<Cache<String, V>>,
    generation: AtomicU64,
    gate: RwLock<()>,
    serving: AtomicBool,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl<V: Clone> AuthCache<V> {
    /// An empty cache holding up to `capacity` values for each of `kinds` key kinds.
    pub(crate) fn new(capacity: usize, kinds: usize, serving: bool) -> AuthCache<V> {
        let capacity = capacity.max(1);
        AuthCache {
            maps: (0..kinds).map(|_| Cache::new(capacity)).collect(),
            generation: AtomicU64::new(0),
            gate: RwLock::new(()),
            serving: AtomicBool::new(serving),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn map(&self, key: Key) -> &Cache<String, V> {
        &self.maps[key.slot()]
    }

    /// The cached value, when the cache is serving and holds one.
    pub(crate) fn get(&self, key: Key, id: &str) -> Option<V> {
        let found = if self.serving.load(Ordering::Acquire) {
            self.map(key).get(id)
        } else {
            None
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The generation to hand back to [`AuthCache::store`]; read before the database.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Stores what a lookup read, unless the cache was dropped since `seen` (or is not
    /// serving).
    pub(crate) fn store(&self, key: Key, id: &str, value: V, seen: u64) {
        let _gate = self.gate.read().unwrap_or_else(|e| e.into_inner());
        if self.serving.load(Ordering::Acquire) && self.generation() == seen {
            self.map(key).insert(id.to_owned(), value);
        }
    }

    /// Drops every cached value; a lookup in flight will not store what it read.
    pub(crate) fn invalidate(&self) {
        let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for m in &self.maps {
            m.clear();
        }
    }

    /// Drops one value; a lookup in flight (of any key) will not store what it read.
    pub(crate) fn invalidate_key(&self, key: Key, id: &str) {
        let _gate = self.gate.write().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        self.map(key).remove(id);
    }

    /// Starts or stops answering lookups; either way the cache starts empty, so what it
    /// serves after a resynchronisation was read after it.
    pub(crate) fn set_serving(&self, on: bool) {
        if !on {
            self.serving.store(false, Ordering::Release);
        }
        self.invalidate();
        if on {
            self.serving.store(true, Ordering::Release);
        }
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            invalidations: self.generation(),
            serving: self.serving.load(Ordering::Acquire),
            ..CacheStats::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(active: bool) -> Arc<User> {
        Arc::new(User {
            active,
            fs_uniquifier: "u1".into(),
            ..User::default()
        })
    }

    #[test]
    fn a_lookup_that_raced_an_invalidation_does_not_store_the_old_user() {
        let cache = AuthCache::<Arc<User>>::new(10, 2, true);
        let seen = cache.generation();
        // The lookup read the active user; a deactivation lands and invalidates.
        cache.invalidate();
        cache.store(Key::Uniquifier, "u1", user(true), seen);
        assert!(cache.get(Key::Uniquifier, "u1").is_none());
        // A lookup that started after the write stores what it read.
        let seen = cache.generation();
        cache.store(Key::Uniquifier, "u1", user(false), seen);
        let got = cache.get(Key::Uniquifier, "u1").expect("stored");
        assert!(!got.active);
        assert!(cache.get(Key::Token, "u1").is_none(), "kinds are apart");
        // One key dropped: the other stays, and a racing store is refused.
        cache.store(Key::Token, "t1", user(true), cache.generation());
        let seen = cache.generation();
        cache.invalidate_key(Key::Uniquifier, "u1");
        cache.store(Key::Uniquifier, "u1", user(true), seen);
        assert!(cache.get(Key::Uniquifier, "u1").is_none());
        assert!(cache.get(Key::Token, "t1").is_some());
    }

    #[test]
    fn a_cache_not_serving_answers_and_stores_nothing() {
        let cache = AuthCache::<Arc<User>>::new(10, 2, true);
        cache.store(Key::Token, "t", user(true), cache.generation());
        cache.set_serving(false);
        assert!(cache.get(Key::Token, "t").is_none());
        cache.store(Key::Token, "t", user(true), cache.generation());
        cache.set_serving(true);
        assert!(cache.get(Key::Token, "t").is_none(), "resynchronised empty");
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.serving), (0, 2, true));
        assert_eq!(s.invalidations, 2);
    }

    #[test]
    fn racing_stores_and_invalidations_never_leave_a_user_read_before_the_last_one() {
        let cache = Arc::new(AuthCache::<Arc<User>>::new(10, 2, true));
        let version = Arc::new(AtomicU64::new(0));
        let mut threads = Vec::new();
        for _ in 0..4 {
            let (cache, version) = (cache.clone(), version.clone());
            threads.push(std::thread::spawn(move || {
                for _ in 0..2000 {
                    let seen = cache.generation();
                    let read = version.load(Ordering::SeqCst);
                    let u = Arc::new(User {
                        login_count: Some(read as i32),
                        ..User::default()
                    });
                    cache.store(Key::Uniquifier, "u", u, seen);
                }
            }));
        }
        for _ in 0..2000 {
            version.fetch_add(1, Ordering::SeqCst);
            cache.invalidate();
            if let Some(u) = cache.get(Key::Uniquifier, "u") {
                let now = version.load(Ordering::SeqCst) as i32;
                assert_eq!(u.login_count, Some(now), "a stale user came back");
            }
        }
        for t in threads {
            t.join().expect("thread");
        }
    }
}
