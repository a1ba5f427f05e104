//! SQLite's WAL-index header, read without SQLite's locks: the quick answer of the
//! per-request change check ([`super::watch::sqlite`]).
//!
//! In WAL mode every committed write rewrites the 48-byte header at the start of the
//! database's `-shm` file (<https://sqlite.org/walformat.html>, "the WAL-index header"):
//! its change counter goes up by one, and a restart of the log changes its salts too.
//! The file holds the header twice; a writer puts the second copy first and the first
//! copy last, and a commit returns only after both. So two equal, initialised copies,
//! the same as those seen at the last exact check, mean that nothing was committed since
//! that check began. Anything else (a commit under way, a torn read, no file) is "could
//! not tell" and the check asks SQLite, as it does without this.
//!
//! What keeps the read exact:
//! - The descriptor is never closed. Closing any descriptor of a file drops every POSIX
//!   lock this process holds on it, SQLite's own included
//!   (<https://sqlite.org/howtocorrupt.html>, 2.2). Each `-shm` file is opened once per
//!   process and kept: one descriptor per database file for the life of the process.
//! - An anchor connection that has read in WAL mode holds a shared lock on the database
//!   for as long as the index is kept. No other process can then be the last to close
//!   the database, which deletes the `-shm` file (a new one would leave this descriptor
//!   on the old file), nor take the database out of WAL mode.
//! - At start, a write through the application's pool must change the header read here,
//!   or the index is not used (another VFS, a heap-memory index, a read-only database).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// One copy of the header.
pub(crate) type Header = [u8; HEADER];

const HEADER: usize = 48;
/// `iVersion`, the header's first field, in every SQLite since 3.7.0.
const VERSION: u32 = 3_007_000;

/// The `-shm` file of one database, kept readable while the database is in use.
pub(crate) struct WalIndex {
    file: &'static File,
    /// Holds the shared lock that keeps `file` the one SQLite uses (module docs).
    _anchor: Mutex<Connection>,
}

impl WalIndex {
    /// The index of the database file `db` that `pool` writes; `None` when its header
    /// does not follow the pool's writes (module docs).
    pub(crate) async fn open(pool: &sqlx::SqlitePool, db: &Path) -> Option<WalIndex> {
        let anchor = anchor(db)
            .map_err(|e| rocket::info!("auth cache: no WAL index anchor: {e}"))
            .ok()?;
        let mut shm = db.as_os_str().to_owned();
        shm.push("-shm");
        let file = kept(PathBuf::from(shm))?;
        let before = header(file);
        let wrote = touch(pool).await;
        let after = header(file);
        if !(wrote && before.is_some() && after.is_some() && before != after) {
            rocket::info!("auth cache: the WAL index does not follow writes; checks query");
            return None;
        }
        Some(WalIndex {
            file,
            _anchor: Mutex::new(anchor),
        })
    }

    /// The header as it stands, when both copies agree.
    pub(crate) fn header(&self) -> Option<Header> {
        header(self.file)
    }
}

/// A read-only connection that has read in WAL mode: from then on it holds a shared
/// lock on the database until it is closed. (In rollback mode a connection lets go of
/// its lock after each read: no anchor then.)
fn anchor(db: &Path) -> Result<Connection, String> {
    let read = |conn: &Connection| {
        conn.query_row("SELECT COUNT(*) FROM fs_auth_version", [], |r| {
            r.get::<_, i64>(0)
        })
    };
    let conn = read_only(db, Duration::from_secs(1)).map_err(|e| e.to_string())?;
    read(&conn).map_err(|e| e.to_string())?;
    // The mode the connection's last read found, not the file's now: a read after
    // "wal" is one in WAL mode.
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .map_err(|e| e.to_string())?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("journal mode {mode}"));
    }
    read(&conn).map_err(|e| e.to_string())?;
    Ok(conn)
}

/// A read-only connection of the cache's own to `db`, waiting at most `wait` on a writer.
pub(crate) fn read_only(db: &Path, wait: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(db, flags)?;
    conn.busy_timeout(wait)?;
    Ok(conn)
}

/// A committed write that changes no row: the header moves, no counter does.
async fn touch(pool: &sqlx::SqlitePool) -> bool {
    let write = async {
        let mut tx = pool.begin().await?;
        sqlx::query("INSERT INTO fs_auth_version (id, n) VALUES (-1, 0)")
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM fs_auth_version WHERE id = -1")
            .execute(&mut *tx)
            .await?;
        tx.commit().await
    };
    write
        .await
        .map_err(|e| rocket::info!("auth cache: WAL index check write: {e}"))
        .is_ok()
}

