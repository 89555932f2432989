//! `Scheduler` backed by the `jobs` table, for deployments without Dapr's Jobs API.
//!
//! `start` spawns one runner task per call (the loop is shared with PostgreSQL, see
//! `adapters::jobs_runner`; the statements are in `scheduler_runner.rs`). The runner claims due jobs with a lease (one
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

use async_trait::async_trait;
use sqlx::SqlitePool;
use tokio::sync::{Notify, watch};

use super::error::{infra, sql};
use super::readers::Readers;
use super::rows::micros;
use super::scheduler_runner::SqliteJobs;
use super::writer::Writer;
use crate::adapters::jobs_runner::Runner;
pub use crate::adapters::jobs_runner::SchedulerConfig;
use crate::ports::{InfraError, Job, JobHandler, Scheduler};

#[derive(Clone)]
pub struct SqliteScheduler {
    pool: SqlitePool,
    /// Schedules and cancellations are group-committed: the notification role schedules one job
    /// per reminder of every task it hears about.
    writer: Writer,
    readers: Readers,
    wake: Arc<Notify>,
    closing: Arc<watch::Sender<bool>>,
    shutdown: Option<watch::Receiver<bool>>,
    config: SchedulerConfig,
}

impl SqliteScheduler {
    pub(crate) fn new(
        pool: SqlitePool,
        writer: Writer,
        readers: Readers,
        wake: Arc<Notify>,
        closing: Arc<watch::Sender<bool>>,
        shutdown: Option<watch::Receiver<bool>>,
        config: SchedulerConfig,
    ) -> Self {
        Self {
            pool,
            writer,
            readers,
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
        let due_us = micros(job.due_at);
        let token = rand::random::<i64>();
        self.writer
            .run(move |db| {
                db.prepare_cached(
                    "INSERT INTO jobs (name, due_at, payload, lease_until, attempts, token) \
                     VALUES (?, ?, ?, NULL, 0, ?) ON CONFLICT (name) DO UPDATE SET \
                     due_at = excluded.due_at, payload = excluded.payload, lease_until = NULL, \
                     attempts = 0, token = excluded.token",
                )
                .and_then(|mut stmt| {
                    stmt.execute(rusqlite::params![job.name, due_us, job.payload, token])
                })
                .map_err(|e| sql(format!("cannot schedule job {}", job.name), e))?;
                Ok(())
            })
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), InfraError> {
        let name = name.to_owned();
        self.writer
            .run(move |db| {
                db.prepare_cached("DELETE FROM jobs WHERE name = ?")
                    .and_then(|mut stmt| stmt.execute([&name]))
                    .map_err(|e| sql(format!("cannot cancel job {name}"), e))?;
                Ok(())
            })
            .await
    }

    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError> {
        // Fail now, not silently in the background, when the database is unusable.
        sqlx::query("SELECT 1 FROM jobs LIMIT 1")
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot start the job runner", e))?;
        let runner = Runner {
            store: Arc::new(SqliteJobs {
                pool: self.pool.clone(),
                writer: self.writer.clone(),
                readers: self.readers.clone(),
            }),
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
