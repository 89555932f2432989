//! Events no consumer could process, kept where an operator can see them and send them again.
//!
//! A transport records an event here when it gives up on it: the handler rejected it, it is not
//! a CloudEvent, or its retries ran out. Replaying takes the record out and publishes its exact
//! bytes to the original topic again (handlers are idempotent by event id, so consumers that had
//! processed it are not harmed).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::InfraError;
use crate::domain::event::Topic;

/// What is known about a dead-lettered event when it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDeadLetter {
    /// The topic it was published to (not its dead-letter topic).
    pub topic: Topic,
    /// Its partition key (the task id), so a replay keeps the task's order.
    pub key: String,
    /// The consumer group that gave up on it, when known.
    pub consumer: Option<String>,
    /// The CloudEvent id, when the payload is a CloudEvent.
    pub event_id: Option<String>,
    pub reason: String,
    /// The exact bytes as received.
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Increasing in recording order.
    pub id: i64,
    pub recorded_at: DateTime<Utc>,
    pub letter: NewDeadLetter,
}

#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Records the letter and returns its id, or `None` when an event with the same id is
    /// already recorded for this topic (a transport may report one event more than once: by the
    /// consumer that rejected it and again from the dead-letter topic). The first record is kept.
    async fn record(
        &self,
        letter: NewDeadLetter,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, InfraError>;

    /// Records with `id > after`, oldest first, at most `limit`; only `topic`'s when given.
    async fn list(
        &self,
        topic: Option<Topic>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, InfraError>;

    /// Removes the record and returns it (`None` if it is gone already): the first step of a
    /// replay, so an event that fails again can be recorded anew.
    async fn take(&self, id: i64) -> Result<Option<DeadLetter>, InfraError>;
}
