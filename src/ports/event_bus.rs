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

    /// Publishes several events, returning one result per message in the same order. Messages
    /// with the same key must reach the transport in the order given; a transport that can keep
    /// several in flight (Kafka's idempotent producer keeps per-partition order) overrides this to
    /// pay one round trip per batch instead of one per event. The default publishes one after the
    /// other and stops at the first failure: later messages are reported as not attempted, so a
    /// failed event is never overtaken by the next one of the same task.
    async fn publish_batch<'a>(&self, batch: &[Message<'a>]) -> Vec<Result<(), InfraError>> {
        let mut out = Vec::with_capacity(batch.len());
        for m in batch {
            if out.iter().any(Result::is_err) {
                out.push(Err(InfraError::msg(
                    "not attempted: an earlier event failed",
                )));
                continue;
            }
            out.push(self.publish(m.topic, m.key, m.payload).await);
        }
        out
    }
}

/// An event to publish: the outbox record's topic, key and exact bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message<'a> {
    pub topic: Topic,
    pub key: &'a str,
    pub payload: &'a [u8],
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
