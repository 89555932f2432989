//! The in-process event bus of the embedded default: `publish` delivers to every subscribed group
//! before it returns, so the outbox relay marks a record published only once every subscriber has
//! processed it. A crash before that leaves the record in the outbox, to be delivered again:
//! at-least-once delivery, with no event lost.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use futures::StreamExt;

use crate::domain::event::{CloudEvent, Topic};
use crate::ports::event_bus::Message;
use crate::ports::{EventHandler, EventIntake, EventPublisher, HealthCheck, InfraError, Outcome};

/// An event that can never be processed: not a CloudEvent (`group` and `event_id` are `None`), or
/// rejected by a group's handler.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub topic: Topic,
    pub group: Option<String>,
    pub event_id: Option<String>,
    pub reason: String,
    pub payload: Vec<u8>,
}

/// A consumer group and its handler.
type Subscriber = (String, Arc<dyn EventHandler>);

/// How many published events (per topic) and dead letters are kept by default: the history is
/// for tests and diagnostics, and must not grow without bound in a long-running embedded server.
pub const DEFAULT_HISTORY: usize = 1024;

#[derive(Default)]
struct State {
    /// Per topic, one handler per consumer group, in subscription order.
    subscribers: HashMap<Topic, Vec<Subscriber>>,
    dead_letters: VecDeque<DeadLetter>,
    published: HashMap<Topic, VecDeque<CloudEvent>>,
}

#[derive(Clone)]
pub struct MemoryBus {
    state: Arc<Mutex<State>>,
    /// Published events kept per topic.
    history: usize,
    /// Dead letters kept.
    letters: usize,
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends, dropping the oldest entries beyond `cap`.
fn push_capped<T>(list: &mut VecDeque<T>, item: T, cap: usize) {
    list.push_back(item);
    while list.len() > cap {
        list.pop_front();
    }
}

impl MemoryBus {
    pub fn new() -> Self {
        Self::with_history(DEFAULT_HISTORY)
    }

    /// Keeps the last `history` published events per topic, and as many dead letters.
    pub fn with_history(history: usize) -> Self {
        Self {
            state: Arc::default(),
            history,
            letters: history,
        }
    }

