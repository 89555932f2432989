//! The database-backed scheduler's runner loop, shared by the SQLite and PostgreSQL schedulers so
//! that the mechanism cannot drift between them: claim due jobs with a lease, fire them (bounded
//! concurrency), settle each by its outcome, sleep until the next due time, a wake-up or the poll
//! cap. Each database supplies the four statements through [`JobStore`].
//!
//! Guarantees (the adapters' module docs repeat them for their users):
//! * A job is claimed with a lease, so several runners (processes) sharing the table never fire
//!   the same job at the same time; delivery is at least once, since a runner that dies mid-fire
//!   leaves its jobs leased and they fire again once the lease lapses.
//! * Settling (delete on `Done`/`Reject`, reschedule on `Retry`) only touches the row if it still
//!   carries the token it was claimed with, so a job replaced while its old version fired is kept.
//! * Between rounds the runner sleeps until the earliest instant a job may become claimable, a
//!   wake-up (a local `schedule`, a retry, or another process's notification where the database
//!   has them), or `poll_cap`.
//! * Stopping: when the Tokio runtime shuts down (the task is dropped), when the store's closing
//!   signal or the application's shutdown signal turns true (or its sender is dropped). On the
//!   last two it lets in-flight handlers finish for up to `drain_timeout` first.

use std::sync::Arc;
use std::time::Duration;

use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::ports::error::chain;
use crate::ports::{InfraError, Job, JobHandler, Outcome};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How long a claimed job is reserved for its runner before another may fire it again.
    pub lease: Duration,
    /// Longest sleep between looks at the table (bounds how late a job written by another process
    /// is noticed when no notification reaches this one).
    pub poll_cap: Duration,
    /// Handlers running at once per runner.
    pub max_in_flight: usize,
    /// Ceiling of the retry back-off, which doubles from one second.
    pub max_backoff: Duration,
    /// How long a stopping runner waits for in-flight handlers.
    pub drain_timeout: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            poll_cap: Duration::from_secs(1),
            max_in_flight: 16,
            max_backoff: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// A job as claimed: what the handler sees, plus what the runner needs to settle it.
pub(crate) struct ClaimedJob {
    pub job: Job,
    pub attempts: u32,
    pub token: i64,
}

pub(crate) enum ClaimError {
    /// The store was closed: the runner stops.
    Closed,
    Failed(InfraError),
}

/// The statements a runner needs from its database.
#[async_trait]
pub(crate) trait JobStore: Send + Sync + 'static {
    /// Leases up to `limit` jobs due at `now` whose lease is free or has lapsed, until
    /// `lease_until`, oldest due first. Rows the store cannot read are logged and skipped.
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ClaimError>;

    /// Deletes the jobs (name, claim token), in one transaction, except those replaced (a new
    /// token) while they fired.
    async fn remove_many(&self, jobs: &[(String, i64)]) -> Result<(), InfraError>;

    /// Makes the job claimable again at `at`, unless it was replaced meanwhile.
    async fn retry(
        &self,
        name: &str,
        token: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), InfraError>;

    /// The earliest instant a job may become claimable: its due time, or for a leased one just
    /// after its lease. `None` when there are no jobs.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, InfraError>;
}

/// How long free permits may wait for more to free up before they are claimed anyway.
const CLAIM_DEBOUNCE: Duration = Duration::from_millis(20);

pub(crate) struct Runner<S: JobStore> {
    pub store: Arc<S>,
    pub wake: Arc<Notify>,
    pub closing: watch::Receiver<bool>,
    pub shutdown: Option<watch::Receiver<bool>>,
    pub config: SchedulerConfig,
    pub handler: Arc<dyn JobHandler>,
}

