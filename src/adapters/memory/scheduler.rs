//! One-shot named jobs in memory, fired by a tokio task. Due times are wall-clock instants
//! (`Job::due_at`) compared with `Utc::now()`: the runner sleeps until the earliest due time or
//! until a `schedule` wakes it, so a job fires a few milliseconds after it falls due. Jobs live
//! only as long as the process; the durable schedulers are the database- and Dapr-backed ones.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::FutureExt;
use tokio::sync::Notify;

use crate::ports::{InfraError, Job, JobHandler, Outcome, Scheduler};

/// The longest the runner sleeps without looking again (guards against wall-clock jumps, and lets
/// it notice that the scheduler was dropped).
const MAX_IDLE: Duration = Duration::from_secs(1);

struct Entry {
    job: Job,
    /// Bumped by every `schedule`, so a firing that ends after a replacement leaves it alone.
    generation: u64,
    fire_at: DateTime<Utc>,
    in_flight: bool,
    failures: u32,
}

#[derive(Default)]
struct Jobs {
    map: HashMap<String, Entry>,
    last_generation: u64,
}

#[derive(Default)]
struct Shared {
    jobs: Mutex<Jobs>,
    wake: Notify,
    started: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Jobs> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Clone, Copy)]
struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// `first`, doubling with each consecutive failure, up to `max`.
    fn after(self, failures: u32) -> Duration {
        let factor = 1u32 << failures.saturating_sub(1).min(16);
        self.first.saturating_mul(factor).min(self.max)
    }
}

#[derive(Clone)]
pub struct MemoryScheduler {
    shared: Arc<Shared>,
    backoff: Backoff,
}

impl Default for MemoryScheduler {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryScheduler {
    /// Retries start 100 ms after a `Retry` and double up to 30 s.
    pub fn new() -> Self {
        Self {
            shared: Arc::default(),
            backoff: Backoff {
                first: Duration::from_millis(100),
                max: Duration::from_secs(30),
            },
        }
    }

    pub fn with_retry_backoff(mut self, first: Duration, max: Duration) -> Self {
        self.backoff = Backoff { first, max };
        self
    }

    /// Jobs not yet done, rejected or cancelled (including one being fired), by name.
    pub fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = self
            .shared
            .lock()
            .map
            .values()
            .map(|e| e.job.clone())
            .collect();
        jobs.sort_by(|a, b| a.name.cmp(&b.name));
        jobs
    }
}

#[async_trait]
impl Scheduler for MemoryScheduler {
    async fn schedule(&self, job: Job) -> Result<(), InfraError> {
        {
            let mut jobs = self.shared.lock();
            jobs.last_generation += 1;
            let entry = Entry {
                fire_at: job.due_at,
                generation: jobs.last_generation,
                job,
                in_flight: false,
                failures: 0,
            };
            jobs.map.insert(entry.job.name.clone(), entry);
        }
        // A stored permit if the runner is busy: it looks again before sleeping.
        self.shared.wake.notify_one();
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), InfraError> {
        self.shared.lock().map.remove(name);
        Ok(())
    }

    /// Spawns the runner on the current tokio runtime; it stops when the scheduler (every clone)
    /// is dropped or the runtime shuts down. Starting twice is an error.
    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError> {
        if self.shared.started.swap(true, Ordering::SeqCst) {
            return Err(InfraError::msg("memory scheduler already started"));
        }
        tokio::spawn(run(Arc::downgrade(&self.shared), handler, self.backoff));
        Ok(())
    }
}

