//! How the auth cache learns of writes it did not make: another process (the CLI, a
//! second instance) or plain SQL.
//!
//! - SQLite: before a request's first cached lookup (its later ones rely on it, see
//!   [`super::CacheCheck`]), the WAL index's header unchanged since the last exact check
//!   says that nothing was committed since (one read of 96 bytes, no lock, see
//!   [`super::wal_index`]). Otherwise `PRAGMA data_version` on a connection of the
//!   cache's own (microseconds, no pool hand-off) says whether anything was committed
//!   since that connection last looked; only then are the change counters of migration 9
//!   read (row 1: users, roles, grants; row 2: sessions), and a new value drops that
//!   group. Exact: a write committed before a request starts is seen by it.
//! - PostgreSQL: migration 9's triggers notify `rocket_security_auth` (payload `user` or
//!   `session`) when a write commits; a listener drops that group on each notification.
//!   The cache serves only while the listener is connected and has resynchronised
//!   (emptied after `LISTEN`, then a ping through the application's pool heard back):
//!   with the channel down, every lookup reads the database. A ping every 5 s must come
//!   back before the next is due, so a connection that died silently (or a pooler that
//!   drops notifications) stops the cache within 10 s.
//! - MySQL and MariaDB (no notifications): migration 10's triggers keep the same change
//!   counters as SQLite's, and a task reads them every `poll` on a connection of its own,
//!   dropping a group whose counter moved. The cache serves only while the last read
//!   succeeded and started less than three periods ago (a failed read, or a task that did
//!   not run, stops it), so another instance's write is seen by the next read, usually
//!   within one period and never more than three behind. Migration 10 may have gone on
//!   without its triggers (no `TRIGGER` privilege): then its last row is missing and the
//!   cache does not serve.

use super::cache::Caches;

/// The channel migration 9's PostgreSQL triggers notify.
#[cfg(feature = "postgres")]
pub(crate) const CHANNEL: &str = "rocket_security_auth";

/// A background task stopped when this is dropped (with the datastore that started it).
#[cfg(any(feature = "postgres", feature = "mysql"))]
pub(crate) struct Background(tokio::task::JoinHandle<()>);

#[cfg(any(feature = "postgres", feature = "mysql"))]
impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What keeps the cache in step with the database.
pub(crate) enum Watch {
    /// Nothing can tell: the cache never serves.
    #[allow(dead_code)]
    Off,
    /// SQLite: a change check before a request's first cached lookup.
    #[cfg(feature = "sqlite")]
    Sqlite(Box<sqlite::SqliteWatch>),
    /// PostgreSQL: a notification listener, serving only while connected.
    #[cfg(feature = "postgres")]
    Postgres(postgres::PgWatch),
    /// MySQL and MariaDB: the change counters read on a schedule, serving only while
    /// the last read is recent.
    #[cfg(feature = "mysql")]
    MySql(mysql::MySqlWatch),
}

impl Watch {
    /// Brings the cache up to date with the database; false when that could not be
    /// told, and the lookup must read the database.
    pub(crate) fn check(&self, cache: &Caches) -> bool {
        match self {
            Watch::Off => false,
            #[cfg(feature = "sqlite")]
            Watch::Sqlite(w) => w.check(cache),
            #[cfg(feature = "postgres")]
            Watch::Postgres(_) => {
                let _ = cache;
                true
            }
            #[cfg(feature = "mysql")]
            Watch::MySql(w) => w.recent(),
        }
    }

    /// Whether the cache may answer now, as far as can be told without asking the
    /// database (MySQL: the last read of the counters is recent).
    pub(crate) fn may_serve(&self) -> bool {
        match self {
            Watch::Off => false,
            #[cfg(feature = "mysql")]
            Watch::MySql(w) => w.recent(),
            #[allow(unreachable_patterns)]
            _ => true,
        }
    }

    /// SQLite: change checks answered by the WAL index's header alone.
    pub(crate) fn quick_checks(&self) -> u64 {
        match self {
            #[cfg(feature = "sqlite")]
            Watch::Sqlite(w) => w.quick_checks(),
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }

    /// The PostgreSQL listener's backend process id while it is connected.
    pub(crate) fn listener_pid(&self) -> Option<i32> {
        match self {
            Watch::Off => None,
            #[cfg(feature = "sqlite")]
            Watch::Sqlite(_) => None,
            #[cfg(feature = "postgres")]
            Watch::Postgres(w) => w.pid(),
            #[cfg(feature = "mysql")]
            Watch::MySql(_) => None,
        }
    }
}

#[cfg(feature = "sqlite")]
pub(crate) mod sqlite {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use rusqlite::Connection;

