//! The SQLite statements behind the shared runner loop (`adapters::jobs_runner`): claim due jobs
//! with a lease, settle them by token, and find the next due time. The design and its guarantees
//! are described in `scheduler.rs`.
//!
//! Claims and settlements go through the group-commit writer, so a burst of due reminders settles
//! in a few transactions instead of one commit per job; `next_due` reads two index entries (a
//! `MIN` over the whole table cost a scan of every pending job on every round, issue #8).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::error::sql;
use super::readers::Readers;
use super::rows::{instant, micros};
use super::writer::Writer;
use crate::adapters::jobs_runner::{ClaimError, ClaimedJob, JobStore};
use crate::ports::error::chain;
use crate::ports::{InfraError, Job};

pub(crate) struct SqliteJobs {
    /// The writer's pool, only asked whether it is closed.
    pub pool: SqlitePool,
    pub writer: Writer,
    pub readers: Readers,
}

type JobRow = (String, i64, Vec<u8>, i64, i64);

/// See `next_due`.
const NEXT_DUE: &str = "SELECT MIN(t) FROM ( \
    SELECT * FROM (SELECT due_at AS t FROM jobs \
      WHERE lease_until IS NULL OR lease_until < due_at ORDER BY due_at LIMIT 1) \
    UNION ALL \
    SELECT * FROM (SELECT lease_until + 1 AS t FROM jobs \
      WHERE lease_until IS NOT NULL AND lease_until >= due_at \
      ORDER BY lease_until LIMIT 1))";

#[async_trait]
impl JobStore for SqliteJobs {
    async fn claim(
        &self,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<ClaimedJob>, ClaimError> {
        let (lease_us, now_us) = (micros(lease_until), micros(now));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .writer
            .run(move |db| {
                let fail = |e| sql("cannot claim due jobs", e);
                let mut stmt = db
                    .prepare_cached(
                        "UPDATE jobs SET lease_until = ?1 WHERE name IN ( \
                             SELECT name FROM jobs \
                             WHERE due_at <= ?2 AND (lease_until IS NULL OR lease_until < ?2) \
                             ORDER BY due_at, name LIMIT ?3) \
                         RETURNING name, due_at, payload, attempts, token",
                    )
                    .map_err(fail)?;
                let rows = stmt
                    .query_map(rusqlite::params![lease_us, now_us, limit], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })
                    .map_err(fail)?;
                rows.collect::<Result<Vec<JobRow>, _>>().map_err(fail)
            })
            .await
            .map_err(|e: InfraError| {
                if self.pool.is_closed() {
                    ClaimError::Closed
                } else {
                    ClaimError::Failed(e)
                }
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

    async fn remove_many(&self, jobs: &[(String, i64)]) -> Result<(), InfraError> {
        let jobs = jobs.to_vec();
        self.writer
            .run(move |db| {
                let mut stmt = db
                    .prepare_cached("DELETE FROM jobs WHERE name = ? AND token = ?")
                    .map_err(|e| sql("cannot remove finished jobs", e))?;
                for (name, token) in &jobs {
                    stmt.execute(rusqlite::params![name, token])
                        .map_err(|e| sql("cannot remove finished jobs", e))?;
                }
                Ok(())
            })
            .await
    }

    async fn retry(
        &self,
        name: &str,
        token: i64,
        attempts: u32,
        at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let name = name.to_owned();
        let at_us = micros(at);
        self.writer
            .run(move |db| {
                db.prepare_cached(
                    "UPDATE jobs SET due_at = ?, attempts = ?, lease_until = NULL \
                     WHERE name = ? AND token = ?",
                )
                .and_then(|mut stmt| {
                    stmt.execute(rusqlite::params![at_us, i64::from(attempts), name, token])
                })
                .map_err(|e| sql("cannot reschedule a job", e))?;
                Ok(())
            })
            .await
    }

    /// The earliest unleased due time (the `jobs_by_due` index, skipping the leased rows at its
    /// head) against the earliest lapse of a lease held past its due time (`jobs_by_lease`). A
    /// value the domain cannot represent reads as "no job", which makes the runner poll.
    async fn next_due(&self) -> Result<Option<DateTime<Utc>>, InfraError> {
        let next: Option<i64> = self
            .readers
            .read(|db| {
                db.prepare_cached(NEXT_DUE)
                    .and_then(|mut stmt| stmt.query_row([], |r| r.get(0)))
                    .map_err(|e| sql("cannot read the next due job", e))
            })
            .await?;
        Ok(next.and_then(DateTime::from_timestamp_micros))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::sqlite::SqliteStore;

    async fn jobs() -> (tempfile::TempDir, SqliteStore, SqliteJobs) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path().join("j.db").to_str().unwrap())
            .await
            .unwrap();
        let jobs = SqliteJobs {
            pool: store.pool.clone(),
            writer: store.writer.clone(),
            readers: store.readers.clone(),
        };
        (dir, store, jobs)
    }

    async fn insert(store: &SqliteStore, name: &str, due: i64, lease: Option<i64>) {
        sqlx::query(
            "INSERT INTO jobs (name, due_at, payload, lease_until, attempts, token) \
             VALUES (?, ?, x'', ?, 0, 1)",
        )
        .bind(name)
        .bind(due)
        .bind(lease)
        .execute(store.pool())
        .await
        .unwrap();
    }

    fn at(us: i64) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp_micros(us)
    }

    #[tokio::test]
    async fn next_due_is_the_earliest_free_due_time_or_lease_lapse() {
        let (_dir, store, jobs) = jobs().await;
        assert_eq!(jobs.next_due().await.unwrap(), None);
        insert(&store, "later", 5_000_000, None).await;
        assert_eq!(jobs.next_due().await.unwrap(), at(5_000_000));
        // Leased past its due time: claimable just after the lease.
        insert(&store, "leased", 1_000_000, Some(3_000_000)).await;
        assert_eq!(jobs.next_due().await.unwrap(), at(3_000_001));
        // A lease that lapsed before the due time (a retry) counts as its due time.
        insert(&store, "retried", 2_000_000, Some(1_500_000)).await;
        assert_eq!(jobs.next_due().await.unwrap(), at(2_000_000));
    }

    /// The runner asks on every round; with a hundred thousand pending reminders a scan of the
    /// table took longer than the round itself.
    #[tokio::test]
    async fn next_due_reads_indexes_not_the_whole_table() {
        let (_dir, store, _jobs) = jobs().await;
        let plan: Vec<String> = with_plan(&store).await;
        // "SCAN jobs USING INDEX jobs_by_due" walks the index in order and stops at the first
        // free row (LIMIT 1); a bare "SCAN jobs" would read every row.
        assert!(
            plan.iter()
                .filter(|step| step.contains(" jobs"))
                .all(|step| step.contains("USING INDEX")),
            "{plan:?}"
        );
        assert!(plan.iter().any(|s| s.contains("jobs_by_due")), "{plan:?}");
        assert!(plan.iter().any(|s| s.contains("jobs_by_lease")), "{plan:?}");
    }

    async fn with_plan(store: &SqliteStore) -> Vec<String> {
        let mut conn = store.pool().acquire().await.unwrap();
        crate::adapters::sqlite::direct::with_db(&mut conn, |db| {
            let mut stmt = db
                .prepare(&format!("EXPLAIN QUERY PLAN {NEXT_DUE}"))
                .unwrap();
            stmt.query_map([], |r| r.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
        })
        .await
        .unwrap()
    }
}