async fn run(shared: Weak<Shared>, handler: Arc<dyn JobHandler>, backoff: Backoff) {
    while let Some(shared) = shared.upgrade() {
        let now = Utc::now();
        let mut due = Vec::new();
        let mut next: Option<DateTime<Utc>> = None;
        {
            let mut jobs = shared.lock();
            for e in jobs.map.values_mut().filter(|e| !e.in_flight) {
                if e.fire_at <= now {
                    e.in_flight = true;
                    due.push((e.job.clone(), e.generation));
                } else {
                    next = Some(next.map_or(e.fire_at, |n| n.min(e.fire_at)));
                }
            }
        }
        for (job, generation) in due {
            tokio::spawn(fire(
                shared.clone(),
                handler.clone(),
                job,
                generation,
                backoff,
            ));
        }
        let wait = next
            .map(|t| (t - now).to_std().unwrap_or_default())
            .unwrap_or(MAX_IDLE)
            .min(MAX_IDLE);
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::now() + wait) => {}
            _ = shared.wake.notified() => {}
        }
    }
}

/// Fires one job and applies the outcome, unless the job was cancelled or replaced meanwhile.
async fn fire(
    shared: Arc<Shared>,
    handler: Arc<dyn JobHandler>,
    job: Job,
    generation: u64,
    backoff: Backoff,
) {
    let outcome = AssertUnwindSafe(handler.fire(&job))
        .catch_unwind()
        .await
        .unwrap_or_else(|_| Outcome::Retry("job handler panicked".into()));
    let mut jobs = shared.lock();
    let Some(entry) = jobs
        .map
        .get_mut(&job.name)
        .filter(|e| e.generation == generation)
    else {
        return;
    };
    match outcome {
        Outcome::Done => {
            jobs.map.remove(&job.name);
        }
        Outcome::Reject(reason) => {
            tracing::warn!(job = %job.name, %reason, "scheduled job rejected; dropping it");
            jobs.map.remove(&job.name);
        }
        Outcome::Retry(reason) => {
            entry.failures += 1;
            let delay = backoff.after(entry.failures);
            tracing::debug!(job = %job.name, %reason, ?delay, "scheduled job will fire again");
            entry.fire_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
            entry.in_flight = false;
            drop(jobs);
            shared.wake.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    /// Records each firing (name, when); answers with queued outcomes, then `Done`.
    #[derive(Default)]
    struct Recorder {
        fired: Mutex<Vec<(String, Instant)>>,
        outcomes: Mutex<Vec<Outcome>>,
    }

    impl Recorder {
        fn names(&self) -> Vec<String> {
            self.fired
                .lock()
                .unwrap()
                .iter()
                .map(|(n, _)| n.clone())
                .collect()
        }
    }

    #[async_trait]
    impl JobHandler for Recorder {
        async fn fire(&self, job: &Job) -> Outcome {
            self.fired
                .lock()
                .unwrap()
                .push((job.name.clone(), Instant::now()));
            let mut o = self.outcomes.lock().unwrap();
            if o.is_empty() {
                Outcome::Done
            } else {
                o.remove(0)
            }
        }
    }

    fn job(name: &str, in_ms: i64) -> Job {
        Job {
            name: name.into(),
            due_at: Utc::now() + chrono::Duration::milliseconds(in_ms),
            payload: name.as_bytes().to_vec(),
        }
    }

    async fn started(outcomes: Vec<Outcome>) -> (MemoryScheduler, Arc<Recorder>) {
        let s = MemoryScheduler::new()
            .with_retry_backoff(Duration::from_millis(50), Duration::from_millis(200));
        let r = Arc::new(Recorder {
            outcomes: Mutex::new(outcomes),
            ..Default::default()
        });
        s.start(r.clone()).await.unwrap();
        (s, r)
    }

    async fn sleep_ms(ms: u64) {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }

    #[tokio::test]
    async fn fires_once_when_due_and_not_before() {
        let (s, r) = started(vec![]).await;
        let t0 = Instant::now();
        s.schedule(job("a", 150)).await.unwrap();
        sleep_ms(100).await;
        assert!(r.names().is_empty());
        sleep_ms(200).await;
        let fired = r.fired.lock().unwrap().clone();
        assert_eq!(fired.len(), 1);
        let at = fired[0].1 - t0;
        assert!(at >= Duration::from_millis(145), "{at:?}");
        assert!(at < Duration::from_millis(250), "{at:?}");
        sleep_ms(100).await;
        assert_eq!(r.names(), vec!["a"]);
        assert!(s.jobs().is_empty());
    }

    #[tokio::test]
    async fn past_due_fires_at_once_and_jobs_before_start_are_kept() {
        let s = MemoryScheduler::new();
        s.schedule(job("late", -5_000)).await.unwrap();
        let r = Arc::new(Recorder::default());
        s.start(r.clone()).await.unwrap();
        sleep_ms(50).await;
        assert_eq!(r.names(), vec!["late"]);
        assert!(s.start(r.clone()).await.is_err());
    }

    #[tokio::test]
    async fn cancel_prevents_firing() {
        let (s, r) = started(vec![]).await;
        s.schedule(job("a", 100)).await.unwrap();
        s.schedule(job("b", 100)).await.unwrap();
        s.cancel("a").await.unwrap();
        s.cancel("unknown").await.unwrap();
        sleep_ms(250).await;
        assert_eq!(r.names(), vec!["b"]);
    }

    #[tokio::test]
    async fn reschedule_replaces_the_due_time() {
        let (s, r) = started(vec![]).await;
        s.schedule(job("a", 100)).await.unwrap();
        s.schedule(job("a", 300)).await.unwrap();
        sleep_ms(200).await;
        assert!(r.names().is_empty());
        assert_eq!(s.jobs().len(), 1);
        sleep_ms(200).await;
        assert_eq!(r.names(), vec!["a"]);
        // Earlier than a sleeping runner expects: the wake-up makes it look again.
        s.schedule(job("b", 5_000)).await.unwrap();
        sleep_ms(20).await;
        s.schedule(job("b", 50)).await.unwrap();
        sleep_ms(150).await;
        assert_eq!(r.names(), vec!["a", "b"]);
    }

    #[tokio::test]
    async fn retry_fires_again_after_backoff_and_reject_drops() {
        let (s, r) = started(vec![
            Outcome::Retry("busy".into()),
            Outcome::Retry("busy".into()),
        ])
        .await;
        s.schedule(job("a", 0)).await.unwrap();
        sleep_ms(400).await;
        let fired = r.fired.lock().unwrap().clone();
        assert_eq!(fired.len(), 3, "two retries then done");
        assert!(fired[1].1 - fired[0].1 >= Duration::from_millis(45));
        assert!(fired[2].1 - fired[1].1 >= Duration::from_millis(95));
        assert!(s.jobs().is_empty());

        r.outcomes
            .lock()
            .unwrap()
            .push(Outcome::Reject("bad payload".into()));
        s.schedule(job("b", 0)).await.unwrap();
        sleep_ms(200).await;
        assert_eq!(r.names().iter().filter(|n| *n == "b").count(), 1);
        assert!(s.jobs().is_empty());
    }

    #[tokio::test]
    async fn rescheduled_while_firing_survives_the_done() {
        struct Slow(Arc<Recorder>);
        #[async_trait]
        impl JobHandler for Slow {
            async fn fire(&self, job: &Job) -> Outcome {
                sleep_ms(100).await;
                self.0.fire(job).await
            }
        }
        let s = MemoryScheduler::new();
        let r = Arc::new(Recorder::default());
        s.start(Arc::new(Slow(r.clone()))).await.unwrap();
        s.schedule(job("a", 0)).await.unwrap();
        sleep_ms(30).await;
        s.schedule(job("a", 200)).await.unwrap();
        sleep_ms(120).await;
        assert_eq!(r.names(), vec!["a"]);
        assert_eq!(s.jobs().len(), 1, "the replacement is still scheduled");
        sleep_ms(350).await;
        assert_eq!(r.names(), vec!["a", "a"]);
        assert!(s.jobs().is_empty());
    }
}
