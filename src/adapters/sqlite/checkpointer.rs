//! [`Checkpointer`]: copies the WAL back into the database file on a thread of its own, so that
//! commits rarely wait for it.
//!
//! Why: by default SQLite checkpoints inside the COMMIT that takes the WAL past 1,000 pages. That
//! COMMIT then waits for the copy and its two fsyncs, and behind the group-commit writer so does
//! every write queued after it. At one client that was about one request in sixty, and most of the
//! 1-client p99: 4.2–4.4 ms against 1.2–1.3 ms with this thread (BENCHMARKS.md, issue #8, eighth
//! step).
//!
//! This thread runs a PASSIVE checkpoint (it blocks neither writers nor readers) `INTERVAL` after
//! the first commit it has not checkpointed yet. The writing connections still checkpoint by
//! themselves, but only past `WRITER_CHECKPOINT_PAGES`. They have to: SQLite starts the WAL
//! over only when a checkpoint has copied every page in it and a write begins after that, and
//! under a steady stream of writes this thread never finds nothing left to copy. With this thread
//! alone the WAL grows without end; with the writers' threshold at 10,000 pages and the thread
//! every 100 ms (the first try) it passed 45 MB within a second of the benchmark's creation load,
//! and the writer's long checkpoints doubled that load's p99. When the writer's checkpoint comes
//! now, this thread has already copied all but the last `INTERVAL` of pages, so it is short.
//!
//! Durability is unchanged: under `synchronous=NORMAL` a commit is on disk once a checkpoint has
//! synced the WAL, whichever connection runs it, and this one runs within `INTERVAL` of the
//! commit (the README's power-cut note).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;
use std::time::Duration;

use super::direct::{Db, open_own};
use crate::ports::InfraError;
use crate::telemetry::metrics;

/// How long after a commit its pages are copied back. Commits in between share the checkpoint:
/// a page that several of them changed is copied once.
const INTERVAL: Duration = Duration::from_millis(20);
/// `wal_autocheckpoint` of the store's writing connections (SQLite's default is 1,000): about
/// 16 MiB of WAL, reached every 0.2 s under the benchmark's heaviest load.
pub(crate) const WRITER_CHECKPOINT_PAGES: u32 = 4_000;

/// The handle the writer keeps: [`Checkpointer::nudge`] after each commit,
/// [`Checkpointer::stop`] when it closes.
pub(crate) struct Checkpointer {
    nudge: Option<SyncSender<()>>,
    thread: Option<JoinHandle<()>>,
    /// WAL pages this thread has copied back (tests read it; operators read the metric).
    #[cfg_attr(not(test), allow(dead_code))]
    copied: Arc<AtomicU64>,
}

impl Checkpointer {
    /// Opens a connection of its own to the database at `path` and starts the thread.
    pub(crate) fn start(path: &Path, busy_timeout: Duration) -> Result<Self, InfraError> {
        // Its own commits (none: it only checkpoints) must not checkpoint behind its back.
        let db = open_own(
            path,
            "checkpointer",
            true,
            busy_timeout,
            "PRAGMA wal_autocheckpoint = 0;",
        )?;
        // One pending nudge is enough: the thread checkpoints everything committed before it runs.
        let (nudge, nudged) = sync_channel(1);
        let copied = Arc::new(AtomicU64::new(0));
        let counter = copied.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || serve(db, nudged, counter))
            .map_err(|e| InfraError::permanent("cannot start the SQLite checkpointer", e))?;
        Ok(Self {
            nudge: Some(nudge),
            thread: Some(thread),
            copied,
        })
    }

    /// Says that a commit added pages to the WAL. Never blocks.
    pub(crate) fn nudge(&self) {
        if let Some(nudge) = &self.nudge {
            // Full: a nudge is already waiting, and it covers this commit. Disconnected: the
            // thread panicked; the writer's own checkpoints carry on alone.
            let _ = nudge.try_send(());
        }
    }

    /// Runs a last checkpoint of what was nudged, closes the connection and waits for the thread.
    pub(crate) fn stop(mut self) {
        self.nudge = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    #[cfg(test)]
    pub(crate) fn copied(&self) -> u64 {
        self.copied.load(Ordering::Relaxed)
    }
}

fn serve(db: Db, nudged: Receiver<()>, copied: Arc<AtomicU64>) {
    // Blocks until a commit says there is work; ends when the writer drops its handle.
    while nudged.recv().is_ok() {
        // Sleep, not wait on the channel: a wait woke this thread for every commit of the
        // interval (at one client that was 14-15 context switches per creation against 8-9
        // without the thread). The nudges sent meanwhile are covered by this checkpoint. A close
        // waits at most this long for the last checkpoint.
        std::thread::sleep(INTERVAL);
        while nudged.try_recv().is_ok() {}
        checkpoint(&db, &copied);
    }
    if let Err((_, e)) = db.close() {
        tracing::warn!(error = %e, "the SQLite checkpointer connection did not close cleanly");
    }
}

fn checkpoint(db: &Db, copied: &AtomicU64) {
    // (busy, pages in the WAL, pages copied back): -1s when the database is not in WAL mode.
    let result = db.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
        Ok((row.get::<_, i64>(0)?, row.get::<_, i64>(2)?))
    });
    match result {
        Ok((_, pages)) if pages > 0 => {
            copied.fetch_add(pages as u64, Ordering::Relaxed);
            metrics::DB_WAL_CHECKPOINTS.inc();
        }
        Ok(_) => {}
        // The writer's own checkpoints keep the WAL bounded; the next nudge tries again.
        Err(e) => tracing::warn!(error = %e, "a WAL checkpoint failed"),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    /// A WAL database whose own connection never checkpoints, with one commit in its WAL.
    fn committed(dir: &tempfile::TempDir) -> (std::path::PathBuf, Db) {
        let path = dir.path().join("c.db");
        let db = rusqlite::Connection::open(&path).unwrap();
        db.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA wal_autocheckpoint = 0; \
             CREATE TABLE t (x); INSERT INTO t VALUES (1);",
        )
        .unwrap();
        (path, db)
    }

    #[test]
    fn a_nudge_copies_the_wal_back_within_the_interval() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _db) = committed(&dir);
        let checkpointer = Checkpointer::start(&path, Duration::from_secs(1)).unwrap();
        std::thread::sleep(INTERVAL * 2);
        assert_eq!(checkpointer.copied(), 0, "nothing runs without a nudge");
        checkpointer.nudge();
        let deadline = Instant::now() + INTERVAL * 20;
        while checkpointer.copied() == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(
            checkpointer.copied() > 0,
            "the nudged commit was checkpointed"
        );
        checkpointer.stop();
    }

    #[test]
    fn stopping_checkpoints_what_was_nudged_first() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _db) = committed(&dir);
        let checkpointer = Checkpointer::start(&path, Duration::from_secs(1)).unwrap();
        let copied = checkpointer.copied.clone();
        checkpointer.nudge();
        checkpointer.stop();
        assert!(copied.load(Ordering::Relaxed) > 0);
    }
}
