//! [`Readers`]: the read-only connections the hot reads run on (task pages, search, a task and
//! its reminder, users, state, the job runner's next due time).
//!
//! Why the store owns them instead of borrowing the handles of an sqlx pool: a borrowed handle's
//! statements must be finalized before sqlx gets it back (sqlx panics when it closes a handle
//! that still has statements), so every read compiled its SQL again. During a burst of reminders
//! that compiling was about 60 % of the CPU of each "read the reminder and its task"
//! (BENCHMARKS.md, issue #8, sixth step). An owned connection keeps its statement cache as long
//! as it lives.
//!
//! A read takes an idle connection (opening one when none is idle and fewer than the limit
//! exist), runs on the calling Tokio worker as before (bounded: pages are capped, search ranks at
//! most `SEARCH_CANDIDATES` rows), and puts the connection back. A read that panics loses its
//! connection, not the pool: the next read opens a fresh one.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sqlx::SqlitePool;
use tokio::sync::Semaphore;

use super::direct::{Db, open_own, read_on};
use crate::ports::InfraError;

/// Distinct statements a reader keeps compiled. The hot reads use about twenty texts; pages add
/// one per distinct `IN (…)` length of their children's query, so this leaves room for those.
const STATEMENT_CACHE: usize = 64;

#[derive(Clone)]
pub(crate) struct Readers {
    inner: Arc<Inner>,
}

enum Inner {
    Own {
        path: PathBuf,
        cache_kib: i64,
        busy_timeout: std::time::Duration,
        /// One permit per connection that may exist: bounds the page caches.
        permits: Semaphore,
        idle: Mutex<Vec<Db>>,
    },
    /// Every connection to `:memory:` is a database of its own: read through the store's pool.
    Borrowed(SqlitePool),
}

impl Readers {
    /// Up to `max` read-only connections to the file at `path`, each with a page cache of
    /// `cache_kib` KiB. One is opened now, so a file that cannot be read fails at start-up.
    pub(crate) fn open(
        path: impl Into<PathBuf>,
        max: usize,
        cache_kib: i64,
        busy_timeout: std::time::Duration,
    ) -> Result<Self, InfraError> {
        let path = path.into();
        let first = open_reader(&path, cache_kib, busy_timeout)?;
        Ok(Self {
            inner: Arc::new(Inner::Own {
                path,
                cache_kib,
                busy_timeout,
                permits: Semaphore::new(max.max(1)),
                idle: Mutex::new(vec![first]),
            }),
        })
    }

    pub(crate) fn borrowed(pool: SqlitePool) -> Self {
        Self {
            inner: Arc::new(Inner::Borrowed(pool)),
        }
    }

    /// Runs a read on a reader connection. A read needs no transaction: under WAL one statement
    /// sees one committed snapshot.
    pub(crate) async fn read<T, E: From<InfraError>>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        let (path, cache_kib, busy_timeout, permits, idle) = match &*self.inner {
            Inner::Borrowed(pool) => return read_on(pool, f).await,
            Inner::Own {
                path,
                cache_kib,
                busy_timeout,
                permits,
                idle,
            } => (path, *cache_kib, *busy_timeout, permits, idle),
        };
        let _permit = permits
            .acquire()
            .await
            .map_err(|_| InfraError::msg("the SQLite store is closed"))?;
        let taken = lock(idle).pop();
        let db = match taken {
            Some(db) => db,
            None => open_reader(path, cache_kib, busy_timeout)?,
        };
        let out = f(&db);
        lock(idle).push(db);
        out
    }

    /// Closes the idle connections and refuses further reads; a read in progress finishes first
    /// (its connection is dropped when the store is).
    pub(crate) async fn close(&self) {
        match &*self.inner {
            Inner::Borrowed(_) => {}
            Inner::Own { permits, idle, .. } => {
                permits.close();
                lock(idle).clear();
            }
        }
    }
}