    /// The bus of a server (`--role all`): the last [`DEFAULT_HISTORY`] dead letters, but no
    /// published events. Nothing in a server reads those, and 1,024 parsed events per topic (each
    /// task event carries the whole task) were megabytes of the embedded server's memory
    /// (issue #8).
    pub fn serving() -> Self {
        Self {
            state: Arc::default(),
            history: 0,
            letters: DEFAULT_HISTORY,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The latest events every subscriber of `topic` has processed, in publishing order (a
    /// redelivered event appears once per successful publish).
    pub fn published(&self, topic: Topic) -> Vec<CloudEvent> {
        self.lock()
            .published
            .get(&topic)
            .map(|l| l.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest dead letters, oldest first.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.lock().dead_letters.iter().cloned().collect()
    }

    fn dead_letter(&self, letter: DeadLetter) {
        tracing::warn!(
            topic = letter.topic.as_str(),
            group = letter.group.as_deref(),
            event_id = letter.event_id.as_deref(),
            reason = %letter.reason,
            "event dead-lettered"
        );
        let cap = self.letters;
        push_capped(&mut self.lock().dead_letters, letter, cap);
    }
}

/// How many keys' events a batch delivers at once. Events of one key (one task) stay strictly in
/// order; different tasks are independent, and delivering them one after the other made the
/// e-mail role of a reminder burst wait on each mail in turn (see BENCHMARKS.md). Each delivery
/// mostly waits (for the SQLite writer's group commit, for the file mailer's group flush), so
/// more at once make bigger groups: with 64, and the scheduler's 64 permits, 10,000 reminders due
/// in one second were mailed with a lateness p99 of 0.8–1.1 s against 1.6–1.9 s with 16 (issue #8,
/// ninth step).
const KEYS_IN_FLIGHT: usize = 64;

#[async_trait]
impl EventPublisher for MemoryBus {
    /// The messages of each (topic, key) one after the other, stopping at the first failure (the
    /// rest of that key are "not attempted", so none overtakes it); up to `KEYS_IN_FLIGHT` keys at
    /// once. A failure holds back only its own key.
    async fn publish_batch<'a>(&self, batch: &[Message<'a>]) -> Vec<Result<(), InfraError>> {
        let mut by_key: Vec<Vec<usize>> = Vec::new();
        let mut index: HashMap<(Topic, &str), usize> = HashMap::new();
        for (i, m) in batch.iter().enumerate() {
            let slot = *index.entry((m.topic, m.key)).or_insert_with(|| {
                by_key.push(Vec::new());
                by_key.len() - 1
            });
            by_key[slot].push(i);
        }
        let per_key = futures::stream::iter(by_key)
            .map(|positions| async move {
                let mut results = Vec::with_capacity(positions.len());
                let mut failed = false;
                for &i in &positions {
                    let m = &batch[i];
                    let r = if failed {
                        Err(InfraError::msg("not attempted: an earlier event failed"))
                    } else {
                        self.publish(m.topic, m.key, m.payload).await
                    };
                    failed |= r.is_err();
                    results.push((i, r));
                }
                results
            })
            .buffer_unordered(KEYS_IN_FLIGHT)
            .collect::<Vec<_>>()
            .await;
        let mut out: Vec<Option<Result<(), InfraError>>> = (0..batch.len()).map(|_| None).collect();
        for (i, r) in per_key.into_iter().flatten() {
            out[i] = Some(r);
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(InfraError::msg("not attempted"))))
            .collect()
    }

    async fn publish(&self, topic: Topic, _key: &str, payload: &[u8]) -> Result<(), InfraError> {
        let event = match CloudEvent::from_slice(payload) {
            Ok(ev) => ev,
            Err(reason) => {
                // It can never be processed, so retrying would only block the outbox: accept it.
                self.dead_letter(DeadLetter {
                    topic,
                    group: None,
                    event_id: None,
                    reason,
                    payload: payload.to_vec(),
                });
                return Ok(());
            }
        };
        // Snapshot the handlers: no lock is held while they run.
        let handlers = self
            .lock()
            .subscribers
            .get(&topic)
            .cloned()
            .unwrap_or_default();
        let mut retry = Vec::new();
        for (group, handler) in handlers {
            match handler.handle(&event).await {
                Outcome::Done => {}
                Outcome::Reject(reason) => self.dead_letter(DeadLetter {
                    topic,
                    group: Some(group),
                    event_id: Some(event.id.clone()),
                    reason,
                    payload: payload.to_vec(),
                }),
                Outcome::Retry(reason) => retry.push(format!("{group}: {reason}")),
            }
        }
        if !retry.is_empty() {
            // The relay publishes the event again later, to every group: handlers are idempotent
            // by event id, so the groups that already processed it are not harmed.
            return Err(InfraError::transient(
                format!("{} event {} not processed yet", topic.as_str(), event.id),
                retry.join("; "),
            ));
        }
        let cap = self.history;
        if cap > 0 {
            push_capped(self.lock().published.entry(topic).or_default(), event, cap);
        }
        Ok(())
    }
}

#[async_trait]
impl EventIntake for MemoryBus {
    /// Subscribing the same group to a topic again replaces its handler.
    async fn subscribe(
        &self,
        topic: Topic,
        group: &str,
        handler: Arc<dyn EventHandler>,
    ) -> Result<(), InfraError> {
        let mut state = self.lock();
        let subs = state.subscribers.entry(topic).or_default();
        match subs.iter_mut().find(|(g, _)| g == group) {
            Some(slot) => slot.1 = handler,
            None => subs.push((group.to_owned(), handler)),
        }
        Ok(())
    }
}

/// In-process delivery has nothing that can be down.
#[async_trait]
impl HealthCheck for MemoryBus {
    fn name(&self) -> &'static str {
        "transport"
    }

    async fn check(&self) -> Result<(), InfraError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::TaskId;
    use crate::domain::event::TASK_CREATED;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers with the queued outcomes in turn, then `Done`; counts calls.
    struct Scripted {
        outcomes: Mutex<Vec<Outcome>>,
        calls: AtomicUsize,
    }

    impl Scripted {
        fn new(outcomes: Vec<Outcome>) -> Arc<Self> {
            Arc::new(Self {
                outcomes: Mutex::new(outcomes),
                calls: AtomicUsize::new(0),
            })
        }
        fn calls(&self) -> usize {
            self.calls.load(Ordering::SeqCst)
        }
    }

    #[async_trait]
    impl EventHandler for Scripted {
        async fn handle(&self, _event: &CloudEvent) -> Outcome {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let mut o = self.outcomes.lock().unwrap();
            if o.is_empty() {
                Outcome::Done
            } else {
                o.remove(0)
            }
        }
    }

    fn event() -> CloudEvent {
        CloudEvent::new(
            TASK_CREATED,
            TaskId(7),
            chrono::Utc::now(),
            serde_json::json!({}),
            None,
        )
    }

    #[tokio::test]
    async fn delivers_to_every_group_of_the_topic_only() {
        let bus = MemoryBus::new();
        let (a, b, other) = (
            Scripted::new(vec![]),
            Scripted::new(vec![]),
            Scripted::new(vec![]),
        );
        bus.subscribe(Topic::TaskEvents, "a", a.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskEvents, "b", b.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskReminders, "a", other.clone())
            .await
            .unwrap();
        let ev = event();
        bus.publish(Topic::TaskEvents, "7", &ev.to_bytes())
            .await
            .unwrap();
        assert_eq!((a.calls(), b.calls(), other.calls()), (1, 1, 0));
        assert_eq!(bus.published(Topic::TaskEvents), vec![ev]);
        assert!(bus.published(Topic::TaskReminders).is_empty());
    }

