//! The file mailer's writer thread: every message that queued up while the previous ones were
//! being made durable is written in one group, with one flush of the file system for all of them.
//!
//! Why: a message must be on disk before `send` returns (the e-mail role records it `sent` right
//! after, and a mail lost to a power cut would then never be retried), and one `fsync` per
//! message was 13–22 % of the server's CPU while 10,000 reminders fell due together on this
//! project's machines (BENCHMARKS.md, issue #8, seventh step). One flush per group costs about
//! what one message's did.
//!
//! A group goes through four steps, and a caller hears back only after the last:
//! 1. each message is written to a temporary file in the directory (never seen by readers);
//! 2. their contents are flushed: on Linux one `syncfs` of the directory's file system, elsewhere
//!    an `fsync` per file;
//! 3. each is renamed over its final name (a reader sees the old message or the new one, whole);
//! 4. the directory is flushed, so the new names survive a power cut too (one `fsync` of the
//!    directory; the mailer before this one never flushed its renames).
//!
//! `syncfs` flushes everything dirty on that file system, the database's files included when they
//! share it (their pages are written a little earlier than the kernel would have). On a file
//! system shared with heavy writers each flush costs more; that is one reason the file mailer is
//! the embedded setup's mailer and production setups send through SMTP.
//!
//! The thread starts with the first message and ends once every handle to the mailer is gone and
//! the queue is empty, so nothing queued is dropped.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, mpsc};

use tokio::sync::oneshot;

/// The most messages one group holds: bounds a group's memory (messages are small, but one can be
/// megabytes) and how long its first caller waits for the flush.
const MAX_GROUP: usize = 256;

/// A message waiting to be written, and where to say how it went.
struct Pending {
    path: PathBuf,
    bytes: Vec<u8>,
    done: oneshot::Sender<std::io::Result<()>>,
}

/// The queue in front of one directory's writer thread.
#[derive(Debug)]
pub(super) struct FileWriter {
    dir: PathBuf,
    queue: OnceLock<mpsc::Sender<Pending>>,
    /// Groups written so far (what the tests check grouping by).
    groups: Arc<AtomicU64>,
}

impl FileWriter {
    /// Writes into `dir`, created when missing.
    pub(super) fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            queue: OnceLock::new(),
            groups: Arc::default(),
        }
    }

    /// Writes `bytes` to `path` (in the directory) durably and atomically; resolves once it is
    /// on disk.
    pub(super) async fn write(&self, path: PathBuf, bytes: Vec<u8>) -> std::io::Result<()> {
        let queue = self
            .queue
            .get_or_init(|| start(self.dir.clone(), self.groups.clone()));
        let (done, answer) = oneshot::channel();
        queue
            .send(Pending { path, bytes, done })
            .map_err(|_| std::io::Error::other("the mail writer thread is gone"))?;
        answer
            .await
            .map_err(|_| std::io::Error::other("the mail writer thread stopped"))?
    }
}

fn start(dir: PathBuf, groups: Arc<AtomicU64>) -> mpsc::Sender<Pending> {
    let (tx, rx) = mpsc::channel::<Pending>();
    let spawned = std::thread::Builder::new()
        .name("mail-writer".into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                write_group(&dir, group);
                groups.fetch_add(1, Ordering::Relaxed);
            }
        });
    if let Err(e) = spawned {
        // Every send then fails with "thread is gone": a transient error the e-mail role retries.
        tracing::error!(error = %e, "cannot start the mail writer thread");
    }
    tx
}

fn write_group(dir: &Path, group: Vec<Pending>) {
    // Opened once: it is what both flushes below act on.
    let opened = std::fs::create_dir_all(dir).and_then(|()| std::fs::File::open(dir));
    let directory = match opened {
        Ok(d) => d,
        Err(e) => {
            for p in group {
                let _ = p.done.send(Err(copy(&e)));
            }
            return;
        }
    };
    // Step 1: temporary files. A message that cannot be written fails alone.
    let mut written = Vec::with_capacity(group.len());
    for p in group {
        let tmp = temp_name(dir, &p.path);
        match write_file(&tmp, &p.bytes) {
            Ok(file) => written.push((p, tmp, file)),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                let _ = p.done.send(Err(e));
            }
        }
    }
    if written.is_empty() {
        return;
    }
    // Step 2: their contents, all at once. If that fails nothing is renamed.
    if let Err(e) = flush_contents(&directory, written.iter().map(|(_, _, f)| f)) {
        for (p, tmp, _) in written {
            let _ = std::fs::remove_file(&tmp);
            let _ = p.done.send(Err(copy(&e)));
        }
        return;
    }
    // Step 3: into place, in queue order (the same message sent twice ends as the later one).
    let mut renamed = Vec::with_capacity(written.len());
    for (p, tmp, file) in written {
        drop(file);
        match std::fs::rename(&tmp, &p.path) {
            Ok(()) => renamed.push(p),
            Err(e) => {
                let _ = std::fs::remove_file(&tmp);
                let _ = p.done.send(Err(e));
            }
        }
    }
    // Step 4: the names.
    let outcome = directory.sync_all();
    for p in renamed {
        let _ = p.done.send(outcome.as_ref().map(|_| ()).map_err(copy));
    }
}

