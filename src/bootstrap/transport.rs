//! The event transport a process uses: the in-process bus of the embedded default, Kafka
//! (Kafka-direct) or the Dapr sidecar. This is the only place that knows which one is in use.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::adapters::kafka::KafkaTransport;
use crate::adapters::memory::MemoryBus;
use crate::config::{Config, KafkaGroups, Transport};
use crate::ports::{EventIntake, EventPublisher, HealthCheck};

pub enum Bus {
    /// Every role in this one process; publishing delivers to them directly.
    Memory(MemoryBus),
    Kafka {
        kafka: Box<KafkaTransport>,
        /// Tells the consumers to stop taking messages.
        stop: watch::Sender<bool>,
    },
}

impl Bus {
    pub async fn connect(config: &Config) -> anyhow::Result<Self> {
        match (config.transport(), &config.kafka) {
            (Transport::Kafka, Some(k)) => {
                let (stop, stop_rx) = watch::channel(false);
                let kafka = KafkaTransport::connect(k, &config.topics, stop_rx)
                    .await
                    .with_context(|| format!("connecting to Kafka at {}", k.brokers))?;
                let created = kafka
                    .ensure_topics()
                    .await
                    .context("creating the Kafka topics")?;
                if !created.is_empty() {
                    tracing::info!(topics = ?created, "Kafka topics created");
                }
                Ok(Self::Kafka {
                    kafka: Box::new(kafka),
                    stop,
                })
            }
            _ => Ok(Self::Memory(MemoryBus::new())),
        }
    }

    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.publisher(),
        }
    }

    pub fn intake(&self) -> Arc<dyn EventIntake> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.intake(),
        }
    }

    pub fn health(&self) -> Arc<dyn HealthCheck> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.health(),
        }
    }

    /// Lets consumers finish the message in hand and commit, then leaves the broker. Called once
    /// the roles have stopped taking new work and before the relay's last pass.
    pub async fn stop_consuming(&self) {
        match self {
            Self::Memory(_) => {}
            Self::Kafka { kafka, stop } => {
                let _ = stop.send(true);
                kafka.stop_consuming().await;
            }
        }
    }

    /// Flushes and closes the producer, after the relay's last pass.
    pub async fn close(&self) {
        match self {
            Self::Memory(_) => {}
            Self::Kafka { kafka, .. } => kafka.close().await,
        }
    }
}

/// Consumer group of each consuming role: Kafka's configured ones (by default the Dapr app ids,
/// so that switching a role between Kafka-direct and Dapr keeps its committed offsets).
pub fn groups(config: &Config) -> KafkaGroups {
    config
        .kafka
        .as_ref()
        .map(|k| k.groups.clone())
        .unwrap_or_default()
}
