//! PostgreSQL-specific behaviour the generic contract cannot express: several processes (separate
//! `PgStore`s on one schema) claiming outbox records and jobs at once, wake-ups across processes
//! through LISTEN/NOTIFY, concurrent writers of one task, the domain's word rules in search,
//! input PostgreSQL cannot store, rows the domain cannot represent, and recovery after the server
//! restarts (on a private cluster this test starts and removes itself).
//!
//! Needs the dev stack's PostgreSQL (`scripts/dev-stack up postgres`) or `TICKLER_TEST_PG_URL`.

mod pg_support;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use tickler::adapters::postgres::{PgOptions, PgStore, SchedulerConfig};
use tickler::domain::change;
use tickler::domain::label::{LabelKind, LabelName};
use tickler::domain::query::{SearchText, TaskQuery};
use tickler::domain::task::{NewTask, Priority, TaskPatch, Title};
use tickler::domain::{TagId, TaskId, UserId};
use tickler::ports::{
    HealthCheck, Job, JobHandler, LabelRepository, Outbox, Outcome, RepoError, Scheduler,
    TaskRepository, WriteContext,
};
use tokio::sync::mpsc;

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

fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

fn ctx(now: DateTime<Utc>) -> WriteContext {
    WriteContext {
        now,
        traceparent: None,
    }
}

async fn create(repo: &dyn TaskRepository, new: NewTask) -> Result<TaskId, RepoError> {
    let draft = change::create(&alice(), new, None, base()).unwrap();
    repo.create(draft, &ctx(base())).await.map(|t| t.id)
}

async fn tag(store: &PgStore, name: &str) -> TagId {
    let label = store
        .labels()
        .create(
            &alice(),
            LabelKind::Tag,
            LabelName::parse(LabelKind::Tag, name).unwrap(),
            None,
            base(),
        )
        .await
        .unwrap();
    TagId(label.id)
}

