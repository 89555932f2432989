//! Event bus (`EventPublisher` + `EventIntake`): what every transport delivers, to whom, in which
//! order, and what becomes of events a handler cannot process.
//!
//! The cases publish the way the outbox relay does: an event whose publish fails transiently is
//! published again (`publish_until_accepted`). That is how the in-process bus redelivers (a
//! subscriber's `Retry` fails the publish), while a broker accepts at once and its consumer
//! redelivers; both must show the handler the same sequence.
//!
//! Waiting: the in-process bus has delivered when `publish` returns; a broker needs a moment. Cases
//! wait for what they expect (up to `DELIVERY_TIMEOUT`), then a further `settle` before checking
//! that nothing else arrived.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use tickler::domain::TaskId;
use tickler::domain::event::{CloudEvent, TASK_CREATED, TASK_UPDATED, Topic};
use tickler::ports::{EventHandler, EventIntake, EventPublisher, Message, Outcome};

use super::BoxFut;

macro_rules! event_bus_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            bus,
            bus,
            [
                a_subscribed_group_gets_each_event_once_unchanged,
                each_keys_events_arrive_in_order,
                every_group_gets_every_event,
                retry_delivers_the_same_event_again_before_the_next_of_its_key,
                a_rejected_event_is_dead_lettered_and_the_next_one_delivered,
                invalid_payloads_are_dead_lettered_without_reaching_the_handler,
                a_restarted_consumer_resumes_after_what_it_handled,
                publish_batch_reports_one_result_per_message_in_order,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use event_bus_tests;

pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(30);

/// An event given up on, as the transport records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterView {
    /// The original bytes (`None` for a record without a value).
    pub payload: Option<Vec<u8>>,
    pub reason: String,
    /// The group that gave up on it; `None` when the transport refused it before any group saw
    /// it (the in-process bus checks payloads at publish).
    pub group: Option<String>,
}

pub struct BusFixture {
    pub publisher: Arc<dyn EventPublisher>,
    pub intake: Arc<dyn EventIntake>,
    /// Stops the current intake's consumers cleanly (a process exit) and returns a new intake on
    /// the same transport, whose groups resume from what was committed. The in-process bus is its
    /// own state and returns itself: subscribing a group again replaces its handler.
    pub restart: Box<dyn FnMut() -> BoxFut<Arc<dyn EventIntake>> + Send>,
    /// Every dead letter of a topic so far, in the order they were written for one key.
    pub dead_letters: Arc<dyn Fn(Topic) -> BoxFut<Vec<DeadLetterView>> + Send + Sync>,
    /// How long to keep watching for deliveries that should not happen.
    pub settle: Duration,
    /// Makes a consumer-group name unique to this fixture (groups outlive a test on a broker).
    pub group_suffix: String,
    pub guard: Box<dyn std::any::Any + Send>,
}

impl BusFixture {
    pub fn group(&self, name: &str) -> String {
        format!("{name}{}", self.group_suffix)
    }
}

/// Records what it is given; answers each event id with its scripted outcomes, then `Done`.
#[derive(Default)]
pub struct Recorder {
    seen: Mutex<Vec<CloudEvent>>,
    script: Mutex<HashMap<String, VecDeque<Outcome>>>,
}

impl Recorder {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    pub fn script(&self, event_id: &str, outcomes: Vec<Outcome>) {
        self.script
            .lock()
            .unwrap()
            .insert(event_id.to_owned(), outcomes.into());
    }

    pub fn seen(&self) -> Vec<CloudEvent> {
        self.seen.lock().unwrap().clone()
    }

    pub fn seen_ids(&self) -> Vec<String> {
        self.seen().into_iter().map(|e| e.id).collect()
    }

