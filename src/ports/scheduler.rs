//! One-shot named jobs: "call me back at this instant". The notification role keeps one job per
//! pending reminder. Kafka-direct mode keeps jobs in the database; Dapr mode uses the Jobs API.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{InfraError, Outcome};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub name: String,
    pub due_at: DateTime<Utc>,
    pub payload: Vec<u8>,
}

#[async_trait]
pub trait JobHandler: Send + Sync {
    /// `Done` removes the job; `Retry` fires it again after a back-off; `Reject` drops it.
    async fn fire(&self, job: &Job) -> Outcome;

    /// Several jobs that fell due together. Schedulers that claim jobs in batches (the
    /// database-backed ones) call this, so a handler can read what the whole batch needs at once.
    /// The handler calls `settled(index, outcome)` once per job as soon as that job is done, not
    /// when the whole batch is: a slow job must not hold up the runner's permits of the quick
    /// ones. A job left unsettled is retried. By default each job is fired on its own,
    /// concurrently.
    async fn fire_batch(&self, jobs: &[Job], settled: &Settled<'_>) {
        let firings = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| async move { settled(i, self.fire(job).await) });
        futures::future::join_all(firings).await;
    }
}

/// Receives a batch's outcomes: the job's index in the batch and what became of it.
pub type Settled<'a> = dyn Fn(usize, Outcome) + Send + Sync + 'a;

#[async_trait]
pub trait Scheduler: Send + Sync {
    /// Creates or replaces the job called `job.name`. A due time in the past fires at once.
    async fn schedule(&self, job: Job) -> Result<(), InfraError>;

    /// Removes the job; cancelling an unknown job is not an error.
    async fn cancel(&self, name: &str) -> Result<(), InfraError>;

    /// Starts delivering due jobs to `handler`, at least once each, including jobs that fell due
    /// while no process was running. Delivery stops when the process shuts down.
    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError>;
}
