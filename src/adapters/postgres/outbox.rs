//! The outbox relay's side of the transactional outbox (the repositories append to it inside
//! their write statements, see `task_write::outbox_insert`).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Inner;
use super::error::{bad_data, infra};
use super::rows::{micro, micro_ceil};
use super::task_write::{begin, commit};
use crate::adapters::jobs_runner::add;
use crate::domain::UserId;
use crate::domain::event::Topic;
use crate::ports::{FeedEntry, InfraError, Outbox, OutboxRecord};

#[derive(Clone)]
pub struct PgOutbox {
    inner: Arc<Inner>,
}

impl PgOutbox {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

#[derive(sqlx::FromRow)]
struct ClaimedRow {
    seq: i64,
    topic: String,
    key: String,
    event_id: String,
    payload: Vec<u8>,
    attempts: i32,
}

fn topic(raw: &str) -> Result<Topic, InfraError> {
    Topic::parse(raw).ok_or_else(|| bad_data(format!("outbox.topic: unknown topic {raw:?}")))
}

#[async_trait]
impl Outbox for PgOutbox {
    /// The SQLite adapter's claim — one UPDATE … RETURNING whose subquery holds a record back
    /// while an earlier unpublished record of its topic and key waits for its retry time or is
    /// leased — made safe for several relays at once.
    ///
    /// Under READ COMMITTED a claim does not see another relay's lease until that relay commits:
    /// two claims running together would both find a key's first record free, and the second
    /// would lease it again (its UPDATE re-checks only the row, not the subquery) or lease the
    /// key's next record beside it, publishing out of order. So claims are serialised with a
    /// transaction-scoped advisory lock, taken in its own statement before the claiming one:
    /// the claiming statement's snapshot then starts after the previous claim committed and sees
    /// its leases. `FOR UPDATE SKIP LOCKED` alone would not do: a relay that skips a key's first
    /// record (locked by another claim) can still take the key's second. Claims are short (a
    /// few milliseconds for a batch of hundreds), so serialising them costs little; publishing,
    /// the slow part, still runs in parallel. Writers never take this lock.
    ///
    /// Records of one key enter the outbox in commit order (their writers hold the task's row
    /// lock, see `task_write.rs`), so `seq` order is the order to publish in. Four round trips
    /// per batch: BEGIN, the lock, the claim, COMMIT.
    async fn claim(
        &self,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxRecord>, InfraError> {
        let now = micro(now);
        let lease_end = micro(add(now, lease));
        let mut tx = begin(&self.inner.pool).await?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('tickler outbox claim ' \
             || 'outbox'::regclass::oid::text, 0))",
        )
        .execute(&mut *tx)
        .await
        .map_err(|e| infra("cannot lock the outbox for claiming", e))?;
        let rows: Vec<ClaimedRow> = sqlx::query_as(
            "UPDATE outbox SET lease_until = $1 WHERE seq IN (
                 SELECT o.seq FROM outbox o
                 WHERE o.published_at IS NULL
                   AND o.next_attempt_at <= $2
                   AND (o.lease_until IS NULL OR o.lease_until < $2)
                   AND NOT EXISTS (
                       SELECT 1 FROM outbox e
                       WHERE e.published_at IS NULL AND e.topic = o.topic AND e.key = o.key
                         AND e.seq < o.seq
                         AND (e.next_attempt_at > $2 OR e.lease_until >= $2))
                 ORDER BY o.seq LIMIT $3)
             RETURNING seq, topic, key, event_id, payload, attempts",
        )
        .bind(lease_end)
        .bind(now)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| infra("cannot claim outbox records", e))?;
        commit(tx).await?;
        let mut out = rows
            .into_iter()
            .map(|r| {
                Ok(OutboxRecord {
                    seq: r.seq,
                    topic: topic(&r.topic)?,
                    key: r.key,
                    event_id: r.event_id,
                    payload: r.payload,
                    attempts: u32::try_from(r.attempts).unwrap_or(0),
                })
            })
            .collect::<Result<Vec<_>, InfraError>>()?;
        // RETURNING order is unspecified.
        out.sort_by_key(|r| r.seq);
        Ok(out)
    }

    async fn mark_published(&self, seqs: &[i64], now: DateTime<Utc>) -> Result<(), InfraError> {
        if seqs.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "UPDATE outbox SET published_at = $1, lease_until = NULL \
             WHERE published_at IS NULL AND seq = ANY($2)",
        )
        .bind(micro(now))
        .bind(seqs)
        .execute(&self.inner.pool)
        .await
        .map_err(|e| infra("cannot mark outbox records published", e))?;
        Ok(())
    }

    async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2, \
             lease_until = NULL WHERE seq = $3 AND published_at IS NULL",
        )
        .bind(error.replace('\0', "\u{FFFD}"))
        .bind(micro(retry_at))
        .bind(seq)
        .execute(&self.inner.pool)
        .await
        .map_err(|e| infra("cannot record an outbox failure", e))?;
        Ok(())
    }

    /// Woken by this process's writes at once and by other processes' through LISTEN/NOTIFY
    /// (`notify.rs`); `max` is the fallback when a notification is lost. A permit left by a wake
    /// with nobody waiting makes the next call return at once: at worst one extra, empty claim.
    async fn wait_for_work(&self, max: Duration) {
        self.inner.ensure_listening();
        let _ = tokio::time::timeout(max, self.inner.wakeups.outbox.notified()).await;
    }

    async fn backlog(&self) -> Result<u64, InfraError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
            .fetch_one(&self.inner.pool)
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
        if user.as_str().contains('\0') {
            return Ok(Vec::new());
        }
        let rows: Vec<(i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, topic, payload FROM outbox WHERE user_id = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(user.as_str())
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(|e| infra("cannot read the user's events", e))?;
        rows.into_iter()
            .map(|(seq, t, payload)| {
                Ok(FeedEntry {
                    seq,
                    topic: topic(&t)?,
                    payload,
                })
            })
            .collect()
    }

    /// One bounded DELETE: the oldest published rows first, at most `limit`.
    async fn purge_published(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<u64, InfraError> {
        let done = sqlx::query(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
             WHERE published_at IS NOT NULL AND published_at < $1 ORDER BY published_at LIMIT $2)",
        )
        .bind(micro_ceil(before))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .execute(&self.inner.pool)
        .await
        .map_err(|e| infra("cannot purge published outbox records", e))?;
        Ok(done.rows_affected())
    }
}
