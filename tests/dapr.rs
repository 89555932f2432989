//! The Dapr adapters through real daprd sidecars and the dev stack's Dapr Scheduler, Kafka and
//! Redis: event delivery (the same cases on Kafka and on Redis, only the component file
//! differs), dead letters, the app-token check, secrets, jobs across a sidecar or app outage,
//! and readiness. The state and scheduler contract suites run through daprd in
//! `contract_state_store.rs` and `contract_scheduler.rs`.
//!
//! Needs `scripts/dev-stack up postgres kafka redis dapr` (see tests/contract/dapr.rs).

mod contract;

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use contract::dapr::{
    APP_TOKEN, PubSub, Sidecar, Spec, create_kafka_topics, serve, unique, unique_topics,
};
use tickler::adapters::dapr::DaprSidecar;
use tickler::adapters::memory::MemoryDeadLetters;
use tickler::config::TopicNames;
use tickler::domain::TaskId;
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{DeadLetter, DeadLetters, EventHandler, Message, Outcome};
use tokio::sync::mpsc;

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const GROUP: &str = "test-group";

/// Records deliveries; answers with scripted outcomes per event id (then `Done`), optionally
/// taking its time on an event's first delivery; tracks how many run at once.
#[derive(Default)]
struct Recorder {
    tx: Mutex<Option<mpsc::UnboundedSender<CloudEvent>>>,
    script: Mutex<HashMap<String, VecDeque<Outcome>>>,
    slow_first: Mutex<HashMap<String, Duration>>,
    calls: AtomicUsize,
    running: AtomicUsize,
    max_running: AtomicUsize,
}

impl Recorder {
    fn new() -> (Arc<Self>, mpsc::UnboundedReceiver<CloudEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let r = Self::default();
        *r.tx.lock().unwrap() = Some(tx);
        (Arc::new(r), rx)
    }

    fn script(&self, id: &str, outcomes: Vec<Outcome>) {
        self.script
            .lock()
            .unwrap()
            .insert(id.into(), outcomes.into());
    }
}

#[async_trait]
impl EventHandler for Recorder {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_running.fetch_max(now, Ordering::SeqCst);
        let delay = self.slow_first.lock().unwrap().remove(&event.id);
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        if let Some(tx) = self.tx.lock().unwrap().as_ref() {
            let _ = tx.send(event.clone());
        }
        self.running.fetch_sub(1, Ordering::SeqCst);
        self.script
            .lock()
            .unwrap()
            .get_mut(&event.id)
            .and_then(VecDeque::pop_front)
            .unwrap_or(Outcome::Done)
    }
}

async fn next(
    rx: &mut mpsc::UnboundedReceiver<CloudEvent>,
    within: Duration,
) -> Option<CloudEvent> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

async fn expect(rx: &mut mpsc::UnboundedReceiver<CloudEvent>) -> CloudEvent {
    next(rx, Duration::from_secs(20))
        .await
        .expect("an event should have been delivered")
}

async fn expect_none(rx: &mut mpsc::UnboundedReceiver<CloudEvent>, during: Duration) {
    if let Some(ev) = next(rx, during).await {
        panic!("unexpected delivery: {} {}", ev.id, ev.event_type);
    }
}

fn event(task: i64, data: serde_json::Value, traceparent: Option<&str>) -> CloudEvent {
    CloudEvent::new(
        "task.created",
        TaskId(task),
        Utc::now(),
        data,
        traceparent.map(str::to_owned),
    )
}

