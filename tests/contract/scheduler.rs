//! Scheduler: jobs fire once, on time (due times a few hundred milliseconds ahead, lateness under a
//! second), cancel and re-schedule take effect, Retry fires again, Reject drops, overdue jobs fire
//! at start — and, for adapters that persist jobs, across a restart and between two processes.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tickler::ports::{Job, JobHandler, Outcome, Settled};
use tokio::sync::mpsc;

use super::{SchedulerFactory, SchedulerFixture};

macro_rules! scheduler_tests {
    ($make:path) => {
        $crate::contract::factory_cases!(
            $make,
            scheduler,
            scheduler,
            [
                a_job_fires_once_at_its_time,
                a_cancelled_job_never_fires,
                scheduling_again_replaces_the_job,
                rescheduling_while_firing_keeps_the_new_job,
                retry_fires_again_after_a_back_off,
                reject_drops_the_job,
                an_overdue_job_fires_at_start,
                jobs_fire_in_due_order,
                scheduling_wakes_a_sleeping_runner,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use scheduler_tests;

/// For adapters whose jobs outlive the process: the factory is called twice on one directory.
macro_rules! scheduler_restart_tests {
    ($make:path) => {
        $crate::contract::factory_cases!(
            $make,
            scheduler_restart,
            scheduler,
            [
                a_pending_job_fires_after_a_restart,
                a_job_due_while_stopped_fires_at_start,
                two_processes_fire_each_job_once,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use scheduler_restart_tests;

/// For the database-backed runner (SQLite, PostgreSQL), whose concurrency is `max_in_flight`
/// permits (16 by default).
macro_rules! runner_tests {
    ($make:path) => {
        $crate::contract::factory_cases!(
            $make,
            runner,
            scheduler,
            [
                slow_handlers_do_not_hold_up_other_due_jobs,
                a_burst_of_due_jobs_all_fire_once,
                jobs_due_together_reach_the_handler_in_batches_settled_per_job
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use runner_tests;

/// Generous bound on lateness; the SQLite runner's is a few milliseconds.
const MAX_LATENESS: Duration = Duration::from_secs(1);

#[derive(Debug, Clone)]
struct Fired {
    name: String,
    payload: Vec<u8>,
    due_at: DateTime<Utc>,
    at: DateTime<Utc>,
    /// Which handler (process) fired it.
    by: &'static str,
}

/// Records every firing; answers with scripted outcomes per job name (then `Done`).
struct Recorder {
    by: &'static str,
    tx: mpsc::UnboundedSender<Fired>,
    script: Mutex<HashMap<String, VecDeque<Outcome>>>,
}

#[async_trait]
impl JobHandler for Recorder {
    async fn fire(&self, job: &Job) -> Outcome {
        let _ = self.tx.send(Fired {
            name: job.name.clone(),
            payload: job.payload.clone(),
            due_at: job.due_at,
            at: Utc::now(),
            by: self.by,
        });
        self.script
            .lock()
            .unwrap()
            .get_mut(&job.name)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Done)
    }
}

struct Probe {
    rx: mpsc::UnboundedReceiver<Fired>,
    tx: mpsc::UnboundedSender<Fired>,
}

impl Probe {
    fn new() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self { rx, tx }
    }

    fn handler(&self, by: &'static str, script: &[(&str, Vec<Outcome>)]) -> Arc<dyn JobHandler> {
        Arc::new(Recorder {
            by,
            tx: self.tx.clone(),
            script: Mutex::new(
                script
                    .iter()
                    .map(|(name, outcomes)| (name.to_string(), outcomes.iter().cloned().collect()))
                    .collect(),
            ),
        })
    }

    async fn next(&mut self, within: Duration) -> Option<Fired> {
        tokio::time::timeout(within, self.rx.recv())
            .await
            .ok()
            .flatten()
    }

    async fn expect(&mut self, within: Duration) -> Fired {
        self.next(within).await.expect("a job should have fired")
    }

    async fn expect_none(&mut self, during: Duration) {
        if let Some(f) = self.next(during).await {
            panic!("unexpected firing: {f:?}");
        }
    }
}

fn job(name: &str, due_at: DateTime<Utc>, payload: &[u8]) -> Job {
    Job {
        name: name.into(),
        due_at,
        payload: payload.to_vec(),
    }
}

fn in_ms(ms: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::milliseconds(ms)
}

/// Stored instants may be truncated to the microsecond.
fn same_instant(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a - b).num_microseconds().is_some_and(|d| d.abs() <= 1)
}

fn assert_on_time(f: &Fired, due: DateTime<Utc>) {
    let lateness = f.at - due;
    assert!(
        lateness >= -chrono::Duration::milliseconds(1),
        "{} fired {lateness} early",
        f.name
    );
    assert!(
        lateness.to_std().unwrap_or_default() < MAX_LATENESS,
        "{} fired {lateness} late",
        f.name
    );
}

async fn open(make: SchedulerFactory) -> (tempfile::TempDir, SchedulerFixture) {
    let dir = tempfile::tempdir().unwrap();
    let fixture = make(dir.path().to_path_buf()).await;
    (dir, fixture)
}

async fn stop(f: SchedulerFixture) {
    (f.stop)().await;
}

pub async fn a_job_fires_once_at_its_time(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    let due = in_ms(200);
    f.scheduler
        .schedule(job("a", due, b"payload"))
        .await
        .unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(fired.name, "a");
    assert_eq!(fired.payload, b"payload");
    assert!(same_instant(fired.due_at, due), "{} vs {due}", fired.due_at);
    assert_on_time(&fired, due);
    // Long enough for a job wrongly kept after `Done` to come back (see the factories' leases).
    probe.expect_none(Duration::from_millis(1500)).await;
    stop(f).await;
}

pub async fn a_cancelled_job_never_fires(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    f.scheduler
        .schedule(job("c", in_ms(200), b""))
        .await
        .unwrap();
    f.scheduler
        .schedule(job("keep", in_ms(300), b""))
        .await
        .unwrap();
    f.scheduler.cancel("c").await.unwrap();
    f.scheduler.cancel("never-scheduled").await.unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(fired.name, "keep");
    probe.expect_none(Duration::from_millis(500)).await;
    stop(f).await;
}

pub async fn scheduling_again_replaces_the_job(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    // Moved earlier, with a new payload.
    f.scheduler
        .schedule(job("r", in_ms(400), b"old"))
        .await
        .unwrap();
    let due = in_ms(150);
    f.scheduler.schedule(job("r", due, b"new")).await.unwrap();
    // Moved later.
    f.scheduler
        .schedule(job("s", in_ms(150), b""))
        .await
        .unwrap();
    let later = in_ms(600);
    f.scheduler.schedule(job("s", later, b"")).await.unwrap();

    let first = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(
        (first.name.as_str(), first.payload.as_slice()),
        ("r", &b"new"[..])
    );
    assert_on_time(&first, due);
    let second = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(second.name, "s");
    assert_on_time(&second, later);
    probe.expect_none(Duration::from_millis(500)).await;
    stop(f).await;
}

/// A handler that holds its first firing until released.
struct Gated {
    tx: mpsc::UnboundedSender<Fired>,
    release: Arc<tokio::sync::Semaphore>,
    first: std::sync::atomic::AtomicBool,
}

#[async_trait]
impl JobHandler for Gated {
    async fn fire(&self, job: &Job) -> Outcome {
        let _ = self.tx.send(Fired {
            name: job.name.clone(),
            payload: job.payload.clone(),
            due_at: job.due_at,
            at: Utc::now(),
            by: "gated",
        });
        if self.first.swap(false, std::sync::atomic::Ordering::SeqCst) {
            let _ = self.release.acquire().await.map(|p| p.forget());
        }
        Outcome::Done
    }
}

/// The old firing finishing with `Done` must not delete the job scheduled meanwhile.
pub async fn rescheduling_while_firing_keeps_the_new_job(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    let release = Arc::new(tokio::sync::Semaphore::new(0));
    let handler = Arc::new(Gated {
        tx: probe.tx.clone(),
        release: release.clone(),
        first: true.into(),
    });
    f.scheduler.start(handler).await.unwrap();
    f.scheduler
        .schedule(job("x", Utc::now(), b"v1"))
        .await
        .unwrap();
    let first = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(first.payload, b"v1");
    let due = in_ms(300);
    f.scheduler.schedule(job("x", due, b"v2")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    release.add_permits(1);
    let second = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(
        (second.name.as_str(), second.payload.as_slice()),
        ("x", &b"v2"[..])
    );
    assert_on_time(&second, due);
    probe.expect_none(Duration::from_millis(500)).await;
    stop(f).await;
}

pub async fn retry_fires_again_after_a_back_off(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    let script = [("flaky", vec![Outcome::Retry("smtp down".into())])];
    f.scheduler
        .start(probe.handler("p", &script))
        .await
        .unwrap();
    f.scheduler
        .schedule(job("flaky", in_ms(100), b"x"))
        .await
        .unwrap();
    let first = probe.expect(Duration::from_secs(3)).await;
    let second = probe.expect(Duration::from_secs(10)).await;
    assert_eq!(second.name, "flaky");
    assert_eq!(second.payload, b"x");
    assert!(second.at > first.at, "fired again later");
    assert!(
        second.at - first.at >= chrono::Duration::milliseconds(100),
        "after a back-off, not immediately: {}",
        second.at - first.at
    );
    probe.expect_none(Duration::from_millis(700)).await;
    stop(f).await;
}

pub async fn reject_drops_the_job(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    let script = [("poison", vec![Outcome::Reject("malformed".into())])];
    f.scheduler
        .start(probe.handler("p", &script))
        .await
        .unwrap();
    f.scheduler
        .schedule(job("poison", in_ms(100), b""))
        .await
        .unwrap();
    assert_eq!(probe.expect(Duration::from_secs(3)).await.name, "poison");
    // Longer than the first retry back-off: a rejected job is not retried.
    probe.expect_none(Duration::from_millis(1500)).await;
    stop(f).await;
}

pub async fn an_overdue_job_fires_at_start(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    let due = Utc::now() - chrono::Duration::hours(1);
    f.scheduler
        .schedule(job("overdue", due, b"late"))
        .await
        .unwrap();
    probe.expect_none(Duration::from_millis(200)).await;
    let started = Utc::now();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(fired.name, "overdue");
    assert!(
        same_instant(fired.due_at, due),
        "the handler sees the original due time"
    );
    assert_on_time(&fired, started);
    stop(f).await;
}

pub async fn jobs_fire_in_due_order(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    let dues = [("b", in_ms(300)), ("a", in_ms(150)), ("c", in_ms(450))];
    for (name, due) in dues {
        f.scheduler.schedule(job(name, due, b"")).await.unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..3 {
        let fired = probe.expect(Duration::from_secs(3)).await;
        let due = dues.iter().find(|(n, _)| *n == fired.name).unwrap().1;
        assert_on_time(&fired, due);
        order.push(fired.name);
    }
    assert_eq!(order, vec!["a", "b", "c"]);
    stop(f).await;
}

/// A runner sleeping towards its next look must notice a job scheduled for now well before that.
pub async fn scheduling_wakes_a_sleeping_runner(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    f.scheduler
        .schedule(job("far", in_ms(60_000), b""))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let due = Utc::now();
    f.scheduler.schedule(job("now", due, b"")).await.unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(fired.name, "now");
    let lateness = (fired.at - due).to_std().unwrap_or_default();
    assert!(
        lateness < Duration::from_millis(500),
        "not woken: {lateness:?}"
    );
    stop(f).await;
}

pub async fn a_pending_job_fires_after_a_restart(make: SchedulerFactory) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().to_path_buf();
    let mut probe = Probe::new();
    let first = make(path.clone()).await;
    first
        .scheduler
        .start(probe.handler("first", &[]))
        .await
        .unwrap();
    let due = in_ms(500);
    first
        .scheduler
        .schedule(job("survivor", due, b"kept"))
        .await
        .unwrap();
    stop(first).await;

    let second = make(path).await;
    second
        .scheduler
        .start(probe.handler("second", &[]))
        .await
        .unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!((fired.name.as_str(), fired.by), ("survivor", "second"));
    assert_eq!(fired.payload, b"kept");
    assert_on_time(&fired, due);
    probe.expect_none(Duration::from_millis(500)).await;
    stop(second).await;
}

pub async fn a_job_due_while_stopped_fires_at_start(make: SchedulerFactory) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().to_path_buf();
    let mut probe = Probe::new();
    let first = make(path.clone()).await;
    let due = in_ms(100);
    first
        .scheduler
        .schedule(job("missed", due, b""))
        .await
        .unwrap();
    stop(first).await;
    tokio::time::sleep(Duration::from_millis(300)).await;

    let second = make(path).await;
    let started = Utc::now();
    second
        .scheduler
        .start(probe.handler("second", &[]))
        .await
        .unwrap();
    let fired = probe.expect(Duration::from_secs(3)).await;
    assert_eq!(fired.name, "missed");
    assert!(same_instant(fired.due_at, due));
    assert_on_time(&fired, started);
    stop(second).await;
}

/// Two runners on one store: every job fires exactly once, whichever process schedules it.
pub async fn two_processes_fire_each_job_once(make: SchedulerFactory) {
    let dir = tempfile::tempdir().unwrap();
    let path: PathBuf = dir.path().to_path_buf();
    let mut probe = Probe::new();
    let one = make(path.clone()).await;
    let two = make(path).await;
    one.scheduler
        .start(probe.handler("one", &[]))
        .await
        .unwrap();
    two.scheduler
        .start(probe.handler("two", &[]))
        .await
        .unwrap();
    let due = in_ms(300);
    for i in 0..12 {
        let s = if i % 2 == 0 { &one } else { &two };
        s.scheduler
            .schedule(job(&format!("job-{i}"), due, b""))
            .await
            .unwrap();
    }
    let mut seen = HashMap::new();
    while seen.len() < 12 {
        let fired = probe.expect(Duration::from_secs(3)).await;
        assert!(
            seen.insert(fired.name.clone(), fired.by).is_none(),
            "{} fired twice",
            fired.name
        );
    }
    probe.expect_none(Duration::from_millis(1200)).await;
    stop(one).await;
    stop(two).await;
}

/// Answers `slow-*` jobs after `slow`, the others at once; records every firing.
struct Slow {
    slow: Duration,
    tx: mpsc::UnboundedSender<Fired>,
}

#[async_trait]
impl JobHandler for Slow {
    async fn fire(&self, job: &Job) -> Outcome {
        let _ = self.tx.send(Fired {
            name: job.name.clone(),
            payload: job.payload.clone(),
            due_at: job.due_at,
            at: Utc::now(),
            by: "slow",
        });
        if job.name.starts_with("slow-") {
            tokio::time::sleep(self.slow).await;
        }
        Outcome::Done
    }
}

/// Twelve of the sixteen permits held by handlers that take 800 ms (under the fixtures' 1 s lease,
/// so they do not fire twice): the twenty quick jobs due right after them still fire long before
/// the slow ones finish, four permits at a time.
pub async fn slow_handlers_do_not_hold_up_other_due_jobs(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let probe = Probe::new();
    let mut rx = probe.rx;
    let slow = Duration::from_millis(800);
    f.scheduler
        .start(Arc::new(Slow { slow, tx: probe.tx }))
        .await
        .unwrap();
    let due = in_ms(300);
    for i in 0..12 {
        let name = format!("slow-{i:02}");
        f.scheduler.schedule(job(&name, due, b"")).await.unwrap();
    }
    let later = due + chrono::Duration::milliseconds(1);
    for i in 0..20 {
        let name = format!("quick-{i:02}");
        f.scheduler.schedule(job(&name, later, b"")).await.unwrap();
    }
    let mut quick = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while quick < 20 {
        let fired = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("every job should have fired")
            .unwrap();
        if fired.name.starts_with("quick-") {
            quick += 1;
            let lateness = (fired.at - fired.due_at).to_std().unwrap_or_default();
            assert!(
                lateness < Duration::from_millis(600),
                "{} waited {lateness:?} behind the slow handlers",
                fired.name
            );
        }
    }
    stop(f).await;
}

/// Five hundred jobs due in the same instant, more than thirty times the permits: each fires once.
pub async fn a_burst_of_due_jobs_all_fire_once(make: SchedulerFactory) {
    let (_dir, f) = open(make).await;
    let mut probe = Probe::new();
    f.scheduler.start(probe.handler("p", &[])).await.unwrap();
    let due = in_ms(500);
    for i in 0..500 {
        f.scheduler
            .schedule(job(&format!("burst-{i:03}"), due, b""))
            .await
            .unwrap();
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < 500 {
        let fired = probe.expect(Duration::from_secs(5)).await;
        assert!(
            seen.insert(fired.name.clone()),
            "{} fired twice",
            fired.name
        );
    }
    probe.expect_none(Duration::from_millis(1500)).await;
    stop(f).await;
}

/// Records the size of every batch and each job's firings; `-retry` jobs ask for a retry on their
/// first firing, `-reject` jobs are rejected.
#[derive(Default)]
struct Batches {
    sizes: Mutex<Vec<usize>>,
    fired: Mutex<HashMap<String, usize>>,
}

#[async_trait]
impl JobHandler for Batches {
    async fn fire(&self, _job: &Job) -> Outcome {
        unreachable!("the database-backed runner fires in batches")
    }

    async fn fire_batch(&self, jobs: &[Job], settled: &Settled<'_>) {
        self.sizes.lock().unwrap().push(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            let n = {
                let mut fired = self.fired.lock().unwrap();
                let n = fired.entry(job.name.clone()).or_default();
                *n += 1;
                *n
            };
            let outcome = if job.name.ends_with("-retry") && n == 1 {
                Outcome::Retry("first time".into())
            } else if job.name.ends_with("-reject") {
                Outcome::Reject("never".into())
            } else {
                Outcome::Done
            };
            settled(i, outcome);
        }
    }
}

pub async fn jobs_due_together_reach_the_handler_in_batches_settled_per_job(
    make: SchedulerFactory,
) {
    let (_dir, f) = open(make).await;
    let handler = Arc::new(Batches::default());
    f.scheduler.start(handler.clone()).await.unwrap();
    let due = in_ms(400);
    let mut names: Vec<String> = (0..38).map(|i| format!("batch-{i:02}")).collect();
    names.push("batch-x-retry".into());
    names.push("batch-x-reject".into());
    for name in &names {
        f.scheduler.schedule(job(name, due, b"")).await.unwrap();
    }
    // Due at +0.4 s; the retry's back-off is one second; then nothing may fire again.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    stop(f).await;
    let sizes = handler.sizes.lock().unwrap().clone();
    let fired = handler.fired.lock().unwrap().clone();
    for name in &names {
        let want = if name.ends_with("-retry") { 2 } else { 1 };
        assert_eq!(fired.get(name), Some(&want), "{name}: {fired:?}");
    }
    // Sixteen permits, two chunks of eight: 40 jobs due at once cannot take 40 handler calls.
    assert!(sizes.iter().all(|&n| (1..=8).contains(&n)), "{sizes:?}");
    assert!(sizes.len() <= 20, "{} batches: {sizes:?}", sizes.len());
}
