//! A handler decorator that measures how long events take to reach their consumer, whatever the
//! transport (in-process, Kafka-direct, Dapr): the figure an operator compares across them.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::event::CloudEvent;
use crate::ports::{Clock, EventHandler, Outcome};
use crate::telemetry::metrics;

pub struct Observed {
    inner: Arc<dyn EventHandler>,
    clock: Arc<dyn Clock>,
}

impl Observed {
    pub fn new(inner: Arc<dyn EventHandler>, clock: Arc<dyn Clock>) -> Arc<Self> {
        Arc::new(Self { inner, clock })
    }
}

#[async_trait]
impl EventHandler for Observed {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        // The event's time is taken inside the transaction that recorded it, so this spans
        // commit, relay, broker (or sidecars) and consumer hand-off. A redelivery measures again.
        let waited = self.clock.now() - event.time;
        metrics::EVENT_DELIVERY.observe(waited.num_microseconds().unwrap_or(i64::MAX) as f64 / 1e6);
        self.inner.handle(event).await
    }
}
