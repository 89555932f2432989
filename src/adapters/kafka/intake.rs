//! `EventIntake` over Kafka: one consumer (and one poll thread) per subscription, in the group
//! the role names.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rdkafka::consumer::Consumer;
use tokio::sync::{oneshot, watch};

use super::consumer::{IntakeConsumer, IntakeContext, PollLoop};
use super::dead_letter::dlq_topic;
use super::error::infra;
use super::publisher::Producer;
use super::worker::Deps;
use super::{Stop, settings, wait_for_topics};
use crate::config::{KafkaConfig, TopicNames};
use crate::domain::event::Topic;
use crate::ports::{EventHandler, EventIntake, InfraError};

/// How long subscribing waits for the broker to confirm the topics exist (they may be being
/// created by another process starting at the same time).
const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

struct Subscription {
    topic: String,
    group: String,
    /// Turns true (or its sender drops) once the consumer is closed.
    closed: watch::Receiver<bool>,
}

#[derive(Clone)]
pub struct KafkaIntake {
    config: KafkaConfig,
    topics: TopicNames,
    producer: Arc<Producer>,
    stop: Stop,
    subscriptions: Arc<Mutex<Vec<Subscription>>>,
}

impl KafkaIntake {
    pub(crate) fn new(
        config: KafkaConfig,
        topics: TopicNames,
        producer: Arc<Producer>,
        stop: Stop,
    ) -> Self {
        Self {
            config,
            topics,
            producer,
            stop,
            subscriptions: Arc::default(),
        }
    }

    /// Resolves once every consumer started so far has closed (after a stop request).
    pub(crate) async fn closed(&self) {
        let waiting: Vec<watch::Receiver<bool>> = self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|s| s.closed.clone())
            .collect();
        for mut closed in waiting {
            let _ = closed.wait_for(|c| *c).await;
        }
    }
}

#[async_trait]
impl EventIntake for KafkaIntake {
    /// Starts a consumer of `topic` in group `group`; delivery runs until the process stops.
    /// Fails if the topic or its `.dlq` topic does not exist, or if this intake already has a
    /// consumer for that topic and group (two would only split the partitions between them).
    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), InfraError> {
        let name = self.topics.name(topic).to_owned();
        if self
            .subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .any(|s| s.topic == name && s.group == group)
        {
            return Err(InfraError::msg(format!(
                "consumer group {group} is already subscribed to Kafka topic {name} in this process"
            )));
        }
        let deps = Deps {
            handler,
            group: group.to_owned(),
            topic: name.clone(),
            dlq: dlq_topic(&name),
            producer: self.producer.clone(),
            consumer: std::sync::Weak::new(),
            max_attempts: self.config.max_attempts,
            first_backoff: Duration::from_millis(self.config.retry_backoff_ms),
            max_backoff: Duration::from_millis(self.config.max_backoff_ms),
            delivery_timeout: Duration::from_millis(self.config.delivery_timeout_ms),
        };
        let client_config = settings::consumer(&self.config, group);
        let (started_tx, started) = oneshot::channel();
        let (closed_tx, closed) = watch::channel(false);
        let runtime = tokio::runtime::Handle::current();
        let stop = self.stop.clone();
        // The consumer lives and dies on its own thread: librdkafka's poll, the rebalance
        // callbacks (which wait for workers) and the close all block.
        std::thread::Builder::new()
            .name(format!("kafka-{group}"))
            .spawn(move || {
                let consumer =
                    match start(&client_config, deps.group.as_str(), &deps.topic, &deps.dlq) {
                        Ok(c) => Arc::new(c),
                        Err(e) => {
                            let _ = started_tx.send(Err(e));
                            let _ = closed_tx.send(true);
                            return;
                        }
                    };
                let deps = Arc::new(Deps {
                    consumer: Arc::downgrade(&consumer),
                    ..deps
                });
                let _ = started_tx.send(Ok(()));
                PollLoop {
                    consumer,
                    deps,
                    runtime,
                    stop,
                }
                .run();
                let _ = closed_tx.send(true);
            })
            .map_err(|e| InfraError::permanent("starting a Kafka consumer thread", e))?;
        started
            .await
            .map_err(|_| InfraError::msg("the Kafka consumer thread died while starting"))??;
        self.subscriptions
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Subscription {
                topic: name.clone(),
                group: group.to_owned(),
                closed,
            });
        tracing::info!(topic = %name, group, "subscribed");
        Ok(())
    }
}

/// Creates the consumer and subscribes it, once the broker confirmed both topics exist.
fn start(
    config: &rdkafka::ClientConfig,
    group: &str,
    topic: &str,
    dlq: &str,
) -> Result<IntakeConsumer, InfraError> {
    let consumer: IntakeConsumer = config
        .create_with_context(IntakeContext::new(group, topic))
        .map_err(|e| infra("creating a Kafka consumer", e))?;
    let missing = wait_for_topics(consumer.client(), &[topic, dlq], METADATA_TIMEOUT)
        .map_err(|e| infra(format!("checking Kafka topics {topic} and {dlq}"), e))?;
    if !missing.is_empty() {
        return Err(InfraError::msg(format!(
            "Kafka topic(s) {} do not exist: create them, or set kafka.create_topics",
            missing.join(", ")
        )));
    }
    consumer
        .subscribe(&[topic])
        .map_err(|e| infra(format!("subscribing to Kafka topic {topic}"), e))?;
    Ok(consumer)
}
