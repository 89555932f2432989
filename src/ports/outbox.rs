//! The transactional outbox: events written with the data they describe, relayed afterwards.
//! Writing happens inside the repositories' transactions; this port is the relay's side.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::InfraError;
use crate::domain::UserId;
use crate::domain::event::Topic;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRecord {
    /// Insertion order; events of one task are relayed in this order.
    pub seq: i64,
    pub topic: Topic,
    pub key: String,
    pub event_id: String,
    pub payload: Vec<u8>,
    pub attempts: u32,
}

/// One of a user's recorded events, published or not: an entry of their live feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The outbox sequence number: increasing, so a reader resumes after the last one it saw.
    pub seq: i64,
    pub topic: Topic,
    pub payload: Vec<u8>,
}

#[async_trait]
pub trait Outbox: Send + Sync {
    /// Oldest unpublished records whose retry time has come, leased for `lease` so that another
    /// relay replica does not publish them concurrently. Ordered by `seq`. A record is held back
    /// while an earlier unpublished record with the same topic and key waits for its retry time
    /// or is leased, so one task's events are published in order.
    async fn claim(
        &self,
        limit: usize,
        lease: Duration,
        now: DateTime<Utc>,
    ) -> Result<Vec<OutboxRecord>, InfraError>;

    async fn mark_published(&self, seqs: &[i64], now: DateTime<Utc>) -> Result<(), InfraError>;

    /// Records a failed attempt; the record becomes claimable again at `retry_at`.
    async fn mark_failed(
        &self,
        seq: i64,
        error: &str,
        retry_at: DateTime<Utc>,
    ) -> Result<(), InfraError>;

    /// Resolves when new records may be waiting (a write in this process) or after `max`,
    /// whichever comes first. Lets the relay publish within milliseconds without busy polling.
    async fn wait_for_work(&self, max: Duration);

    /// Unpublished records, for `/readyz` and metrics.
    async fn backlog(&self) -> Result<u64, InfraError>;

    /// The user's events with `seq > after`, oldest first, at most `limit`, whether published or
    /// not (the web page's live feed; `Last-Event-ID` is the seq). Records removed by
    /// `purge_published` are gone from the feed too; an adapter may keep only recent ones.
    async fn user_events(
        &self,
        user: &UserId,
        after: i64,
        limit: usize,
    ) -> Result<Vec<FeedEntry>, InfraError>;

    /// Deletes up to `limit` records published before `before` and returns how many went, so a
    /// clean-up job can keep the table small in steps that never hold locks for long.
    async fn purge_published(&self, before: DateTime<Utc>, limit: usize)
    -> Result<u64, InfraError>;
}