    use super::Caches;
    use crate::datastore::wal_index::{read_only, Header, WalIndex};

    /// The file of the pool's main database, absolute; `None` in memory (or unreadable).
    /// Switches the database to WAL when it can (readers then never wait on a writer and
    /// the change check costs less); a database another connection holds stays as it is.
    pub(crate) async fn database_file(pool: &sqlx::SqlitePool) -> Option<PathBuf> {
        let rows: Vec<(i64, String, String)> = sqlx::query_as("PRAGMA database_list")
            .fetch_all(pool)
            .await
            .ok()?;
        let file = rows.into_iter().find(|r| r.1 == "main")?.2;
        if file.is_empty() {
            return None;
        }
        let wal: sqlx::Result<(String,)> = sqlx::query_as("PRAGMA journal_mode = WAL")
            .fetch_one(pool)
            .await;
        if !matches!(&wal, Ok((m,)) if m.eq_ignore_ascii_case("wal")) {
            rocket::info!("auth cache: SQLite stays in its journal mode ({wal:?})");
        }
        Some(PathBuf::from(file))
    }

    /// A read-only connection and the `data_version` it last saw.
    struct Probe {
        conn: Connection,
        data_version: Option<i64>,
    }

    /// Probes kept for reuse at most (more run at once only under more concurrency).
    const KEEP: usize = 16;

    /// The SQLite change check.
    pub(crate) struct SqliteWatch {
        path: PathBuf,
        idle: Mutex<Vec<Probe>>,
        /// The last counters seen: users (row 1), sessions (row 2).
        counters: Mutex<Option<(i64, i64)>>,
        /// The WAL index, when its header follows the pool's writes.
        index: Option<WalIndex>,
        /// Its header as read before the last exact check began.
        checked: Mutex<Option<Header>>,
        /// Checks answered by the header alone.
        quick: AtomicU64,
    }

    impl SqliteWatch {
        /// Watches the database file at `path`, which `pool` writes.
        pub(crate) async fn start(pool: &sqlx::SqlitePool, path: PathBuf) -> SqliteWatch {
            SqliteWatch {
                index: WalIndex::open(pool, &path).await,
                path,
                idle: Mutex::new(Vec::new()),
                counters: Mutex::new(None),
                checked: Mutex::new(None),
                quick: AtomicU64::new(0),
            }
        }

        /// Checks answered by the WAL index's header alone.
        pub(crate) fn quick_checks(&self) -> u64 {
            self.quick.load(Ordering::Relaxed)
        }

        fn open(&self) -> rusqlite::Result<Probe> {
            // Never wait on a writer on the request's thread: a busy database is
            // "could not tell" and the lookup reads through the pool.
            Ok(Probe {
                conn: read_only(&self.path, std::time::Duration::ZERO)?,
                data_version: None,
            })
        }

