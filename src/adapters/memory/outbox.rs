//! The relay's side of the outbox kept by `MemoryStore`. Records are appended by the task writes
//! (see `tasks.rs`) under the same lock as the data they describe, and dropped once published.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Data, MemoryStore};
use crate::domain::UserId;
use crate::domain::event::OutgoingEvent;
use crate::ports::{FeedEntry, InfraError, Outbox, OutboxRecord};

/// How many recent records the live feed keeps.
const FEED_HISTORY: usize = 4096;

pub(super) struct FeedRow {
    user_id: UserId,
    entry: FeedEntry,
}

pub(super) struct Row {
    record: OutboxRecord,
    /// Not claimable before this: the lease of the last claim, or the retry time after a failure.
    available_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
}

impl Data {
    /// Appends events in order; the caller signals the relay once the lock is released.
    pub(super) fn append_events(&mut self, events: Vec<OutgoingEvent>) {
        for ev in events {
            self.last_seq += 1;
            let record = OutboxRecord {
                seq: self.last_seq,
                topic: ev.topic,
                key: ev.event.partition_key().to_owned(),
                event_id: ev.event.id.clone(),
                payload: ev.event.to_bytes(),
                attempts: 0,
            };
            if self.feed.len() == FEED_HISTORY {
                self.feed.pop_front();
            }
            self.feed.push_back(FeedRow {
                user_id: ev.user_id,
                entry: FeedEntry {
                    seq: record.seq,
                    topic: record.topic,
                    payload: record.payload.clone(),
                },
            });
            self.outbox.insert(
                record.seq,
                Row {
                    record,
                    available_at: None,
                    last_error: None,
                },
            );
        }
    }
}

impl MemoryStore {
    /// The last error recorded for a record, for tests.
    pub fn outbox_error(&self, seq: i64) -> Option<String> {
        self.lock()
            .outbox
            .get(&seq)
            .and_then(|r| r.last_error.clone())
    }

    /// Every record not yet published, in order, for tests.
    pub fn unpublished(&self) -> Vec<OutboxRecord> {
        self.lock()
            .outbox
            .values()
            .map(|r| r.record.clone())
            .collect()
    }
}

#[async_trait]
impl Outbox for MemoryStore {
    async fn claim(
        &self,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxRecord>, InfraError> {
        let lease = chrono::Duration::from_std(lease)
            .map_err(|e| InfraError::permanent("outbox lease out of range", e))?;
        let mut data = self.lock();
        // A record waits while an earlier one of the same topic and key is leased or waiting for
        // its retry, so one task's events are never published out of order.
        let mut blocked = std::collections::HashSet::new();
        let mut claimed = Vec::new();
        for r in data.outbox.values_mut() {
            if claimed.len() == limit {
                break;
            }
            let key = (r.record.topic, r.record.key.clone());
            if blocked.contains(&key) {
                continue;
            }
            if r.available_at.is_some_and(|t| t > now) {
                blocked.insert(key);
                continue;
            }
            r.available_at = Some(now + lease);
            claimed.push(r.record.clone());
        }
        Ok(claimed)
    }

    /// Published records are dropped: nothing reads them again, and memory stays bounded.
    async fn mark_published(&self, seqs: &[i64], _now: DateTime<Utc>) -> Result<(), InfraError> {
        let mut data = self.lock();
        for seq in seqs {
            data.outbox.remove(seq);
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), InfraError> {
        let mut data = self.lock();
        if let Some(r) = data.outbox.get_mut(&seq) {
            r.record.attempts += 1;
            r.available_at = Some(retry_at);
            r.last_error = Some(error.to_owned());
        }
        Ok(())
    }

    async fn wait_for_work(&self, max: Duration) {
        let _ = tokio::time::timeout(max, self.shared.work.notified()).await;
    }

    async fn backlog(&self) -> Result<u64, InfraError> {
        Ok(self.lock().outbox.len() as u64)
    }

    async fn user_events(
        &self,
        user: &UserId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, InfraError> {
        Ok(self
            .lock()
            .feed
            .iter()
            .filter(|r| r.entry.seq > after && r.user_id == *user)
            .take(limit)
            .map(|r| r.entry.clone())
            .collect())
    }

    /// Published records are dropped at once (see `mark_published`); only the bounded feed
    /// history remains, so there is nothing to purge.
    async fn purge_published(
        &self,
        _before: DateTime<Utc>,
        _limit: usize,
    ) -> Result<u64, InfraError> {
        Ok(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::testutil::*;
    use crate::ports::TaskRepository;

    async fn write(s: &MemoryStore, n: usize) {
        for _ in 0..n {
            s.create(draft(&user("alice"), new_task("t"), t(0)), &ctx(t(0)))
                .await
                .unwrap();
        }
    }

    fn seqs(v: &[OutboxRecord]) -> Vec<i64> {
        v.iter().map(|r| r.seq).collect()
    }

    #[tokio::test]
    async fn claim_leases_in_order_and_publish_removes() {
        let s = MemoryStore::new();
        write(&s, 3).await;
        let lease = Duration::from_secs(30);
        let first = s.claim(2, lease, t(0)).await.unwrap();
        assert_eq!(seqs(&first), vec![1, 2]);
        assert_eq!(seqs(&s.claim(10, lease, t(0)).await.unwrap()), vec![3]);
        assert!(s.claim(10, lease, t(0)).await.unwrap().is_empty());
        // Leases run out: a crashed relay's records are claimed again.
        s.mark_published(&[1], t(0)).await.unwrap();
        assert_eq!(seqs(&s.claim(10, lease, t(1)).await.unwrap()), vec![2, 3]);
        assert_eq!(s.backlog().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn failed_records_wait_for_their_retry_time() {
        let s = MemoryStore::new();
        write(&s, 2).await;
        let lease = Duration::from_secs(30);
        s.claim(10, lease, t(0)).await.unwrap();
        s.mark_failed(1, "broker down", t(5)).await.unwrap();
        s.mark_published(&[2], t(0)).await.unwrap();
        assert!(s.claim(10, lease, t(4)).await.unwrap().is_empty());
        let again = s.claim(10, lease, t(5)).await.unwrap();
        assert_eq!((seqs(&again), again[0].attempts), (vec![1], 1));
        assert_eq!(s.outbox_error(1).as_deref(), Some("broker down"));
        s.mark_published(&[1], t(6)).await.unwrap();
        assert_eq!(s.backlog().await.unwrap(), 0);
        // Unknown or already published records are ignored.
        s.mark_failed(1, "late", t(7)).await.unwrap();
        s.mark_published(&[1, 42], t(7)).await.unwrap();
    }

    #[tokio::test]
    async fn wait_for_work_wakes_on_write_or_times_out() {
        let s = MemoryStore::new();
        let start = std::time::Instant::now();
        s.wait_for_work(Duration::from_millis(50)).await;
        assert!(start.elapsed() >= Duration::from_millis(50));

        let writer = s.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            write(&writer, 1).await;
        });
        let start = std::time::Instant::now();
        s.wait_for_work(Duration::from_secs(10)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
        // A write while nobody waits is not lost either.
        write(&s, 1).await;
        let start = std::time::Instant::now();
        s.wait_for_work(Duration::from_secs(10)).await;
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
