//! SQLite-specific behaviour the generic contract cannot express: several processes on one file,
//! rows the domain cannot represent, the shutdown signal, URLs, and scheduler lateness.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use tickler::adapters::sqlite::SqliteStore;
use tickler::domain::change;
use tickler::domain::query::TaskQuery;
use tickler::domain::task::{NewTask, Priority, Title};
use tickler::domain::{TaskId, UserId};
use tickler::ports::{
    Job, JobHandler, Outbox, Outcome, RepoError, Scheduler, TaskRepository, UserRepository,
    WriteContext,
};
use tokio::sync::{mpsc, watch};

fn alice() -> UserId {
    UserId::parse("alice").unwrap()
}

fn new_task(title: &str) -> NewTask {
    NewTask {
        title: Title::parse(title).unwrap(),
        description: None,
        priority: Priority::Medium,
        due_date: None,
        category_id: None,
        tag_ids: Vec::new(),
        recurrence: None,
        reminders: Some(Vec::new()),
    }
}

async fn create(repo: &dyn TaskRepository, title: &str) -> Result<TaskId, RepoError> {
    let now = Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap();
    let draft = change::create(&alice(), new_task(title), None, now).unwrap();
    let ctx = WriteContext {
        now,
        traceparent: None,
    };
    repo.create(draft, &ctx).await.map(|t| t.id)
}

async fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("t.db").to_str().unwrap())
        .await
        .unwrap()
}

/// Two pools on one file (two processes, as far as SQLite can tell) writing at once: BEGIN
/// IMMEDIATE plus busy_timeout must queue them, never fail them with SQLITE_BUSY.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_write_concurrently_without_busy_errors() {
    let dir = tempfile::tempdir().unwrap();
    let one = open(&dir).await;
    let two = open(&dir).await;
    let mut writers = Vec::new();
    for (n, store) in [one.clone(), two.clone()].into_iter().enumerate() {
        for w in 0..4 {
            let repo = store.tasks();
            writers.push(tokio::spawn(async move {
                let mut ids = Vec::new();
                for i in 0..15 {
                    ids.push(create(&repo, &format!("p{n} w{w} #{i}")).await.unwrap());
                }
                ids
            }));
        }
    }
    let mut all = Vec::new();
    for w in writers {
        all.extend(w.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(
        all.len(),
        120,
        "every write committed once, with its own id"
    );
    assert_eq!(one.outbox().backlog().await.unwrap(), 120, "and its event");
    let q = TaskQuery {
        limit: 100,
        ..TaskQuery::default()
    };
    let page = two.tasks().list(&alice(), &q, Utc::now()).await.unwrap();
    assert_eq!(page.items.len(), 100);
}

/// Values the domain cannot represent come back as permanent errors naming the column.
#[tokio::test]
async fn unreadable_rows_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let tasks = store.tasks();
    let id = create(&tasks, "fine").await.unwrap();
    sqlx::query("UPDATE tasks SET title = '   ' WHERE id = ?")
        .bind(id.0)
        .execute(store.pool())
        .await
        .unwrap();
    match tasks.get(&alice(), id).await {
        Err(RepoError::Infra(e)) => {
            assert!(!e.transient);
            assert!(e.context.contains("tasks.title"), "{}", e.context);
        }
        other => panic!("expected an infrastructure error, got {other:?}"),
    }
    assert!(matches!(
        tasks
            .list(&alice(), &TaskQuery::default(), Utc::now())
            .await,
        Err(RepoError::Infra(_))
    ));

    let users = store.users();
    users
        .upsert_from_claims(&alice(), None, None)
        .await
        .unwrap();
    sqlx::query("UPDATE users SET time_zone = 'Mars/Olympus_Mons'")
        .execute(store.pool())
        .await
        .unwrap();
    match users.get(&alice()).await {
        Err(RepoError::Infra(e)) => assert!(e.context.contains("users.time_zone")),
        other => panic!("expected an infrastructure error, got {other:?}"),
    }

    sqlx::query("UPDATE outbox SET topic = 'no-such-topic'")
        .execute(store.pool())
        .await
        .unwrap();
    let claimed = store
        .outbox()
        .claim(10, Duration::from_secs(30), Utc::now())
        .await;
    assert!(claimed.is_err(), "{claimed:?}");
}

