//! `Scheduler` backed by the `jobs` table, for deployments without Dapr's Jobs API.
//!
//! `start` spawns one runner task per call. The runner claims due jobs with a lease (one
//! UPDATE … RETURNING, atomic in SQLite), so several processes sharing the database file never fire
//! the same job at the same time; hands each to the handler (concurrently, at most
//! `max_in_flight` at once); and then deletes, reschedules or drops the job according to the
//! outcome — but only if the job still carries the token it was claimed with, so a job replaced or
//! re-created while its old version was firing is left alone.
//!
//! Between rounds it sleeps until the earliest due time, a local wake-up (`schedule`, a retry), or
//! `poll_cap` (1 s) — the cap is what notices jobs written by another process. Lateness on an idle
//! machine is the timer's granularity (a few milliseconds).
//!
//! Delivery is at least once: a runner that dies mid-fire leaves its jobs leased, and they fire
//! again once the lease (60 s by default) lapses. A handler running longer than the lease may see
//! its job fired a second time, so handlers must be idempotent (the reminder handler is, through
//! `fire_reminder`'s conditional update).
//!
//! Stopping: the runner stops when the Tokio runtime shuts down (its task is dropped), when
//! `SqliteStore::close` is called, or when the shutdown signal given to
//! `SqliteStore::with_shutdown` turns true (or its sender is dropped). On the last two it lets
//! in-flight handlers finish for up to `drain_timeout` first.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::error::infra;
use super::rows::{add, instant, micros};
use crate::ports::error::chain;
use crate::ports::{InfraError, Job, JobHandler, Outcome, Scheduler};

#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How long a claimed job is reserved for its runner before another may fire it again.
    pub lease: Duration,
    /// Longest sleep between looks at the table (bounds how late a job written by another process
    /// is noticed).
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

#[derive(Clone)]
pub struct SqliteScheduler {
    pool: SqlitePool,
    wake: Arc<Notify>,
    closing: Arc<watch::Sender<bool>>,
    shutdown: Option<watch::Receiver<bool>>,
    config: SchedulerConfig,
}

impl SqliteScheduler {
    pub(crate) fn new(
        pool: SqlitePool,
        wake: Arc<Notify>,
        closing: Arc<watch::Sender<bool>>,
        shutdown: Option<watch::Receiver<bool>>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            pool,
            wake,
            closing,
            shutdown,
            config,
        }
    }
}

#[async_trait]
impl Scheduler for SqliteScheduler {
    /// Upsert by name with a fresh token, attempts reset and no lease: the replaced job is a new
    /// job. A due time in the past is claimable at once, and the wake-up makes the runner look now.
    async fn schedule(&self, job: Job) -> Result<(), InfraError> {
        sqlx::query(
            "INSERT INTO jobs (name, due_at, payload, lease_until, attempts, token) \
             VALUES (?, ?, ?, NULL, 0, ?) ON CONFLICT (name) DO UPDATE SET \
             due_at = excluded.due_at, payload = excluded.payload, lease_until = NULL, \
             attempts = 0, token = excluded.token",
        )
        .bind(&job.name)
        .bind(micros(job.due_at))
        .bind(&job.payload)
        .bind(rand::random::<i64>())
        .execute(&self.pool)
        .await
        .map_err(|e| infra(format!("cannot schedule job {}", job.name), e))?;
        self.wake.notify_one();
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), InfraError> {
        sqlx::query("DELETE FROM jobs WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(|e| infra(format!("cannot cancel job {name}"), e))?;
        Ok(())
    }

    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError> {
        // Fail now, not silently in the background, when the database is unusable.
        sqlx::query("SELECT 1 FROM jobs LIMIT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot start the job runner", e))?;
        let runner = Runner {
            pool: self.pool.clone(),
            wake: self.wake.clone(),
            closing: self.closing.subscribe(),
            shutdown: self.shutdown.clone(),
            config: self.config.clone(),
            handler,
        };
        tokio::spawn(runner.run());
        Ok(())
    }
}

struct Runner {
    pool: SqlitePool,
    wake: Arc<Notify>,
    closing: watch::Receiver<bool>,
    shutdown: Option<watch::Receiver<bool>>,
    config: SchedulerConfig,
    handler: Arc<dyn JobHandler>,
}

/// A job as claimed: what the handler sees, plus what the runner needs to settle it.
struct Claimed {
    job: Job,
    attempts: u32,
    token: i64,
}

