//! Publishing and receiving events. Payloads are the exact CloudEvent bytes, so every transport
//! carries identical bytes.

use std::sync::Arc;

use async_trait::async_trait;

use super::InfraError;
use crate::domain::event::{CloudEvent, Topic};

/// Sends events to a topic. Called by the outbox relay only: application code writes events to the
/// outbox in the same transaction as the data they describe.
#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Returns once the transport has durably accepted the event (Kafka ack, Dapr 2xx, or — for the
    /// in-process bus — every subscriber has processed it).
    async fn publish(&self, topic: Topic, key: &str, payload: &[u8]) -> Result<(), InfraError>;
}

/// What a consumer did with an event. Kafka maps it to commit / no commit / dead-letter topic;
/// Dapr to SUCCESS / RETRY / DROP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// A transient failure: deliver again later.
    Retry(String),
    /// The event can never be processed (malformed, unknown type): dead-letter it.
    Reject(String),
}

#[async_trait]
pub trait EventHandler: Send + Sync {
    /// Must be idempotent by `event.id`: every transport delivers at least once.
    async fn handle(&self, event: &CloudEvent) -> Outcome;
}

/// How a role receives events. Registration only: the adapter drives delivery (in-process on
/// publish, a Kafka consumer task, or Dapr pushing to HTTP routes) until the process shuts down.
#[async_trait]
pub trait EventIntake: Send + Sync {
    /// Delivers every event of `topic` to `handler` on behalf of consumer group `group`. Events
    /// that are not valid CloudEvents are dead-lettered by the adapter without reaching the handler.
    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), InfraError>;
}
