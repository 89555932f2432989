//! Group commit: one task runs the hot writes (task creations, updates, deletions, reminder
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
//! A batch runs directly on the writer connection's SQLite handle (see `direct`): one hand-off
//! to sqlx's worker thread per batch instead of two per statement.
//!
//! Cold writes (labels, users, dead letters, the outbox purge) still use the writer pool's single
//! connection through sqlx; they interleave with the batches, which hold the connection only while
//! they run.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::TransactionBehavior;
use sqlx::SqlitePool;
use tokio::sync::{mpsc, oneshot};

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

/// Called once the batch's COMMIT has returned, with its outcome.
type Finish = Box<dyn FnOnce(Result<(), &InfraError>) + Send>;
/// A queued write: runs on the batch's connection, says whether it succeeded (keep its savepoint)
/// and how to answer its caller after the COMMIT.
type Op = Box<dyn FnOnce(&Db) -> (bool, Finish) + Send>;

/// The queue in front of the writer task. Cheap to clone; the task ends when the last clone is
/// dropped, after finishing what was queued.
#[derive(Clone)]
pub(crate) struct Writer {
    queue: mpsc::Sender<Op>,
    /// Transactions this writer committed (tests read it to see batching happen; the process-wide
    /// figure is the `tickler_db_write_transactions_total` metric).
    #[cfg_attr(not(test), allow(dead_code))]
    commits: Arc<AtomicU64>,
}

impl Writer {
    /// Starts the writer task on the current Tokio runtime, writing through `pool`.
    pub(crate) fn start(pool: SqlitePool) -> Self {
        let (queue, jobs) = mpsc::channel(QUEUE_DEPTH);
        let commits = Arc::new(AtomicU64::new(0));
        tokio::spawn(serve(pool, jobs, commits.clone()));
        Self { queue, commits }
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
        self.queue.send(op).await.map_err(|_| E::from(not_run()))?;
        // A dropped reply means the write panicked (its savepoint was rolled back) or the writer
        // is gone: either way nothing of it was committed.
        answer.await.map_err(|_| E::from(not_run()))?
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

async fn serve(pool: SqlitePool, mut jobs: mpsc::Receiver<Op>, commits: Arc<AtomicU64>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while jobs.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let committed = run_batch(&pool, &mut batch).await;
        if committed > 0 {
            commits.fetch_add(1, Ordering::Relaxed);
            metrics::DB_WRITE_TRANSACTIONS.inc();
            metrics::DB_BATCHED_WRITES.add(committed as u64);
        }
    }
}

/// Runs and commits one batch, then answers every write in it. Drains `batch`. Returns how many
/// writes it committed.
async fn run_batch(pool: &SqlitePool, batch: &mut Vec<Op>) -> usize {
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
    // On an early return the rest of the drain was dropped with its replies: those callers get
    // "not run" (see `not_run`).
    batch.clear();
    let committed = if outcome.is_ok() {
        committed_later.len()
    } else {
        0
    };
    match &outcome {
        Ok(()) => committed_later.into_iter().for_each(|f| f(Ok(()))),
        Err(e) => {
            let ran = committed_later.len();
            if ran < size {
                // The only place this cause is seen by those writes' callers' operators.
                tracing::warn!(error = %crate::ports::error::chain(e), writes = size, "a batch of writes failed before all of them ran");
            }
            committed_later.into_iter().for_each(|f| f(Err(e)));
        }
    }
    committed
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
        sqlx::query_scalar("SELECT v FROM scratch ORDER BY v")
            .fetch_all(&store.readers)
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

    // Multi-threaded: a stalled batch blocks its worker (see `direct::off_the_reactor`), and the
    // writes meant to queue behind it need another.
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