/// Each update adds one tag, computed from the task as the mutator sees it: a writer that read
/// stale tag links (the READ COMMITTED pitfall `task_write.rs` guards against) would drop another
/// writer's tag. The events of the task must come out in commit order, each with one tag more.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_updates_of_one_task_lose_nothing_and_record_in_order() {
    let schema = pg_support::fresh_schema().await;
    let one = pg_support::store(&schema).await;
    let two = pg_support::store(&schema).await;
    let id = create(&one.tasks(), new_task("contended")).await.unwrap();
    let mut tags = Vec::new();
    for i in 0..10 {
        tags.push(tag(&one, &format!("t{i}")).await);
    }
    let mut writers = Vec::new();
    for (i, t) in tags.iter().copied().enumerate() {
        let repo = if i % 2 == 0 { one.tasks() } else { two.tasks() };
        writers.push(tokio::spawn(async move {
            let now = base() + chrono::Duration::seconds(i as i64 + 1);
            repo.update(
                &alice(),
                id,
                Box::new(move |task| change::add_tag(task, t, now).map(|(m, _)| m)),
                &ctx(now),
            )
            .await
            .unwrap()
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    let task = one.tasks().get(&alice(), id).await.unwrap().unwrap();
    assert_eq!(
        task.tag_ids.iter().collect::<HashSet<_>>(),
        tags.iter().collect::<HashSet<_>>(),
        "every writer's tag is there"
    );
    let records = one
        .outbox()
        .claim(100, Duration::from_secs(30), Utc::now())
        .await
        .unwrap();
    let counts: Vec<usize> = records
        .iter()
        .map(|r| {
            let e = tickler::domain::event::CloudEvent::from_slice(&r.payload).unwrap();
            e.data["task"]["tag_ids"].as_array().unwrap().len()
        })
        .collect();
    assert_eq!(
        counts,
        (0..=10).collect::<Vec<_>>(),
        "seq order is commit order"
    );
}

/// Two relays (two processes) claim small batches at once and publish with pauses in between.
/// Every record is published once, and each task's records in `seq` order: a claim never sees
/// another's uncommitted lease under READ COMMITTED, which is what the advisory lock is for.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_relays_claiming_concurrently_keep_per_key_order() {
    let schema = pg_support::fresh_schema().await;
    let writer = pg_support::store(&schema).await;
    let tasks = writer.tasks();
    for k in 0..12 {
        let id = create(&tasks, new_task(&format!("task {k}")))
            .await
            .unwrap();
        for step in 1..=4 {
            let now = base() + chrono::Duration::seconds(step);
            let patch = TaskPatch {
                title: Some(Title::parse(&format!("task {k} v{step}")).unwrap()),
                ..TaskPatch::default()
            };
            tasks
                .update(
                    &alice(),
                    id,
                    Box::new(move |t| change::apply_patch(t, patch, now)),
                    &ctx(now),
                )
                .await
                .unwrap();
        }
    }
    let total = 12 * 5;
    let log: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let mut relays = Vec::new();
    for r in 0..2 {
        let store = pg_support::store(&schema).await;
        let log = log.clone();
        relays.push(tokio::spawn(async move {
            let outbox = store.outbox();
            let started = Instant::now();
            while outbox.backlog().await.unwrap() > 0 {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "relay {r} stuck"
                );
                let batch = outbox
                    .claim(3, Duration::from_secs(60), Utc::now())
                    .await
                    .unwrap();
                for rec in &batch {
                    log.lock().unwrap().push((rec.key.clone(), rec.seq));
                    tokio::time::sleep(Duration::from_millis(rand::random::<u64>() % 3)).await;
                }
                let seqs: Vec<i64> = batch.iter().map(|b| b.seq).collect();
                outbox.mark_published(&seqs, Utc::now()).await.unwrap();
                if batch.is_empty() {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            }
        }));
    }
    for r in relays {
        r.await.unwrap();
    }
    let log = log.lock().unwrap().clone();
    let seqs: HashSet<i64> = log.iter().map(|(_, s)| *s).collect();
    assert_eq!(log.len(), total, "published once each: {log:?}");
    assert_eq!(seqs.len(), total);
    let mut last: HashMap<&str, i64> = HashMap::new();
    for (key, seq) in &log {
        if let Some(prev) = last.insert(key, *seq) {
            assert!(prev < *seq, "task {key}: {seq} published after {prev}");
        }
    }
}

#[derive(Debug)]
struct Fired {
    name: String,
    by: usize,
    at: DateTime<Utc>,
}

struct Recorder {
    by: usize,
    tx: mpsc::UnboundedSender<Fired>,
}

#[async_trait]
impl JobHandler for Recorder {
    async fn fire(&self, job: &Job) -> Outcome {
        let _ = self.tx.send(Fired {
            name: job.name.clone(),
            by: self.by,
            at: Utc::now(),
        });
        Outcome::Done
    }
}

fn short_lease(store: PgStore, poll_cap: Duration) -> PgStore {
    store.with_scheduler_config(SchedulerConfig {
        lease: Duration::from_secs(1),
        poll_cap,
        ..SchedulerConfig::default()
    })
}

/// Three `notification` processes share the jobs table: each of 60 jobs, written by all three,
/// fires exactly once, and nothing fires again after the leases would have lapsed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_runners_fire_each_job_exactly_once() {
    let schema = pg_support::fresh_schema().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut stores = Vec::new();
    for by in 0..3 {
        let store = short_lease(pg_support::store(&schema).await, Duration::from_secs(1));
        store
            .scheduler()
            .start(Arc::new(Recorder { by, tx: tx.clone() }))
            .await
            .unwrap();
        stores.push(store);
    }
    let due = Utc::now() + chrono::Duration::milliseconds(300);
    for i in 0..60 {
        stores[i % 3]
            .scheduler()
            .schedule(Job {
                name: format!("job-{i}"),
                due_at: due,
                payload: Vec::new(),
            })
            .await
            .unwrap();
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    while seen.len() < 60 {
        let f = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .expect("every job fires")
            .unwrap();
        assert!(
            f.at >= due - chrono::Duration::milliseconds(1),
            "{f:?} early"
        );
        assert!(
            seen.insert(f.name.clone(), f.by).is_none(),
            "{} fired twice",
            f.name
        );
    }
    if let Ok(Some(f)) = tokio::time::timeout(Duration::from_millis(1500), rx.recv()).await {
        panic!("fired again: {f:?}");
    }
    let by: HashSet<usize> = seen.values().copied().collect();
    eprintln!("jobs fired by runners {by:?}");
    for s in &stores {
        s.close().await;
    }
}

/// A runner whose poll cap is half a minute still fires a job another process schedules within
/// milliseconds of its due time: the NOTIFY wakes it. Both for a job due now and for one due
/// later than the runner's current deadline... and earlier than its poll cap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_scheduled_by_another_process_fires_promptly() {
    let schema = pg_support::fresh_schema().await;
    let runner = short_lease(pg_support::store(&schema).await, Duration::from_secs(30));
    let writer = pg_support::store(&schema).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    runner
        .scheduler()
        .start(Arc::new(Recorder { by: 0, tx }))
        .await
        .unwrap();
    // Let the runner settle into its (long) sleep and its listener connect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for delay_ms in [0, 300] {
        let due = Utc::now() + chrono::Duration::milliseconds(delay_ms);
        writer
            .scheduler()
            .schedule(Job {
                name: format!("remote-{delay_ms}"),
                due_at: due,
                payload: Vec::new(),
            })
            .await
            .unwrap();
        let f = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("woken well before the poll cap")
            .unwrap();
        let late = (f.at - due).to_std().unwrap_or_default();
        assert!(late < Duration::from_millis(500), "{f:?} {late:?} late");
    }
    runner.close().await;
}

