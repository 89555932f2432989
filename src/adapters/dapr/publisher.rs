//! `EventPublisher` through the sidecar: `POST /v1.0/publish/{pubsub}/{topic}` with the outbox's
//! exact CloudEvent bytes, the task id as `metadata.partitionKey` (the Kafka record key, so one
//! task's events share a partition) and `metadata.rawPayload=true`.
//!
//! Raw payload, because without it daprd rebuilds the CloudEvent before writing it: keys sorted,
//! `<>&` escaped, `pubsubname`/`topic`/`traceid`/`tracestate` added and our `traceparent`
//! replaced by the request's trace context (../shared/reference/dapr-kafka-verified.md §2). With
//! it the broker holds exactly the bytes a Kafka-direct producer writes, so Dapr and
//! Kafka-direct roles read identical records during a mixed roll-out, the trace context travels
//! inside the event, and a dead letter keeps the bytes that were published. Subscribers (with
//! ordinary, non-raw subscriptions) still receive the CloudEvent as such (verified on Kafka and
//! Redis, daprd 1.18.3). Bytes that are not a CloudEvent are carried too, and end in the
//! dead-letter topic rather than being refused at publish. The event's `traceparent` is also
//! sent as the HTTP header, for daprd's own spans.

use std::collections::HashMap;

use async_trait::async_trait;
use futures::StreamExt;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;

use super::client::{ApiError, Sidecar, segment};
use crate::config::TopicNames;
use crate::domain::event::Topic;
use crate::ports::{EventPublisher, InfraError, Message};

#[derive(Clone)]
pub struct DaprPublisher {
    sidecar: Sidecar,
    pubsub: String,
    topics: TopicNames,
    concurrency: usize,
}

impl DaprPublisher {
    pub(crate) fn new(
        sidecar: Sidecar,
        pubsub: String,
        topics: TopicNames,
        concurrency: usize,
    ) -> Self {
        Self {
            sidecar,
            pubsub,
            topics,
            concurrency: concurrency.max(1),
        }
    }
}

/// The one attribute the publisher needs from the payload.
#[derive(serde::Deserialize)]
struct Trace {
    #[serde(default)]
    traceparent: Option<String>,
}

#[async_trait]
impl EventPublisher for DaprPublisher {
    async fn publish(&self, topic: Topic, key: &str, payload: &[u8]) -> Result<(), InfraError> {
        let name = self.topics.name(topic);
        let context = format!("publishing to {name} through the sidecar");
        let mut rb = self
            .sidecar
            .request(
                Method::POST,
                &format!("/v1.0/publish/{}/{}", segment(&self.pubsub), segment(name)),
            )
            .query(&[
                ("metadata.partitionKey", key),
                ("metadata.rawPayload", "true"),
            ])
            .header(CONTENT_TYPE, "application/cloudevents+json")
            .body(payload.to_vec());
        if let Some(tp) = serde_json::from_slice::<Trace>(payload)
            .ok()
            .and_then(|t| t.traceparent)
            .filter(|t| !t.is_empty())
        {
            rb = rb.header("traceparent", tp);
        }
        let resp = self.sidecar.send(rb, &context).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let err = ApiError::read(resp).await;
        // daprd could not read the payload as a CloudEvent: retrying the same bytes cannot help.
        let permanent = err.code == "ERR_PUBSUB_CLOUD_EVENTS_SER";
        let mut infra = err.into_infra(context);
        if permanent {
            infra.transient = false;
        }
        Err(infra)
    }

    /// Keys are published concurrently (up to `dapr.publish_concurrency` at once); one key's
    /// messages one after the other, in the order given, stopping at its first failure.
    async fn publish_batch<'a>(&self, batch: &[Message<'a>]) -> Vec<Result<(), InfraError>> {
        let mut by_key: Vec<Vec<usize>> = Vec::new();
        let mut slot: HashMap<&str, usize> = HashMap::new();
        for (i, m) in batch.iter().enumerate() {
            let g = *slot.entry(m.key).or_insert_with(|| {
                by_key.push(Vec::new());
                by_key.len() - 1
            });
            by_key[g].push(i);
        }
        let done: Vec<Vec<(usize, Result<(), InfraError>)>> = futures::stream::iter(by_key)
            .map(|indices| async move {
                let mut out = Vec::with_capacity(indices.len());
                let mut failed = false;
                for i in indices {
                    let m = &batch[i];
                    let r = if failed {
                        Err(InfraError::msg(
                            "not attempted: an earlier event of the same key failed",
                        ))
                    } else {
                        self.publish(m.topic, m.key, m.payload).await
                    };
                    failed |= r.is_err();
                    out.push((i, r));
                }
                out
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        let mut results: Vec<Option<Result<(), InfraError>>> =
            std::iter::repeat_with(|| None).take(batch.len()).collect();
        for (i, r) in done.into_iter().flatten() {
            results[i] = Some(r);
        }
        results
            .into_iter()
            .map(|r| r.unwrap_or_else(|| Err(InfraError::msg("not attempted"))))
            .collect()
    }
}