fn write_file(path: &Path, bytes: &[u8]) -> std::io::Result<std::fs::File> {
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    Ok(f)
}

/// A name no other message, process or earlier run uses, hidden from readers listing `*.eml`.
fn temp_name(dir: &Path, path: &Path) -> PathBuf {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    dir.join(format!(
        ".tmp-{}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        path.file_name().and_then(|n| n.to_str()).unwrap_or("mail")
    ))
}

#[cfg(target_os = "linux")]
fn flush_contents<'a>(
    directory: &std::fs::File,
    _files: impl Iterator<Item = &'a std::fs::File>,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd as _;
    // SAFETY: `directory` is an open descriptor for the duration of the call; syncfs only reads
    // it.
    if unsafe { libc::syncfs(directory.as_raw_fd()) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
fn flush_contents<'a>(
    _directory: &std::fs::File,
    files: impl Iterator<Item = &'a std::fs::File>,
) -> std::io::Result<()> {
    for f in files {
        f.sync_all()?;
    }
    Ok(())
}

/// `io::Error` is not `Clone`; one failure answers several callers.
fn copy(e: &std::io::Error) -> std::io::Error {
    std::io::Error::new(e.kind(), e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listing(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[tokio::test]
    async fn messages_queued_together_are_flushed_as_one_group() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mail");
        let writer = FileWriter::new(dir.clone());
        // `join_all` polls every write once before any is answered, so all 64 are queued while
        // the thread works on the first: they must not take 64 flushes.
        let writes = (0..64).map(|i| {
            writer.write(
                dir.join(format!("m{i:02}.eml")),
                format!("body {i}").into_bytes(),
            )
        });
        for result in futures::future::join_all(writes).await {
            result.unwrap();
        }
        let groups = writer.groups.load(Ordering::Relaxed);
        assert!(groups <= 8, "64 messages took {groups} groups");
        let names = listing(&dir);
        assert_eq!(names.len(), 64, "{names:?}");
        assert_eq!(names[0], "m00.eml");
        assert_eq!(
            std::fs::read_to_string(dir.join("m63.eml")).unwrap(),
            "body 63"
        );
    }

    #[tokio::test]
    async fn a_message_that_cannot_be_placed_fails_alone_and_leaves_no_temporary_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("mail");
        // A non-empty directory where one message's file should go: its rename must fail.
        std::fs::create_dir_all(dir.join("taken.eml/inside")).unwrap();
        let writer = FileWriter::new(dir.clone());
        let writes = ["a.eml", "taken.eml", "b.eml"]
            .map(|name| writer.write(dir.join(name), name.as_bytes().to_vec()));
        let [a, taken, b] = futures::future::join_all(writes).await.try_into().unwrap();
        a.unwrap();
        b.unwrap();
        assert!(taken.is_err());
        assert_eq!(listing(&dir), ["a.eml", "b.eml", "taken.eml"]);
        assert_eq!(std::fs::read_to_string(dir.join("b.eml")).unwrap(), "b.eml");
    }

    #[tokio::test]
    async fn a_directory_that_cannot_be_made_fails_every_message_of_the_group() {
        let tmp = tempfile::tempdir().unwrap();
        let blocker = tmp.path().join("a-file");
        std::fs::write(&blocker, b"not a directory").unwrap();
        let dir = blocker.join("mail");
        let writer = FileWriter::new(dir.clone());
        let writes = ["a.eml", "b.eml"].map(|n| writer.write(dir.join(n), vec![1]));
        for result in futures::future::join_all(writes).await {
            assert!(result.is_err());
        }
        assert_eq!(listing(tmp.path()), ["a-file"]);
    }
}