/// One app with its sidecar on a pub/sub: the handler subscribed to `task-events` (a unique
/// topic name per test) before the sidecar starts, as the composition root does.
struct Bus {
    dapr: DaprSidecar,
    sidecar: Sidecar,
    server: tokio::task::JoinHandle<()>,
    dead_letters: Arc<MemoryDeadLetters>,
    topics: TopicNames,
    app_port: u16,
    deliveries: Arc<AtomicUsize>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl Bus {
    async fn start(
        pubsub: PubSub,
        handler: Arc<dyn EventHandler>,
        resiliency: Option<&str>,
    ) -> Bus {
        let stack = contract::dapr::DaprStack::get();
        let topics = unique_topics();
        match pubsub {
            PubSub::Kafka => create_kafka_topics(&topics, 3).await,
            PubSub::Redis => stack.require_redis(),
        }
        let mut spec = Spec::new(&unique("bus"));
        spec.pubsub = Some(pubsub);
        spec.resiliency = resiliency.map(str::to_owned);
        let dapr = DaprSidecar::connect(&spec.config(), &topics).expect("Dapr adapters");
        dapr.intake()
            .subscribe(Topic::TaskEvents, GROUP, handler)
            .await
            .unwrap();
        let dead_letters = Arc::new(MemoryDeadLetters::new());
        // Counts every request daprd makes to an event route.
        let deliveries = Arc::new(AtomicUsize::new(0));
        let counter = deliveries.clone();
        let router = dapr
            .app_router(dead_letters.clone())
            .layer(axum::middleware::from_fn(
                move |req: axum::extract::Request, next: axum::middleware::Next| {
                    let counter = counter.clone();
                    async move {
                        if req.uri().path().starts_with("/events/") {
                            counter.fetch_add(1, Ordering::SeqCst);
                        }
                        next.run(req).await
                    }
                },
            ));
        let (app_port, server) = serve(router, 0).await;
        spec.app_port = Some(app_port);
        let mut sidecar = Sidecar::start(spec);
        sidecar.wait(true).await;
        dapr.wait_outbound().await.unwrap();
        Bus {
            dapr,
            sidecar,
            server,
            dead_letters,
            topics,
            app_port,
            deliveries,
        }
    }

    async fn publish(&self, ev: &CloudEvent) {
        self.dapr
            .publisher()
            .publish(Topic::TaskEvents, ev.partition_key(), &ev.to_bytes())
            .await
            .expect("publish through the sidecar");
    }

    /// Waits until at least `n` dead letters are recorded.
    async fn dead_letters(&self, n: usize) -> Vec<DeadLetter> {
        for _ in 0..200 {
            let got = self.dead_letters.list(None, 0, 100).await.unwrap();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "{n} dead letters expected, got {:?}\n{}",
            self.dead_letters.list(None, 0, 100).await.unwrap(),
            self.sidecar.log()
        );
    }
}

/// The cases every pub/sub component must pass, instantiated for Kafka and Redis below: the
/// component file is the only difference.
macro_rules! bus_cases {
    ($module:ident, $pubsub:expr) => {
        mod $module {
            use super::*;

            #[tokio::test]
            async fn delivers_each_event_once_as_published() {
                super::delivers_each_event_once_as_published($pubsub).await
            }

            #[tokio::test]
            async fn keeps_each_keys_order() {
                super::keeps_each_keys_order($pubsub).await
            }

            #[tokio::test]
            async fn retry_delivers_again() {
                super::retry_delivers_again($pubsub).await
            }

            #[tokio::test]
            async fn rejected_and_unparseable_events_are_dead_lettered() {
                super::rejected_and_unparseable_events_are_dead_lettered($pubsub).await
            }

            #[tokio::test]
            async fn a_redelivery_during_the_first_attempt_does_not_run_the_handler_again() {
                super::a_redelivery_during_the_first_attempt_does_not_run_the_handler_again($pubsub)
                    .await
            }
        }
    };
}

bus_cases!(kafka, PubSub::Kafka);
bus_cases!(redis, PubSub::Redis);

async fn delivers_each_event_once_as_published(pubsub: PubSub) {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(pubsub, rec.clone(), None).await;
    let sent = vec![
        event(
            1,
            serde_json::json!({"n": 1, "text": "<b>&</b> ✓"}),
            Some(TRACEPARENT),
        ),
        event(2, serde_json::json!({"n": 2}), None),
        event(
            3,
            serde_json::json!({"nested": {"z": 1, "a": [1, 2]}}),
            None,
        ),
    ];
    for ev in &sent {
        bus.publish(ev).await;
    }
    let mut got = HashMap::new();
    for _ in 0..sent.len() {
        let ev = expect(&mut rx).await;
        assert!(got.insert(ev.id.clone(), ev).is_none(), "delivered twice");
    }
    for ev in &sent {
        // daprd re-serialises and adds attributes; parsed, the event is the one published, its
        // trace context included (sent as the HTTP header).
        assert_eq!(got.get(&ev.id), Some(ev), "{pubsub:?}");
    }
    expect_none(&mut rx, Duration::from_millis(1500)).await;
    assert!(bus.dead_letters.list(None, 0, 10).await.unwrap().is_empty());
}

async fn keeps_each_keys_order(pubsub: PubSub) {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(pubsub, rec.clone(), None).await;
    let events: Vec<CloudEvent> = (0..40)
        .map(|i| event(100 + i % 4, serde_json::json!({"seq": i}), None))
        .collect();
    let bytes: Vec<Vec<u8>> = events.iter().map(CloudEvent::to_bytes).collect();
    let batch: Vec<Message> = events
        .iter()
        .zip(&bytes)
        .map(|(e, b)| Message {
            topic: Topic::TaskEvents,
            key: e.partition_key(),
            payload: b,
        })
        .collect();
    let results = bus.dapr.publisher().publish_batch(&batch).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let mut last: HashMap<String, i64> = HashMap::new();
    for _ in 0..events.len() {
        let ev = expect(&mut rx).await;
        let seq = ev.data["seq"].as_i64().unwrap();
        if let Some(prev) = last.insert(ev.subject.clone(), seq) {
            assert!(prev < seq, "task {}: {seq} after {prev}", ev.subject);
        }
    }
    expect_none(&mut rx, Duration::from_millis(1000)).await;
}

async fn retry_delivers_again(pubsub: PubSub) {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(pubsub, rec.clone(), None).await;
    let ev = event(7, serde_json::json!({}), None);
    rec.script(&ev.id, vec![Outcome::Retry("database restarting".into())]);
    bus.publish(&ev).await;
    assert_eq!(expect(&mut rx).await.id, ev.id);
    assert_eq!(
        expect(&mut rx).await.id,
        ev.id,
        "delivered again after Retry"
    );
    expect_none(&mut rx, Duration::from_millis(2000)).await;
    assert!(bus.dead_letters.list(None, 0, 10).await.unwrap().is_empty());
}

async fn rejected_and_unparseable_events_are_dead_lettered(pubsub: PubSub) {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(pubsub, rec.clone(), None).await;
    let bad = event(9, serde_json::json!({"x": 1}), None);
    rec.script(&bad.id, vec![Outcome::Reject("unknown type".into())]);
    bus.publish(&bad).await;
    // A JSON object that is no CloudEvent of ours (daprd completes the envelope, but no id).
    bus.dapr
        .publisher()
        .publish(Topic::TaskEvents, "10", br#"{"hello":"world"}"#)
        .await
        .unwrap();
    let good = event(11, serde_json::json!({}), None);
    bus.publish(&good).await;

    let mut seen = vec![expect(&mut rx).await.id, expect(&mut rx).await.id];
    seen.sort();
    let mut want = vec![bad.id.clone(), good.id.clone()];
    want.sort();
    assert_eq!(seen, want, "the unparseable one never reaches the handler");

    let letters = bus.dead_letters(2).await;
    // The dead-letter topic's copy of the rejected event is not recorded a second time.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let letters_later = bus.dead_letters.list(None, 0, 10).await.unwrap();
    assert_eq!(letters_later.len(), 2, "{letters_later:?}");
    let rejected = letters
        .iter()
        .find(|d| d.letter.event_id.as_deref() == Some(bad.id.as_str()))
        .expect("the rejected event is recorded");
    assert_eq!(rejected.letter.topic, Topic::TaskEvents);
    assert_eq!(rejected.letter.consumer.as_deref(), Some(GROUP));
    assert_eq!(rejected.letter.reason, "unknown type");
    assert_eq!(rejected.letter.key, "9");
    assert_eq!(
        rejected.letter.payload,
        bad.to_bytes(),
        "the bytes published"
    );
    let unparseable = letters
        .iter()
        .find(|d| d.letter.event_id.is_none())
        .expect("the unparseable event is recorded");
    assert!(
        unparseable.letter.reason.contains("not a CloudEvent"),
        "{}",
        unparseable.letter.reason
    );
    assert_eq!(unparseable.letter.payload, br#"{"hello":"world"}"#);
    assert_eq!(
        rec.calls.load(Ordering::SeqCst),
        2,
        "a rejected event is not retried"
    );
}

/// A resiliency timeout shorter than the handler: daprd gives up on the first attempt and
/// delivers again while it still runs.
const SHORT_TIMEOUT: &str = "apiVersion: dapr.io/v1alpha1
kind: Resiliency
metadata:
  name: short-timeout
spec:
  policies:
    timeouts:
      short: 1s
    retries:
      quick:
        policy: constant
        duration: 300ms
        maxRetries: 20
  targets:
    components:
      pubsub-kafka:
        inbound:
          retry: quick
          timeout: short
";

async fn a_redelivery_during_the_first_attempt_does_not_run_the_handler_again(pubsub: PubSub) {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(pubsub, rec.clone(), Some(SHORT_TIMEOUT)).await;
    let ev = event(12, serde_json::json!({}), None);
    rec.slow_first
        .lock()
        .unwrap()
        // Attempts time out after 1 s and come back 0.3 s later: the second one (1.3 s to 2.3 s)
        // is waiting for the first when it finishes, and answers with its outcome.
        .insert(ev.id.clone(), Duration::from_millis(1800));
    bus.publish(&ev).await;
    assert_eq!(expect(&mut rx).await.id, ev.id);
    expect_none(&mut rx, Duration::from_millis(3000)).await;
    assert!(
        bus.deliveries.load(Ordering::SeqCst) >= 2,
        "daprd should have delivered again during the slow attempt ({} deliveries)",
        bus.deliveries.load(Ordering::SeqCst)
    );
    assert_eq!(rec.calls.load(Ordering::SeqCst), 1, "handler ran once");
    assert_eq!(rec.max_running.load(Ordering::SeqCst), 1);
    assert!(bus.dead_letters.list(None, 0, 10).await.unwrap().is_empty());
}

/// A record that is not JSON at all, written by a plain Kafka producer, never reaches the
/// handler (daprd cannot parse it) and is recorded from the dead-letter topic, bytes intact.
#[tokio::test]
async fn kafka_records_that_are_not_json_are_dead_lettered() {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{FutureProducer, FutureRecord};
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(PubSub::Kafka, rec.clone(), None).await;
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", &contract::dapr::DaprStack::get().kafka)
        .create()
        .unwrap();
    producer
        .send(
            FutureRecord::to(&bus.topics.task_events)
                .key("13")
                .payload(&b"plain text \xff"[..]),
            Duration::from_secs(5),
        )
        .await
        .map_err(|(e, _)| e)
        .unwrap();
    let letters = bus.dead_letters(1).await;
    assert_eq!(letters[0].letter.payload, b"plain text \xff");
    assert_eq!(letters[0].letter.key, "13");
    assert!(letters[0].letter.event_id.is_none());
    expect_none(&mut rx, Duration::from_millis(500)).await;
}

/// What daprd writes to Kafka is exactly what a Kafka-direct producer writes: the outbox's bytes
/// under the task id as key, so both kinds of role read the same records in a mixed roll-out.
#[tokio::test]
async fn kafka_records_hold_the_exact_published_bytes() {
    use rdkafka::Message as _;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(PubSub::Kafka, rec, None).await;
    let ev = event(17, serde_json::json!({"text": "<&> ✓"}), Some(TRACEPARENT));
    bus.publish(&ev).await;
    assert_eq!(expect(&mut rx).await, ev);
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &contract::dapr::DaprStack::get().kafka)
        .set("group.id", unique("direct"))
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&[&bus.topics.task_events]).unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
        .await
        .expect("a record")
        .unwrap();
    assert_eq!(msg.payload(), Some(&ev.to_bytes()[..]));
    assert_eq!(msg.key(), Some(&b"17"[..]));
}

/// Without the app token, every Dapr-facing route answers 401 and nothing runs.
#[tokio::test]
async fn dapr_facing_routes_refuse_callers_without_the_app_token() {
    let (rec, mut rx) = Recorder::new();
    let bus = Bus::start(PubSub::Kafka, rec.clone(), None).await;
    let http = reqwest::Client::new();
    let url = |p: &str| format!("http://127.0.0.1:{}{p}", bus.app_port);
    let ev = event(14, serde_json::json!({}), None);
    let route = format!("/events/{}", bus.topics.task_events);
    let dlq = format!("/dead-letters/{}", bus.topics.task_events);
    for token in [None, Some("wrong"), Some("")] {
        for (method, path) in [
            (reqwest::Method::POST, route.as_str()),
            (reqwest::Method::POST, dlq.as_str()),
            (reqwest::Method::POST, "/job/reminder-1"),
            (reqwest::Method::GET, "/dapr/subscribe"),
            (reqwest::Method::GET, "/dapr/config"),
        ] {
            let mut rb = http.request(method, url(path)).body(ev.to_bytes());
            if let Some(t) = token {
                rb = rb.header("dapr-api-token", t);
            }
            let status = rb.send().await.unwrap().status();
            assert_eq!(status, 401, "{path} with token {token:?}");
        }
    }
    expect_none(&mut rx, Duration::from_millis(300)).await;
    assert!(bus.dead_letters.list(None, 0, 10).await.unwrap().is_empty());
    // The right token gets through (so the refusals above were about the token).
    let ok = http
        .post(url(&route))
        .header("dapr-api-token", APP_TOKEN)
        .body(ev.to_bytes())
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(expect(&mut rx).await.id, ev.id);
}

/// Two deliveries of one event at the same moment (as daprd makes after a timeout): the handler
/// runs once and both get its answer.
#[tokio::test]
async fn concurrent_deliveries_of_one_event_share_one_handler_run() {
    let (rec, _rx) = Recorder::new();
    let topics = unique_topics();
    let spec = Spec::new(&unique("dup"));
    let dapr = DaprSidecar::connect(&spec.config(), &topics).unwrap();
    dapr.intake()
        .subscribe(Topic::TaskEvents, GROUP, rec.clone())
        .await
        .unwrap();
    let (port, server) = serve(dapr.app_router(Arc::new(MemoryDeadLetters::new())), 0).await;
    let ev = event(15, serde_json::json!({}), None);
    rec.slow_first
        .lock()
        .unwrap()
        .insert(ev.id.clone(), Duration::from_millis(500));
    let http = reqwest::Client::new();
    let post = || {
        http.post(format!(
            "http://127.0.0.1:{port}/events/{}",
            topics.task_events
        ))
        .header("dapr-api-token", APP_TOKEN)
        .body(ev.to_bytes())
        .send()
    };
    let (a, b) = tokio::join!(post(), async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        post().await
    });
    for r in [a, b] {
        let body: serde_json::Value = r.unwrap().json().await.unwrap();
        assert_eq!(body["status"], "SUCCESS");
    }
    assert_eq!(rec.calls.load(Ordering::SeqCst), 1);
    server.abort();
}

