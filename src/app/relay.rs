//! The outbox relay: publishes what task writes recorded, in order, and marks it published only
//! once the transport accepted it. A crash at any point leaves unpublished records behind to be
//! sent again (consumers are idempotent by event id), so no event is ever lost.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::ports::{Clock, EventPublisher, Outbox};

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

    /// One claimed batch. Stops at the first failure so that later events of the same task never
    /// overtake an earlier one; the rest of the batch waits for the retry.
    pub async fn publish_batch(&self) -> Result<usize, crate::ports::InfraError> {
        let batch = self.outbox.claim(BATCH, LEASE, self.clock.now()).await?;
        let mut done = Vec::with_capacity(batch.len());
        let mut failed: Option<(String, chrono::DateTime<chrono::Utc>)> = None;
        for rec in &batch {
            if let Some((err, retry_at)) = &failed {
                self.outbox.mark_failed(rec.seq, err, *retry_at).await?;
                continue;
            }
            match self
                .publisher
                .publish(rec.topic, &rec.key, &rec.payload)
                .await
            {
                Ok(()) => done.push(rec.seq),
                Err(e) => {
                    let reason = crate::ports::error::chain(&e);
                    tracing::warn!(seq = rec.seq, topic = rec.topic.as_str(), event_id = %rec.event_id, attempts = rec.attempts + 1, error = %reason, "publish failed; will retry");
                    let retry_at = self.clock.now() + backoff(rec.attempts);
                    self.outbox.mark_failed(rec.seq, &reason, retry_at).await?;
                    failed = Some((
                        format!("waiting behind seq {}: {reason}", rec.seq),
                        retry_at,
                    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{ManualClock, MemoryStore};
    use crate::app::{Actor, Services};
    use crate::ports::InfraError;
    use crate::ports::event_bus::MockEventPublisher;
    use chrono::TimeZone;
    use mockall::Sequence;

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
        let relay = Relay::new(store.clone(), Arc::new(publisher), clock.clone());
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
        let relay = Relay::new(store.clone(), Arc::new(publisher), clock);
        relay.drain().await.unwrap();
        assert_eq!(store.backlog().await.unwrap(), 0);
    }
}
