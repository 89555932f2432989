//! SQLite adapters for the persistence ports: tasks, labels, users, the outbox, key/value state and
//! the job scheduler, all in one database file so that a task write and its events commit together.
//!
//! Open a [`SqliteStore`] once per process and take the port adapters from it; they share one
//! connection pool and the in-process wake-ups (a committed task write wakes the outbox relay, a
//! scheduled job wakes the scheduler runner) that make delivery immediate instead of polled.
//!
//! Storage conventions (see `migrations/sqlite/0001_initial.sql`): instants are INTEGER unix
//! microseconds in UTC — exact, sortable, and the precision PostgreSQL keeps — so an instant with
//! nanoseconds is truncated to the microsecond on write, and every write returns the row as it
//! was written (truncated first), equal to what a later `get` returns.
//!
//! Drivers: the hot writes (tasks, the relay's leases and marks, jobs, state) run in the
//! group-commit writer on a rusqlite connection of its own (see `writer`), and so do the users'
//! upserts (see `users`); the hot reads on read-only rusqlite connections the store owns (see
//! `readers`); the rest (labels, dead letters, the outbox purge, migrations) goes through sqlx.
//!
//! Concurrency: WAL journal (readers never block the writer), and every read-then-write
//! transaction starts with `BEGIN IMMEDIATE`. A deferred `BEGIN` that reads first and writes later
//! fails with `SQLITE_BUSY` without waiting when another connection committed in between; taking
//! the write lock up front makes SQLite queue the transaction behind `busy_timeout` instead.

mod checkpointer;
mod dead_letters;
mod direct;
mod error;
mod labels;
mod outbox;
mod readers;
mod reminders;
mod rows;
mod scheduler;
mod scheduler_runner;
mod state;
mod task_list;
mod task_write;
mod tasks;
mod users;
mod writer;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use tokio::sync::{Notify, watch};

pub use dead_letters::SqliteDeadLetters;
pub use labels::SqliteLabelRepository;
pub use outbox::SqliteOutbox;
pub use scheduler::{SchedulerConfig, SqliteScheduler};
pub use state::SqliteStateStore;
pub use tasks::SqliteTaskRepository;
pub use users::SqliteUserRepository;

use checkpointer::{Checkpointer, WRITER_CHECKPOINT_PAGES};

use crate::ports::{HealthCheck, InfraError};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/sqlite");

/// Job handlers running at once on this store's scheduler (the shared runner's default is 16).
/// A reminder's firing spends most of its time waiting for the writer's next group commit, not
/// working, so more of them in flight make bigger groups rather than more contention: with 64,
/// 10,000 reminders due in one second fired with a p99 of 10–40 ms against 90–400 ms
/// with 16, on 2 cores (BENCHMARKS.md, issue #8, ninth step). PostgreSQL keeps 16: its roles
/// commit one transaction per connection, and its pool holds 16.
const JOBS_IN_FLIGHT: usize = 64;

/// How long a statement waits for another connection's write lock before failing with
/// `SQLITE_BUSY` (reported as a transient error).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Readers run concurrently under WAL; more than the machine's cores only adds page caches.
const MAX_READERS: usize = 4;
/// Page caches in KiB (SQLite's negative `cache_size`): the writer keeps the hot index pages of
/// every table it writes; a reader, and the pool connection for the cold writes, needs the pages
/// of one query at a time. Together they bound the store's memory at about 7 MiB, whatever the
/// size of the file (README: the embedded store). A miss costs a `pread` from the kernel's page
/// cache, not a disk read: halving them (4 and 2 MiB before) took 2.4 MiB off the resident set
/// under load at 100,000 tasks; creations and search stayed within the runs' noise (BENCHMARKS.md,
/// issue #8, eighth step).
const WRITER_CACHE_KIB: i64 = 2048;
const READER_CACHE_KIB: i64 = 1024;