/// The descriptor of `path`, opened once per file for the life of the process.
fn kept(path: PathBuf) -> Option<&'static File> {
    use std::os::unix::fs::MetadataExt;
    static KEPT: Mutex<Vec<((u64, u64), &'static File)>> = Mutex::new(Vec::new());
    let mut kept = KEPT.lock().unwrap_or_else(|e| e.into_inner());
    let id = |m: &std::fs::Metadata| (m.dev(), m.ino());
    if let Ok(m) = std::fs::metadata(&path) {
        if let Some((_, f)) = kept.iter().find(|(k, _)| *k == id(&m)) {
            return Some(*f);
        }
    }
    let file: &'static File = Box::leak(Box::new(File::open(&path).ok()?));
    // Kept even when the path has moved on to another file since the lookup above:
    // what is opened is never closed.
    kept.push((id(&file.metadata().ok()?), file));
    Some(file)
}

fn header(file: &File) -> Option<Header> {
    use std::os::unix::fs::FileExt;
    let mut both = [0u8; 2 * HEADER];
    file.read_exact_at(&mut both, 0).ok()?;
    settled(&both)
}

/// The header when both copies are equal and initialised.
fn settled(both: &[u8; 2 * HEADER]) -> Option<Header> {
    let (first, second) = both.split_at(HEADER);
    let version = u32::from_ne_bytes(first[..4].try_into().ok()?);
    let initialised = first[12] == 1;
    if first != second || !initialised || version != VERSION {
        return None;
    }
    first.try_into().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn copies(edit: impl Fn(&mut [u8; 2 * HEADER])) -> [u8; 2 * HEADER] {
        let mut one = [7u8; HEADER];
        one[..4].copy_from_slice(&VERSION.to_ne_bytes());
        one[12] = 1;
        let mut both = [0u8; 2 * HEADER];
        both[..HEADER].copy_from_slice(&one);
        both[HEADER..].copy_from_slice(&one);
        edit(&mut both);
        both
    }

    #[test]
    fn only_two_equal_initialised_copies_count() {
        let good = copies(|_| {});
        assert_eq!(settled(&good).unwrap()[..], good[..HEADER]);
        assert_eq!(settled(&copies(|b| b[HEADER + 47] ^= 1)), None);
        assert_eq!(settled(&copies(|b| b[20] ^= 1)), None);
        assert_eq!(settled(&copies(|b| (b[12], b[HEADER + 12]) = (0, 0))), None);
        assert_eq!(settled(&copies(|b| (b[0], b[HEADER]) = (9, 9))), None);
    }

    /// A new database file in a directory of its own, in journal mode `mode`, with the
    /// table the anchor reads; the directory, the file and a pool.
    async fn database(tag: &str, mode: &str) -> (PathBuf, PathBuf, sqlx::SqlitePool) {
        let name = format!("wal-index-{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("t.db");
        let url = format!("sqlite://{}?mode=rwc", db.display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        for q in [
            &format!("PRAGMA journal_mode = {mode}"),
            "CREATE TABLE fs_auth_version (id INTEGER PRIMARY KEY, n BIGINT)",
        ] {
            sqlx::query(q).execute(&pool).await.unwrap();
        }
        (dir, db, pool)
    }

    /// Against SQLite itself: every commit moves the header, reads do not, and a
    /// descriptor asked for twice is the same one.
    #[tokio::test]
    async fn the_header_follows_commits_and_nothing_else() {
        let (dir, db, pool) = database("wal", "WAL").await;
        let index = WalIndex::open(&pool, &db).await.unwrap();
        let again = WalIndex::open(&pool, &db).await.unwrap();
        assert!(std::ptr::eq(index.file, again.file));
        let start = index.header().unwrap();
        sqlx::query("SELECT * FROM fs_auth_version")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert_eq!(index.header(), Some(start));
        let mut seen = vec![start];
        for n in 0..3 {
            sqlx::query("INSERT INTO fs_auth_version (id, n) VALUES (?, 0)")
                .bind(10 + n)
                .execute(&pool)
                .await
                .unwrap();
            let now = index.header().unwrap();
            assert!(!seen.contains(&now), "commit {n} left the header as it was");
            seen.push(now);
        }
        // With the pool closed, another connection that writes and closes is not the
        // last one: the anchor keeps the `-shm` file this descriptor reads, and the
        // next connection's commit still moves its header.
        pool.close().await;
        // sqlx lets go of SQLite's handles on its own threads, after `close` returned.
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        let other = Connection::open(&db).unwrap();
        other.execute("DELETE FROM fs_auth_version", []).unwrap();
        other.close().unwrap();
        let now = index.header().unwrap();
        assert!(!seen.contains(&now));
        let next = Connection::open(&db).unwrap();
        next.execute("INSERT INTO fs_auth_version (id, n) VALUES (1, 0)", [])
            .unwrap();
        assert_ne!(
            index.header(),
            Some(now),
            "the descriptor is on a dead file"
        );
        drop((index, again, next));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn no_index_for_a_database_in_rollback_mode() {
        let (dir, db, pool) = database("rollback", "DELETE").await;
        // A connection in rollback mode holds no lock between reads: no anchor.
        assert_eq!(anchor(&db).err(), Some("journal mode delete".to_string()));
        assert!(WalIndex::open(&pool, &db).await.is_none());
        pool.close().await;
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