        /// See [`super::Watch::check`]. The header is read before the exact check, so
        /// a commit after it leaves a header unlike the one kept.
        pub(crate) fn check(&self, cache: &Caches) -> bool {
            let header = self.index.as_ref().and_then(WalIndex::header);
            let lock = || self.checked.lock().unwrap_or_else(|e| e.into_inner());
            if header.is_some() && *lock() == header {
                self.quick.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            let exact = self.query(cache);
            if exact && header.is_some() {
                *lock() = header;
            }
            exact
        }

        /// The check through SQLite: `data_version`, then the counters if it moved.
        fn query(&self, cache: &Caches) -> bool {
            let probe = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let probe = match probe.map_or_else(|| self.open(), Ok) {
                Ok(p) => p,
                Err(e) => {
                    rocket::warn!("auth cache: cannot open the SQLite change check: {e}");
                    return false;
                }
            };
            match self.look(probe, cache) {
                Ok(p) => {
                    let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                    if idle.len() < KEEP {
                        idle.push(p);
                    }
                    true
                }
                Err(e) => {
                    rocket::debug!("auth cache: SQLite change check: {e}");
                    false
                }
            }
        }

        fn look(&self, mut probe: Probe, cache: &Caches) -> rusqlite::Result<Probe> {
            let dv: i64 = probe
                .conn
                .prepare_cached("PRAGMA data_version")?
                .query_row([], |r| r.get(0))?;
            if probe.data_version == Some(dv) {
                return Ok(probe);
            }
            let (users, sessions): (i64, i64) = probe.conn.query_row(
                "SELECT (SELECT n FROM fs_auth_version WHERE id = 1), \
                        (SELECT n FROM fs_auth_version WHERE id = 2)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            probe.data_version = Some(dv);
            let mut seen = self.counters.lock().unwrap_or_else(|e| e.into_inner());
            cache.follow(seen.replace((users, sessions)), (users, sessions));
            Ok(probe)
        }
    }
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use sqlx::postgres::{PgListener, PgPool, PgPoolOptions};

    use super::{Background, Caches, CHANNEL};

    /// How often the listener proves the channel still delivers: a ping it sends through
    /// the application's pool must come back before the next one is due, or the cache
    /// stops serving and the listener connects again (a connection that died silently).
    const HEARTBEAT: Duration = Duration::from_secs(5);

    /// The PostgreSQL listener task; stopped when dropped.
    pub(crate) struct PgWatch {
        _task: Background,
        pid: Arc<AtomicI32>,
    }

    impl PgWatch {
        /// Starts listening on a connection of its own (application name
        /// `rocket-security-auth-cache`), retrying every `retry` while it cannot.
        pub(crate) fn start(pool: &PgPool, cache: Arc<Caches>, retry: Duration) -> PgWatch {
            let options = (*pool.connect_options())
                .clone()
                .application_name("rocket-security-auth-cache");
            let own = PgPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with(options);
            let pid = Arc::new(AtomicI32::new(0));
            let me = crate::datastore::new_uniquifier();
            let task = tokio::spawn(listen(own, pool.clone(), cache, pid.clone(), retry, me));
            PgWatch {
                _task: Background(task),
                pid,
            }
        }

        pub(crate) fn pid(&self) -> Option<i32> {
            Some(self.pid.load(Ordering::Acquire)).filter(|p| *p != 0)
        }
    }

    async fn connect(pool: &PgPool, pid: &AtomicI32) -> sqlx::Result<PgListener> {
        let mut listener = PgListener::connect_with(pool).await?;
        // A lost connection must show as `None`, never be replaced behind our back.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        let (id,): (i32,) = sqlx::query_as("SELECT pg_backend_pid()")
            .fetch_one(&mut listener)
            .await?;
        pid.store(id, Ordering::Release);
        Ok(listener)
    }

    async fn ping(pool: &PgPool, payload: &str) -> bool {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(pool)
            .await
            .is_ok()
    }

    /// Listens until the channel is lost or stops delivering. The cache serves from the
    /// first ping heard back (resynchronised: emptied after `LISTEN`) until then.
    async fn hear(listener: &mut PgListener, main: &PgPool, cache: &Caches, me: &str) {
        let mut beat = tokio::time::interval(HEARTBEAT);
        let mut sent = 0u64;
        let mut heard = 0u64;
        loop {
            tokio::select! {
                got = listener.try_recv() => {
                    // `None`: the connection was lost (notifications may be missed).
                    let Ok(Some(n)) = got else { return };
                    match n.payload() {
                        "user" => cache.users.invalidate(),
                        "session" => cache.sessions.invalidate(),
                        p => match p.strip_prefix("ping:") {
                            Some(rest) => {
                                if let Some(k) = rest.strip_prefix(me).and_then(|k| k.strip_prefix(':')) {
                                    heard = heard.max(k.parse().unwrap_or(0));
                                    if heard == 1 {
                                        cache.set_serving(true);
                                        rocket::debug!("auth cache: listening on {CHANNEL}");
                                    }
                                }
                            }
                            None => {
                                cache.users.invalidate();
                                cache.sessions.invalidate();
                            }
                        },
                    }
                }
                _ = beat.tick() => {
                    if heard < sent {
                        rocket::warn!("auth cache: {CHANNEL} stopped delivering");
                        return;
                    }
                    sent += 1;
                    if !ping(main, &format!("ping:{me}:{sent}")).await {
                        return;
                    }
                }
            }
        }
    }

    async fn listen(
        own: PgPool,
        main: PgPool,
        cache: Arc<Caches>,
        pid: Arc<AtomicI32>,
        retry: Duration,
        me: String,
    ) {
        loop {
            match connect(&own, &pid).await {
                Ok(mut listener) => {
                    hear(&mut listener, &main, &cache, &me).await;
                    cache.set_serving(false);
                    pid.store(0, Ordering::Release);
                    rocket::warn!("auth cache: {CHANNEL} channel lost; reading the database");
                }
                Err(e) => rocket::warn!("auth cache: cannot listen on {CHANNEL}: {e}"),
            }
            tokio::time::sleep(retry).await;
        }
    }
}

#[cfg(feature = "mysql")]
pub(crate) mod mysql {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use sqlx::mysql::{MySqlPool, MySqlPoolOptions};

