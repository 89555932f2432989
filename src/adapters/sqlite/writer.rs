//! Group commit: one thread runs the hot writes (task creations, updates, deletions, reminder
//! firings and outcomes; the outbox relay's leases and publication marks; the scheduler's jobs;
//! the state store) and puts every write that queued up while its previous transaction committed
//! into the next transaction, each inside its own savepoint.
//!
//! Why: a SQLite commit appends every page it changed (the table, its indexes, the FTS segments,
//! the outbox) to the WAL. Thirty-two concurrent creations committed one by one write those pages
//! thirty-two times and take the write lock thirty-two times; committed together they write them
//! about once. Nothing is delayed on purpose: a write that arrives while the writer is idle starts
//! a transaction at once, so a lone client pays no batching cost.
//!
//! The guarantees are those of one transaction per write: a caller gets its answer only after the
//! COMMIT that holds its write returned (so a 201 is never sent for a write that can still be lost
//! by anything but a power cut, see the README's notes on `synchronous=NORMAL`), and a write that
//! fails rolls back to its savepoint and leaves the others in the batch untouched. If the COMMIT
//! itself fails, every write of the batch gets that error and none of them happened.
//!
//! The writer owns a rusqlite connection of its own, on a thread of its own, for the store's
//! lifetime. Why: its prepared statements then live as long as the connection. Compiling a
//! statement costs about what running it does (the task INSERT compiles its FTS trigger and
//! seven indexes' maintenance, ~60 µs), and borrowing sqlx's handle for each batch (see `direct`)
//! meant a fresh statement cache, so every batch recompiled every statement it ran: at one client
//! that is every statement of every request. A handle sqlx owns cannot keep statements between
//! batches: sqlx panics when it closes a handle that still has some.
//!
//! The cost is a second writing connection: cold writes (labels, users, dead letters, the outbox
//! purge) still go through the writer pool's sqlx connection, and when one meets a batch the later
//! of the two waits for SQLite's lock in `busy_timeout`. They are rare (a label, a new user, a
//! purge per minute), and both sides take the lock up front (`BEGIN IMMEDIATE` or a single
//! autocommit statement), so waiting is all that can happen.
//!
//! An in-memory database is the exception: every connection to `:memory:` is a database of its
//! own, so there the writer stays a task that borrows the pool's one connection per batch.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::TransactionBehavior;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

use super::checkpointer::Checkpointer;
use super::direct::{Db, off_the_reactor, with_db};
use super::error::{infra, sql};
use crate::ports::InfraError;
use crate::telemetry::metrics;

/// The most writes one transaction takes: bounds how long a batch holds the write lock (readers
/// never wait for it under WAL, but the relay and the scheduler do) and how many writes one
/// failed COMMIT takes down with it.
const MAX_BATCH: usize = 64;
/// Writes waiting beyond this make their callers wait for room: back-pressure instead of an
/// unbounded queue.
const QUEUE_DEPTH: usize = 1024;
/// Distinct statements the writer keeps compiled. The hot writes use about thirty texts (tag
/// links add one per number of tags, up to ten); past this the least recently used is finalized.
const STATEMENT_CACHE: usize = 96;

/// Called once the batch's COMMIT has returned, with its outcome.
type Finish = Box<dyn FnOnce(Result<(), &InfraError>) + Send>;
/// A queued write: runs on the batch's connection, says whether it succeeded (keep its savepoint)
/// and how to answer its caller after the COMMIT.
type Op = Box<dyn FnOnce(&Db) -> (bool, Finish) + Send>;

enum Msg {
    Write(Op),
    /// Finish what was queued before it, close the connection, then answer.
    Close(oneshot::Sender<()>),
}

/// Where the writer's batches run.
pub(crate) enum Connection {
    /// A connection of the writer's own, moved to its thread, and the thread that checkpoints
    /// what it commits.
    Own(Db, Checkpointer),
    /// The pool's connection, borrowed for each batch (in-memory databases).
    Borrowed(SqlitePool),
}

