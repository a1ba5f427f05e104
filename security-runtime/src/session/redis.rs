//! [`RedisBackend`]: sessions and remember-me series in Redis (`session_store = "redis"`).
//!
//! A session is a hash `<prefix>s:<digest>` (`user`, `data`, `created`, `last_seen`)
//! that Redis expires after `session_idle_timeout` without use; a series is a hash
//! `<prefix>r:<digest>` expiring with it. Each user has a set `<prefix>u:<fs_uniquifier>`
//! of their keys, so that all of them end at once. Every read-modify-write is one Lua
//! script, so it is atomic across instances.

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::datastore::{NewSeries, RememberUse, SessionBackend, StoredSession};
use crate::error::{Result, SecurityError};

const PREFIX: &str = "rocket_security:";

/// Writes the fields of an existing session only (ARGV: ttl, last_seen[, user, data]).
const UPDATE: &str = r"
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'last_seen', ARGV[2])
if ARGV[3] then
  redis.call('HSET', KEYS[1], 'user', ARGV[3], 'data', ARGV[4])
end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return 1
";

/// Judges a token (ARGV: token, now, grace): 1 current, 2 concurrent, 0 refused (a stale
/// token ends the series).
const CHECK_SERIES: &str = r"
local h = redis.call('HMGET', KEYS[1], 'user', 'token', 'prev', 'rotated', 'expires')
if not h[1] then return {0, ''} end
local now = tonumber(ARGV[2])
if tonumber(h[5]) <= now then redis.call('DEL', KEYS[1]) return {0, ''} end
if h[2] == ARGV[1] then return {1, h[1]} end
if h[3] == ARGV[1] and now - tonumber(h[4]) <= tonumber(ARGV[3]) then return {2, h[1]} end
redis.call('DEL', KEYS[1])
return {0, ''}
";

/// Replaces the current token if it is still ARGV[1] (ARGV: token, next, now): 1 done.
const ROTATE_SERIES: &str = r"
if redis.call('HGET', KEYS[1], 'token') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'prev', ARGV[1], 'token', ARGV[2], 'rotated', ARGV[3])
return 1
";

/// Ends every key in the user's set, and the set.
const DELETE_USER: &str = r"
local keys = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, k in ipairs(keys) do n = n + redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return n
";

/// Sessions and remember-me series in Redis, through one multiplexed connection that
/// reconnects by itself.
#[derive(Clone)]
pub struct RedisBackend {
    conn: ConnectionManager,
    idle: i64,
    keep: i64,
}

impl std::fmt::Debug for RedisBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisBackend")
            .field("idle", &self.idle)
            .finish()
    }
}

fn err(e: redis::RedisError) -> SecurityError {
    SecurityError::SessionStore(e.to_string())
}

fn session_key(id: &str) -> String {
    format!("{PREFIX}s:{id}")
}

fn series_key(series: &str) -> String {
    format!("{PREFIX}r:{series}")
}

fn user_key(user: &str) -> String {
    format!("{PREFIX}u:{user}")
}

impl RedisBackend {
    /// Connects to `url`; sessions unused for `idle` seconds expire in Redis too, and a
    /// user's set of keys lives `keep` seconds after its last addition (the longest a
    /// session or series can last).
    pub async fn connect(url: &str, idle: i64, keep: i64) -> Result<Self> {
        let client = redis::Client::open(url).map_err(err)?;
        let conn = ConnectionManager::new(client).await.map_err(err)?;
        Ok(RedisBackend { conn, idle, keep })
    }

    /// Stores `fields` under `key` for `ttl` seconds, listed in the user's set.
    async fn put(
        &self,
        key: &str,
        user: Option<&str>,
        fields: &[(&str, String)],
        ttl: i64,
    ) -> Result<()> {
        let mut pipe = redis::pipe();
        pipe.atomic().hset_multiple(key, fields).ignore();
        pipe.expire(key, ttl).ignore();
        if let Some(u) = user {
            pipe.sadd(user_key(u), key).ignore();
            pipe.expire(user_key(u), self.keep).ignore();
        }
        let mut c = self.conn.clone();
        pipe.query_async::<()>(&mut c).await.map_err(err)
    }
}

