//! One partition's delivery loop: strictly in offset order, one message at a time. A message is
//! finished when its handler said `Done`, or when it is safely in the dead-letter topic; only
//! then is its offset stored for the next commit. `Retry` waits (exponential back-off) and
//! delivers the same message again, so nothing behind it overtakes it.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures::FutureExt;
use rdkafka::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::OwnedMessage;
use rdkafka::producer::FutureRecord;
use tokio::sync::{mpsc, oneshot, watch};

use super::consumer::IntakeContext;
use super::dead_letter;
use super::publisher::Producer;
use crate::domain::event::CloudEvent;
use crate::ports::{EventHandler, Outcome};
use crate::telemetry::metrics;

/// What every partition worker of one subscription shares.
pub(crate) struct Deps {
    pub handler: Arc<dyn EventHandler>,
    pub group: String,
    pub topic: String,
    pub dlq: String,
    pub producer: Arc<Producer>,
    /// Weak: the consumer is closed and dropped by its poll thread, never by a worker.
    pub consumer: Weak<BaseConsumer<IntakeContext>>,
    pub max_attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub delivery_timeout: Duration,
}

impl Deps {
    /// Delay before delivery number `attempt + 1`: first, 2×first, 4×first… capped.
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.first_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }
}

enum Finished {
    /// Handled or dead-lettered: store the offset, take the next message.
    Done,
    /// Stopped before the message was finished: leave it for whoever gets the partition next.
    Abandoned,
}

/// Runs until `stop` turns true (or its sender goes away) or the channel closes. A message in
/// the handler's hands is always finished first; a back-off wait is not.
pub(crate) async fn run(
    deps: Arc<Deps>,
    partition: i32,
    mut messages: mpsc::Receiver<OwnedMessage>,
    mut stop: watch::Receiver<bool>,
    _finished: oneshot::Sender<()>,
) {
    loop {
        let msg = tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break,
            m = messages.recv() => match m {
                Some(m) => m,
                None => break,
            },
        };
        match deliver(&deps, &msg, &mut stop).await {
            Finished::Done => store(&deps, partition, msg.offset() + 1),
            Finished::Abandoned => break,
        }
    }
}

async fn deliver(deps: &Deps, msg: &OwnedMessage, stop: &mut watch::Receiver<bool>) -> Finished {
    let event = match msg.payload().map(CloudEvent::from_slice) {
        Some(Ok(event)) => event,
        Some(Err(reason)) => return dead_letter(deps, msg, None, &reason, 0, stop).await,
        None => {
            let reason = "empty record (tombstone), not a CloudEvent";
            return dead_letter(deps, msg, None, reason, 0, stop).await;
        }
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        // A panicking handler is a bug to retry and finally dead-letter, not a dead partition.
        let outcome = AssertUnwindSafe(deps.handler.handle(&event))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Outcome::Retry("the handler panicked".into()));
        match outcome {
            Outcome::Done => {
                metrics::EVENTS_HANDLED.inc();
                return Finished::Done;
            }
            Outcome::Reject(reason) => {
                let reason = format!("rejected: {reason}");
                return dead_letter(deps, msg, Some(&event), &reason, attempt, stop).await;
            }
            Outcome::Retry(reason) => {
                metrics::EVENTS_RETRIED.inc();
                if attempt >= deps.max_attempts {
                    let reason = format!("gave up after {attempt} deliveries: {reason}");
                    return dead_letter(deps, msg, Some(&event), &reason, attempt, stop).await;
                }
                let delay = deps.backoff(attempt);
                tracing::info!(
                    topic = %deps.topic, partition = msg.partition(), offset = msg.offset(),
                    group = %deps.group, event_id = %event.id, attempt, retry_in_ms = delay.as_millis() as u64,
                    reason = %reason, "event will be delivered again"
                );
                if stopped_during(delay, stop).await {
                    return Finished::Abandoned;
                }
            }
        }
    }
}

/// Copies the record to the dead-letter topic, retrying until the broker has it: a dead letter
/// that is not written must not be committed past (it would be lost), so like daprd with a
/// missing DLQ topic the partition waits.
async fn dead_letter(
    deps: &Deps,
    msg: &OwnedMessage,
    event: Option<&CloudEvent>,
    reason: &str,
    attempts: u32,
    stop: &mut watch::Receiver<bool>,
) -> Finished {
    let mut failures = 0;
    loop {
        let mut record = FutureRecord::<[u8], [u8]>::to(&deps.dlq).headers(dead_letter::headers(
            msg,
            &deps.group,
            reason,
            attempts,
        ));
        if let Some(key) = msg.key() {
            record = record.key(key);
        }
        if let Some(payload) = msg.payload() {
            record = record.payload(payload);
        }
        match deps.producer.send(record, deps.delivery_timeout).await {
            Ok(_) => {
                metrics::EVENTS_REJECTED.inc();
                tracing::warn!(
                    topic = %deps.topic, partition = msg.partition(), offset = msg.offset(),
                    group = %deps.group, event_id = event.map(|e| e.id.as_str()),
                    dead_letter_topic = %deps.dlq, attempts, reason = %reason,
                    "event dead-lettered"
                );
                return Finished::Done;
            }
            Err((e, _)) => {
                failures += 1;
                let delay = deps.backoff(failures);
                tracing::error!(
                    topic = %deps.topic, partition = msg.partition(), offset = msg.offset(),
                    group = %deps.group, dead_letter_topic = %deps.dlq, error = %e,
                    retry_in_ms = delay.as_millis() as u64,
                    "could not write the dead letter; the partition waits"
                );
                if stopped_during(delay, stop).await {
                    return Finished::Abandoned;
                }
            }
        }
    }
}

/// Sleeps for `delay`; true if told to stop meanwhile.
async fn stopped_during(delay: Duration, stop: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(delay) => false,
        _ = stop.wait_for(|s| *s) => true,
    }
}

fn store(deps: &Deps, partition: i32, next: i64) {
    // The strong reference lives only for this call, never across an await.
    let Some(consumer) = deps.consumer.upgrade() else {
        return;
    };
    // `store_offsets` takes the next offset to read (the legacy `store_offset` adds 1 itself).
    let mut tpl = rdkafka::TopicPartitionList::new();
    let stored = tpl
        .add_partition_offset(&deps.topic, partition, rdkafka::Offset::Offset(next))
        .and_then(|()| consumer.store_offsets(&tpl));
    if let Err(e) = stored {
        tracing::warn!(topic = %deps.topic, partition, offset = next, group = %deps.group, error = %e, "could not store the consumer offset; the message will be delivered again");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_the_first_delay_up_to_the_cap() {
        struct Nop;
        #[async_trait::async_trait]
        impl EventHandler for Nop {
            async fn handle(&self, _: &CloudEvent) -> Outcome {
                Outcome::Done
            }
        }
        let producer: Producer = rdkafka::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create_with_context(super::super::context::LogContext)
            .unwrap();
        let deps = Deps {
            handler: Arc::new(Nop),
            group: "g".into(),
            topic: "t".into(),
            dlq: "t.dlq".into(),
            producer: Arc::new(producer),
            consumer: Weak::new(),
            max_attempts: 10,
            first_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(3),
            delivery_timeout: Duration::from_secs(1),
        };
        let ms: Vec<u128> = (1..=6).map(|a| deps.backoff(a).as_millis()).collect();
        assert_eq!(ms, vec![500, 1000, 2000, 3000, 3000, 3000]);
        assert_eq!(deps.backoff(u32::MAX), Duration::from_secs(3));
    }
}