/// The queue in front of the writer. Cheap to clone; the writer stops after [`Writer::close`], or
/// when the last clone is dropped, after finishing what was queued.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Msg>,
    /// Transactions this writer committed (tests read it to see batching happen; the process-wide
    /// figure is the `tickler_db_write_transactions_total` metric).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer on `connection`: a thread for an own connection, a task on the current
    /// Tokio runtime for a borrowed one.
    pub(crate) fn start(connection: Connection) -> Result<Self, InfraError> {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let commits = Arc::new(AtomicU64::new(0));
        match connection {
            Connection::Own(db, checkpointer) => {
                db.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
                let counter = commits.clone();
                std::thread::Builder::new()
                    .name("sqlite-writer".into())
                    .spawn(move || serve_own(db, checkpointer, jobs, counter))
                    .map_err(|e| InfraError::permanent("cannot start the SQLite writer", e))?;
            }
            Connection::Borrowed(pool) => {
                tokio::spawn(serve_borrowed(pool, jobs, commits.clone()));
            }
        }
        Ok(Self { queue, commits })
    }

    #[cfg(test)]
    fn commits(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Runs `write` inside the next batch's transaction and returns its result once that
    /// transaction has committed. `write` must not commit or roll back itself; returning an error
    /// undoes exactly what it wrote. It runs synchronously on the writer, so it must only talk to
    /// the database.
    pub(crate) async fn run<T, E, F>(&self, write: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<InfraError> + Send + 'static,
        F: FnOnce(&Db) -> Result<T, E> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<Result<T, E>>();
        let op: Op = Box::new(move |db| match write(db) {
            Ok(value) => {
                let finish: Finish = Box::new(move |committed| {
                    let _ = reply.send(match committed {
                        Ok(()) => Ok(value),
                        Err(e) => Err(E::from(copy(e))),
                    });
                });
                (true, finish)
            }
            Err(e) => {
                let finish: Finish = Box::new(move |_| {
                    let _ = reply.send(Err(e));
                });
                (false, finish)
            }
        });
        self.queue
            .send(Msg::Write(op))
            .await
            .map_err(|_| E::from(not_run()))?;
        // A dropped reply means the write panicked (its savepoint was rolled back) or the writer
        // is gone: either way nothing of it was committed.
        answer.await.map_err(|_| E::from(not_run()))?
    }

    /// Runs what is queued, closes the writer's connection and returns once it is closed; writes
    /// sent afterwards fail with a transient error. Closing twice is harmless.
    pub(crate) async fn close(&self) {
        let (done, closed) = oneshot::channel();
        if self.queue.send(Msg::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }
}

/// Transient: the writer stops only with the store, and a batch fails before running a write only
/// when the database could not start or hold its transaction.
fn not_run() -> InfraError {
    InfraError {
        context: "the write was not run: its batch failed, or the store is closing".into(),
        transient: true,
        source: None,
    }
}

/// One error per caller: the source is not `Clone`, so its chain travels as text.
fn copy(e: &InfraError) -> InfraError {
    InfraError {
        context: e.context.clone(),
        transient: e.transient,
        source: e
            .source
            .as_ref()
            .map(|s| crate::ports::error::chain(s.as_ref()).into()),
    }
}

/// Moves the writes of `msgs` up to the first close into `batch`; returns that close, if any.
/// Writes queued after a close are dropped: their callers get "not run".
fn split(msgs: &mut Vec<Msg>, batch: &mut Vec<Op>) -> Option<oneshot::Sender<()>> {
    let mut close = None;
    for msg in msgs.drain(..) {
        match msg {
            Msg::Write(op) if close.is_none() => batch.push(op),
            Msg::Write(_) => {}
            Msg::Close(done) => close = close.or(Some(done)),
        }
    }
    close
}

/// The writer's thread: blocks for the first queued write, takes whatever else is queued without
/// waiting, runs the batch, and so on until closed.
fn serve_own(
    mut db: Db,
    checkpointer: Checkpointer,
    mut jobs: mpsc::Receiver<Msg>,
    commits: Arc<AtomicU64>,
) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut close = None;
    while close.is_none() {
        let Some(first) = jobs.blocking_recv() else {
            break;
        };
        msgs.push(first);
        while msgs.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(msg) => msgs.push(msg),
                Err(_) => break,
            }
        }
        close = split(&mut msgs, &mut batch);
        if !batch.is_empty() {
            let size = batch.len();
            let mut committed_later = Vec::with_capacity(size);
            let outcome = write_batch(&mut db, &mut batch, &mut committed_later);
            batch.clear();
            if outcome.is_ok() {
                checkpointer.nudge();
            }
            count(&commits, answer(outcome, committed_later, size));
        }
    }
    // Nothing is accepted from here on; what is still queued is answered "not run".
    jobs.close();
    if let Err((_, e)) = db.close() {
        tracing::warn!(error = %e, "the SQLite writer connection did not close cleanly");
    }
    // Before answering the close: the store is closed only when none of its threads is left.
    checkpointer.stop();
    if let Some(done) = close {
        let _ = done.send(());
    }
}