#[rocket::async_trait]
impl SessionBackend for RedisBackend {
    async fn load_session(&self, id: &str) -> Result<Option<StoredSession>> {
        let mut c = self.conn.clone();
        let (user, data, created, last_seen): (
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<i64>,
        ) = redis::cmd("HMGET")
            .arg(session_key(id))
            .arg(&["user", "data", "created", "last_seen"])
            .query_async(&mut c)
            .await
            .map_err(err)?;
        Ok(match (data, created, last_seen) {
            (Some(data), Some(created), Some(last_seen)) => Some(StoredSession {
                user: user.filter(|u| !u.is_empty()),
                data,
                created,
                last_seen,
            }),
            _ => None,
        })
    }

    async fn insert_session(&self, id: &str, s: &StoredSession) -> Result<()> {
        let fields = [
            ("user", s.user.clone().unwrap_or_default()),
            ("data", s.data.clone()),
            ("created", s.created.to_string()),
            ("last_seen", s.last_seen.to_string()),
        ];
        self.put(&session_key(id), s.user.as_deref(), &fields, self.idle)
            .await
    }

    async fn update_session(
        &self,
        id: &str,
        user: Option<&str>,
        data: &str,
        now: i64,
    ) -> Result<bool> {
        let mut c = self.conn.clone();
        let done: i64 = Script::new(UPDATE)
            .key(session_key(id))
            .arg(self.idle)
            .arg(now)
            .arg(user.unwrap_or_default())
            .arg(data)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(done == 1)
    }

    async fn touch_session(&self, id: &str, now: i64) -> Result<()> {
        let mut c = self.conn.clone();
        let _: i64 = Script::new(UPDATE)
            .key(session_key(id))
            .arg(self.idle)
            .arg(now)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(())
    }

    async fn delete_session(&self, id: &str) -> Result<()> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(session_key(id)).await.map_err(err)
    }

    async fn delete_user_sessions(&self, user: &str) -> Result<u64> {
        let mut c = self.conn.clone();
        Script::new(DELETE_USER)
            .key(user_key(user))
            .invoke_async(&mut c)
            .await
            .map_err(err)
    }

    /// Redis expires what is idle itself; what outlives `session_lifetime` while in use
    /// is refused when read.
    async fn purge(&self, _idle_before: i64, _created_before: i64, _now: i64) -> Result<()> {
        Ok(())
    }

    async fn insert_series(&self, series: &str, new: &NewSeries) -> Result<()> {
        let fields = [
            ("user", new.user.clone()),
            ("token", new.token.clone()),
            ("prev", String::new()),
            ("rotated", new.now.to_string()),
            ("expires", new.expires.to_string()),
        ];
        let ttl = (new.expires - new.now).max(1);
        self.put(&series_key(series), Some(&new.user), &fields, ttl)
            .await
    }

    async fn check_series(
        &self,
        series: &str,
        token: &str,
        now: i64,
        grace: i64,
    ) -> Result<RememberUse> {
        let mut c = self.conn.clone();
        let (outcome, user): (i64, String) = Script::new(CHECK_SERIES)
            .key(series_key(series))
            .arg(token)
            .arg(now)
            .arg(grace)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(match outcome {
            1 => RememberUse::Current(user),
            2 => RememberUse::Concurrent(user),
            _ => RememberUse::Refused,
        })
    }

    async fn rotate_series(&self, series: &str, token: &str, next: &str, now: i64) -> Result<bool> {
        let mut c = self.conn.clone();
        let done: i64 = Script::new(ROTATE_SERIES)
            .key(series_key(series))
            .arg(token)
            .arg(next)
            .arg(now)
            .invoke_async(&mut c)
            .await
            .map_err(err)?;
        Ok(done == 1)
    }

    async fn delete_series(&self, series: &str) -> Result<()> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(series_key(series)).await.map_err(err)
    }
}
