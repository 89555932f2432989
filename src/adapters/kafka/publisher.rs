//! The outbox relay's way out: the exact outbox bytes as a structured-mode CloudEvent, keyed by
//! task id, acknowledged by every in-sync replica.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::context::LogContext;
use super::error::infra;
use crate::config::TopicNames;
use crate::domain::event::Topic;
use crate::ports::{EventPublisher, InfraError, Message};

pub(crate) type Producer = FutureProducer<LogContext>;

/// The CloudEvents Kafka binding's marker of a structured-mode record.
pub const CONTENT_TYPE: &str = "application/cloudevents+json";

/// How long to wait between attempts to enqueue while librdkafka's local queue is full.
const QUEUE_FULL_PAUSE: Duration = Duration::from_millis(5);

#[derive(Clone)]
pub struct KafkaPublisher {
    producer: Arc<Producer>,
    topics: TopicNames,
    /// Enqueueing gives up after this long: the delivery timeout would fail the message anyway.
    enqueue_timeout: Duration,
}

impl KafkaPublisher {
    pub(crate) fn new(
        producer: Arc<Producer>,
        topics: TopicNames,
        delivery_timeout: Duration,
    ) -> Self {
        Self {
            producer,
            topics,
            enqueue_timeout: delivery_timeout,
        }
    }

    /// Hands the record to librdkafka, waiting (without blocking the runtime) while its queue is
    /// full. The returned future resolves once the broker acked or the delivery failed.
    async fn enqueue(
        &self,
        topic: Topic,
        key: &str,
        payload: &[u8],
    ) -> Result<DeliveryFuture, InfraError> {
        let name = self.topics.name(topic);
        let started = Instant::now();
        let mut record =
            FutureRecord::to(name)
                .key(key)
                .payload(payload)
                .headers(OwnedHeaders::new().insert(Header {
                    key: "content-type",
                    value: Some(CONTENT_TYPE),
                }));
        loop {
            match self.producer.send_result(record) {
                Ok(delivery) => return Ok(delivery),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if started.elapsed() < self.enqueue_timeout =>
                {
                    record = back;
                    tokio::time::sleep(QUEUE_FULL_PAUSE).await;
                }
                Err((e, _)) => return Err(infra(format!("publishing to Kafka topic {name}"), e)),
            }
        }
    }

    async fn delivered(&self, topic: Topic, delivery: DeliveryFuture) -> Result<(), InfraError> {
        let name = self.topics.name(topic);
        match delivery.await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err((e, _))) => Err(infra(format!("publishing to Kafka topic {name}"), e)),
            Err(_) => Err(infra(
                format!("publishing to Kafka topic {name}"),
                KafkaError::Canceled,
            )),
        }
    }
}

#[async_trait]
impl EventPublisher for KafkaPublisher {
    async fn publish(&self, topic: Topic, key: &str, payload: &[u8]) -> Result<(), InfraError> {
        let delivery = self.enqueue(topic, key, payload).await?;
        self.delivered(topic, delivery).await
    }

    /// Enqueues the whole batch, then waits for every acknowledgement: one round trip per batch.
    /// The idempotent producer keeps per-partition order, so one key's events stay in order. A
    /// message that could not even be enqueued holds back the later messages of its key, which
    /// are reported as not attempted rather than sent ahead of it.
    async fn publish_batch<'a>(&self, batch: &[Message<'a>]) -> Vec<Result<(), InfraError>> {
        let mut blocked: HashSet<(Topic, &str)> = HashSet::new();
        let mut pending = Vec::with_capacity(batch.len());
        for m in batch {
            if blocked.contains(&(m.topic, m.key)) {
                pending.push(Err(InfraError::msg(
                    "not attempted: an earlier event of the same key failed",
                )));
                continue;
            }
            match self.enqueue(m.topic, m.key, m.payload).await {
                Ok(delivery) => pending.push(Ok(delivery)),
                Err(e) => {
                    blocked.insert((m.topic, m.key));
                    pending.push(Err(e));
                }
            }
        }
        let mut out = Vec::with_capacity(batch.len());
        for (m, p) in batch.iter().zip(pending) {
            out.push(match p {
                Ok(delivery) => self.delivered(m.topic, delivery).await,
                Err(e) => Err(e),
            });
        }
        out
    }
}
