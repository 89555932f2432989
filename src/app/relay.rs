//! The outbox relay: publishes what task writes recorded, in order, and marks it published only
//! once the transport accepted it. A crash at any point leaves unpublished records behind to be
//! sent again (consumers are idempotent by event id), so no event is ever lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::domain::event::Topic;
use crate::ports::{Clock, EventPublisher, Message, Outbox};

const BATCH: usize = 256;
/// Long enough for a batch to be published; a relay that dies loses its lease after this.
const LEASE: Duration = Duration::from_secs(30);
/// Records written by another process are noticed within this delay.
const IDLE_POLL: Duration = Duration::from_millis(250);

pub struct Relay {
    outbox: Arc<dyn Outbox>,
    publisher: Arc<dyn EventPublisher>,
    clock: Arc<dyn Clock>,
}

/// Back-off after a failed publish: 1 s, 2 s, 4 s … capped at a minute.
fn backoff(attempts: u32) -> chrono::Duration {
    chrono::Duration::seconds(1i64 << attempts.min(6)).min(chrono::Duration::seconds(60))
}

impl Relay {
    pub fn new(
        outbox: Arc<dyn Outbox>,
        publisher: Arc<dyn EventPublisher>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            outbox,
            publisher,
            clock,
        }
    }

    /// Publishes until `shutdown` turns true, then makes a last pass so that a clean stop leaves
    /// nothing behind.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        loop {
            match self.publish_batch().await {
                Ok(0) => {
                    tokio::select! {
                        _ = self.outbox.wait_for_work(IDLE_POLL) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %crate::ports::error::chain(&e), "outbox relay pass failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
            if *shutdown.borrow() {
                if let Err(e) = self.drain().await {
                    tracing::warn!(error = %crate::ports::error::chain(&e), "final outbox pass failed");
                }
                return;
            }
        }
    }

    /// Publishes until nothing is claimable (tests, shutdown).
    pub async fn drain(&self) -> Result<(), crate::ports::InfraError> {
        while self.publish_batch().await? > 0 {}
        Ok(())
    }

    /// One claimed batch, handed to the transport at once (`publish_batch` keeps per-key order).
    /// A failed record is retried after a back-off, and every later record of the same topic and
    /// key that was not published waits behind it, so one task's events never overtake each other.
    pub async fn publish_batch(&self) -> Result<usize, crate::ports::InfraError> {
        let batch = self.outbox.claim(BATCH, LEASE, self.clock.now()).await?;
        if batch.is_empty() {
            return Ok(0);
        }
        let messages: Vec<Message<'_>> = batch
            .iter()
            .map(|r| Message {
                topic: r.topic,
                key: &r.key,
                payload: &r.payload,
            })
            .collect();
        let results = self.publisher.publish_batch(&messages).await;
        let mut done = Vec::with_capacity(batch.len());
        let mut blocked: HashMap<(Topic, &str), (String, DateTime<Utc>)> = HashMap::new();
        for (rec, result) in batch.iter().zip(results) {
            let key = (rec.topic, rec.key.as_str());
            if let Some((reason, retry_at)) = blocked.get(&key) {
                // Published or not, it must not count as delivered before the failed one.
                let reason = format!("waiting behind an earlier event: {reason}");
                self.outbox.mark_failed(rec.seq, &reason, *retry_at).await?;
                continue;
            }
            match result {
                Ok(()) => done.push(rec.seq),
                Err(e) => {
                    let reason = crate::ports::error::chain(&e);
                    tracing::warn!(seq = rec.seq, topic = rec.topic.as_str(), event_id = %rec.event_id, attempts = rec.attempts + 1, error = %reason, "publish failed; will retry");
                    let retry_at = self.clock.now() + backoff(rec.attempts);
                    self.outbox.mark_failed(rec.seq, &reason, retry_at).await?;
                    blocked.insert(key, (reason, retry_at));
                }
            }
        }
        if !done.is_empty() {
            self.outbox.mark_published(&done, self.clock.now()).await?;
            crate::telemetry::metrics::EVENTS_PUBLISHED.add(done.len() as u64);
        }
        Ok(done.len())
    }
}

/// How often published records older than the retention are deleted, and how many per statement.
const PURGE_EVERY: Duration = Duration::from_secs(600);
const PURGE_STEP: usize = 1000;