fn lock(idle: &Mutex<Vec<Db>>) -> std::sync::MutexGuard<'_, Vec<Db>> {
    // A panic while holding the lock can only happen in `Vec::push`/`pop`: the list is intact.
    idle.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_reader(
    path: &std::path::Path,
    cache_kib: i64,
    busy_timeout: std::time::Duration,
) -> Result<Db, InfraError> {
    // One read at a time per connection: the idle list hands it out.
    let db = open_own(
        path,
        "reader",
        false,
        busy_timeout,
        &format!("PRAGMA cache_size = -{cache_kib};"),
    )?;
    db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(db)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sqlite::SqliteStore;
    use crate::adapters::sqlite::error::sql;

    const COUNT: &str = "SELECT count(*) FROM tasks";

    /// How often the cached statement for `COUNT` ran before this read.
    fn runs_before(db: &Db) -> Result<i32, InfraError> {
        let mut stmt = db.prepare_cached(COUNT).map_err(|e| sql("count", e))?;
        let runs = stmt.get_status(rusqlite::StatementStatus::Run);
        stmt.query_row([], |r| r.get::<_, i64>(0))
            .map_err(|e| sql("count", e))?;
        Ok(runs)
    }

    async fn file_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        (dir, store)
    }

    #[tokio::test]
    async fn statements_stay_compiled_from_one_read_to_the_next() {
        let (_dir, store) = file_store().await;
        // One read at a time takes the same (first) connection every time.
        assert_eq!(store.readers.read(runs_before).await.unwrap(), 0);
        assert_eq!(store.readers.read(runs_before).await.unwrap(), 1);
        assert_eq!(store.readers.read(runs_before).await.unwrap(), 2);
        store.close().await;
    }

    // Four workers: the two held reads block theirs, and the timer needs one that does not.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn connections_are_bounded_and_a_panicking_read_loses_only_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        let readers = Readers::open(&path, 2, 64, std::time::Duration::from_secs(1)).unwrap();
        // Two reads held open at once: a third waits for a permit instead of opening a third
        // connection.
        let (hold, release) = std::sync::mpsc::channel::<()>();
        let (held_tx, mut held) = tokio::sync::mpsc::channel::<()>(2);
        let release = Arc::new(Mutex::new(release));
        let mut holders = Vec::new();
        for _ in 0..2 {
            let (r, release, held_tx) = (readers.clone(), release.clone(), held_tx.clone());
            holders.push(tokio::spawn(async move {
                r.read(|_db| {
                    held_tx.try_send(()).unwrap();
                    let _ = lock_release(&release).recv();
                    Ok::<_, InfraError>(())
                })
                .await
            }));
        }
        held.recv().await.unwrap();
        held.recv().await.unwrap();
        let third = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            readers.read(|_db| Ok::<_, InfraError>(())),
        )
        .await;
        assert!(third.is_err(), "a third read must wait for one of the two");
        hold.send(()).unwrap();
        hold.send(()).unwrap();
        for h in holders {
            h.await.unwrap().unwrap();
        }
        let idle = |r: &Readers| match &*r.inner {
            Inner::Own { idle, .. } => lock(idle).len(),
            Inner::Borrowed(_) => unreachable!(),
        };
        assert_eq!(idle(&readers), 2);
        let r = readers.clone();
        let panicked = tokio::spawn(async move {
            r.read(|_db| -> Result<(), InfraError> { panic!("a bug in a read") })
                .await
        })
        .await;
        assert!(panicked.is_err());
        assert_eq!(idle(&readers), 1, "the panicking read's connection is gone");
        for _ in 0..3 {
            readers
                .read(|db| {
                    db.query_row(COUNT, [], |r| r.get::<_, i64>(0))
                        .map_err(|e| sql("count", e))
                })
                .await
                .unwrap();
        }
        readers.close().await;
        assert!(readers.read(|_db| Ok::<_, InfraError>(())).await.is_err());
        store.close().await;
    }

    fn lock_release(
        m: &Mutex<std::sync::mpsc::Receiver<()>>,
    ) -> std::sync::MutexGuard<'_, std::sync::mpsc::Receiver<()>> {
        m.lock().unwrap()
    }
}
