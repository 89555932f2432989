//! `EventIntake` for Dapr: daprd pushes events to the app's routes.
//!
//! `subscribe` only registers the handler; `GET /dapr/subscribe` (served by the app router)
//! lists, for every registered topic, a route and a dead-letter topic `<topic>.dlq`, plus a
//! subscription to each dead-letter topic (raw payload, so that even bytes daprd cannot parse
//! reach it) whose route records what arrives in the `DeadLetters` store. daprd reads that list
//! once, when the app's port first answers, so every `subscribe` must happen before the app
//! router is served.
//!
//! A delivery is parsed with `CloudEvent::from_slice` (daprd re-serialises events and adds
//! attributes, so bytes are never compared) and answered from the handler's outcome: `SUCCESS`
//! for Done, `RETRY` for Retry, `DROP` for Reject and for payloads that are not CloudEvents —
//! daprd then copies the event to the dead-letter topic. A rejected event is recorded with its
//! reason before the answer (the dead-letter topic's copy carries no reason).
//!
//! daprd may deliver an event again while the first delivery still runs (a resiliency timeout
//! does not cancel the app's work): a delivery of an event whose earlier delivery is still in
//! flight here waits for it and answers with its outcome instead of running the handler a second
//! time. The consumer group is daprd's (the pub/sub component's `consumerGroup`, by default the
//! app id): `subscribe`'s `group` names the consumer in logs and dead-letter records only.

use std::collections::{BTreeMap, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::Utc;
use futures::FutureExt;
use tokio::sync::watch;

use crate::config::TopicNames;
use crate::domain::event::{CloudEvent, Topic};
use crate::ports::{DeadLetters, EventHandler, EventIntake, InfraError, NewDeadLetter, Outcome};

/// Suffix of every dead-letter topic (the same convention as the Kafka-direct consumers').
pub const DEAD_LETTER_SUFFIX: &str = ".dlq";

/// How long a delivery waits for the handlers' outcome (its own, or that of the same event's
/// delivery in flight) before asking daprd to retry: the resiliency spec's inbound timeout
/// (deploy/dapr/resiliency.yaml), after which daprd stops listening anyway.
const ANSWER_WAIT: Duration = Duration::from_secs(60);

/// The answer to daprd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    Success,
    Retry,
    Drop,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Retry => "RETRY",
            Self::Drop => "DROP",
        }
    }
}

/// The answer of a delivery in flight, once its handlers are done.
type Answer = watch::Receiver<Option<Status>>;

#[derive(Clone)]
struct Subscriber {
    group: String,
    handler: Arc<dyn EventHandler>,
}

pub(crate) struct IntakeInner {
    pubsub: String,
    topics: TopicNames,
    subscribers: RwLock<BTreeMap<&'static str, (Topic, Vec<Subscriber>)>>,
    /// Deliveries running now, by topic and event id, with the answer once there is one.
    in_flight: Mutex<HashMap<(Topic, String), Answer>>,
}

/// Registration side, handed to the roles.
#[derive(Clone)]
pub struct DaprIntake {
    pub(crate) inner: Arc<IntakeInner>,
}

impl DaprIntake {
    pub(crate) fn new(pubsub: String, topics: TopicNames) -> Self {
        Self {
            inner: Arc::new(IntakeInner {
                pubsub,
                topics,
                subscribers: RwLock::default(),
                in_flight: Mutex::default(),
            }),
        }
    }
}

#[async_trait]
impl EventIntake for DaprIntake {
    /// Subscribing the same group to a topic again replaces its handler.
    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), InfraError> {
        let mut subs = self
            .inner
            .subscribers
            .write()
            .unwrap_or_else(|e| e.into_inner());
        let (_, list) = subs
            .entry(topic.as_str())
            .or_insert_with(|| (topic, Vec::new()));
        match list.iter_mut().find(|s| s.group == group) {
            Some(s) => s.handler = handler,
            None => list.push(Subscriber {
                group: group.to_owned(),
                handler,
            }),
        }
        Ok(())
    }
}

/// Route of a topic's deliveries and of its dead-letter topic's.
pub(crate) fn event_route(name: &str) -> String {
    format!("/events/{name}")
}

pub(crate) fn dead_letter_route(name: &str) -> String {
    format!("/dead-letters/{name}")
}

