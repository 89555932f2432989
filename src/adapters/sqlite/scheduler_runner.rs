//! The SQLite statements behind the shared runner loop (`adapters::jobs_runner`): claim due jobs
//! with a lease, settle them by token, and find the next due time. The design and its guarantees
//! are described in `scheduler.rs`.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::error::infra;
use super::rows::{instant, micros};
use crate::adapters::jobs_runner::{ClaimError, ClaimedJob, JobStore};
use crate::ports::error::chain;
use crate::ports::{InfraError, Job};

pub(crate) struct SqliteJobs {
    pub pool: SqlitePool,
}

#[async_trait]
impl JobStore for SqliteJobs {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ClaimError> {
        let rows: Vec<(String, i64, Vec<u8>, i64, i64)> = sqlx::query_as(
            "UPDATE jobs SET lease_until = ?1 WHERE name IN ( \
                 SELECT name FROM jobs \
                 WHERE due_at <= ?2 AND (lease_until IS NULL OR lease_until < ?2) \
                 ORDER BY due_at, name LIMIT ?3) \
             RETURNING name, due_at, payload, attempts, token",
        )
        .bind(micros(lease_until))
        .bind(micros(now))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| match e {
            sqlx::Error::PoolClosed => ClaimError::Closed,
            e => ClaimError::Failed(infra("cannot claim due jobs", e)),
        })?;
        let mut out = Vec::with_capacity(rows.len());
        for (name, due_at, payload, attempts, token) in rows {
            match instant(due_at, "jobs.due_at") {
                Ok(due_at) => out.push(ClaimedJob {
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

    async fn remove(&self, name: &str, token: i64) -> Result<(), InfraError> {
        sqlx::query("DELETE FROM jobs WHERE name = ? AND token = ?")
            .bind(name)
            .bind(token)
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot remove a finished job", e))?;
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
            "UPDATE jobs SET due_at = ?, attempts = ?, lease_until = NULL \
             WHERE name = ? AND token = ?",
        )
        .bind(micros(at))
        .bind(i64::from(attempts))
        .bind(name)
        .bind(token)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot reschedule a job", e))?;
        Ok(())
    }

    /// A value the domain cannot represent reads as "no job", which makes the runner poll.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, InfraError> {
        let next: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(CASE WHEN lease_until IS NOT NULL AND lease_until >= due_at \
             THEN lease_until + 1 ELSE due_at END) FROM jobs",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|e| infra("cannot read the next due job", e))?;
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }
}
