//! Kafka-direct transport (librdkafka through rdkafka): the outbox relay's publisher, the roles'
//! intake, topic creation, the readiness check and the consumer-lag metric.
//!
//! # Using it (composition root)
//!
//! ```ignore
//! let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
//! // Once per process: creates the idempotent producer and waits until the broker answers, so
//! // the first publish does not pay the producer-id round trip.
//! let kafka = KafkaTransport::connect(&kafka_config, &config.topics, stop_rx.clone()).await?;
//! kafka.ensure_topics().await?;               // no-op unless kafka.create_topics
//! let publisher = kafka.publisher();          // Arc<dyn EventPublisher>, for the Relay
//! let intake = kafka.intake();                // Arc<dyn EventIntake>, for the roles
//! intake.subscribe(Topic::TaskEvents, &kafka_config.groups.notification, handler).await?;
//! health_checks.push(kafka.health());         // "transport" in /readyz
//! // … on SIGTERM:
//! stop_tx.send(true)?;                        // consumers stop taking messages
//! kafka.stop_consuming().await;               // … finish the one in hand, commit, leave
//! relay_task.await?;                          // the relay's last publishes still go out
//! kafka.close().await;                        // producer flushed
//! // (`kafka.shutdown()` is stop_consuming + close, for a process without a relay)
//! ```
//!
//! # Wire format (interoperable with daprd's `pubsub.kafka`, dapr-kafka-verified.md §9)
//!
//! * Records: key = the outbox record's key (task id), value = the exact outbox bytes (a
//!   structured-mode CloudEvent), header `content-type: application/cloudevents+json`.
//!   librdkafka's `fnv1a_random` partitioner puts a key on the partition daprd would
//!   (`abs(int32(fnv1a32(key))) % partitions`).
//! * Consumers parse values with `CloudEvent::from_slice` (daprd's extra attributes are
//!   ignored), in a classic group with the `range` assignor, starting at the oldest offset when
//!   the group has no commit: a group shared with daprd, or a role moved to Dapr, keeps working.
//! * Dead letters go to `<topic>.dlq` with daprd's coordinate headers plus `__group`, `__error`
//!   and `__attempts` (see [`dead_letter`]).
//!
//! # Delivery guarantees of the intake
//!
//! At least once. An offset is stored only after its message was handled (`Done`) or written
//! to the dead-letter topic, and committed from the store every second, synchronously when
//! partitions are revoked and on shutdown. After a crash, messages handled in the last second
//! are delivered again (handlers are idempotent by event id); after a clean stop, none are.
//! `Retry` holds the partition: the same message is delivered again after
//! `retry_backoff_ms`, doubling up to `max_backoff_ms`, and dead-lettered after `max_attempts`
//! deliveries. The attempt count lives in the process: a message whose partition moves to
//! another consumer starts counting again there.
//!
//! # Metrics
//!
//! `tickler_kafka_consumer_lag{group,topic,partition}` (gauge): messages after the group's
//! committed offset, for the partitions this process consumes, refreshed every
//! `kafka.lag_interval_ms` from librdkafka's statistics.

mod admin;
mod consumer;
mod context;
pub mod dead_letter;
mod error;
mod health;
mod intake;
mod publisher;
mod settings;
mod worker;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::client::Client;
use rdkafka::error::KafkaError;
use rdkafka::producer::Producer as _;
use tokio::sync::watch;

pub use health::KafkaHealth;
pub use intake::KafkaIntake;
pub use publisher::{CONTENT_TYPE, KafkaPublisher};

use crate::config::{KafkaConfig, TopicNames};
use crate::ports::{EventIntake, EventPublisher, HealthCheck, InfraError};
use context::LogContext;
use publisher::Producer;

/// How long `connect` waits for the broker to answer.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long `shutdown` waits for unacknowledged publishes (the relay normally waited already).
const FLUSH_TIMEOUT: Duration = Duration::from_secs(5);

/// The process's shutdown signal plus `KafkaTransport::shutdown`'s own request.
#[derive(Clone)]
pub(crate) struct Stop {
    signal: watch::Receiver<bool>,
    requested: Arc<AtomicBool>,
}

impl Stop {
    /// A dropped sender counts as a stop: nobody could ever send it any more.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
            || *self.signal.borrow()
            || self.signal.has_changed().is_err()
    }
}

/// The names among `topics` the broker does not know. Blocks up to `timeout` per topic.
pub(crate) fn missing_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[&str],
    timeout: Duration,
) -> Result<Vec<String>, KafkaError> {
    let mut missing = Vec::new();
    for t in topics {
        let md = client.fetch_metadata(Some(t), timeout)?;
        if md
            .topics()
            .iter()
            .all(|mt| mt.name() != *t || mt.error().is_some())
        {
            missing.push((*t).to_owned());
        }
    }
    Ok(missing)
}