/// One SQLite database and the wake-up signals shared by the adapters built from it. Cheap to
/// clone; every clone refers to the same pool.
#[derive(Clone)]
pub struct SqliteStore {
    /// One connection for the cold writes and cold reads. SQLite allows one writer at a time;
    /// queueing the cold writes here, in FIFO order, is far faster than letting several
    /// connections spin in `busy_timeout` (see BENCHMARKS.md).
    pool: SqlitePool,
    /// Group commit for the hot writes, on a connection of its own (on `pool`'s for an in-memory
    /// database; see `writer`).
    writer: writer::Writer,
    /// Reader connections (WAL readers never block on the writer), owned so that their
    /// compiled statements last (see `readers`).
    readers: readers::Readers,
    /// Notified after a commit that inserted outbox rows; awaited by `Outbox::wait_for_work`.
    outbox_wake: Arc<Notify>,
    /// Notified when a job is scheduled or retried; awaited by the scheduler runner.
    jobs_wake: Arc<Notify>,
    /// Set by [`SqliteStore::close`]; stops scheduler runners started from this store.
    closing: Arc<watch::Sender<bool>>,
    /// Optional shutdown signal from the application (see [`SqliteStore::with_shutdown`]).
    shutdown: Option<watch::Receiver<bool>>,
    scheduler_config: SchedulerConfig,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path_or_url` — a file path, or a `sqlite:` URL
    /// such as `sqlite://data/tickler.db` or `sqlite::memory:` — applies pending migrations, and
    /// sets WAL, `foreign_keys=ON`, `busy_timeout` and `synchronous=NORMAL` on every connection.
    ///
    /// Two processes may share one file; open them one after the other the first time, since
    /// migrations are not guarded against running concurrently.
    pub async fn open(path_or_url: &str) -> Result<Self, InfraError> {
        let memory = path_or_url.contains(":memory:") || path_or_url.contains("mode=memory");
        let options = if path_or_url.starts_with("sqlite:") {
            SqliteConnectOptions::from_str(path_or_url)
                .map_err(|e| InfraError::permanent(format!("bad SQLite URL {path_or_url}"), e))?
        } else {
            SqliteConnectOptions::new().filename(path_or_url)
        };
        if !memory && !path_or_url.contains("mode=ro") {
            // SQLite creates the file but not its directory (e.g. a fresh `data_dir`).
            let dir = options.get_filename().parent();
            if let Some(dir) = dir.filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    InfraError::permanent(format!("cannot create {}", dir.display()), e)
                })?;
            }
        }
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        // No ping before handing out a connection: a local file does not go stale the way a
        // network connection does, and on sqlx-sqlite a ping is a round trip to the connection's
        // worker thread on every acquire.
        let base = SqlitePoolOptions::new()
            .acquire_timeout(Duration::from_secs(10))
            .test_before_acquire(false);
        let open_err = |e| error::infra(format!("cannot open SQLite database {path_or_url}"), e);
        // One connection, kept open (`:memory:` also vanishes with its last connection). For an
        // in-memory database it is also the group-commit writer's.
        let pool_cache = if memory {
            WRITER_CACHE_KIB
        } else {
            READER_CACHE_KIB
        };
        let pool = base
            .clone()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(
                options
                    .clone()
                    .pragma("cache_size", format!("-{pool_cache}"))
                    .pragma("wal_autocheckpoint", WRITER_CHECKPOINT_PAGES.to_string()),
            )
            .await
            .map_err(open_err)?;
        MIGRATOR.run(&pool).await.map_err(|e| {
            InfraError::permanent(format!("cannot migrate SQLite database {path_or_url}"), e)
        })?;
        let writer = if memory || path_or_url.contains("mode=ro") {
            writer::Connection::Borrowed(pool.clone())
        } else {
            let path = options.get_filename();
            writer::Connection::Own(open_writer(path)?, Checkpointer::start(path, BUSY_TIMEOUT)?)
        };
        let readers = if memory {
            // Every connection to `:memory:` is its own database: read through the writer.
            readers::Readers::borrowed(pool.clone())
        } else {
            readers::Readers::open(
                options.get_filename(),
                MAX_READERS,
                READER_CACHE_KIB,
                BUSY_TIMEOUT,
            )?
        };
        Ok(Self {
            writer: writer::Writer::start(writer)?,
            pool,
            readers,
            outbox_wake: Arc::new(Notify::new()),
            jobs_wake: Arc::new(Notify::new()),
            closing: Arc::new(watch::Sender::new(false)),
            shutdown: None,
            scheduler_config: SchedulerConfig {
                max_in_flight: JOBS_IN_FLIGHT,
                ..SchedulerConfig::default()
            },
        })
    }

    /// Stops scheduler runners started from this store once `shutdown` becomes `true` (or its
    /// sender is dropped), after their in-flight handlers finish. Without it a runner stops when
    /// the Tokio runtime shuts down or when [`SqliteStore::close`] is called.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Overrides the scheduler's lease, polling and concurrency settings.
    pub fn with_scheduler_config(mut self, config: SchedulerConfig) -> Self {
        self.scheduler_config = config;
        self
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub fn tasks(&self) -> SqliteTaskRepository {
        SqliteTaskRepository::new(
            self.pool.clone(),
            self.writer.clone(),
            self.readers.clone(),
            self.outbox_wake.clone(),
        )
    }

    pub fn labels(&self) -> SqliteLabelRepository {
        SqliteLabelRepository::new(self.pool.clone())
    }

    pub fn users(&self) -> SqliteUserRepository {
        SqliteUserRepository::new(self.writer.clone(), self.readers.clone())
    }

    pub fn outbox(&self) -> SqliteOutbox {
        SqliteOutbox::new(
            self.pool.clone(),
            self.writer.clone(),
            self.outbox_wake.clone(),
        )
    }

    pub fn dead_letters(&self) -> SqliteDeadLetters {
        SqliteDeadLetters::new(self.pool.clone())
    }

    pub fn state(&self) -> SqliteStateStore {
        SqliteStateStore::new(self.writer.clone(), self.readers.clone())
    }

    pub fn scheduler(&self) -> SqliteScheduler {
        SqliteScheduler::new(
            self.pool.clone(),
            self.writer.clone(),
            self.readers.clone(),
            self.jobs_wake.clone(),
            self.closing.clone(),
            self.shutdown.clone(),
            self.scheduler_config.clone(),
        )
    }

    /// Stops this store's scheduler runners and closes the pool, waiting for connections in use.
    /// Adapters taken from this store fail with an error afterwards.
    pub async fn close(&self) {
        self.closing.send_replace(true);
        self.writer.close().await;
        self.readers.close().await;
        self.pool.close().await;
    }
}

