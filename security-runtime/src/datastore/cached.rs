//! [`CachedDatastore`]: the SQL datastore with the auth cache in front of the lookups
//! guards make.
//!
//! Every method is written out (`clippy::missing_trait_methods` is denied here), so a
//! method added to [`UserDatastore`] must be placed in one of the two groups below: reads
//! pass through; writes pass through and then drop the cache, before they return. A
//! write's invalidation comes after its commit: a lookup that read the old row before
//! it cannot store it afterwards (the generation moved), and one that starts later reads
//! the new row.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use rocket::async_trait;

use super::cache::{CacheCheck, CacheStats, Caches, Key};
use super::watch::Watch;
use super::{
    Attempts, CodeFailures, CodeSlot, Factor, NewSeries, NewUser, RememberUse, SchemaStatus,
    SessionBackend, SqlDatastore, StoredSession, UserDatastore, UserQuery, WebAuthnStore,
};
use crate::error::Result;
use crate::model::{Role, User};

/// The SQL datastore with an auth cache: users found by `fs_uniquifier` and
/// `fs_token_uniquifier` are kept in memory, shared, and dropped on every write to
/// users, roles or role grants, from this process or (SQLite: a change check per request;
/// PostgreSQL: notifications; MySQL and MariaDB: change counters read on a schedule) from
/// any other.
///
/// Built by the `Security` fairing from `.database::<Db>()` when `auth_cache` is on and
/// the backend can follow other processes' writes (SQLite files, exactly; PostgreSQL,
/// MySQL and MariaDB a little behind, unless `auth_cache_strict`). An in-memory SQLite
/// database keeps no cache.
pub struct CachedDatastore {
    inner: SqlDatastore,
    shared: Arc<Shared>,
}

/// The caches and what keeps them exact, shared with the session store.
struct Shared {
    caches: Arc<Caches>,
    watch: Watch,
    /// This cache in a [`CacheCheck`].
    id: u64,
    /// Change checks made.
    checks: AtomicU64,
}

impl Shared {
    /// Brings the cache up to date unless `check` says this request already did;
    /// false when that could not be told (the lookup reads the database). A request
    /// that checked still asks whether the cache may serve (MySQL: the counters were
    /// read lately), so no lookup relies on a poll that has stalled since.
    fn up_to_date(&self, check: &CacheCheck) -> bool {
        if check.made(self.id) {
            return self.watch.may_serve();
        }
        self.checks.fetch_add(1, Ordering::Relaxed);
        let exact = self.watch.check(&self.caches);
        if exact {
            check.record(self.id);
        }
        exact
    }

    /// Looks `id` up in `group`, or reads it with `read` and stores what it found.
    async fn lookup<V, F>(
        &self,
        group: impl Fn(&Caches) -> &super::cache::AuthCache<V>,
        key: Key,
        id: &str,
        check: &CacheCheck,
        read: F,
    ) -> Result<Option<V>>
    where
        V: Clone,
        F: std::future::Future<Output = Result<Option<V>>>,
    {
        let exact = self.up_to_date(check);
        let cache = group(&self.caches);
        if exact {
            if let Some(found) = cache.get(key, id) {
                return Ok(Some(found));
            }
        }
        let seen = cache.generation();
        let found = read.await?;
        if let (true, Some(v)) = (exact, &found) {
            cache.store(key, id, v.clone(), seen);
        }
        Ok(found)
    }
}

impl std::fmt::Debug for CachedDatastore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedDatastore")
            .field("inner", &self.inner)
            .field("stats", &self.auth_cache_stats())
            .finish()
    }
}

/// Settings of [`CachedDatastore::over`].
#[derive(Debug, Clone, Copy)]
pub struct CacheSettings {
    /// Users kept per identity kind.
    pub capacity: usize,
    /// No cache where it could lag behind another instance (PostgreSQL).
    pub strict: bool,
    /// PostgreSQL: how long to wait before listening again after the channel was lost.
    pub retry: std::time::Duration,
    /// MySQL and MariaDB: how often the change counters are read.
    pub poll: std::time::Duration,
}