impl Runner {
    async fn run(mut self) {
        tracing::info!("job runner started");
        let permits = Arc::new(Semaphore::new(self.config.max_in_flight.max(1)));
        let mut in_flight = JoinSet::new();
        while !self.stopping() {
            while let Some(done) = in_flight.try_join_next() {
                log_join(done);
            }
            let now = Utc::now();
            let free = permits.available_permits();
            let mut more_due = false;
            if free > 0 {
                match self.claim(now, free).await {
                    Ok(jobs) => {
                        more_due = jobs.len() == free;
                        for claimed in jobs {
                            let Ok(permit) = permits.clone().try_acquire_owned() else {
                                break;
                            };
                            let settle = Settle {
                                pool: self.pool.clone(),
                                wake: self.wake.clone(),
                                config: self.config.clone(),
                            };
                            let handler = self.handler.clone();
                            in_flight.spawn(async move {
                                settle.fire(handler, claimed).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(sqlx::Error::PoolClosed) => break,
                    Err(e) => tracing::warn!(
                        error = %chain(&infra("cannot claim due jobs", e)),
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

    async fn claim(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Claimed>, sqlx::Error> {
        let rows: Vec<(String, i64, Vec<u8>, i64, i64)> = sqlx::query_as(
            "UPDATE jobs SET lease_until = ?1 WHERE name IN ( \
                 SELECT name FROM jobs \
                 WHERE due_at <= ?2 AND (lease_until IS NULL OR lease_until < ?2) \
                 ORDER BY due_at, name LIMIT ?3) \
             RETURNING name, due_at, payload, attempts, token",
        )
        .bind(micros(add(now, self.config.lease)))
        .bind(micros(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let mut out = Vec::with_capacity(rows.len());
        for (name, due_at, payload, attempts, token) in rows {
            match instant(due_at, "jobs.due_at") {
                Ok(due_at) => out.push(Claimed {
                    job: Job {
                        name,
                        due_at,
                        payload,
                    },
                    attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
                    token,
                }),
                // Never fire garbage; the row stays leased, is logged each lease period, and can
                // be repaired or cancelled by hand.
                Err(e) => tracing::error!(job = %name, error = %chain(&e), "unreadable job"),
            }
        }
        out.sort_by_key(|c| c.job.due_at);
        Ok(out)
    }

    /// How long until a job may become claimable: its due time, or for a leased one the end of
    /// its lease. Capped by `poll_cap`; zero when something is due already.
    async fn until_next(&self, now: DateTime<Utc>) -> Duration {
        let next: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= due_at \
             THEN lease_until + 1 ELSE due_at END) FROM jobs",
        )
        .fetch_one(&self.pool)
        .await;
        match next {
            Ok(Some(next)) => {
                let micros_left = next.saturating_sub(micros(now)).max(0);
                Duration::from_micros(micros_left.unsigned_abs()).min(self.config.poll_cap)
            }
            Ok(None) => self.config.poll_cap,
            Err(e) => {
                tracing::warn!(error = %chain(&infra("cannot read the next due job", e)), "job runner");
                self.config.poll_cap
            }
        }
    }
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
struct Settle {
    pool: SqlitePool,
    wake: Arc<Notify>,
    config: SchedulerConfig,
}

impl Settle {
    async fn fire(&self, handler: Arc<dyn JobHandler>, claimed: Claimed) {
        let name = claimed.job.name.clone();
        let lateness_ms = (Utc::now() - claimed.job.due_at).num_milliseconds();
        tracing::debug!(job = %name, lateness_ms, attempts = claimed.attempts, "firing job");
        let outcome = handler.fire(&claimed.job).await;
        let result = match &outcome {
            Outcome::Done => self.remove(&claimed).await,
            Outcome::Retry(reason) => {
                let attempts = claimed.attempts.saturating_add(1);
                let delay = backoff(attempts, self.config.max_backoff);
                tracing::info!(job = %name, attempts, ?delay, %reason, "job will be retried");
                self.retry(&claimed, attempts, add(Utc::now(), delay)).await
            }
            Outcome::Reject(reason) => {
                tracing::warn!(job = %name, %reason, "job rejected by its handler; dropped");
                self.remove(&claimed).await
            }
        };
        if let Err(e) = result {
            tracing::error!(
                job = %name,
                error = %chain(&e),
                "cannot record the job's outcome; it fires again after its lease"
            );
        }
    }

    /// Deletes the job unless it was replaced (new token) while it was firing.
    async fn remove(&self, claimed: &Claimed) -> Result<(), InfraError> {
        sqlx::query("DELETE FROM jobs WHERE name = ? AND token = ?")
            .bind(&claimed.job.name)
            .bind(claimed.token)
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot remove a finished job", e))?;
        Ok(())
    }

    async fn retry(
        &self,
        claimed: &Claimed,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        sqlx::query(
            "UPDATE jobs SET due_at = ?, attempts = ?, lease_until = NULL \
             WHERE name = ? AND token = ?",
        )
        .bind(micros(at))
        .bind(i64::from(attempts))
        .bind(&claimed.job.name)
        .bind(claimed.token)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot reschedule a job", e))?;
        // The runner may be sleeping towards a later job; let it recompute its deadline.
        self.wake.notify_one();
        Ok(())
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
}