    use super::{Background, Caches};

    /// When the counters were last read successfully.
    struct Freshness {
        start: Instant,
        /// Microseconds from `start` to the beginning of the last successful read, plus
        /// one (0: none since the cache last stopped).
        last: AtomicU64,
        /// How old that read may be for the cache to serve.
        limit: Duration,
    }

    impl Freshness {
        fn mark(&self, at: Instant) {
            let micros = at.duration_since(self.start).as_micros();
            let micros = u64::try_from(micros).unwrap_or(u64::MAX - 1) + 1;
            self.last.store(micros, Ordering::Release);
        }

        fn clear(&self) {
            self.last.store(0, Ordering::Release);
        }

        fn recent(&self) -> bool {
            let last = self.last.load(Ordering::Acquire);
            last != 0 && self.start.elapsed() < Duration::from_micros(last - 1) + self.limit
        }
    }

    /// The counter-reading task; stopped when dropped.
    pub(crate) struct MySqlWatch {
        _task: Background,
        fresh: Arc<Freshness>,
    }

    impl MySqlWatch {
        /// Reads the counters every `period` on a connection of its own.
        pub(crate) fn start(pool: &MySqlPool, cache: Arc<Caches>, period: Duration) -> MySqlWatch {
            let period = period.max(Duration::from_millis(1));
            let own = MySqlPoolOptions::new()
                .max_connections(1)
                .connect_lazy_with((*pool.connect_options()).clone());
            let fresh = Arc::new(Freshness {
                start: Instant::now(),
                last: AtomicU64::new(0),
                limit: period * 3,
            });
            let task = tokio::spawn(poll(own, cache, fresh.clone(), period));
            MySqlWatch {
                _task: Background(task),
                fresh,
            }
        }

        /// Whether the counters were read recently enough to serve from the cache.
        pub(crate) fn recent(&self) -> bool {
            self.fresh.recent()
        }
    }

    /// The counters (users, sessions); `None` unless row 3 says all of migration 10's
    /// triggers are in place (an application user without the `TRIGGER` privilege
    /// leaves them out, and the cache off until the script is run by one who has it).
    async fn read(pool: &MySqlPool) -> sqlx::Result<Option<(i64, i64)>> {
        let (users, sessions, complete): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT n FROM fs_auth_version WHERE id = 1), \
                    (SELECT n FROM fs_auth_version WHERE id = 2), \
                    (SELECT COUNT(*) FROM fs_auth_version WHERE id = 3)",
        )
        .fetch_one(pool)
        .await?;
        Ok((complete != 0).then_some((users, sessions)))
    }

    async fn poll(own: MySqlPool, cache: Arc<Caches>, fresh: Arc<Freshness>, period: Duration) {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut seen: Option<(i64, i64)> = None;
        let mut warned = false;
        // Stops serving; whether it was.
        let stop = |seen: &mut Option<(i64, i64)>| {
            fresh.clear();
            let was = seen.take().is_some();
            if was {
                cache.set_serving(false);
            }
            was
        };
        loop {
            tick.tick().await;
            let at = Instant::now();
            match read(&own).await {
                Ok(Some(now)) => {
                    match seen.replace(now) {
                        // Resynchronised: serving starts empty.
                        None => cache.set_serving(true),
                        was => cache.follow(was, now),
                    }
                    fresh.mark(at);
                }
                Ok(None) => {
                    stop(&mut seen);
                    if !std::mem::replace(&mut warned, true) {
                        rocket::warn!(
                            "auth cache: the change triggers of migration 10 are missing \
                             (the TRIGGER privilege?); every lookup reads the database"
                        );
                    }
                }
                Err(e) => {
                    if stop(&mut seen) {
                        rocket::warn!("auth cache: cannot read the change counters: {e}");
                    }
                }
            }
        }
    }
}