struct Forward(mpsc::UnboundedSender<(String, chrono::DateTime<Utc>)>);

#[async_trait]
impl JobHandler for Forward {
    async fn fire(&self, job: &Job) -> Outcome {
        let _ = self.0.send((job.name.clone(), Utc::now()));
        Outcome::Done
    }
}

#[tokio::test]
async fn the_shutdown_signal_stops_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, rx) = watch::channel(false);
    let store = open(&dir).await.with_shutdown(rx);
    let scheduler = store.scheduler();
    let (tx, mut fired) = mpsc::unbounded_channel();
    scheduler.start(Arc::new(Forward(tx))).await.unwrap();
    let soon = |ms| Job {
        name: format!("job-{ms}"),
        due_at: Utc::now() + chrono::Duration::milliseconds(ms),
        payload: Vec::new(),
    };
    scheduler.schedule(soon(50)).await.unwrap();
    let (name, _) = tokio::time::timeout(Duration::from_secs(3), fired.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(name, "job-50", "running before the signal");

    stop.send(true).unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    scheduler.schedule(soon(0)).await.unwrap();
    let after = tokio::time::timeout(Duration::from_millis(1500), fired.recv()).await;
    // `Ok(None)`: the stopped runner dropped its handler, closing the channel. `Err`: timeout.
    assert!(
        matches!(after, Ok(None) | Err(_)),
        "fired after shutdown: {after:?}"
    );
    // The job is kept for the next process.
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM jobs")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(left, 1);
}

/// The brief's target: well under 100 ms on an idle machine. The median of several jobs keeps one
/// scheduling hiccup on a loaded CI machine from failing the build.
#[tokio::test]
async fn median_lateness_is_well_under_100_ms() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir).await;
    let scheduler = store.scheduler();
    let (tx, mut fired) = mpsc::unbounded_channel();
    scheduler.start(Arc::new(Forward(tx))).await.unwrap();
    let mut dues = std::collections::HashMap::new();
    for i in 0..7_i64 {
        let due = Utc::now() + chrono::Duration::milliseconds(150 + 60 * i);
        dues.insert(format!("j{i}"), due);
        scheduler
            .schedule(Job {
                name: format!("j{i}"),
                due_at: due,
                payload: Vec::new(),
            })
            .await
            .unwrap();
    }
    let mut lateness = Vec::new();
    for _ in 0..7 {
        let (name, at) = tokio::time::timeout(Duration::from_secs(3), fired.recv())
            .await
            .unwrap()
            .unwrap();
        lateness.push((at - dues[&name]).num_microseconds().unwrap());
    }
    lateness.sort();
    let median_ms = lateness[3] as f64 / 1000.0;
    eprintln!("lateness (µs): {lateness:?}");
    assert!(median_ms < 50.0, "median lateness {median_ms} ms");
    store.close().await;
}

#[tokio::test]
async fn opens_sqlite_urls_and_in_memory_databases() {
    let dir = tempfile::tempdir().unwrap();
    // The configuration's default form, in a data directory that does not exist yet.
    let file = dir.path().join("data").join("url.db");
    let url = format!("sqlite://{}", file.display());
    let store = SqliteStore::open(&url).await.unwrap();
    create(&store.tasks(), "via url").await.unwrap();
    assert!(file.exists());

    let memory = SqliteStore::open("sqlite::memory:").await.unwrap();
    let id = create(&memory.tasks(), "in memory").await.unwrap();
    assert!(memory.tasks().get(&alice(), id).await.unwrap().is_some());

    // A "directory" that is a regular file can be neither created nor opened.
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let bad = SqliteStore::open(blocker.join("x.db").to_str().unwrap()).await;
    assert!(bad.is_err());
    let read_only = format!(
        "sqlite://{}?mode=ro",
        dir.path().join("absent.db").display()
    );
    assert!(
        SqliteStore::open(&read_only).await.is_err(),
        "read-only: no file is created"
    );
    assert!(!dir.path().join("absent.db").exists());
}