/// A relay in one process waiting with a long timeout is woken by a write in another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_in_another_process_wakes_the_relay() {
    let schema = pg_support::fresh_schema().await;
    let relay = pg_support::store(&schema).await;
    let writer = pg_support::store(&schema).await;
    assert_woken_by(&relay, &writer, Duration::from_millis(500)).await;
}

/// Starts a waiter on `relay`'s outbox (after letting any pending wake-up go), makes `writer`
/// create a task, and asserts the waiter returned within `within`.
async fn assert_woken_by(relay: &PgStore, writer: &PgStore, within: Duration) {
    let outbox = relay.outbox();
    // Starts the listener and swallows a stored permit, if any.
    outbox.wait_for_work(Duration::from_millis(300)).await;
    outbox.wait_for_work(Duration::from_millis(50)).await;
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        outbox.wait_for_work(Duration::from_secs(30)).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    create(&writer.tasks(), new_task("wake up")).await.unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(10), waiter)
        .await
        .expect("the relay was not woken")
        .unwrap();
    assert!(
        waited < within + Duration::from_millis(100),
        "woken after {waited:?}"
    );
}

#[tokio::test]
async fn nul_characters_are_invalid_input_and_write_nothing() {
    let (store, _schema) = pg_support::fresh_store().await;
    // The domain refuses control characters first; the adapter must still refuse what
    // PostgreSQL's text type cannot hold when a caller of the port bypasses that.
    assert!(Title::parse("bad\0title").is_err());
    let mut bad = new_task("fine");
    bad.title = Title::from_stored("bad\0title".into()).unwrap();
    let r = create(&store.tasks(), bad).await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "{r:?}");
    let mut new = new_task("fine");
    new.description = Some("bad\0description".into());
    let r = create(&store.tasks(), new).await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "{r:?}");
    assert_eq!(store.outbox().backlog().await.unwrap(), 0);
    assert!(
        store
            .tasks()
            .find_recent_duplicate(&alice(), "bad\0title", None, base())
            .await
            .unwrap()
            .is_none()
    );
}

/// Words are the domain's (alphanumeric runs, lower-cased by Rust), whatever PostgreSQL's text
/// parser or the database's locale would make of them.
#[tokio::test]
async fn search_uses_the_domains_words() {
    let (store, _schema) = pg_support::fresh_store().await;
    let tasks = store.tasks();
    let mut new = new_task("ÉCOLE newsletter");
    new.description =
        Some("write to bob@example.com about the e-mail, see example.org/path".into());
    let id = create(&tasks, new).await.unwrap();
    let find = |text: &str| {
        let tasks = tasks.clone();
        let q = TaskQuery {
            search: Some(SearchText::parse(text).unwrap()),
            ..TaskQuery::default()
        };
        async move {
            tasks
                .list(&alice(), &q, base())
                .await
                .unwrap()
                .items
                .into_iter()
                .map(|r| r.item.id)
                .collect::<Vec<_>>()
        }
    };
    for hit in [
        "école", "ÉCO", "example", "bob", "mail", "path", "e mail", "org",
    ] {
        assert_eq!(find(hit).await, vec![id], "{hit:?}");
    }
    for miss in ["ecole", "example.net", "xample"] {
        assert!(find(miss).await.is_empty(), "{miss:?}");
    }
    // Another user's identical words are not this user's.
    let bob = UserId::parse("bob").unwrap();
    let q = TaskQuery {
        search: Some(SearchText::parse("newsletter").unwrap()),
        ..TaskQuery::default()
    };
    assert!(tasks.list(&bob, &q, base()).await.unwrap().items.is_empty());
}

/// Values the domain cannot represent come back as permanent errors naming the column.
#[tokio::test]
async fn unreadable_rows_are_errors_not_panics() {
    let (store, _schema) = pg_support::fresh_store().await;
    let tasks = store.tasks();
    let id = create(&tasks, new_task("fine")).await.unwrap();
    sqlx::query("UPDATE tasks SET title = '   ' WHERE id = $1")
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
        tasks.list(&alice(), &TaskQuery::default(), base()).await,
        Err(RepoError::Infra(_))
    ));
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

/// Several processes may migrate at once (sqlx holds an advisory lock); migrating an
/// up-to-date schema does nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrating_concurrently_and_again_is_harmless() {
    let schema = pg_support::fresh_schema().await;
    let url = pg_support::test_url();
    let a = PgStore::connect(&url, schema.options()).await.unwrap();
    let b = PgStore::connect(&url, schema.options()).await.unwrap();
    let (ra, rb) = tokio::join!(a.migrate(), b.migrate());
    ra.unwrap();
    rb.unwrap();
    a.migrate().await.unwrap();
    assert!(a.check().await.is_ok());
    assert_eq!(a.name(), "database");
}