    #[tokio::test]
    async fn resubscribing_a_group_replaces_its_handler() {
        let bus = MemoryBus::new();
        let (old, new) = (Scripted::new(vec![]), Scripted::new(vec![]));
        bus.subscribe(Topic::TaskEvents, "g", old.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskEvents, "g", new.clone())
            .await
            .unwrap();
        bus.publish(Topic::TaskEvents, "7", &event().to_bytes())
            .await
            .unwrap();
        assert_eq!((old.calls(), new.calls()), (0, 1));
    }

    #[tokio::test]
    async fn invalid_payload_is_dead_lettered_without_reaching_handlers() {
        let bus = MemoryBus::new();
        let h = Scripted::new(vec![]);
        bus.subscribe(Topic::TaskEvents, "g", h.clone())
            .await
            .unwrap();
        bus.publish(Topic::TaskEvents, "k", b"{not json")
            .await
            .unwrap();
        let mut bad = event();
        bad.specversion = "0.3".into();
        bus.publish(Topic::TaskEvents, "k", &bad.to_bytes())
            .await
            .unwrap();
        assert_eq!(h.calls(), 0);
        let dl = bus.dead_letters();
        assert_eq!(dl.len(), 2);
        assert!(dl.iter().all(|d| d.group.is_none() && d.event_id.is_none()));
        assert!(
            dl[0].reason.contains("not a CloudEvent"),
            "{}",
            dl[0].reason
        );
        assert_eq!(dl[0].payload, b"{not json");
        assert!(bus.published(Topic::TaskEvents).is_empty());
    }

    #[tokio::test]
    async fn reject_dead_letters_for_that_group_and_succeeds() {
        let bus = MemoryBus::new();
        let (a, b) = (
            Scripted::new(vec![Outcome::Reject("bad data".into())]),
            Scripted::new(vec![]),
        );
        bus.subscribe(Topic::TaskEvents, "a", a.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskEvents, "b", b.clone())
            .await
            .unwrap();
        let ev = event();
        bus.publish(Topic::TaskEvents, "7", &ev.to_bytes())
            .await
            .unwrap();
        assert_eq!(b.calls(), 1);
        let dl = bus.dead_letters();
        assert_eq!(dl.len(), 1);
        assert_eq!(dl[0].topic, Topic::TaskEvents);
        assert_eq!(dl[0].group.as_deref(), Some("a"));
        assert_eq!(dl[0].event_id.as_deref(), Some(ev.id.as_str()));
        assert_eq!(dl[0].reason, "bad data");
    }

    #[tokio::test]
    async fn retry_fails_the_publish_transiently_until_processed() {
        let bus = MemoryBus::new();
        let (a, b) = (
            Scripted::new(vec![]),
            Scripted::new(vec![Outcome::Retry("db busy".into())]),
        );
        bus.subscribe(Topic::TaskEvents, "a", a.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskEvents, "b", b.clone())
            .await
            .unwrap();
        let bytes = event().to_bytes();
        let err = bus
            .publish(Topic::TaskEvents, "7", &bytes)
            .await
            .unwrap_err();
        assert!(err.transient);
        assert!(crate::ports::error::chain(&err).contains("db busy"));
        assert!(bus.published(Topic::TaskEvents).is_empty());
        assert!(bus.dead_letters().is_empty());
        // The relay tries again: every group sees the event again (idempotent handlers).
        bus.publish(Topic::TaskEvents, "7", &bytes).await.unwrap();
        assert_eq!((a.calls(), b.calls()), (2, 2));
        assert_eq!(bus.published(Topic::TaskEvents).len(), 1);
    }

    #[tokio::test]
    async fn history_is_bounded() {
        let bus = MemoryBus::with_history(2);
        let evs: Vec<CloudEvent> = (0..3).map(|_| event()).collect();
        for ev in &evs {
            bus.publish(Topic::TaskEvents, "7", &ev.to_bytes())
                .await
                .unwrap();
            bus.publish(Topic::TaskEvents, "7", b"junk").await.unwrap();
        }
        assert_eq!(bus.published(Topic::TaskEvents), evs[1..].to_vec());
        assert_eq!(bus.dead_letters().len(), 2);
    }