/// Headers that carry the record key: Kafka passes it as `__key`, Redis passes publish metadata
/// back (`partitionkey`).
pub(crate) fn key_from(headers: &axum::http::HeaderMap) -> Option<String> {
    ["__key", "partitionkey"]
        .iter()
        .find_map(|h| headers.get(*h)?.to_str().ok())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
}

impl IntakeInner {
    fn topic(&self, name: &str) -> Option<Topic> {
        self.topics.topic(name)
    }

    fn subscribers(&self, topic: Topic) -> Vec<Subscriber> {
        self.subscribers
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic.as_str())
            .map(|(_, l)| l.clone())
            .unwrap_or_default()
    }

    /// The programmatic subscriptions daprd asks for at `GET /dapr/subscribe`.
    pub fn subscriptions(&self) -> serde_json::Value {
        let subs = self.subscribers.read().unwrap_or_else(|e| e.into_inner());
        let mut out = Vec::new();
        for (topic, _) in subs.values() {
            let name = self.topics.name(*topic);
            let dlq = format!("{name}{DEAD_LETTER_SUFFIX}");
            out.push(serde_json::json!({
                "pubsubname": self.pubsub,
                "topic": name,
                "route": event_route(name),
                "deadLetterTopic": dlq,
            }));
            out.push(serde_json::json!({
                "pubsubname": self.pubsub,
                "topic": dlq,
                "route": dead_letter_route(name),
                "metadata": { "rawPayload": "true" },
            }));
        }
        serde_json::Value::Array(out)
    }

    /// One delivery of `topic_name`; `None` when this process does not consume that topic.
    /// The handlers run in a task of their own, so daprd hanging up (its timeout) does not
    /// cancel them half-way; the delivery in flight stays registered until they finish.
    pub async fn deliver(
        self: &Arc<Self>,
        topic_name: &str,
        key: Option<String>,
        body: Vec<u8>,
        dead_letters: Arc<dyn DeadLetters>,
    ) -> Option<Status> {
        let topic = self.topic(topic_name)?;
        let subscribers = self.subscribers(topic);
        if subscribers.is_empty() {
            return None;
        }
        let mut event = match CloudEvent::from_slice(&body) {
            Ok(ev) => ev,
            Err(reason) => {
                // The dead-letter topic's subscriber records it (with this same reason).
                tracing::warn!(topic = topic_name, %reason, "event is not a CloudEvent; dead-lettering it");
                return Some(Status::Drop);
            }
        };
        // daprd adds `traceparent: ""` to events it published without trace context.
        if event.traceparent.as_deref() == Some("") {
            event.traceparent = None;
        }
        let slot = (topic, event.id.clone());
        let mut rx = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            match in_flight.get(&slot) {
                Some(rx) => {
                    tracing::info!(topic = topic_name, event_id = %event.id, "event delivered again while its first delivery runs; waiting for that one");
                    rx.clone()
                }
                None => {
                    let (tx, rx) = watch::channel(None);
                    in_flight.insert(slot.clone(), rx.clone());
                    let this = self.clone();
                    tokio::spawn(async move {
                        let _done = InFlight {
                            inner: this.clone(),
                            slot,
                        };
                        let status = this
                            .run(
                                topic,
                                &event,
                                key,
                                &body,
                                &subscribers,
                                dead_letters.as_ref(),
                            )
                            .await;
                        let _ = tx.send(Some(status));
                    });
                    rx
                }
            }
        };
        let outcome = tokio::time::timeout(ANSWER_WAIT, rx.wait_for(Option::is_some)).await;
        Some(match outcome {
            Ok(Ok(status)) => status.unwrap_or(Status::Retry),
            _ => Status::Retry,
        })
    }

    async fn run(
        &self,
        topic: Topic,
        event: &CloudEvent,
        key: Option<String>,
        body: &[u8],
        subscribers: &[Subscriber],
        dead_letters: &dyn DeadLetters,
    ) -> Status {
        let name = self.topics.name(topic);
        let mut retry = false;
        let mut rejected = 0;
        for s in subscribers {
            let outcome = AssertUnwindSafe(s.handler.handle(event))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Outcome::Retry("event handler panicked".into()));
            match outcome {
                Outcome::Done => {}
                Outcome::Retry(reason) => {
                    tracing::info!(topic = name, group = %s.group, event_id = %event.id, %reason, "event will be delivered again");
                    retry = true;
                }
                Outcome::Reject(reason) => {
                    tracing::warn!(topic = name, group = %s.group, event_id = %event.id, %reason, "event rejected; dead-lettering it");
                    let letter = NewDeadLetter {
                        topic,
                        key: key.clone().unwrap_or_else(|| event.subject.clone()),
                        consumer: Some(s.group.clone()),
                        event_id: Some(event.id.clone()),
                        reason,
                        payload: body.to_vec(),
                    };
                    if let Err(e) = dead_letters.record(letter, Utc::now()).await {
                        tracing::error!(topic = name, event_id = %event.id, error = %crate::ports::error::chain(&e), "cannot record a dead letter; the event will be delivered again");
                        retry = true;
                    }
                    rejected += 1;
                }
            }
        }
        if retry {
            Status::Retry
        } else if rejected == subscribers.len() {
            Status::Drop
        } else {
            // Another group of this process processed it; the rejecting one has its record.
            Status::Success
        }
    }

    /// One delivery from `<topic_name>.dlq`: recorded, then acknowledged.
    pub async fn dead_letter(
        &self,
        topic_name: &str,
        key: Option<String>,
        body: &[u8],
        dead_letters: &dyn DeadLetters,
    ) -> Option<Status> {
        let topic = self.topic(topic_name)?;
        let payload = raw_payload(body);
        let (event_id, subject, reason) = match CloudEvent::from_slice(&payload) {
            Ok(ev) => (
                Some(ev.id),
                Some(ev.subject),
                "dead-lettered by the sidecar: rejected, or its retries ran out".to_owned(),
            ),
            Err(reason) => (None, None, reason),
        };
        let letter = NewDeadLetter {
            topic,
            key: key.or(subject).unwrap_or_default(),
            consumer: None,
            event_id,
            reason,
            payload,
        };
        let event_id = letter.event_id.clone();
        match dead_letters.record(letter, Utc::now()).await {
            Ok(Some(id)) => {
                tracing::warn!(
                    topic = topic_name,
                    event_id = event_id.as_deref(),
                    dead_letter = id,
                    "dead letter recorded"
                );
                Some(Status::Success)
            }
            Ok(None) => Some(Status::Success),
            Err(e) => {
                tracing::error!(topic = topic_name, error = %crate::ports::error::chain(&e), "cannot record a dead letter; asking for it again");
                Some(Status::Retry)
            }
        }
    }
}