/// The group-commit writer's connection, with the settings sqlx gives the pool's (WAL is already
/// set: it is stored in the file).
fn open_writer(path: &std::path::Path) -> Result<direct::Db, InfraError> {
    // The connection lives on the writer's thread alone.
    let db = direct::open_own(
        path,
        "writer",
        true,
        BUSY_TIMEOUT,
        &format!(
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
             PRAGMA cache_size = -{WRITER_CACHE_KIB}; \
             PRAGMA wal_autocheckpoint = {WRITER_CHECKPOINT_PAGES};"
        ),
    )?;
    let journal: String = db
        .pragma_query_value(None, "journal_mode", |r| r.get(0))
        .map_err(|e| {
            error::sql(
                format!("cannot open the SQLite writer on {}", path.display()),
                e,
            )
        })?;
    if !journal.eq_ignore_ascii_case("wal") {
        return Err(InfraError::msg(format!(
            "the SQLite writer on {} is in journal mode {journal}, not WAL",
            path.display()
        )));
    }
    Ok(db)
}

/// Ready when a connection can be had and answers: catches a closed pool, a locked-out or
/// vanished file, and a pool exhausted past its acquire timeout.
#[async_trait::async_trait]
impl HealthCheck for SqliteStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), InfraError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| error::infra("the SQLite database does not answer", e))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn open_creates_the_file_migrates_and_sets_pragmas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/tickler.db");
        let store = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        assert!(path.exists());
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
        let cache: i64 = sqlx::query_scalar("PRAGMA cache_size")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(
            cache, -READER_CACHE_KIB,
            "the cold writes' page cache is bounded"
        );
        let autocheckpoint: i64 = sqlx::query_scalar("PRAGMA wal_autocheckpoint")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(
            autocheckpoint,
            i64::from(WRITER_CHECKPOINT_PAGES),
            "the cold writes checkpoint as rarely as the writer"
        );
        // The group-commit writer's own connection has the same settings, and its own cache.
        let writer: (String, i64, i64, i64, i64, i64) = store
            .writer
            .run(|db| {
                let pragma = |name: &str| db.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
                let mode = db.pragma_query_value(None, "journal_mode", |r| r.get(0));
                let read = || -> rusqlite::Result<_> {
                    Ok((
                        mode?,
                        pragma("foreign_keys")?,
                        pragma("synchronous")?,
                        pragma("cache_size")?,
                        pragma("busy_timeout")?,
                        pragma("wal_autocheckpoint")?,
                    ))
                };
                read().map_err(|e| error::sql("pragmas", e))
            })
            .await
            .unwrap();
        assert_eq!(
            writer,
            (
                "wal".into(),
                1,
                1,
                -WRITER_CACHE_KIB,
                BUSY_TIMEOUT.as_millis() as i64,
                i64::from(WRITER_CHECKPOINT_PAGES)
            )
        );
        let reader: (i64, i64, i64) = store
            .readers
            .read(|db| {
                let pragma = |name: &str| db.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
                let read = || -> rusqlite::Result<_> {
                    Ok((
                        pragma("cache_size")?,
                        pragma("busy_timeout")?,
                        pragma("query_only")?,
                    ))
                };
                read().map_err(|e| error::sql("pragmas", e))
            })
            .await
            .unwrap();
        assert_eq!(
            reader,
            (-READER_CACHE_KIB, BUSY_TIMEOUT.as_millis() as i64, 0),
            "so is every reader's"
        );
        let write = store
            .readers
            .read(|db| {
                db.execute(
                    "INSERT INTO state (key, value, etag) VALUES ('x', x'00', 'e')",
                    [],
                )
                .map_err(|e| error::sql("write on a reader", e))
            })
            .await;
        assert!(write.is_err(), "a reader cannot write: {write:?}");
        store.close().await;
        // Reopening an up-to-date database applies nothing and succeeds.
        assert!(store.check().await.is_err(), "a closed store is not ready");
        let again = SqliteStore::open(path.to_str().unwrap()).await.unwrap();
        assert!(again.check().await.is_ok());
        assert_eq!(again.name(), "database");
        let fts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks_fts")
            .fetch_one(again.pool())
            .await
            .unwrap();
        assert_eq!(fts, 0);
    }

    #[tokio::test]
    async fn in_memory_url_keeps_one_database() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM tasks")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);
    }
}
