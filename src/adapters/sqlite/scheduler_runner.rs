//! The scheduler's runner loop: claim due jobs with a lease, fire them (bounded concurrency),
//! settle each by its outcome, sleep until the next due time, a wake-up or the poll cap. The
//! design and its guarantees are described in `scheduler.rs`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

use super::error::infra;
use super::rows::{add, instant, micros};
use super::scheduler::SchedulerConfig;
use crate::ports::error::chain;
use crate::ports::{InfraError, Job, JobHandler, Outcome};

pub(crate) struct Runner {
    pub pool: SqlitePool,
    pub wake: Arc<Notify>,
    pub closing: watch::Receiver<bool>,
    pub shutdown: Option<watch::Receiver<bool>>,
    pub config: SchedulerConfig,
    pub handler: Arc<dyn JobHandler>,
}

/// A job as claimed: what the handler sees, plus what the runner needs to settle it.
struct Claimed {
    job: Job,
    attempts: u32,
    token: i64,
}

impl Runner {
    pub async fn run(mut self) {
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