mod secrets {
    use super::*;
    use tickler::adapters::dapr::resolve_secrets;
    use tickler::config::Config;

    #[tokio::test]
    async fn credentials_come_from_the_local_file_store() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("secrets.json");
        std::fs::write(
            &file,
            r#"{"tickler-auth-secret": "from-the-secret-store-0123", "tickler-database-url": "postgres://app:pw@db:5432/tickler", "other": "not for tickler"}"#,
        )
        .unwrap();
        let mut spec = Spec::new(&unique("secrets"));
        spec.secrets_file = Some(file);
        let dapr = DaprSidecar::connect(&spec.config(), &TopicNames::default()).unwrap();
        let mut sidecar = Sidecar::start(spec.clone());
        sidecar.wait(false).await;
        dapr.wait_outbound().await.unwrap();
        let store = dapr.secrets().expect("dapr.secretstore is set");
        assert_eq!(
            store
                .get("tickler-auth-secret")
                .await
                .unwrap()
                .unwrap()
                .expose(),
            "from-the-secret-store-0123"
        );
        // Allowed by the Configuration's scopes but not in the file.
        assert!(store.get("tickler-smtp-password").await.unwrap().is_none());
        // Outside the scopes: refused, and not mistaken for "missing".
        let denied = store.get("other").await.unwrap_err();
        assert!(!denied.transient, "{denied:?}");

