//! The outbox relay's side of the transactional outbox, and the insert the repositories use inside
//! their transactions.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::Notify;

use super::direct::Db;
use super::error::{bad_data, infra, sql};
use super::rows::{add, micros};
use super::writer::Writer;
use crate::domain::UserId;
use crate::domain::event::{OutgoingEvent, Topic};
use crate::ports::{FeedEntry, InfraError, Outbox, OutboxRecord};

/// Appends `events` to the outbox on `db` (the caller's open transaction). The caller notifies
/// the outbox wake-up after committing, never before: a relay woken earlier would not see the rows.
pub(crate) fn insert_events(
    db: &Db,
    events: &[OutgoingEvent],
    now: DateTime<Utc>,
) -> Result<(), InfraError> {
    let mut insert = db
        .prepare_cached(
            "INSERT INTO outbox (topic, key, event_id, payload, created_at, user_id) \
             VALUES (?, ?, ?, ?, ?, ?)",
        )
        .map_err(|err| sql("cannot write to the outbox", err))?;
    for e in events {
        insert
            .execute(rusqlite::params![
                e.topic.as_str(),
                e.event.partition_key(),
                &e.event.id,
                e.event.to_bytes(),
                micros(now),
                e.user_id.as_str(),
            ])
            .map_err(|err| sql("cannot write to the outbox", err))?;
    }
    Ok(())
}

#[derive(Clone)]
pub struct SqliteOutbox {
    pool: SqlitePool,
    /// Leases and publication marks are group-committed with the task writes they follow: at one
    /// client a creation costs three commits (the task, the lease, the mark), and through sqlx
    /// each was also two worker hand-offs (issue #8).
    writer: Writer,
    wake: Arc<Notify>,
}

impl SqliteOutbox {
    pub(crate) fn new(pool: SqlitePool, writer: Writer, wake: Arc<Notify>) -> Self {
        Self { pool, writer, wake }
    }
}

struct ClaimedRow {
    seq: i64,
    topic: String,
    key: String,
    event_id: String,
    payload: Vec<u8>,
    attempts: i64,
}

/// Leases the next claimable rows (see `claim`).
const CLAIM: &str = "UPDATE outbox SET lease_until = ?1 WHERE seq IN (
        SELECT o.seq FROM outbox o
        WHERE o.published_at IS NULL
          AND o.next_attempt_at <= ?2
          AND (o.lease_until IS NULL OR o.lease_until < ?2)
          AND NOT EXISTS (
              SELECT 1 FROM outbox e
              WHERE e.published_at IS NULL AND e.topic = o.topic AND e.key = o.key
                AND e.seq < o.seq
                AND (e.next_attempt_at > ?2 OR e.lease_until >= ?2))
        ORDER BY o.seq LIMIT ?3)
    RETURNING seq, topic, key, event_id, payload, attempts";

#[async_trait]
impl Outbox for SqliteOutbox {
    /// One UPDATE … RETURNING, so two relays sharing the file never lease the same row.
    ///
    /// Per-key order: a row is held back while an earlier unpublished row of the same topic and key
    /// is waiting for its retry time or is leased by another relay. Without that, a `task.updated`
    /// could overtake the `task.created` whose publication failed, and consumers would see a task's
    /// events out of order. Earlier rows that are claimable now come in the same batch (by `seq`),
    /// so the relay publishes them first.
    async fn claim(
        &self,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxRecord>, InfraError> {
        let now_us = micros(now);
        let lease_end = micros(add(now, lease));
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .writer
            .run(move |db| {
                let fail = |e| sql("cannot claim outbox records", e);
                let mut stmt = db.prepare_cached(CLAIM).map_err(fail)?;
                let rows = stmt
                    .query_map(rusqlite::params![lease_end, now_us, limit], |r| {
                        Ok(ClaimedRow {
                            seq: r.get(0)?,
                            topic: r.get(1)?,
                            key: r.get(2)?,
                            event_id: r.get(3)?,
                            payload: r.get(4)?,
                            attempts: r.get(5)?,
                        })
                    })
                    .map_err(fail)?;
                rows.collect::<Result<Vec<_>, _>>().map_err(fail)
            })
            .await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxRecord {
                    seq: r.seq,
                    topic: Topic::parse(&r.topic).ok_or_else(|| {
                        bad_data(format!("outbox.topic: unknown topic {:?}", r.topic))
                    })?,
                    key: r.key,
                    event_id: r.event_id,
                    payload: r.payload,
                    attempts: u32::try_from(r.attempts).unwrap_or(u32::MAX),
                })
            })
            .collect::<Result<Vec<_>, InfraError>>()?;
        // RETURNING order is unspecified.
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }

    async fn mark_published(&self, seqs: &[i64], now: DateTime<Utc>) -> Result<(), InfraError> {
        let now_us = micros(now);
        let seqs = seqs.to_vec();
        self.writer
            .run(move |db| {
                let fail = |e| sql("cannot mark outbox records published", e);
                let mut stmt = db
                    .prepare_cached(
                        "UPDATE outbox SET published_at = ?, lease_until = NULL \
                         WHERE seq = ? AND published_at IS NULL",
                    )
                    .map_err(fail)?;
                // One prepared statement per row: a statement per batch size would fill the cache
                // with texts that differ only in their number of placeholders.
                for seq in seqs {
                    stmt.execute(rusqlite::params![now_us, seq]).map_err(fail)?;
                }
                Ok(())
            })
            .await
    }

    async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let error = error.to_owned();
        let retry_us = micros(retry_at);
        self.writer
            .run(move |db| {
                db.prepare_cached(
                    "UPDATE outbox SET attempts = attempts + 1, last_error = ?, \
                     next_attempt_at = ?, lease_until = NULL \
                     WHERE seq = ? AND published_at IS NULL",
                )
                .and_then(|mut stmt| stmt.execute(rusqlite::params![error, retry_us, seq]))
                .map_err(|e| sql("cannot record an outbox failure", e))?;
                Ok(())
            })
            .await
    }

    /// Writers call `notify_one`, which leaves a permit when nobody is waiting yet: a write that
    /// commits between the relay's empty `claim` and this call still wakes it at once. The cost is
    /// an occasional spurious wake-up, which only means one extra (empty) claim.
    async fn wait_for_work(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.wake.notified()).await;
    }

    async fn backlog(&self) -> Result<u64, InfraError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(|e| infra("cannot count the outbox backlog", e))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn user_events(
        &self,
        user: &UserId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, InfraError> {
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, topic, payload FROM outbox WHERE user_id = ? AND seq > ? \
             ORDER BY seq LIMIT ?",
        )
        .bind(user.as_str())
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| infra("cannot read the user's events", e))?;
        rows.into_iter()
            .map(|(seq, topic, payload)| {
                Ok(FeedEntry {
                    seq,
                    topic: Topic::parse(&topic).ok_or_else(|| {
                        bad_data(format!("outbox.topic: unknown topic {topic:?}"))
                    })?,
                    payload,
                })
            })
            .collect()
    }

    async fn purge_published(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, InfraError> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
             WHERE published_at IS NOT NULL AND published_at < ? ORDER BY published_at LIMIT ?)",
        )
        .bind(micros(before))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot purge published outbox records", e))?;
        Ok(done.rows_affected())
    }
}
