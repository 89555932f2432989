//! The event transport a process uses: the in-process bus of the embedded default, Kafka
//! (Kafka-direct) or the Dapr sidecar. This is the only place that knows which one is in use.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::adapters::dapr::{DaprSidecar, resolve_secrets};
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
    /// Pub/sub through this process's sidecar; deliveries arrive on the Dapr-facing routes.
    Dapr(Box<DaprSidecar>),
}

/// Connects to this process's sidecar, waits for it (`/v1.0/healthz/outbound`), and fills the
/// configuration's credentials from the Dapr secret store when one is configured.
pub async fn sidecar(config: &Config) -> anyhow::Result<(Config, DaprSidecar)> {
    let dapr = DaprSidecar::connect(&config.dapr, &config.topics)
        .context("configuring the Dapr sidecar client")?;
    dapr.wait_outbound().await.with_context(|| {
        format!(
            "waiting for the Dapr sidecar at {}",
            config.dapr.http_endpoint
        )
    })?;
    let mut config = config.clone();
    if let Some(store) = dapr.secrets() {
        resolve_secrets(&mut config, store.as_ref())
            .await
            .context("reading credentials from the Dapr secret store")?;
    }
    Ok((config, dapr))
}

impl Bus {
    pub async fn connect(config: &Config, sidecar: Option<DaprSidecar>) -> anyhow::Result<Self> {
        if let Some(dapr) = sidecar {
            return Ok(Self::Dapr(Box::new(dapr)));
        }
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
            _ => Ok(Self::Memory(MemoryBus::serving())),
        }
    }

    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.publisher(),
            Self::Dapr(dapr) => dapr.publisher(),
        }
    }

    pub fn intake(&self) -> Arc<dyn EventIntake> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.intake(),
            Self::Dapr(dapr) => dapr.intake(),
        }
    }

    pub fn health(&self) -> Arc<dyn HealthCheck> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
            Self::Kafka { kafka, .. } => kafka.health(),
            Self::Dapr(dapr) => dapr.health(),
        }
    }

    /// Lets consumers finish the message in hand and commit, then leaves the broker. Called once
    /// the roles have stopped taking new work and before the relay's last pass.
    pub async fn stop_consuming(&self) {
        match self {
            Self::Memory(_) | Self::Dapr(_) => {}
            Self::Kafka { kafka, stop } => {
                let _ = stop.send(true);
                kafka.stop_consuming().await;
            }
        }
    }

    /// Flushes and closes the producer, after the relay's last pass.
    pub async fn close(&self) {
        match self {
            Self::Memory(_) | Self::Dapr(_) => {}
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