async fn serve_borrowed(pool: SqlitePool, mut jobs: mpsc::Receiver<Msg>, commits: Arc<AtomicU64>) {
    let mut msgs = Vec::with_capacity(MAX_BATCH);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut msgs, MAX_BATCH).await > 0 {
        let close = split(&mut msgs, &mut batch);
        if !batch.is_empty() {
            count(&commits, run_borrowed(&pool, &mut batch).await);
        }
        if let Some(done) = close {
            jobs.close();
            let _ = done.send(());
            return;
        }
    }
}

fn count(commits: &AtomicU64, committed: usize) {
    if committed > 0 {
        commits.fetch_add(1, Ordering::Relaxed);
        metrics::DB_WRITE_TRANSACTIONS.inc();
        metrics::DB_BATCHED_WRITES.add(committed as u64);
    }
}

/// Runs and commits one batch on the pool's connection. Drains `batch`. Returns how many writes
/// it committed.
async fn run_borrowed(pool: &SqlitePool, batch: &mut Vec<Op>) -> usize {
    let size = batch.len();
    let mut committed_later: Vec<Finish> = Vec::with_capacity(size);
    let outcome = async {
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| infra("cannot get the writer connection", e))?;
        // Off the reactor: the COMMIT may checkpoint the WAL (disk writes and an fsync), and
        // `busy_timeout` may sleep while another process holds the lock.
        with_db(&mut conn, |db| {
            off_the_reactor(|| write_batch(db, batch, &mut committed_later))
        })
        .await?
    }
    .await;
    batch.clear();
    answer(outcome, committed_later, size)
}

/// Answers every write of a batch of `size` once its COMMIT returned; returns how many were
/// committed. On an early failure the writes that never ran were dropped with their replies:
/// those callers get "not run".
fn answer(outcome: Result<(), InfraError>, committed_later: Vec<Finish>, size: usize) -> usize {
    match &outcome {
        Ok(()) => {
            let committed = committed_later.len();
            committed_later.into_iter().for_each(|f| f(Ok(())));
            committed
        }
        Err(e) => {
            if committed_later.len() < size {
                // The only place this cause is seen by those writes' callers' operators.
                tracing::warn!(error = %crate::ports::error::chain(e), writes = size, "a batch of writes failed before all of them ran");
            }
            committed_later.into_iter().for_each(|f| f(Err(e)));
            0
        }
    }
}