        let mut config = Config {
            use_dapr: true,
            ..Config::default()
        };
        resolve_secrets(&mut config, store.as_ref()).await.unwrap();
        assert_eq!(
            config.auth.secret.unwrap().expose(),
            "from-the-secret-store-0123"
        );
        assert_eq!(
            config.database_url.as_deref(),
            Some("postgres://app:pw@db:5432/tickler")
        );

        let mut unknown = spec.config();
        unknown.secretstore = Some("no-such-store".into());
        let dapr = DaprSidecar::connect(&unknown, &TopicNames::default()).unwrap();
        let err = dapr
            .secrets()
            .unwrap()
            .get("tickler-auth-secret")
            .await
            .unwrap_err();
        assert!(!err.transient);
        assert!(err.context.contains("no-such-store"), "{}", err.context);
    }
}

mod jobs {
    use super::*;
    use tickler::ports::{Job, JobHandler};

    struct Fires(mpsc::UnboundedSender<Job>);

    #[async_trait]
    impl JobHandler for Fires {
        async fn fire(&self, job: &Job) -> Outcome {
            let _ = self.0.send(job.clone());
            Outcome::Done
        }
    }

    async fn app() -> (
        DaprSidecar,
        Spec,
        u16,
        tokio::task::JoinHandle<()>,
        mpsc::UnboundedReceiver<Job>,
    ) {
        let spec = Spec::new(&unique("jobs"));
        let dapr = DaprSidecar::connect(&spec.config(), &TopicNames::default()).unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        dapr.scheduler().start(Arc::new(Fires(tx))).await.unwrap();
        let (port, server) = serve(dapr.app_router(Arc::new(MemoryDeadLetters::new())), 0).await;
        (dapr, spec, port, server, rx)
    }

