//! `Scheduler` backed by the `jobs` table, for Kafka-direct deployments on PostgreSQL.
//!
//! The runner loop is the SQLite scheduler's (`adapters::jobs_runner`, shared so the two cannot
//! drift); this module supplies its statements:
//! * claim — one UPDATE whose subquery picks due, unleased (or lapsed) jobs `FOR UPDATE SKIP
//!   LOCKED`: N `notification` processes sharing the database never lease one job twice, and a
//!   claim never waits for another's. A claim that started before another committed re-checks
//!   the lease on the row as it is now, so it skips jobs just leased.
//! * settle — delete or reschedule only if the job still carries the token it was claimed with,
//!   so a job replaced while its old version fires is kept.
//! * next due — the first unleased job's due time, or the end of a lease (leased jobs are few and
//!   have an index of their own): no scan of the table per round.
//!
//! `schedule` wakes this process's runner at once and other processes' through NOTIFY (see
//! `notify.rs`); the poll cap (1 s) is the fallback. Jobs that fell due while no runner was up
//! are simply due, and fire at start. Delivery is at least once: a runner that dies mid-fire
//! leaves its jobs leased, and they fire again once the lease lapses, so handlers must be
//! idempotent (the reminder handler is, through `fire_reminder`'s conditional update).
//!
//! Stopping: as for SQLite — runtime shutdown, `PgStore::close`, or the signal given to
//! `PgStore::with_shutdown`.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio::sync::watch;

use super::Inner;
use super::error::infra;
use super::rows::micro;
use crate::adapters::jobs_runner::{ClaimError, ClaimedJob, JobStore, Runner, SchedulerConfig};
use crate::ports::{InfraError, Job, JobHandler, Scheduler};

#[derive(Clone)]
pub struct PgScheduler {
    inner: Arc<Inner>,
    shutdown: Option<watch::Receiver<bool>>,
    config: SchedulerConfig,
}

impl PgScheduler {
    pub(crate) fn new(
        inner: Arc<Inner>,
        shutdown: Option<watch::Receiver<bool>>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            inner,
            shutdown,
            config,
        }
    }
}

fn no_nul(name: &str) -> Result<(), InfraError> {
    if name.contains('\0') {
        return Err(InfraError::msg(format!(
            "job name {name:?} contains a NUL character"
        )));
    }
    Ok(())
}

#[async_trait]
impl Scheduler for PgScheduler {
    /// Upsert by name with a fresh token, attempts reset and no lease: the replaced job is a new
    /// job. A due time in the past is claimable at once, and the wake-ups make runners look now.
    async fn schedule(&self, job: Job) -> Result<(), InfraError> {
        no_nul(&job.name)?;
        sqlx::query(
            "INSERT INTO jobs (name, due_at, payload, lease_until, attempts, token) \
             VALUES ($1, $2, $3, NULL, 0, $4) ON CONFLICT (name) DO UPDATE SET \
             due_at = excluded.due_at, payload = excluded.payload, lease_until = NULL, \
             attempts = 0, token = excluded.token",
        )
        .bind(&job.name)
        .bind(micro(job.due_at))
        .bind(&job.payload)
        .bind(rand::random::<i64>())
        .execute(&self.inner.pool)
        .await
        .map_err(|e| infra(format!("cannot schedule job {}", job.name), e))?;
        self.inner.wakeups.job_scheduled();
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), InfraError> {
        if name.contains('\0') {
            return Ok(());
        }
        sqlx::query("DELETE FROM jobs WHERE name = $1")
            .bind(name)
            .execute(&self.inner.pool)
            .await
            .map_err(|e| infra(format!("cannot cancel job {name}"), e))?;
        Ok(())
    }

    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError> {
        // Fail now, not silently in the background, when the database is unusable.
        sqlx::query("SELECT 1 FROM jobs LIMIT 1")
            .execute(&self.inner.pool)
            .await
            .map_err(|e| infra("cannot start the job runner", e))?;
        self.inner.ensure_listening();
        let runner = Runner {
            store: Arc::new(PgJobs {
                pool: self.inner.pool.clone(),
            }),
            wake: self.inner.wakeups.jobs.clone(),
            closing: self.inner.closing.subscribe(),
            shutdown: self.shutdown.clone(),
            config: self.config.clone(),
            handler,
        };
        tokio::spawn(runner.run());
        Ok(())
    }
}

struct PgJobs {
    pool: PgPool,
}

#[async_trait]
impl JobStore for PgJobs {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ClaimError> {
        let rows: Vec<(String, DateTime<Utc>, Vec<u8>, i32, i64)> = sqlx::query_as(
            "UPDATE jobs SET lease_until = $1 WHERE name IN ( \
                 SELECT name FROM jobs \
                 WHERE due_at <= $2 AND (lease_until IS NULL OR lease_until < $2) \
                 ORDER BY due_at, name LIMIT $3 FOR UPDATE SKIP LOCKED) \
             RETURNING name, due_at, payload, attempts, token",
        )
        .bind(micro(lease_until))
        .bind(micro(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::PoolClosed => ClaimError::Closed,
            e => ClaimError::Failed(infra("cannot claim due jobs", e)),
        })?;
        let mut out: Vec<ClaimedJob> = rows
            .into_iter()
            .map(|(name, due_at, payload, attempts, token)| ClaimedJob {
                job: Job {
                    name,
                    due_at,
                    payload,
                },
                attempts: u32::try_from(attempts).unwrap_or(0),
                token,
            })
            .collect();
        out.sort_by(|a, b| (a.job.due_at, &a.job.name).cmp(&(b.job.due_at, &b.job.name)));
        Ok(out)
    }

    async fn remove_many(&self, jobs: &[(String, i64)]) -> Result<(), InfraError> {
        let (names, tokens): (Vec<&str>, Vec<i64>) =
            jobs.iter().map(|(n, t)| (n.as_str(), *t)).unzip();
        sqlx::query(
            "DELETE FROM jobs j USING UNNEST($1::text[], $2::bigint[]) AS d(name, token) \
             WHERE j.name = d.name AND j.token = d.token",
        )
        .bind(&names)
        .bind(&tokens)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot remove finished jobs", e))?;
        Ok(())
    }

    async fn retry(
        &self,
        name: &str,
        token: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        sqlx::query(
            "UPDATE jobs SET due_at = $1, attempts = $2, lease_until = NULL \
             WHERE name = $3 AND token = $4",
        )
        .bind(micro(at))
        .bind(i32::try_from(attempts).unwrap_or(i32::MAX))
        .bind(name)
        .bind(token)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot reschedule a job", e))?;
        Ok(())
    }

    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, InfraError> {
        sqlx::query_scalar(
            "SELECT LEAST( \
                 (SELECT due_at FROM jobs WHERE lease_until IS NULL ORDER BY due_at LIMIT 1), \
                 (SELECT MIN(GREATEST(due_at, lease_until + interval '1 microsecond')) \
                  FROM jobs WHERE lease_until IS NOT NULL))",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| infra("cannot read the next due job", e))
    }
}