    /// Waits until at least `n` deliveries were seen; panics with what was seen otherwise.
    pub async fn wait_for(&self, n: usize) {
        let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
        while self.seen.lock().unwrap().len() < n {
            if tokio::time::Instant::now() > deadline {
                panic!(
                    "expected {n} deliveries within {DELIVERY_TIMEOUT:?}, saw {:?}",
                    self.seen_ids()
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        self.seen.lock().unwrap().push(event.clone());
        self.script
            .lock()
            .unwrap()
            .get_mut(&event.id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Done)
    }
}

/// Event number `n` of task `task` (distinct ids, a fixed instant, a little data).
pub fn event(task: i64, n: u32) -> CloudEvent {
    let kind = if n == 0 { TASK_CREATED } else { TASK_UPDATED };
    CloudEvent::new(
        kind,
        TaskId(task),
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap(),
        serde_json::json!({ "task": task, "n": n, "note": "<&> ünïcödé" }),
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".into()),
    )
}

/// Publishes as the outbox relay does: again after a transient failure, until accepted.
pub async fn publish_until_accepted(
    publisher: &dyn EventPublisher,
    topic: Topic,
    key: &str,
    payload: &[u8],
) {
    for _ in 0..50 {
        match publisher.publish(topic, key, payload).await {
            Ok(()) => return,
            Err(e) if e.transient => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("publish failed permanently: {e:?}"),
        }
    }
    panic!("publish was never accepted");
}

pub async fn publish_event(fx: &BusFixture, topic: Topic, ev: &CloudEvent) {
    publish_until_accepted(&*fx.publisher, topic, ev.partition_key(), &ev.to_bytes()).await;
}

async fn dead_letters_eventually(fx: &BusFixture, topic: Topic, n: usize) -> Vec<DeadLetterView> {
    let deadline = tokio::time::Instant::now() + DELIVERY_TIMEOUT;
    loop {
        let dl = (fx.dead_letters)(topic).await;
        if dl.len() >= n {
            tokio::time::sleep(fx.settle).await;
            return (fx.dead_letters)(topic).await;
        }
        if tokio::time::Instant::now() > deadline {
            panic!("expected {n} dead letters on {topic:?}, found {dl:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn a_subscribed_group_gets_each_event_once_unchanged(fx: BusFixture) {
    let rec = Recorder::new();
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("g"), rec.clone())
        .await
        .unwrap();
    let events: Vec<CloudEvent> = (1..=3).map(|t| event(t, 0)).collect();
    for ev in &events {
        publish_event(&fx, Topic::TaskEvents, ev).await;
    }
    rec.wait_for(3).await;
    tokio::time::sleep(fx.settle).await;
    let mut seen = rec.seen();
    seen.sort_by(|a, b| a.subject.cmp(&b.subject));
    assert_eq!(seen, events, "each event once, parsed back identical");
    assert!((fx.dead_letters)(Topic::TaskEvents).await.is_empty());
}

pub async fn each_keys_events_arrive_in_order(fx: BusFixture) {
    let rec = Recorder::new();
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("g"), rec.clone())
        .await
        .unwrap();
    // Five tasks, eight events each, interleaved; half one by one, half as a batch.
    let mut sent: Vec<CloudEvent> = Vec::new();
    for n in 0..8 {
        for task in 1..=5 {
            sent.push(event(task, n));
        }
    }
    let (single, batched) = sent.split_at(20);
    for ev in single {
        publish_event(&fx, Topic::TaskEvents, ev).await;
    }
    let bytes: Vec<Vec<u8>> = batched.iter().map(CloudEvent::to_bytes).collect();
    let batch: Vec<Message<'_>> = batched
        .iter()
        .zip(&bytes)
        .map(|(ev, b)| Message {
            topic: Topic::TaskEvents,
            key: ev.partition_key(),
            payload: b,
        })
        .collect();
    let results = fx.publisher.publish_batch(&batch).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    rec.wait_for(sent.len()).await;
    tokio::time::sleep(fx.settle).await;
    let seen = rec.seen();
    assert_eq!(seen.len(), sent.len());
    for task in 1..=5 {
        let key = task.to_string();
        let want: Vec<&str> = sent
            .iter()
            .filter(|e| e.subject == key)
            .map(|e| e.id.as_str())
            .collect();
        let got: Vec<&str> = seen
            .iter()
            .filter(|e| e.subject == key)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(got, want, "order of task {task}");
    }
}

pub async fn every_group_gets_every_event(fx: BusFixture) {
    let (a, b) = (Recorder::new(), Recorder::new());
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("a"), a.clone())
        .await
        .unwrap();
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("b"), b.clone())
        .await
        .unwrap();
    let events: Vec<CloudEvent> = (1..=4).map(|t| event(t, 0)).collect();
    for ev in &events {
        publish_event(&fx, Topic::TaskEvents, ev).await;
    }
    a.wait_for(4).await;
    b.wait_for(4).await;
    tokio::time::sleep(fx.settle).await;
    for rec in [&a, &b] {
        let mut ids = rec.seen_ids();
        ids.sort();
        let mut want: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
        want.sort();
        assert_eq!(ids, want);
    }
}

pub async fn retry_delivers_the_same_event_again_before_the_next_of_its_key(fx: BusFixture) {
    let rec = Recorder::new();
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("g"), rec.clone())
        .await
        .unwrap();
    let (e1, e2) = (event(7, 0), event(7, 1));
    rec.script(&e1.id, vec![Outcome::Retry("database busy".into())]);
    publish_event(&fx, Topic::TaskEvents, &e1).await;
    publish_event(&fx, Topic::TaskEvents, &e2).await;
    rec.wait_for(3).await;
    tokio::time::sleep(fx.settle).await;
    assert_eq!(
        rec.seen_ids(),
        vec![e1.id.clone(), e1.id.clone(), e2.id.clone()]
    );
    assert_eq!(rec.seen()[1], e1, "the same event, unchanged");
    assert!((fx.dead_letters)(Topic::TaskEvents).await.is_empty());
}

pub async fn a_rejected_event_is_dead_lettered_and_the_next_one_delivered(fx: BusFixture) {
    let rec = Recorder::new();
    let group = fx.group("g");
    fx.intake
        .subscribe(Topic::TaskEvents, &group, rec.clone())
        .await
        .unwrap();
    let (e1, e2) = (event(8, 0), event(8, 1));
    rec.script(&e1.id, vec![Outcome::Reject("unknown task type".into())]);
    publish_event(&fx, Topic::TaskEvents, &e1).await;
    publish_event(&fx, Topic::TaskEvents, &e2).await;
    rec.wait_for(2).await;
    let dl = dead_letters_eventually(&fx, Topic::TaskEvents, 1).await;
    assert_eq!(rec.seen_ids(), vec![e1.id.clone(), e2.id.clone()]);
    assert_eq!(dl.len(), 1, "{dl:?}");
    assert_eq!(dl[0].payload.as_deref(), Some(&e1.to_bytes()[..]));
    assert!(dl[0].reason.contains("unknown task type"), "{:?}", dl[0]);
    assert_eq!(dl[0].group.as_deref(), Some(group.as_str()));
}

pub async fn invalid_payloads_are_dead_lettered_without_reaching_the_handler(fx: BusFixture) {
    let rec = Recorder::new();
    fx.intake
        .subscribe(Topic::TaskEvents, &fx.group("g"), rec.clone())
        .await
        .unwrap();
    let mut future = event(9, 0);
    future.specversion = "2.0".into();
    let bad: Vec<Vec<u8>> = vec![
        b"not json at all".to_vec(),
        future.to_bytes(),
        br#"{"hello":"world"}"#.to_vec(),
    ];
    for payload in &bad {
        publish_until_accepted(&*fx.publisher, Topic::TaskEvents, "9", payload).await;
    }
    let good = event(9, 1);
    publish_event(&fx, Topic::TaskEvents, &good).await;
    rec.wait_for(1).await;
    let dl = dead_letters_eventually(&fx, Topic::TaskEvents, 3).await;
    assert_eq!(
        rec.seen(),
        vec![good],
        "only the valid event reaches the handler"
    );
    let payloads: Vec<Option<Vec<u8>>> = dl.iter().map(|d| d.payload.clone()).collect();
    assert_eq!(payloads, bad.into_iter().map(Some).collect::<Vec<_>>());
    assert!(dl.iter().all(|d| !d.reason.is_empty()), "{dl:?}");
    assert!(dl[1].reason.contains("specversion"), "{:?}", dl[1]);
}

pub async fn a_restarted_consumer_resumes_after_what_it_handled(mut fx: BusFixture) {
    let group = fx.group("g");
    let first = Recorder::new();
    fx.intake
        .subscribe(Topic::TaskEvents, &group, first.clone())
        .await
        .unwrap();
    let events: Vec<CloudEvent> = (0..3).map(|n| event(11, n)).collect();
    for ev in &events[..2] {
        publish_event(&fx, Topic::TaskEvents, ev).await;
    }
    first.wait_for(2).await;
    let intake = (fx.restart)().await;
    let second = Recorder::new();
    intake
        .subscribe(Topic::TaskEvents, &group, second.clone())
        .await
        .unwrap();
    publish_event(&fx, Topic::TaskEvents, &events[2]).await;
    second.wait_for(1).await;
    tokio::time::sleep(fx.settle).await;
    assert_eq!(
        first.seen_ids(),
        vec![events[0].id.clone(), events[1].id.clone()]
    );
    assert_eq!(
        second.seen_ids(),
        vec![events[2].id.clone()],
        "nothing the first consumer finished is delivered again"
    );
}

pub async fn publish_batch_reports_one_result_per_message_in_order(fx: BusFixture) {
    let group = fx.group("g");
    let (tasks, reminders) = (Recorder::new(), Recorder::new());
    fx.intake
        .subscribe(Topic::TaskEvents, &group, tasks.clone())
        .await
        .unwrap();
    fx.intake
        .subscribe(Topic::TaskReminders, &group, reminders.clone())
        .await
        .unwrap();
    let evs = [event(21, 0), event(22, 0), event(21, 1), event(23, 0)];
    let topics = [
        Topic::TaskEvents,
        Topic::TaskEvents,
        Topic::TaskEvents,
        Topic::TaskReminders,
    ];
    let bytes: Vec<Vec<u8>> = evs.iter().map(CloudEvent::to_bytes).collect();
    let batch: Vec<Message<'_>> = evs
        .iter()
        .zip(&bytes)
        .zip(topics)
        .map(|((ev, b), topic)| Message {
            topic,
            key: ev.partition_key(),
            payload: b,
        })
        .collect();
    let results = fx.publisher.publish_batch(&batch).await;
    assert_eq!(results.len(), 4);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(fx.publisher.publish_batch(&[]).await.len(), 0);
    tasks.wait_for(3).await;
    reminders.wait_for(1).await;
    tokio::time::sleep(fx.settle).await;
    let of_21: Vec<String> = tasks
        .seen()
        .into_iter()
        .filter(|e| e.subject == "21")
        .map(|e| e.id)
        .collect();
    assert_eq!(of_21, vec![evs[0].id.clone(), evs[2].id.clone()]);
    assert_eq!(tasks.seen().len(), 3);
    assert_eq!(reminders.seen_ids(), vec![evs[3].id.clone()]);
}