/// Keeps the outbox small: every [`PURGE_EVERY`], deletes published records older than
/// `retention`, in steps, until `shutdown`. Several processes may run it on one database.
pub async fn purge_published(
    outbox: Arc<dyn Outbox>,
    clock: Arc<dyn Clock>,
    retention: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let retention = chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
    loop {
        // A retention reaching before the calendar's start keeps everything.
        let before = clock
            .now()
            .checked_sub_signed(retention)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        loop {
            match outbox.purge_published(before, PURGE_STEP).await {
                Ok(n) if n as usize == PURGE_STEP && !*shutdown.borrow() => continue,
                Ok(n) => {
                    if n > 0 {
                        tracing::debug!(purged = n, "old published events deleted");
                    }
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %crate::ports::error::chain(&e), "outbox clean-up failed");
                    break;
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(PURGE_EVERY) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryStore};
    use crate::app::{Actor, Services};
    use crate::ports::InfraError;
    use crate::ports::event_bus::MockEventPublisher;
    use chrono::TimeZone;
    use mockall::Sequence;

    /// The mock's `publish` behind the trait's own `publish_batch`, so the expectations below
    /// see each event the relay hands over, in order.
    struct OnlyPublish(MockEventPublisher);

    #[async_trait::async_trait]
    impl EventPublisher for OnlyPublish {
        async fn publish(&self, topic: Topic, key: &str, payload: &[u8]) -> Result<(), InfraError> {
            self.0.publish(topic, key, payload).await
        }
    }

    fn actor() -> Actor {
        Actor {
            user_id: crate::domain::UserId::parse("u").unwrap(),
            email: None,
            name: None,
            traceparent: None,
        }
    }

    /// One task created then updated twice: three events with the same key, in order.
    async fn three_events(store: &Arc<MemoryStore>, clock: &Arc<ManualClock>) {
        let services = Services {
            tasks: store.clone(),
            labels: store.clone(),
            users: store.clone(),
            state: Arc::new(crate::adapters::memory::MemoryStateStore::new(
                clock.clone(),
            )),
            clock: clock.clone(),
        };
        let input = crate::app::input::CreateTaskInput {
            title: "t".into(),
            ..Default::default()
        };
        let task = services
            .create_task(&actor(), input.into_new_task().unwrap())
            .await
            .unwrap();
        for title in ["t2", "t3"] {
            let patch = crate::domain::task::TaskPatch {
                title: Some(crate::domain::task::Title::parse(title).unwrap()),
                ..Default::default()
            };
            services
                .update_task(&actor(), task.id, patch)
                .await
                .unwrap();
        }
    }

    #[tokio::test]
    async fn a_failed_publish_holds_back_the_rest_of_the_batch() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        three_events(&store, &clock).await;
        let mut publisher = MockEventPublisher::new();
        let mut seq = Sequence::new();
        publisher
            .expect_publish()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Ok(()));
        publisher
            .expect_publish()
            .times(1)
            .in_sequence(&mut seq)
            .returning(|_, _, _| Err(InfraError::msg("broker down")));
        // The third event must not be attempted: it would overtake the second.
        let relay = Relay::new(
            store.clone(),
            Arc::new(OnlyPublish(publisher)),
            clock.clone(),
        );
        assert_eq!(relay.publish_batch().await.unwrap(), 1);
        assert_eq!(store.backlog().await.unwrap(), 2);
        assert_eq!(
            relay.publish_batch().await.unwrap(),
            0,
            "nothing is claimable before the retry time"
        );
    }

    #[tokio::test]
    async fn events_are_published_in_order_with_their_key() {
        let store = Arc::new(MemoryStore::new());
        let clock = Arc::new(ManualClock::new(
            chrono::Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        three_events(&store, &clock).await;
        let mut publisher = MockEventPublisher::new();
        let mut seq = Sequence::new();
        for expected in ["task.created", "task.updated", "task.updated"] {
            publisher
                .expect_publish()
                .withf(move |topic, key, payload| {
                    let ev = crate::domain::event::CloudEvent::from_slice(payload).unwrap();
                    *topic == crate::domain::event::Topic::TaskEvents
                        && key == "1"
                        && ev.event_type == expected
                })
                .times(1)
                .in_sequence(&mut seq)
                .returning(|_, _, _| Ok(()));
        }
        let relay = Relay::new(store.clone(), Arc::new(OnlyPublish(publisher)), clock);
        relay.drain().await.unwrap();
        assert_eq!(store.backlog().await.unwrap(), 0);
    }
}
