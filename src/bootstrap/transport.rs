//! The event transport a process uses: the in-process bus of the embedded default, Kafka
//! (Kafka-direct) or the Dapr sidecar. This is the only place that knows which one is in use.

use std::sync::Arc;

use crate::adapters::memory::MemoryBus;
use crate::config::{Config, KafkaGroups};
use crate::ports::{EventIntake, EventPublisher, HealthCheck};

pub enum Bus {
    /// Every role in this one process; publishing delivers to them directly.
    Memory(MemoryBus),
}

impl Bus {
    pub async fn connect(_config: &Config) -> anyhow::Result<Self> {
        Ok(Self::Memory(MemoryBus::new()))
    }

    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
        }
    }

    pub fn intake(&self) -> Arc<dyn EventIntake> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
        }
    }

    pub fn health(&self) -> Arc<dyn HealthCheck> {
        match self {
            Self::Memory(b) => Arc::new(b.clone()),
        }
    }

    /// Lets consumers finish the message in hand and commit, then leaves the broker. Called once
    /// the roles have stopped taking new work and before the relay's last pass.
    pub async fn stop_consuming(&self) {
        match self {
            Self::Memory(_) => {}
        }
    }

    /// Flushes and closes the producer, after the relay's last pass.
    pub async fn close(&self) {
        match self {
            Self::Memory(_) => {}
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