impl CachedDatastore {
    /// The datastore for `inner`: cached when its backend can keep the cache exact
    /// (see the type's documentation), else `inner` itself. Needs migration 9.
    pub async fn over(inner: SqlDatastore, settings: CacheSettings) -> Arc<dyn UserDatastore> {
        let cache = Arc::new(Caches::new(settings.capacity, false));
        let watch = match &inner {
            #[cfg(feature = "sqlite")]
            SqlDatastore::Sqlite(pool) => {
                // The file SQLite itself has open; none for an in-memory database, where
                // plain SQL through the pool would go unseen: no cache then.
                let Some(path) = super::watch::sqlite::database_file(pool).await else {
                    return Arc::new(inner);
                };
                cache.set_serving(true);
                Watch::Sqlite(Box::new(
                    super::watch::sqlite::SqliteWatch::start(pool, path).await,
                ))
            }
            #[cfg(feature = "postgres")]
            SqlDatastore::Postgres(pool) if !settings.strict => Watch::Postgres(
                super::watch::postgres::PgWatch::start(pool, cache.clone(), settings.retry),
            ),
            #[cfg(feature = "mysql")]
            SqlDatastore::MySql(pool) if !settings.strict => Watch::MySql(
                super::watch::mysql::MySqlWatch::start(pool, cache.clone(), settings.poll),
            ),
            #[allow(unreachable_patterns)]
            _ => return Arc::new(inner),
        };
        let shared = Arc::new(Shared {
            caches: cache,
            watch,
            id: CacheCheck::cache_id(),
            checks: Default::default(),
        });
        Arc::new(CachedDatastore { inner, shared })
    }

    async fn lookup(
        &self,
        key: Key,
        id: &str,
        query: &UserQuery,
        check: &CacheCheck,
    ) -> Result<Option<Arc<User>>> {
        let read = async { Ok(self.inner.find_user(query, false).await?.map(Arc::new)) };
        self.shared.lookup(|c| &c.users, key, id, check, read).await
    }
}

/// Drops a cache group when dropped itself: after the write it guards returned, or when
/// the write's future was cancelled (it may have committed).
struct DropAfter<'a, V: Clone>(&'a super::cache::AuthCache<V>);

impl<V: Clone> Drop for DropAfter<'_, V> {
    fn drop(&mut self) {
        self.0.invalidate();
    }
}