    async fn fired(rx: &mut mpsc::UnboundedReceiver<Job>, within: Duration) -> Option<Job> {
        tokio::time::timeout(within, rx.recv()).await.ok().flatten()
    }

    /// The job cases run one at a time: one of them restarts the stack's Scheduler.
    static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    fn dev_stack(action: &str) {
        let status = std::process::Command::new("bash")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/dev-stack"))
            .args([action, "dapr"])
            .status()
            .expect("run scripts/dev-stack");
        assert!(status.success(), "scripts/dev-stack {action} dapr failed");
    }

    #[tokio::test]
    async fn a_job_due_while_the_scheduler_was_down_fires_once_after_it_restarts() {
        let _one = ONE_AT_A_TIME.lock().await;
        let (dapr, mut spec, port, _server, mut rx) = app().await;
        spec.app_port = Some(port);
        let mut sidecar = Sidecar::start(spec);
        sidecar.wait(true).await;
        let due = Utc::now() + chrono::Duration::seconds(2);
        dapr.scheduler()
            .schedule(Job {
                name: "reminder-3".into(),
                due_at: due,
                payload: Vec::new(),
            })
            .await
            .unwrap();
        dev_stack("stop");
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(fired(&mut rx, Duration::ZERO).await.is_none());
        let restarted = Utc::now();
        dev_stack("start");
        let job = fired(&mut rx, Duration::from_secs(30))
            .await
            .expect("the job fires once the Scheduler is back");
        assert_eq!(job.name, "reminder-3");
        assert!(Utc::now() > restarted);
        assert!(
            fired(&mut rx, Duration::from_secs(3)).await.is_none(),
            "fired once"
        );
        // The sidecar reconnected by itself.
        sidecar.wait(true).await;
    }