/// One transaction: every write in its savepoint, then COMMIT. A write that fails is answered at
/// once (its error does not depend on the COMMIT); the others wait in `committed_later`.
fn write_batch(
    db: &mut Db,
    batch: &mut Vec<Op>,
    committed_later: &mut Vec<Finish>,
) -> Result<(), InfraError> {
    let result = (|| {
        let tx = db
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| sql("cannot start a write transaction", e))?;
        // A lone write needs no savepoint: if it fails, the whole transaction is its own.
        let alone = batch.len() == 1;
        for op in batch.drain(..) {
            if !alone {
                exec(&tx, "SAVEPOINT batched_write")?;
            }
            let (ok, finish) = match catch_unwind(AssertUnwindSafe(|| op(&tx))) {
                Ok(done) => done,
                // The panicking write's reply is gone with it; its savepoint is undone below.
                Err(_) => (false, Box::new(|_: Result<(), &InfraError>| {}) as Finish),
            };
            if !alone {
                if !ok {
                    exec(&tx, "ROLLBACK TO batched_write")?;
                }
                exec(&tx, "RELEASE batched_write")?;
            }
            if ok {
                committed_later.push(finish);
            } else {
                finish(Ok(()));
            }
        }
        if committed_later.is_empty() {
            return Ok(()); // dropping `tx` rolls back: nothing in it succeeded
        }
        tx.commit()
            .map_err(|e| sql("cannot commit the write transaction", e))
    })();
    // sqlx does not know about this transaction: the connection must go back to it outside one,
    // whatever failed above (a rollback that failed on drop is retried here).
    if !db.is_autocommit() {
        let _ = db.execute_batch("ROLLBACK");
        if !db.is_autocommit() {
            return Err(InfraError::msg(
                "the writer connection is stuck in a transaction it cannot roll back",
            ));
        }
    }
    result
}