impl<S: JobStore> Runner<S> {
    pub async fn run(mut self) {
        tracing::info!("job runner started");
        let max = self.config.max_in_flight.max(1);
        // Claimed jobs go to the handler in chunks (`JobHandler::fire_batch`), two per runner at
        // full load: one chunk's reads overlap the other's writes, and a burst costs a read and a
        // settlement per chunk instead of per job.
        let chunk_size = max.div_ceil(2);
        let permits = Arc::new(Semaphore::new(max));
        let mut in_flight = JoinSet::new();
        // Since when free permits have been held back (see below).
        let mut holding_since: Option<std::time::Instant> = None;
        while !self.stopping() {
            while let Some(done) = in_flight.try_join_next() {
                log_join(done);
            }
            let now = Utc::now();
            let free = permits.available_permits();
            // While handlers run, claim once half the permits are back, or `CLAIM_DEBOUNCE` after
            // the first came back: claiming each permit as it frees costs a claim statement (and
            // on SQLite a commit) per job in a burst, while slow handlers holding more than half
            // the permits must not keep the free ones idle for long.
            if free == 0 {
                holding_since = None;
            }
            let held = *holding_since.get_or_insert_with(std::time::Instant::now);
            let claimable =
                if in_flight.is_empty() || free * 2 >= max || held.elapsed() >= CLAIM_DEBOUNCE {
                    free
                } else {
                    0
                };
            let mut more_due = false;
            if claimable > 0 {
                holding_since = None;
                match self
                    .store
                    .claim(now, add(now, self.config.lease), free)
                    .await
                {
                    Ok(jobs) => {
                        more_due = jobs.len() == free;
                        let mut jobs = jobs.into_iter().peekable();
                        while jobs.peek().is_some() {
                            let chunk: Vec<ClaimedJob> = jobs.by_ref().take(chunk_size).collect();
                            let Ok(permit) =
                                permits.clone().try_acquire_many_owned(chunk.len() as u32)
                            else {
                                break;
                            };
                            let settle = Settle {
                                store: self.store.clone(),
                                wake: self.wake.clone(),
                                config: self.config.clone(),
                            };
                            let handler = self.handler.clone();
                            in_flight.spawn(async move {
                                settle.fire(handler, chunk, permit).await;
                            });
                        }
                    }
                    Err(ClaimError::Closed) => break,
                    Err(ClaimError::Failed(e)) => tracing::warn!(
                        error = %chain(&e),
                        "job runner will try again"
                    ),
                }
            }
            if more_due {
                continue;
            }
            let wait = if free == 0 {
                // Every permit is taken: a finishing handler (below) is what frees the runner.
                self.config.poll_cap
            } else if claimable == 0 {
                CLAIM_DEBOUNCE.saturating_sub(held.elapsed())
            } else {
                self.until_next(now).await
            };
            let mut closing = self.closing.clone();
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.wake.notified() => {}
                done = in_flight.join_next(), if !in_flight.is_empty() => {
                    if let Some(done) = done {
                        log_join(done);
                    }
                }
                _ = closing.wait_for(|c| *c) => {}
                _ = signalled(&mut self.shutdown) => {}
            }
        }
        tracing::info!(in_flight = in_flight.len(), "job runner stopping");
        let drain = async {
            while let Some(done) = in_flight.join_next().await {
                log_join(done);
            }
        };
        if tokio::time::timeout(self.config.drain_timeout, drain)
            .await
            .is_err()
        {
            tracing::warn!("job handlers still running at shutdown; their jobs fire again later");
        }
    }

    fn stopping(&self) -> bool {
        *self.closing.borrow()
            || self
                .shutdown
                .as_ref()
                .is_some_and(|s| *s.borrow() || s.has_changed().is_err())
    }

    /// How long until a job may become claimable, capped by `poll_cap`; zero when something is
    /// due already.
    async fn until_next(&self, now: DateTime<Utc>) -> Duration {
        match self.store.next_due().await {
            Ok(Some(next)) => (next - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.config.poll_cap),
            Ok(None) => self.config.poll_cap,
            Err(e) => {
                tracing::warn!(error = %chain(&e), "job runner");
                self.config.poll_cap
            }
        }
    }
}