/// Passes a write through, then drops the user cache, whatever the outcome.
macro_rules! write_through {
    ($self:ident . $m:ident ( $($arg:expr),* )) => {{
        let _drop = DropAfter(&$self.shared.caches.users);
        $self.inner.$m($($arg),*).await
    }};
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl UserDatastore for CachedDatastore {
    // Reads.

    async fn schema_status(&self) -> Result<SchemaStatus> {
        self.inner.schema_status().await
    }

    /// Always the database: flows that check single-use tokens against the stored user
    /// or write the user back read it here.
    async fn find_user(&self, query: &UserQuery, case_insensitive: bool) -> Result<Option<User>> {
        self.inner.find_user(query, case_insensitive).await
    }

    async fn find_user_shared(&self, query: &UserQuery) -> Result<Option<Arc<User>>> {
        self.find_user_shared_within(query, &CacheCheck::new())
            .await
    }

    async fn find_user_shared_within(
        &self,
        query: &UserQuery,
        check: &CacheCheck,
    ) -> Result<Option<Arc<User>>> {
        match query {
            UserQuery::FsUniquifier(id) => self.lookup(Key::Uniquifier, id, query, check).await,
            UserQuery::FsTokenUniquifier(id) => self.lookup(Key::Token, id, query, check).await,
            _ => Ok(self.inner.find_user(query, false).await?.map(Arc::new)),
        }
    }

    async fn find_role(&self, name: &str) -> Result<Option<Role>> {
        self.inner.find_role(name).await
    }

    async fn all_roles(&self) -> Result<Vec<Role>> {
        self.inner.all_roles().await
    }

    fn us_get_totp_secrets(&self, user: &User) -> BTreeMap<String, String> {
        self.inner.us_get_totp_secrets(user)
    }

    async fn failed_attempts(&self, user_id: i32, factor: Factor) -> Result<Attempts> {
        self.inner.failed_attempts(user_id, factor).await
    }

    async fn reset_nonce(&self, user_id: i32) -> Result<Option<String>> {
        self.inner.reset_nonce(user_id).await
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    fn session_backend(&self) -> Option<Arc<dyn SessionBackend>> {
        let inner = self.inner.session_backend()?;
        Some(Arc::new(CachedSessions {
            inner,
            shared: self.shared.clone(),
        }))
    }

    fn webauthn_store(&self) -> Option<Arc<dyn WebAuthnStore>> {
        self.inner.webauthn_store()
    }

    fn auth_cache_stats(&self) -> Option<CacheStats> {
        let mut stats = self.shared.caches.users.stats();
        let sessions = self.shared.caches.sessions.stats();
        stats.listener_pid = self.shared.watch.listener_pid();
        stats.serving &= self.shared.watch.may_serve();
        stats.session_hits = sessions.hits;
        stats.session_misses = sessions.misses;
        stats.session_invalidations = sessions.invalidations;
        stats.checks = self.shared.checks.load(Ordering::Relaxed);
        stats.quick_checks = self.shared.watch.quick_checks();
        Some(stats)
    }

    // Writes of columns the cache does not keep (counters, code steps, the reset nonce):
    // they change no cached value, and the triggers of migration 9 ignore them too.
    // Listed below with the other writes, passing straight through.

    // Writes: each drops the cache once it has returned.

    async fn migrate(&self) -> Result<SchemaStatus> {
        write_through!(self.migrate())
    }

    async fn create_user(&self, new: NewUser) -> Result<User> {
        write_through!(self.create_user(new))
    }

    async fn delete_user(&self, user: &User) -> Result<()> {
        write_through!(self.delete_user(user))
    }

    async fn put_user(&self, user: &mut User) -> Result<()> {
        write_through!(self.put_user(user))
    }

    async fn put_user_if(&self, user: &mut User, expected_uniquifier: &str) -> Result<bool> {
        write_through!(self.put_user_if(user, expected_uniquifier))
    }

    async fn create_role(
        &self,
        name: &str,
        description: Option<&str>,
        permissions: &[String],
    ) -> Result<Role> {
        write_through!(self.create_role(name, description, permissions))
    }

    async fn find_or_create_role(&self, name: &str, permissions: &[String]) -> Result<Role> {
        write_through!(self.find_or_create_role(name, permissions))
    }

    async fn add_role_to_user(&self, user: &mut User, role: &str) -> Result<bool> {
        write_through!(self.add_role_to_user(user, role))
    }

    async fn remove_role_from_user(&self, user: &mut User, role: &str) -> Result<bool> {
        write_through!(self.remove_role_from_user(user, role))
    }

    async fn add_permissions_to_role(
        &self,
        role: &mut Role,
        permissions: &[String],
    ) -> Result<bool> {
        write_through!(self.add_permissions_to_role(role, permissions))
    }

    async fn remove_permissions_from_role(
        &self,
        role: &mut Role,
        permissions: &[String],
    ) -> Result<bool> {
        write_through!(self.remove_permissions_from_role(role, permissions))
    }

    async fn put_role(&self, role: &Role) -> Result<()> {
        write_through!(self.put_role(role))
    }

    async fn set_active(&self, user: &mut User, active: bool) -> Result<bool> {
        write_through!(self.set_active(user, active))
    }

    async fn activate_user(&self, user: &mut User) -> Result<bool> {
        write_through!(self.activate_user(user))
    }

    async fn deactivate_user(&self, user: &mut User) -> Result<bool> {
        write_through!(self.deactivate_user(user))
    }

    async fn toggle_active(&self, user: &mut User) -> Result<bool> {
        write_through!(self.toggle_active(user))
    }

    async fn set_uniquifier(&self, user: &mut User, uniquifier: Option<String>) -> Result<()> {
        write_through!(self.set_uniquifier(user, uniquifier))
    }

    async fn set_token_uniquifier(
        &self,
        user: &mut User,
        uniquifier: Option<String>,
    ) -> Result<()> {
        write_through!(self.set_token_uniquifier(user, uniquifier))
    }

    async fn reset_user_access(&self, user: &mut User) -> Result<()> {
        write_through!(self.reset_user_access(user))
    }

    async fn tf_set(
        &self,
        user: &mut User,
        primary_method: &str,
        totp_secret: Option<&str>,
        phone: Option<&str>,
    ) -> Result<()> {
        write_through!(self.tf_set(user, primary_method, totp_secret, phone))
    }

    async fn tf_reset(&self, user: &mut User) -> Result<()> {
        write_through!(self.tf_reset(user))
    }

    async fn us_put_totp_secrets(
        &self,
        user: &mut User,
        secrets: Option<&BTreeMap<String, String>>,
    ) -> Result<()> {
        write_through!(self.us_put_totp_secrets(user, secrets))
    }

    async fn us_set(
        &self,
        user: &mut User,
        method: &str,
        totp_secret: Option<&str>,
        phone: Option<&str>,
    ) -> Result<()> {
        write_through!(self.us_set(user, method, totp_secret, phone))
    }

    async fn us_reset(&self, user: &mut User, method: Option<&str>) -> Result<()> {
        write_through!(self.us_reset(user, method))
    }

    async fn claim_step(&self, user: &User, slot: CodeSlot, step: u64) -> Result<bool> {
        self.inner.claim_step(user, slot, step).await
    }

    async fn swap_recovery_codes(
        &self,
        user: &mut User,
        expected: Option<&str>,
        new: Option<&str>,
    ) -> Result<bool> {
        write_through!(self.swap_recovery_codes(user, expected, new))
    }

    async fn code_failures(&self, user: &User, op: CodeFailures) -> Result<u32> {
        self.inner.code_failures(user, op).await
    }

    async fn us_code_failures(
        &self,
        user: &User,
        op: CodeFailures,
        since: i64,
        now: i64,
    ) -> Result<u32> {
        self.inner.us_code_failures(user, op, since, now).await
    }

    async fn swap_failed_attempts(
        &self,
        user_id: i32,
        factor: Factor,
        seen: Attempts,
        next: Attempts,
    ) -> Result<bool> {
        self.inner
            .swap_failed_attempts(user_id, factor, seen, next)
            .await
    }

    async fn clear_failed_attempts(&self, user_id: i32, factor: Factor) -> Result<()> {
        self.inner.clear_failed_attempts(user_id, factor).await
    }

    async fn set_reset_nonce(&self, user_id: i32, nonce: &str) -> Result<()> {
        self.inner.set_reset_nonce(user_id, nonce).await
    }
}

/// See [`CachedSessions::dropping`].
struct DropKey<'a>(&'a super::cache::AuthCache<Arc<StoredSession>>, &'a str);

impl Drop for DropKey<'_> {
    fn drop(&mut self) {
        self.0.invalidate_key(Key::Session, self.1);
    }
}

/// Server-side sessions with the session cache in front of loads: a session is read
/// from memory until it is changed or ended here (that session dropped) or anywhere
/// else (SQLite: the change check; PostgreSQL: a `session` notification; the whole
/// session cache dropped). Remember-me series are never cached.
struct CachedSessions {
    inner: Arc<dyn SessionBackend>,
    shared: Arc<Shared>,
}

impl CachedSessions {
    /// Drops session `id` from the cache once the write it guards has returned (or was
    /// cancelled).
    fn dropping<'a>(&'a self, id: &'a str) -> DropKey<'a> {
        DropKey(&self.shared.caches.sessions, id)
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl SessionBackend for CachedSessions {
    async fn load_session(&self, id: &str) -> Result<Option<StoredSession>> {
        let found = self.load_session_within(id, &CacheCheck::new()).await?;
        Ok(found.map(Arc::unwrap_or_clone))
    }

    async fn load_session_within(
        &self,
        id: &str,
        check: &CacheCheck,
    ) -> Result<Option<Arc<StoredSession>>> {
        let read = async { Ok(self.inner.load_session(id).await?.map(Arc::new)) };
        self.shared
            .lookup(|c| &c.sessions, Key::Session, id, check, read)
            .await
    }

    async fn insert_session(&self, id: &str, session: &StoredSession) -> Result<()> {
        let _drop = self.dropping(id);
        self.inner.insert_session(id, session).await
    }

    async fn update_session(
        &self,
        id: &str,
        user: Option<&str>,
        data: &str,
        now: i64,
    ) -> Result<bool> {
        let _drop = self.dropping(id);
        self.inner.update_session(id, user, data, now).await
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        let _drop = self.dropping(id);
        self.inner.touch_session(id, now).await
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        let _drop = self.dropping(id);
        self.inner.delete_session(id).await
    }

    async fn delete_user_sessions(&self, user: &str) -> Result<u64> {
        let _drop = DropAfter(&self.shared.caches.sessions);
        self.inner.delete_user_sessions(user).await
    }

    async fn purge(&self, idle_before: i64, created_before: i64, now: i64) -> Result<()> {
        let _drop = DropAfter(&self.shared.caches.sessions);
        self.inner.purge(idle_before, created_before, now).await
    }

    async fn insert_series(&self, series: &str, new: &NewSeries) -> Result<()> {
        self.inner.insert_series(series, new).await
    }

    async fn check_series(
        &self,
        series: &str,
        token: &str,
        now: i64,
        grace: i64,
    ) -> Result<RememberUse> {
        self.inner.check_series(series, token, now, grace).await
    }

    async fn rotate_series(&self, series: &str, token: &str, next: &str, now: i64) -> Result<bool> {
        self.inner.rotate_series(series, token, next, now).await
    }

    async fn delete_series(&self, series: &str) -> Result<()> {
        self.inner.delete_series(series).await
    }
}