fn exec(db: &Db, statement: &str) -> Result<(), InfraError> {
    db.execute_batch(statement)
        .map_err(|e| sql(format!("cannot run {statement}"), e))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::sqlite::SqliteStore;
    use crate::ports::RepoError;

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("w.db").to_str().unwrap())
            .await
            .unwrap();
        sqlx::query("CREATE TABLE scratch (v INTEGER PRIMARY KEY)")
            .execute(store.pool())
            .await
            .unwrap();
        (dir, store)
    }

    fn insert(v: i64) -> impl FnOnce(&Db) -> Result<i64, RepoError> {
        move |db| {
            db.execute("INSERT INTO scratch (v) VALUES (?)", [v])
                .map_err(|e| super::super::error::sql_repo("insert", e))?;
            Ok(v)
        }
    }

    async fn values(store: &SqliteStore) -> Vec<i64> {
        store
            .readers
            .read(|db| {
                let read = || -> rusqlite::Result<Vec<i64>> {
                    let mut stmt = db.prepare_cached("SELECT v FROM scratch ORDER BY v")?;
                    let rows = stmt.query_map([], |r| r.get(0))?;
                    rows.collect()
                };
                read().map_err(|e| super::super::error::sql("values", e))
            })
            .await
            .unwrap()
    }

    /// Holds the writer inside a transaction for a while, so that what is queued meanwhile is
    /// committed as one batch.
    fn stall(w: &Writer) -> tokio::task::JoinHandle<Result<i64, RepoError>> {
        let w = w.clone();
        tokio::spawn(async move {
            w.run(|_db| {
                std::thread::sleep(Duration::from_millis(300));
                Ok(0)
            })
            .await
        })
    }

    // Multi-threaded: on an in-memory database a stalled batch blocks its Tokio worker (see
    // `direct::off_the_reactor`), and the writes meant to queue behind it need another.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_answer_comes_after_the_commit_and_the_row_is_visible_to_readers() {
        let (_dir, store) = store().await;
        assert_eq!(store.writer.run(insert(7)).await.unwrap(), 7);
        assert_eq!(values(&store).await, vec![7], "committed before the answer");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_write_in_a_batch_undoes_only_itself() {
        let (_dir, store) = store().await;
        store.writer.run(insert(1)).await.unwrap();
        let stalled = stall(&store.writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        // Queued behind the stall, so they share the next transaction: 1 is a duplicate key.
        let (a, b, c) = tokio::join!(
            store.writer.run(insert(2)),
            store.writer.run(insert(1)),
            store.writer.run(insert(3)),
        );
        stalled.await.unwrap().unwrap();
        assert_eq!(a.unwrap(), 2);
        assert!(matches!(b, Err(RepoError::Duplicate)), "{b:?}");
        assert_eq!(c.unwrap(), 3);
        assert_eq!(values(&store).await, vec![1, 2, 3]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_write_that_fails_after_writing_leaves_nothing_behind() {
        let (_dir, store) = store().await;
        let stalled = stall(&store.writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let half = store.writer.run(|db| {
            insert(10)(db)?;
            Err::<i64, _>(RepoError::NotFound)
        });
        let (half, other) = tokio::join!(half, store.writer.run(insert(11)));
        stalled.await.unwrap().unwrap();
        assert!(matches!(half, Err(RepoError::NotFound)));
        assert_eq!(other.unwrap(), 11);
        assert_eq!(
            values(&store).await,
            vec![11],
            "10 was rolled back to its savepoint"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_write_fails_alone_and_the_writer_goes_on() {
        let (_dir, store) = store().await;
        let stalled = stall(&store.writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let boom = store.writer.run(|db| {
            insert(20)(db)?;
            panic!("a bug in a write");
            #[allow(unreachable_code)]
            Ok::<i64, RepoError>(0)
        });
        let (boom, other) = tokio::join!(boom, store.writer.run(insert(21)));
        stalled.await.unwrap().unwrap();
        assert!(matches!(boom, Err(RepoError::Infra(_))));
        assert_eq!(other.unwrap(), 21);
        assert_eq!(store.writer.run(insert(22)).await.unwrap(), 22);
        assert_eq!(values(&store).await, vec![21, 22]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_writes_share_transactions() {
        let (_dir, store) = store().await;
        let before = store.writer.commits();
        let stalled = stall(&store.writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let writes: Vec<_> = (100..164)
            .map(|v| {
                let w = store.writer.clone();
                tokio::spawn(async move { w.run(insert(v)).await })
            })
            .collect();
        for w in writes {
            w.await.unwrap().unwrap();
        }
        stalled.await.unwrap().unwrap();
        assert_eq!(values(&store).await.len(), 64);
        // One commit for the stall, then the 64 queued behind it in one or two more (not 64).
        let commits = store.writer.commits() - before;
        assert!(commits <= 3, "{commits} commits for 65 writes");
    }

    /// The reason the writer owns its connection: a statement compiled in one batch is still
    /// compiled in the next. SQLite counts a statement's runs until it is finalized, so a
    /// statement prepared afresh for the second batch would report none.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn statements_stay_compiled_from_one_batch_to_the_next() {
        let (_dir, store) = store().await;
        const INSERT: &str = "INSERT INTO scratch (v) VALUES (?)";
        let runs_before = |v: i64| {
            move |db: &Db| {
                let mut stmt = db
                    .prepare_cached(INSERT)
                    .map_err(|e| super::super::error::sql_repo("insert", e))?;
                let runs = stmt.get_status(rusqlite::StatementStatus::Run);
                stmt.execute([v])
                    .map_err(|e| super::super::error::sql_repo("insert", e))?;
                Ok::<_, RepoError>(runs)
            }
        };
        // The first answer comes after its COMMIT, so the second write is another batch.
        assert_eq!(store.writer.run(runs_before(1)).await.unwrap(), 0);
        assert_eq!(store.writer.run(runs_before(2)).await.unwrap(), 1);
        assert_eq!(values(&store).await, vec![1, 2]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_in_memory_store_writes_through_its_one_connection() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        sqlx::query("CREATE TABLE scratch (v INTEGER PRIMARY KEY)")
            .execute(store.pool())
            .await
            .unwrap();
        assert_eq!(store.writer.run(insert(5)).await.unwrap(), 5);
        assert_eq!(
            values(&store).await,
            vec![5],
            "the pool sees the writer's database"
        );
        store.close().await;
        assert!(store.writer.run(insert(6)).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn closing_runs_what_was_queued_first() {
        let (_dir, store) = store().await;
        let stalled = stall(&store.writer);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = {
            let w = store.writer.clone();
            tokio::spawn(async move { w.run(insert(30)).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        store.close().await;
        stalled.await.unwrap().unwrap();
        assert_eq!(queued.await.unwrap().unwrap(), 30);
        let again = SqliteStore::open(_dir.path().join("w.db").to_str().unwrap())
            .await
            .unwrap();
        assert_eq!(values(&again).await, vec![30]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_closed_store_refuses_writes_with_a_transient_error() {
        let (_dir, store) = store().await;
        store.close().await;
        match store.writer.run(insert(1)).await {
            Err(RepoError::Infra(e)) => assert!(e.transient, "{e:?}"),
            other => panic!("{other:?}"),
        }
    }
}