    #[tokio::test]
    async fn a_job_due_while_the_sidecar_was_down_fires_once_after_it_restarts() {
        let _one = ONE_AT_A_TIME.lock().await;
        let (dapr, mut spec, port, _server, mut rx) = app().await;
        spec.app_port = Some(port);
        let mut sidecar = Sidecar::start(spec);
        sidecar.wait(true).await;
        let due = Utc::now() + chrono::Duration::seconds(2);
        dapr.scheduler()
            .schedule(Job {
                name: "reminder-1".into(),
                due_at: due,
                payload: b"p".to_vec(),
            })
            .await
            .unwrap();
        sidecar.kill();
        tokio::time::sleep(Duration::from_secs(4)).await;
        assert!(fired(&mut rx, Duration::ZERO).await.is_none());
        let restarted = Utc::now();
        assert!(restarted > due + chrono::Duration::seconds(1));
        sidecar.restart();
        let job = fired(&mut rx, Duration::from_secs(20))
            .await
            .expect("the job fires once the sidecar is back");
        assert_eq!(job.name, "reminder-1");
        assert_eq!(job.payload, b"p");
        assert!(Utc::now() > restarted, "it fired after the restart");
        assert!(
            fired(&mut rx, Duration::from_secs(3)).await.is_none(),
            "fired once"
        );
    }