    #[tokio::test]
    async fn a_serving_bus_delivers_and_keeps_dead_letters_but_no_published_events() {
        let bus = MemoryBus::serving();
        let handler = Scripted::new(vec![]);
        bus.subscribe(Topic::TaskEvents, "g", handler.clone())
            .await
            .unwrap();
        bus.publish(Topic::TaskEvents, "7", &event().to_bytes())
            .await
            .unwrap();
        bus.publish(Topic::TaskEvents, "7", b"junk").await.unwrap();
        assert_eq!(handler.calls(), 1);
        assert!(bus.published(Topic::TaskEvents).is_empty());
        assert_eq!(bus.dead_letters().len(), 1);
    }

    /// The embedded wiring: outbox relay → bus. A record stays in the outbox until every group
    /// has processed its event.
    #[tokio::test]
    async fn relay_keeps_the_record_until_every_group_processed_it() {
        use crate::adapters::memory::testutil::*;
        use crate::adapters::memory::{ManualClock, MemoryStore};
        use crate::app::relay::Relay;
        use crate::ports::{Outbox, TaskRepository};

        let store = MemoryStore::new();
        let bus = MemoryBus::new();
        let clock = Arc::new(ManualClock::new(t(0)));
        let (a, b) = (
            Scripted::new(vec![]),
            Scripted::new(vec![Outcome::Retry("not yet".into())]),
        );
        bus.subscribe(Topic::TaskEvents, "a", a.clone())
            .await
            .unwrap();
        bus.subscribe(Topic::TaskEvents, "b", b.clone())
            .await
            .unwrap();
        store
            .create(draft(&user("alice"), new_task("t"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let relay = Relay::new(
            Arc::new(store.clone()),
            Arc::new(bus.clone()),
            clock.clone(),
        );

        assert_eq!(relay.publish_batch().await.unwrap(), 0);
        assert_eq!(store.backlog().await.unwrap(), 1);
        assert!(store.outbox_error(1).unwrap().contains("not yet"));
        clock.advance(chrono::Duration::minutes(1));
        assert_eq!(relay.publish_batch().await.unwrap(), 1);
        assert_eq!(store.backlog().await.unwrap(), 0);
        assert_eq!((a.calls(), b.calls()), (2, 2));
        assert_eq!(bus.published(Topic::TaskEvents).len(), 1);
    }

    #[tokio::test]
    async fn publishing_without_subscribers_is_recorded() {
        let bus = MemoryBus::new();
        bus.publish(Topic::TaskRecurrence, "7", &event().to_bytes())
            .await
            .unwrap();
        assert_eq!(bus.published(Topic::TaskRecurrence).len(), 1);
    }

    /// Records (subject, start) and (subject, end) around a pause, and fails the events whose
    /// subject is listed.
    struct Tracing {
        log: Mutex<Vec<(String, &'static str)>>,
        failing: Vec<String>,
    }

    #[async_trait]
    impl EventHandler for Tracing {
        async fn handle(&self, event: &CloudEvent) -> Outcome {
            self.log.lock().unwrap().push((event.id.clone(), "start"));
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            self.log.lock().unwrap().push((event.id.clone(), "end"));
            if self.failing.contains(&event.id) {
                Outcome::Retry("scripted".into())
            } else {
                Outcome::Done
            }
        }
    }

    #[tokio::test]
    async fn a_batch_runs_keys_side_by_side_but_each_key_in_order_and_a_failure_holds_only_its_key()
    {
        let bus = MemoryBus::new();
        let events: Vec<(String, Vec<u8>)> =
            [(1, "a1"), (2, "b1"), (1, "a2"), (2, "b2"), (1, "a3")]
                .into_iter()
                .map(|(task, id)| {
                    let mut e = event();
                    e.subject = TaskId(task).to_string();
                    e.id = id.into();
                    (e.subject.clone(), e.to_bytes())
                })
                .collect();
        let handler = Arc::new(Tracing {
            log: Mutex::new(Vec::new()),
            failing: vec!["a2".into()],
        });
        bus.subscribe(Topic::TaskEvents, "g", handler.clone())
            .await
            .unwrap();
        let batch: Vec<Message<'_>> = events
            .iter()
            .map(|(key, payload)| Message {
                topic: Topic::TaskEvents,
                key,
                payload,
            })
            .collect();
        let results = bus.publish_batch(&batch).await;
        let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
        assert_eq!(
            ok,
            [true, true, false, true, false],
            "a3 waits behind a2; b is unaffected"
        );
        let log = handler.log.lock().unwrap().clone();
        let pos = |id: &str, what: &str| log.iter().position(|(i, w)| i == id && *w == what);
        assert!(pos("a3", "start").is_none(), "a3 not attempted: {log:?}");
        // Same key: strictly one after the other.
        assert!(pos("a1", "end") < pos("a2", "start"), "{log:?}");
        assert!(pos("b1", "end") < pos("b2", "start"), "{log:?}");
        // Different keys overlap: b1 starts before a1 ends.
        assert!(pos("b1", "start") < pos("a1", "end"), "{log:?}");
    }
}
