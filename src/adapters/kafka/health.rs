//! Readiness of the Kafka transport: the producer is usable, the broker answers a metadata
//! request for Tickler's topics within a short timeout, and they exist. librdkafka's call blocks, so it runs on the blocking
//! pool; a result is reused for a second, so frequent probes cost one request.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rdkafka::producer::Producer as _;
use tokio::sync::Mutex;

use super::publisher::Producer;
use super::{error::infra, missing_topics};
use crate::ports::{HealthCheck, InfraError};

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
const REUSE: Duration = Duration::from_secs(1);

type Probe = (Instant, Result<(), (String, bool)>);

pub struct KafkaHealth {
    producer: Arc<Producer>,
    topics: Vec<String>,
    last: Mutex<Option<Probe>>,
}

impl KafkaHealth {
    pub(crate) fn new(producer: Arc<Producer>, topics: Vec<String>) -> Self {
        Self {
            producer,
            topics,
            last: Mutex::new(None),
        }
    }

    async fn probe(&self) -> Result<(), (String, bool)> {
        // An idempotent producer that hit a fatal error (e.g. fenced, or a sequence gap the
        // broker refused) never publishes again; only a restart of the process helps.
        if let Some((code, reason)) = self.producer.client().fatal_error() {
            return Err((
                format!(
                    "the Kafka producer failed fatally ({code}): {reason}; restart the process"
                ),
                false,
            ));
        }
        let producer = self.producer.clone();
        let topics = self.topics.clone();
        let result = tokio::task::spawn_blocking(move || {
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            missing_topics(producer.client(), &names, PROBE_TIMEOUT)
        })
        .await;
        match result {
            Ok(Ok(missing)) if missing.is_empty() => Ok(()),
            Ok(Ok(missing)) => Err((
                format!("Kafka topic(s) missing: {}", missing.join(", ")),
                false,
            )),
            Ok(Err(e)) => {
                let e = infra("Kafka broker unreachable", e);
                Err((crate::ports::error::chain(&e), e.transient))
            }
            Err(e) => Err((format!("Kafka health probe failed: {e}"), true)),
        }
    }
}

#[async_trait]
impl HealthCheck for KafkaHealth {
    fn name(&self) -> &'static str {
        "transport"
    }

    async fn check(&self) -> Result<(), InfraError> {
        // One probe at a time; callers arriving meanwhile get its result.
        let mut last = self.last.lock().await;
        let result = match &*last {
            Some((at, r)) if at.elapsed() < REUSE => r.clone(),
            _ => {
                let r = self.probe().await;
                *last = Some((Instant::now(), r.clone()));
                r
            }
        };
        result.map_err(|(msg, transient)| InfraError {
            context: msg,
            transient,
            source: None,
        })
    }
}