    #[tokio::test]
    async fn a_job_due_while_the_app_was_down_fires_once_it_is_back() {
        let _one = ONE_AT_A_TIME.lock().await;
        let (dapr, mut spec, port, server, mut rx) = app().await;
        spec.app_port = Some(port);
        let mut sidecar = Sidecar::start(spec);
        sidecar.wait(true).await;
        server.abort();
        let _ = server.await;
        dapr.scheduler()
            .schedule(Job {
                name: "reminder-2".into(),
                due_at: Utc::now() + chrono::Duration::milliseconds(500),
                payload: Vec::new(),
            })
            .await
            .unwrap();
        tokio::time::sleep(Duration::from_secs(3)).await;
        // The same app comes back on its port (a restarted process).
        let (_, _server) = serve(dapr.app_router(Arc::new(MemoryDeadLetters::new())), port).await;
        let job = fired(&mut rx, Duration::from_secs(20))
            .await
            .expect("the job fires once the app is back");
        assert_eq!(job.name, "reminder-2");
        assert!(
            fired(&mut rx, Duration::from_secs(3)).await.is_none(),
            "fired once"
        );
    }
}

mod health {
    use super::*;

    #[tokio::test]
    async fn readiness_and_publishing_fail_while_the_sidecar_is_down() {
        let (rec, _rx) = Recorder::new();
        let mut bus = Bus::start(PubSub::Kafka, rec, None).await;
        let health = bus.dapr.health();
        assert_eq!(health.name(), "transport");
        health.check().await.unwrap();
        bus.sidecar.kill();
        let err = health.check().await.unwrap_err();
        assert!(err.transient);
        let ev = event(16, serde_json::json!({}), None);
        let err = bus
            .dapr
            .publisher()
            .publish(Topic::TaskEvents, "16", &ev.to_bytes())
            .await
            .unwrap_err();
        assert!(err.transient, "{err:?}");
        bus.sidecar.restart();
        bus.dapr.wait_outbound().await.unwrap();
        health.check().await.unwrap();
    }
}