/// Unregisters a delivery in flight however its task ends.
struct InFlight {
    inner: Arc<IntakeInner>,
    slot: (Topic, String),
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.inner
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.slot);
    }
}

/// The original bytes of a dead-letter delivery: a raw-payload subscription wraps them in a
/// daprd envelope as `data_base64`. Anything else is taken as it came.
fn raw_payload(body: &[u8]) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Raw {
        data_base64: String,
    }
    serde_json::from_slice::<Raw>(body)
        .ok()
        .and_then(|r| B64.decode(r.data_base64.as_bytes()).ok())
        .unwrap_or_else(|| body.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_payloads_are_unwrapped() {
        let inner = br#"{"id":"x"}"#;
        let env = serde_json::json!({"data_base64": B64.encode(inner), "id": "fresh", "type": "com.dapr.event.sent"});
        assert_eq!(raw_payload(env.to_string().as_bytes()), inner.to_vec());
        assert_eq!(raw_payload(b"not json"), b"not json".to_vec());
    }

    #[tokio::test]
    async fn subscriptions_list_a_dead_letter_topic_per_topic() {
        struct Nop;
        #[async_trait]
        impl EventHandler for Nop {
            async fn handle(&self, _: &CloudEvent) -> Outcome {
                Outcome::Done
            }
        }
        let intake = DaprIntake::new("ps".into(), TopicNames::default());
        intake
            .subscribe(
                Topic::TaskReminders,
                "email-delivery-service",
                Arc::new(Nop),
            )
            .await
            .unwrap();
        let subs = intake.inner.subscriptions();
        assert_eq!(
            subs,
            serde_json::json!([
                {"pubsubname": "ps", "topic": "task-reminders", "route": "/events/task-reminders", "deadLetterTopic": "task-reminders.dlq"},
                {"pubsubname": "ps", "topic": "task-reminders.dlq", "route": "/dead-letters/task-reminders", "metadata": {"rawPayload": "true"}},
            ])
        );
    }
}