/// Like `missing_topics`, but asks again (every 100 ms, up to `within`) while some are missing:
/// a topic being created appears after a moment. Returns those still missing.
pub(crate) fn wait_for_topics<C: ClientContext>(
    client: &Client<C>,
    topics: &[&str],
    within: Duration,
) -> Result<Vec<String>, KafkaError> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let missing = missing_topics(client, topics, left.max(Duration::from_secs(1)))?;
        if missing.is_empty() || std::time::Instant::now() >= deadline {
            return Ok(missing);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The Kafka adapters of one process, sharing one idempotent producer.
pub struct KafkaTransport {
    config: KafkaConfig,
    topics: TopicNames,
    producer: Arc<Producer>,
    stop: Stop,
    intake: KafkaIntake,
}

impl KafkaTransport {
    /// Creates the producer and waits (up to 10 s) until the broker answers a metadata request:
    /// that also gets the idempotent producer its producer id, which otherwise delays the
    /// first publish by about half a second. Consumers start with `intake().subscribe` and stop
    /// when `shutdown` turns true or `KafkaTransport::shutdown` is called.
    pub async fn connect(
        config: &KafkaConfig,
        topics: &TopicNames,
        shutdown: watch::Receiver<bool>,
    ) -> Result<Self, InfraError> {
        let producer: Producer = settings::producer(config)
            .create_with_context(LogContext)
            .map_err(|e| error::infra("creating the Kafka producer", e))?;
        let producer = Arc::new(producer);
        let warm = producer.clone();
        let names = all_names(topics);
        tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            missing_topics(warm.client(), &names[..1], CONNECT_TIMEOUT)
        })
        .await
        .map_err(|e| InfraError::permanent("connecting to Kafka", e))?
        .map_err(|e| error::infra(format!("connecting to Kafka at {}", config.brokers), e))?;
        let stop = Stop {
            signal: shutdown,
            requested: Arc::default(),
        };
        let intake = KafkaIntake::new(
            config.clone(),
            topics.clone(),
            producer.clone(),
            stop.clone(),
        );
        Ok(Self {
            config: config.clone(),
            topics: topics.clone(),
            producer,
            stop,
            intake,
        })
    }

    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        Arc::new(KafkaPublisher::new(
            self.producer.clone(),
            self.topics.clone(),
            Duration::from_millis(self.config.delivery_timeout_ms),
        ))
    }

    pub fn intake(&self) -> Arc<dyn EventIntake> {
        Arc::new(self.intake.clone())
    }

    /// "transport" readiness: fails while the broker is unreachable or a topic is missing.
    pub fn health(&self) -> Arc<dyn HealthCheck> {
        Arc::new(KafkaHealth::new(
            self.producer.clone(),
            all_names(&self.topics),
        ))
    }

    /// With `kafka.create_topics`, creates the missing topics and `.dlq` topics with their
    /// configured partitions, replication and retention (existing ones are left alone);
    /// returns the names created. Without it, does nothing.
    pub async fn ensure_topics(&self) -> Result<Vec<String>, InfraError> {
        if !self.config.create_topics {
            return Ok(Vec::new());
        }
        admin::ensure_topics(&self.config, &self.topics).await
    }

    /// Stops every consumer (each finishes and commits the message in hand, then leaves its
    /// group) and waits until they are closed. Requests the stop itself, so it also works before
    /// the process's shutdown signal. The producer keeps working (the relay's last pass).
    pub async fn stop_consuming(&self) {
        self.stop.requested.store(true, Ordering::SeqCst);
        self.intake.closed().await;
    }

    /// Waits (up to 5 s) for publishes still in flight; after the relay's last pass.
    pub async fn close(&self) {
        let producer = self.producer.clone();
        let flushed = tokio::task::spawn_blocking(move || producer.flush(FLUSH_TIMEOUT)).await;
        if let Ok(Err(e)) = flushed {
            tracing::warn!(error = %e, "unacknowledged Kafka publishes at shutdown; the outbox sends them again");
        }
    }

    /// `stop_consuming`, then `close`.
    pub async fn shutdown(&self) {
        self.stop_consuming().await;
        self.close().await;
    }
}

/// Every topic name, dead-letter topics included.
fn all_names(topics: &TopicNames) -> Vec<String> {
    crate::domain::event::Topic::ALL
        .into_iter()
        .flat_map(|t| {
            let n = topics.name(t);
            [n.to_owned(), dead_letter::dlq_topic(n)]
        })
        .collect()
}