/// `t + d`, saturating at the latest representable instant instead of panicking on overflow.
pub(crate) fn add(t: DateTime<Utc>, d: Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// Resolves when the application's shutdown signal is raised or its sender is gone; never when
/// there is no signal.
async fn signalled(shutdown: &mut Option<watch::Receiver<bool>>) {
    match shutdown {
        Some(rx) => {
            let _ = rx.wait_for(|stop| *stop).await;
        }
        None => std::future::pending().await,
    }
}

fn log_join(done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done
        && e.is_panic()
    {
        tracing::error!(error = %e, "job handler panicked; its job fires again after its lease");
    }
}

/// What a finished firing needs to record its outcome.
struct Settle<S: JobStore> {
    store: Arc<S>,
    wake: Arc<Notify>,
    config: SchedulerConfig,
}

impl<S: JobStore> Settle<S> {
    /// Fires a chunk; each job's permit is returned as soon as the handler settles that job, and
    /// the finished jobs are removed together once the whole chunk is done (they stay leased
    /// until then, so nobody fires them again).
    async fn fire(
        &self,
        handler: Arc<dyn JobHandler>,
        chunk: Vec<ClaimedJob>,
        permits: OwnedSemaphorePermit,
    ) {
        let now = Utc::now();
        for claimed in &chunk {
            let lateness_ms = (now - claimed.job.due_at).num_milliseconds();
            tracing::debug!(job = %claimed.job.name, lateness_ms, attempts = claimed.attempts, "firing job");
        }
        let (jobs, claims): (Vec<Job>, Vec<(u32, i64)>) = chunk
            .into_iter()
            .map(|c| (c.job, (c.attempts, c.token)))
            .unzip();
        // The outcomes so far, and the permits of the jobs still firing.
        let state: Mutex<(Vec<Option<Outcome>>, OwnedSemaphorePermit)> =
            Mutex::new((jobs.iter().map(|_| None).collect(), permits));
        let settled = |i: usize, outcome: Outcome| {
            let mut state = state.lock().unwrap_or_else(|p| p.into_inner());
            let (slots, permits) = &mut *state;
            if let Some(slot @ None) = slots.get_mut(i) {
                *slot = Some(outcome);
                drop(permits.split(1));
                // The chunk's task is still running, so nothing else tells the runner that a
                // permit came back (repeated notifications coalesce into one wake-up).
                self.wake.notify_one();
            }
        };
        handler.fire_batch(&jobs, &settled).await;
        let (outcomes, _unsettled) = state.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut finished = Vec::with_capacity(jobs.len());
        for ((job, (attempts, token)), outcome) in jobs.into_iter().zip(claims).zip(outcomes) {
            match outcome {
                Some(Outcome::Done) => finished.push((job.name, token)),
                Some(Outcome::Reject(reason)) => {
                    tracing::warn!(job = %job.name, %reason, "job rejected by its handler; dropped");
                    finished.push((job.name, token));
                }
                Some(Outcome::Retry(reason)) => {
                    self.retry(&job.name, token, attempts, &reason).await
                }
                None => {
                    tracing::error!(job = %job.name, "job handler gave no outcome; retrying");
                    self.retry(&job.name, token, attempts, "no outcome").await;
                }
            }
        }
        if finished.is_empty() {
            return;
        }
        if let Err(e) = self.store.remove_many(&finished).await {
            tracing::error!(
                jobs = finished.len(),
                error = %chain(&e),
                "cannot record the jobs' outcome; they fire again after their lease"
            );
        }
    }

    async fn retry(&self, name: &str, token: i64, attempts: u32, reason: &str) {
        let attempts = attempts.saturating_add(1);
        let delay = backoff(attempts, self.config.max_backoff);
        tracing::info!(job = %name, attempts, ?delay, %reason, "job will be retried");
        match self
            .store
            .retry(name, token, attempts, add(Utc::now(), delay))
            .await
        {
            // The runner may be sleeping towards a later job; let it recompute its deadline.
            Ok(()) => self.wake.notify_one(),
            Err(e) => tracing::error!(
                job = %name,
                error = %chain(&e),
                "cannot record the job's outcome; it fires again after its lease"
            ),
        }
    }
}

/// 1 s, 2 s, 4 s … up to `max`.
fn backoff(attempts: u32, max: Duration) -> Duration {
    let exp = attempts.saturating_sub(1).min(30);
    Duration::from_secs(1_u64 << exp).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let max = Duration::from_secs(300);
        assert_eq!(backoff(1, max), Duration::from_secs(1));
        assert_eq!(backoff(2, max), Duration::from_secs(2));
        assert_eq!(backoff(4, max), Duration::from_secs(8));
        assert_eq!(backoff(20, max), max);
        assert_eq!(backoff(u32::MAX, max), max);
    }

    #[test]
    fn add_saturates_instead_of_overflowing() {
        let t = Utc::now();
        assert_eq!(
            add(t, Duration::from_secs(1)),
            t + chrono::Duration::seconds(1)
        );
        assert_eq!(add(t, Duration::MAX), DateTime::<Utc>::MAX_UTC);
    }
}