#[tokio::test]
async fn bad_urls_and_schema_names_are_refused() {
    let bad = PgStore::connect("mysql://nope", PgOptions::default()).await;
    assert!(bad.is_err());
    let options = PgOptions {
        schema: Some("x; DROP TABLE tasks".into()),
        ..PgOptions::default()
    };
    let e = PgStore::connect(&pg_support::test_url(), options)
        .await
        .err()
        .expect("refused");
    assert!(e.context.contains("schema"), "{}", e.context);
    // Nothing listens on port 1: a transient failure, quickly.
    let started = Instant::now();
    let e = PgStore::connect(
        "postgres://u:secret-password@127.0.0.1:1/db",
        PgOptions::default(),
    )
    .await
    .err()
    .expect("nothing listens there");
    assert!(e.transient, "{e:?}");
    assert!(!e.context.contains("secret-password"), "{}", e.context);
    assert!(started.elapsed() < Duration::from_secs(15));
}

/// A private PostgreSQL cluster (its own directory and port, never the shared stack's), removed
/// when the test ends.
struct PrivateStack {
    dir: PathBuf,
    admin_url: String,
}

impl PrivateStack {
    fn script() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/dev-stack")
    }

    fn run(dir: &PathBuf, args: &[&str]) -> String {
        let out = Command::new(Self::script())
            .args(args)
            .env("TICKLER_STACK_DIR", dir)
            .output()
            .expect("run scripts/dev-stack");
        assert!(
            out.status.success(),
            "scripts/dev-stack {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn up() -> Self {
        let dir = std::env::temp_dir().join(format!("tickler-pg-restart-{}", std::process::id()));
        Self::run(&dir, &["up", "postgres"]);
        let env = Self::run(&dir, &["env"]);
        let admin_url = env
            .lines()
            .find_map(|l| l.strip_prefix("export TICKLER_STACK_PG_ADMIN_URL="))
            .expect("the stack's admin URL")
            .to_owned();
        Self { dir, admin_url }
    }

    fn stop(&self) {
        Self::run(&self.dir, &["stop", "postgres"]);
    }

    fn start(&self) {
        Self::run(&self.dir, &["start", "postgres"]);
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = Command::new(Self::script())
            .args(["down", "--purge", "postgres"])
            .env("TICKLER_STACK_DIR", &self.dir)
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn eventually(within: Duration, mut ok: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < within {
        if ok().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// The server goes away and comes back: meanwhile the health check fails and writes fail
/// transiently; afterwards the pool serves again by itself, and the LISTEN connections (outbox
/// relay and job runner of another process) are back, so cross-process wake-ups work again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pool_and_listener_recover_after_postgres_restarts() {
    let stack = tokio::task::spawn_blocking(PrivateStack::up).await.unwrap();
    let options = PgOptions {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(3),
        schema: None,
        application_name: "restart-test".into(),
    };
    let writer = PgStore::connect(&stack.admin_url, options.clone())
        .await
        .unwrap();
    writer.migrate().await.unwrap();
    let relay = short_lease(
        PgStore::connect(&stack.admin_url, options).await.unwrap(),
        Duration::from_secs(30),
    );
    let (tx, mut rx) = mpsc::unbounded_channel();
    relay
        .scheduler()
        .start(Arc::new(Recorder { by: 1, tx }))
        .await
        .unwrap();
    assert_woken_by(&relay, &writer, Duration::from_millis(500)).await;

    let s = &stack;
    tokio::task::block_in_place(|| s.stop());
    assert!(
        writer.check().await.is_err(),
        "not ready while the server is down"
    );
    match create(&writer.tasks(), new_task("while down")).await {
        Err(RepoError::Infra(e)) => assert!(e.transient, "{e:?}"),
        other => panic!("expected a transient failure, got {other:?}"),
    }
    tokio::task::block_in_place(|| s.start());

    assert!(
        eventually(Duration::from_secs(15), async || writer
            .check()
            .await
            .is_ok())
        .await,
        "the pool did not recover"
    );
    create(&writer.tasks(), new_task("after the restart"))
        .await
        .unwrap();
    // The listener reconnects with a back-off of at most two seconds, then wakes its waiters.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_woken_by(&relay, &writer, Duration::from_millis(500)).await;
    let due = Utc::now();
    writer
        .scheduler()
        .schedule(Job {
            name: "after-restart".into(),
            due_at: due,
            payload: Vec::new(),
        })
        .await
        .unwrap();
    let f = tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the runner was woken")
        .unwrap();
    assert_eq!(f.name, "after-restart");
    assert!(
        (f.at - due).to_std().unwrap_or_default() < Duration::from_millis(800),
        "{f:?}"
    );
    relay.close().await;
    writer.close().await;
}
