//! What only the Kafka-direct transport does, against a real broker (the dev stack's, or
//! `TICKLER_TEST_KAFKA_BROKERS`): topic creation, daprd-compatible partitioning and headers, the
//! dead-letter record, retry limits, partition independence, graceful shutdown, the lag metric,
//! and — on a private broker this test starts and stops — the health check.
//! The behaviour every transport shares is in the bus contract (`tests/contract_event_bus.rs`).

mod contract;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use contract::bus::{Recorder, event};
use contract::kafka::*;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Message as _, Offset, TopicPartitionList};
use tickler::adapters::kafka::{CONTENT_TYPE, KafkaTransport, dead_letter};
use tickler::config::{KafkaConfig, TopicNames};
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{EventHandler, Message, Outcome};
use tokio::sync::{Notify, watch};

/// Fresh topics, created by the adapter, deleted at the end.
struct Setup {
    brokers: String,
    topics: TopicNames,
    config: KafkaConfig,
    suffix: String,
    _guard: TopicGuard,
}

fn setup(tune: impl FnOnce(&mut KafkaConfig)) -> Setup {
    init_logs();
    let brokers = brokers();
    let suffix = unique_suffix();
    let topics = unique_topics(&suffix);
    let mut config = test_config(&brokers);
    tune(&mut config);
    Setup {
        _guard: TopicGuard {
            brokers: brokers.clone(),
            names: all_names(&topics),
        },
        brokers,
        topics,
        config,
        suffix,
    }
}

impl Setup {
    async fn transport(&self) -> (KafkaTransport, watch::Sender<bool>) {
        let (t, stop) = transport(&self.config, &self.topics).await;
        t.ensure_topics().await.expect("creating test topics");
        (t, stop)
    }

    fn group(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    fn name(&self, topic: Topic) -> String {
        self.topics.name(topic).to_owned()
    }

    /// A producer outside the adapter, writing what a foreign publisher (daprd, a tool) would.
    fn raw_producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("partitioner", "fnv1a_random")
            .create()
            .unwrap()
    }
}

async fn produce_raw(
    p: &FutureProducer,
    topic: &str,
    key: &str,
    value: &[u8],
    headers: OwnedHeaders,
) {
    p.send(
        FutureRecord::to(topic)
            .key(key)
            .payload(value)
            .headers(headers),
        Duration::from_secs(5),
    )
    .await
    .map_err(|(e, _)| e)
    .expect("raw produce");
}

async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// sarama's hash partitioner, which daprd uses: `abs(int32(fnv1a32(key))) % n`.
fn daprd_partition(key: &[u8], partitions: i32) -> i32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in key {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    let signed = h as i32;
    let positive = if signed < 0 {
        signed.wrapping_neg()
    } else {
        signed
    };
    positive % partitions
}

#[tokio::test]
async fn topics_are_created_with_their_dead_letter_topics_and_settings() {
    let s = setup(|_| {});
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .create()
        .unwrap();
    // An operator created one topic already, differently: it must be left alone.
    let reminders = s.name(Topic::TaskReminders);
    admin
        .create_topics(
            &[NewTopic::new(&reminders, 2, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let (t, _stop) = transport(&s.config, &s.topics).await;
    let mut created = t.ensure_topics().await.unwrap();
    created.sort();
    let mut want: Vec<String> = all_names(&s.topics)
        .into_iter()
        .filter(|n| *n != reminders)
        .collect();
    want.sort();
    assert_eq!(created, want);
    assert!(
        t.ensure_topics().await.unwrap().is_empty(),
        "nothing is created twice"
    );

    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &s.brokers)
        .create()
        .unwrap();
    const DAY: &str = "86400000";
    const WEEK: &str = "604800000";
    let expect = [
        (s.name(Topic::TaskEvents), 3, Some(WEEK)),
        (
            dead_letter::dlq_topic(&s.name(Topic::TaskEvents)),
            3,
            Some(WEEK),
        ),
        (reminders.clone(), 2, None),
        (dead_letter::dlq_topic(&reminders), 1, Some(DAY)),
        (s.name(Topic::TaskRecurrence), 1, Some(WEEK)),
        (
            dead_letter::dlq_topic(&s.name(Topic::TaskRecurrence)),
            1,
            Some(WEEK),
        ),
    ];
    for (name, partitions, retention) in expect {
        let md = probe
            .fetch_metadata(Some(&name), Duration::from_secs(10))
            .unwrap();
        assert_eq!(md.topics()[0].partitions().len(), partitions, "{name}");
        let described = admin
            .describe_configs(&[ResourceSpecifier::Topic(&name)], &AdminOptions::new())
            .await
            .unwrap();
        let config = described[0].as_ref().unwrap();
        let entries = config.entry_map();
        let value = entries["retention.ms"].value.clone();
        match retention {
            Some(r) => assert_eq!(value.as_deref(), Some(r), "{name}"),
            // The operator's topic keeps the broker default (7 days here, but not set by us).
            None => assert!(entries["retention.ms"].is_default, "{name}: {value:?}"),
        }
    }
}

#[tokio::test]
async fn keys_land_on_the_partition_daprd_would_choose_with_the_exact_bytes() {
    let s = setup(|c| c.task_events.partitions = 6);
    let (t, _stop) = s.transport().await;
    let publisher = t.publisher();
    let keys: Vec<String> = (0..200)
        .map(|i| {
            if i % 2 == 0 {
                i.to_string()
            } else {
                format!("task-{i}-ü")
            }
        })
        .collect();
    let payloads: Vec<Vec<u8>> = keys
        .iter()
        .map(|k| format!(r#"{{"n":"{k}","pad":" spaces kept "}}"#).into_bytes())
        .collect();
    let batch: Vec<Message<'_>> = keys
        .iter()
        .zip(&payloads)
        .map(|(k, p)| Message {
            topic: Topic::TaskEvents,
            key: k,
            payload: p,
        })
        .collect();
    assert!(
        publisher
            .publish_batch(&batch)
            .await
            .iter()
            .all(Result::is_ok)
    );
    let records = read_topic(&s.brokers, &s.name(Topic::TaskEvents)).await;
    assert_eq!(records.len(), 200);
    let by_key: HashMap<Vec<u8>, (i32, Vec<u8>, Option<String>)> = records
        .iter()
        .map(|m| {
            (
                m.key().unwrap().to_vec(),
                (
                    m.partition(),
                    m.payload().unwrap().to_vec(),
                    header(m, "content-type"),
                ),
            )
        })
        .collect();
    let mut used = HashSet::new();
    for (k, p) in keys.iter().zip(&payloads) {
        let (partition, value, content_type) = &by_key[k.as_bytes()];
        assert_eq!(*partition, daprd_partition(k.as_bytes(), 6), "key {k}");
        assert_eq!(value, p, "the exact outbox bytes");
        assert_eq!(content_type.as_deref(), Some(CONTENT_TYPE));
        used.insert(*partition);
    }
    assert_eq!(used.len(), 6, "the keys spread over every partition");
}

#[tokio::test]
async fn dead_letters_carry_coordinates_reason_group_and_the_original_record() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    let group = s.group("dl");
    let rec = Recorder::new();
    let always_retry = event(5, 0);
    rec.script(
        &always_retry.id,
        (0..10)
            .map(|_| Outcome::Retry("mail server down".into()))
            .collect(),
    );
    t.intake()
        .subscribe(Topic::TaskEvents, &group, rec.clone())
        .await
        .unwrap();
    let topic = s.name(Topic::TaskEvents);
    let raw = s.raw_producer();
    let headers = OwnedHeaders::new().insert(Header {
        key: "x-custom",
        value: Some("v1"),
    });
    produce_raw(&raw, &topic, "5", b"{not json", headers).await;
    t.publisher()
        .publish(Topic::TaskEvents, "5", &always_retry.to_bytes())
        .await
        .unwrap();
    let after = event(5, 1);
    t.publisher()
        .publish(Topic::TaskEvents, "5", &after.to_bytes())
        .await
        .unwrap();
    rec.wait_for(5).await;
    let seen = rec.seen_ids();
    assert_eq!(
        seen[..4],
        vec![always_retry.id.clone(); 4][..],
        "max_attempts = 4 deliveries"
    );
    assert_eq!(seen[4], after.id, "then the partition moves on");

    let dlq = dead_letter::dlq_topic(&topic);
    let deadline = Instant::now() + Duration::from_secs(20);
    let letters = loop {
        let letters = read_topic(&s.brokers, &dlq).await;
        if letters.len() >= 2 {
            break letters;
        }
        assert!(
            Instant::now() < deadline,
            "two dead letters expected, found {}",
            letters.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(letters.len(), 2);
    let partition = daprd_partition(b"5", 3).to_string();
    let (bad, gave_up) = (&letters[0], &letters[1]);
    assert_eq!(bad.key(), Some(&b"5"[..]));
    assert_eq!(bad.payload(), Some(&b"{not json"[..]));
    assert_eq!(
        header(bad, "x-custom").as_deref(),
        Some("v1"),
        "original headers kept"
    );
    assert_eq!(header(bad, dead_letter::TOPIC), Some(topic.clone()));
    assert_eq!(header(bad, dead_letter::PARTITION), Some(partition.clone()));
    assert_eq!(header(bad, dead_letter::OFFSET).as_deref(), Some("0"));
    assert_eq!(header(bad, dead_letter::KEY).as_deref(), Some("5"));
    assert!(header(bad, dead_letter::TIMESTAMP).is_some());
    assert_eq!(header(bad, dead_letter::GROUP), Some(group.clone()));
    assert_eq!(header(bad, dead_letter::ATTEMPTS).as_deref(), Some("0"));
    assert!(
        header(bad, dead_letter::ERROR)
            .unwrap()
            .contains("not a CloudEvent")
    );
    assert_eq!(
        bad.partition(),
        daprd_partition(b"5", 3),
        "DLQ keyed like the original"
    );

    assert_eq!(gave_up.payload(), Some(&always_retry.to_bytes()[..]));
    assert_eq!(header(gave_up, dead_letter::OFFSET).as_deref(), Some("1"));
    assert_eq!(
        header(gave_up, "content-type").as_deref(),
        Some(CONTENT_TYPE)
    );
    assert_eq!(header(gave_up, dead_letter::ATTEMPTS).as_deref(), Some("4"));
    let reason = header(gave_up, dead_letter::ERROR).unwrap();
    assert!(
        reason.contains("gave up after 4") && reason.contains("mail server down"),
        "{reason}"
    );
}

/// Records delivery times, for the back-off.
struct Timed {
    at: Mutex<Vec<Instant>>,
}

#[async_trait]
impl EventHandler for Timed {
    async fn handle(&self, _: &CloudEvent) -> Outcome {
        let mut at = self.at.lock().unwrap();
        at.push(Instant::now());
        if at.len() < 5 {
            Outcome::Retry("not yet".into())
        } else {
            Outcome::Done
        }
    }
}

#[tokio::test]
async fn retries_back_off_exponentially_up_to_the_cap() {
    let s = setup(|c| {
        c.max_attempts = 10;
        c.retry_backoff_ms = 100;
        c.max_backoff_ms = 300;
    });
    let (t, _stop) = s.transport().await;
    let h = Arc::new(Timed {
        at: Mutex::new(Vec::new()),
    });
    t.intake()
        .subscribe(Topic::TaskRecurrence, &s.group("b"), h.clone())
        .await
        .unwrap();
    t.publisher()
        .publish(Topic::TaskRecurrence, "1", &event(1, 0).to_bytes())
        .await
        .unwrap();
    eventually("five deliveries", Duration::from_secs(20), || {
        h.at.lock().unwrap().len() >= 5
    })
    .await;
    let at = h.at.lock().unwrap().clone();
    let gaps: Vec<u128> = at.windows(2).map(|w| (w[1] - w[0]).as_millis()).collect();
    // 100, 200, 300 (capped), 300 — never shorter, and not wildly longer.
    for (gap, want) in gaps.iter().zip([100u128, 200, 300, 300]) {
        assert!(*gap >= want && *gap < want + 1000, "gaps {gaps:?}");
    }
}

/// Blocks each event of `slow_key` until `release`; tracks concurrency per partition.
struct Gate {
    slow_key: String,
    release: Notify,
    partitions: i32,
    in_flight: Mutex<HashMap<i32, usize>>,
    max_in_flight: Mutex<usize>,
    seen: Mutex<Vec<CloudEvent>>,
}

#[async_trait]
impl EventHandler for Gate {
    async fn handle(&self, ev: &CloudEvent) -> Outcome {
        let p = daprd_partition(ev.subject.as_bytes(), self.partitions);
        {
            let mut f = self.in_flight.lock().unwrap();
            let n = f.entry(p).or_default();
            *n += 1;
            let mut max = self.max_in_flight.lock().unwrap();
            *max = (*max).max(*n);
        }
        self.seen.lock().unwrap().push(ev.clone());
        if ev.subject == self.slow_key {
            self.release.notified().await;
        } else {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        *self.in_flight.lock().unwrap().get_mut(&p).unwrap() -= 1;
        Outcome::Done
    }
}

#[tokio::test]
async fn a_slow_partition_does_not_hold_up_the_others_and_none_runs_twice_at_once() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    // Three tasks on three different partitions.
    let mut keys: Vec<i64> = Vec::new();
    let mut used = HashSet::new();
    for task in 1.. {
        if used.insert(daprd_partition(task.to_string().as_bytes(), 3)) {
            keys.push(task);
        }
        if keys.len() == 3 {
            break;
        }
    }
    let gate = Arc::new(Gate {
        slow_key: keys[0].to_string(),
        release: Notify::new(),
        partitions: 3,
        in_flight: Mutex::default(),
        max_in_flight: Mutex::new(0),
        seen: Mutex::default(),
    });
    t.intake()
        .subscribe(Topic::TaskEvents, &s.group("p"), gate.clone())
        .await
        .unwrap();
    let mut sent = Vec::new();
    for n in 0..20 {
        for k in &keys {
            sent.push(event(*k, n));
        }
    }
    let bytes: Vec<Vec<u8>> = sent.iter().map(CloudEvent::to_bytes).collect();
    let batch: Vec<Message<'_>> = sent
        .iter()
        .zip(&bytes)
        .map(|(e, b)| Message {
            topic: Topic::TaskEvents,
            key: e.partition_key(),
            payload: b,
        })
        .collect();
    assert!(
        t.publisher()
            .publish_batch(&batch)
            .await
            .iter()
            .all(Result::is_ok)
    );
    let slow = keys[0].to_string();
    eventually(
        "the other partitions' 40 events",
        Duration::from_secs(30),
        || {
            gate.seen
                .lock()
                .unwrap()
                .iter()
                .filter(|e| e.subject != slow)
                .count()
                == 40
        },
    )
    .await;
    assert_eq!(
        gate.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.subject == slow)
            .count(),
        1,
        "the slow partition waits on its first event"
    );
    for _ in 0..20 {
        gate.release.notify_one();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eventually("all 60 events", Duration::from_secs(30), || {
        gate.seen.lock().unwrap().len() >= 60
    })
    .await;
    let seen = gate.seen.lock().unwrap().clone();
    let slow_order: Vec<&str> = seen
        .iter()
        .filter(|e| e.subject == slow)
        .map(|e| e.id.as_str())
        .collect();
    let want: Vec<&str> = sent
        .iter()
        .filter(|e| e.subject == slow)
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(slow_order, want);
    assert_eq!(
        *gate.max_in_flight.lock().unwrap(),
        1,
        "one handler call per partition at a time"
    );
}

/// Counts deliveries per event and calls in flight per partition, across consumers; each call
/// takes a moment, so a backlog builds up.
struct Tally {
    partitions: i32,
    pause: Duration,
    in_flight: Mutex<HashMap<i32, usize>>,
    max_in_flight: Mutex<usize>,
    seen: Mutex<Vec<CloudEvent>>,
    /// Which consumer handled each of `seen`.
    by: Mutex<Vec<u8>>,
}

impl Tally {
    fn new(partitions: i32, pause: Duration) -> Arc<Self> {
        Arc::new(Self {
            partitions,
            pause,
            in_flight: Mutex::default(),
            max_in_flight: Mutex::new(0),
            seen: Mutex::default(),
            by: Mutex::default(),
        })
    }
}

impl Tally {
    async fn handle_as(&self, consumer: u8, ev: &CloudEvent) -> Outcome {
        let p = daprd_partition(ev.subject.as_bytes(), self.partitions);
        {
            let mut f = self.in_flight.lock().unwrap();
            let n = f.entry(p).or_default();
            *n += 1;
            let mut max = self.max_in_flight.lock().unwrap();
            *max = (*max).max(*n);
        }
        tokio::time::sleep(self.pause).await;
        self.seen.lock().unwrap().push(ev.clone());
        self.by.lock().unwrap().push(consumer);
        *self.in_flight.lock().unwrap().get_mut(&p).unwrap() -= 1;
        Outcome::Done
    }
}

#[async_trait]
impl EventHandler for Tally {
    async fn handle(&self, ev: &CloudEvent) -> Outcome {
        self.handle_as(0, ev).await
    }
}

/// The same tally, for a second consumer.
struct As(u8, Arc<Tally>);

#[async_trait]
impl EventHandler for As {
    async fn handle(&self, ev: &CloudEvent) -> Outcome {
        self.1.handle_as(self.0, ev).await
    }
}

async fn publish_all(t: &KafkaTransport, topic: Topic, events: &[CloudEvent]) {
    let bytes: Vec<Vec<u8>> = events.iter().map(CloudEvent::to_bytes).collect();
    let batch: Vec<Message<'_>> = events
        .iter()
        .zip(&bytes)
        .map(|(e, b)| Message {
            topic,
            key: e.partition_key(),
            payload: b,
        })
        .collect();
    assert!(
        t.publisher()
            .publish_batch(&batch)
            .await
            .iter()
            .all(Result::is_ok)
    );
}

/// More messages than a partition worker queues (64): the partition is paused and resumed, and
/// nothing is lost, repeated or reordered.
#[tokio::test]
async fn a_backlog_beyond_the_worker_queue_arrives_once_and_in_order() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    let tally = Tally::new(1, Duration::from_micros(500));
    let sent: Vec<CloudEvent> = (0..400).map(|n| event(6, n)).collect();
    publish_all(&t, Topic::TaskReminders, &sent).await;
    t.intake()
        .subscribe(Topic::TaskReminders, &s.group("q"), tally.clone())
        .await
        .unwrap();
    eventually("400 events", Duration::from_secs(60), || {
        tally.seen.lock().unwrap().len() >= 400
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got: Vec<String> = tally
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let want: Vec<String> = sent.iter().map(|e| e.id.clone()).collect();
    assert_eq!(got, want);
}

/// A second process joining the group takes partitions over (eager rebalance): the first one
/// finishes and commits what it holds before giving them up, so no finished event is delivered
/// again and no partition is ever handled by both at once.
#[tokio::test]
async fn a_consumer_joining_the_group_takes_over_without_redelivering_finished_events() {
    let s = setup(|_| {});
    let group = s.group("j");
    let (a, _stop_a) = s.transport().await;
    // Slow enough that the rebalance (within a heartbeat, 3 s) comes long before the end.
    let tally = Tally::new(3, Duration::from_millis(30));
    let sent: Vec<CloudEvent> = (0..60)
        .flat_map(|n| (1..=6).map(move |k| event(k, n)))
        .collect();
    publish_all(&a, Topic::TaskEvents, &sent).await;
    a.intake()
        .subscribe(Topic::TaskEvents, &group, tally.clone())
        .await
        .unwrap();
    eventually("a first part handled", Duration::from_secs(30), || {
        tally.seen.lock().unwrap().len() >= 40
    })
    .await;
    let (b, _stop_b) = s.transport().await;
    b.intake()
        .subscribe(Topic::TaskEvents, &group, Arc::new(As(1, tally.clone())))
        .await
        .unwrap();
    eventually("all 360 events", Duration::from_secs(60), || {
        tally.seen.lock().unwrap().len() >= sent.len()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let seen = tally.seen.lock().unwrap().clone();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for e in &seen {
        *counts.entry(e.id.as_str()).or_default() += 1;
    }
    let repeated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(repeated.is_empty(), "delivered again: {repeated:?}");
    assert_eq!(seen.len(), sent.len());
    for k in 1..=6 {
        let key = k.to_string();
        let got: Vec<&str> = seen
            .iter()
            .filter(|e| e.subject == key)
            .map(|e| e.id.as_str())
            .collect();
        let want: Vec<&str> = sent
            .iter()
            .filter(|e| e.subject == key)
            .map(|e| e.id.as_str())
            .collect();
        assert_eq!(got, want, "order of task {k}");
    }
    assert_eq!(*tally.max_in_flight.lock().unwrap(), 1);
    let by = tally.by.lock().unwrap().clone();
    assert!(
        by.contains(&0) && by.contains(&1),
        "both consumers handled events"
    );
}

#[tokio::test]
async fn daprd_published_records_are_parsed_not_compared() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    let rec = Recorder::new();
    t.intake()
        .subscribe(Topic::TaskEvents, &s.group("d"), rec.clone())
        .await
        .unwrap();
    // As daprd 1.18 writes it: sorted keys, its attributes, an empty traceparent, no CE headers,
    // `partitionKey` as a header.
    let value = br#"{"data":{"taskId":"TASK-1","note":"\u003cb\u003e"},"datacontenttype":"application/json","id":"dapr-1","pubsubname":"pubsub-kafka","source":"tickler","specversion":"1.0","subject":"TASK-1","time":"2026-01-01T00:00:00Z","topic":"task-events","traceid":"","traceparent":"","tracestate":"","type":"task.created"}"#;
    let headers = OwnedHeaders::new().insert(Header {
        key: "partitionKey",
        value: Some("TASK-1"),
    });
    produce_raw(
        &s.raw_producer(),
        &s.name(Topic::TaskEvents),
        "TASK-1",
        value,
        headers,
    )
    .await;
    rec.wait_for(1).await;
    let ev = &rec.seen()[0];
    assert_eq!(ev.id, "dapr-1");
    assert_eq!(ev.event_type, "task.created");
    assert_eq!(ev.traceparent, None, "\"\" means no trace context");
    assert_eq!(ev.data["note"], "<b>");
}

/// Blocks on the event with id `block`, counting calls.
struct Holding {
    block: String,
    entered: Notify,
    release: Notify,
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl EventHandler for Holding {
    async fn handle(&self, ev: &CloudEvent) -> Outcome {
        self.seen.lock().unwrap().push(ev.id.clone());
        if ev.id == self.block {
            self.entered.notify_one();
            self.release.notified().await;
        }
        Outcome::Done
    }
}

fn committed(brokers: &str, group: &str, topic: &str, partition: i32) -> Offset {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", group)
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition(topic, partition);
    let got = c.committed_offsets(tpl, Duration::from_secs(10)).unwrap();
    got.elements()[0].offset()
}

#[tokio::test]
async fn shutdown_finishes_and_commits_the_message_in_hand() {
    let s = setup(|_| {});
    let (t, stop) = s.transport().await;
    let group = s.group("s");
    let evs: Vec<CloudEvent> = (0..3).map(|n| event(3, n)).collect();
    let h = Arc::new(Holding {
        block: evs[1].id.clone(),
        entered: Notify::new(),
        release: Notify::new(),
        seen: Mutex::default(),
    });
    t.intake()
        .subscribe(Topic::TaskReminders, &group, h.clone())
        .await
        .unwrap();
    for ev in &evs {
        t.publisher()
            .publish(Topic::TaskReminders, "3", &ev.to_bytes())
            .await
            .unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), h.entered.notified())
        .await
        .expect("the second event reaches the handler");
    stop.send(true).unwrap();
    let shutdown = t.shutdown();
    tokio::pin!(shutdown);
    assert!(
        tokio::time::timeout(Duration::from_millis(500), &mut shutdown)
            .await
            .is_err(),
        "shutdown waits for the message in hand"
    );
    h.release.notify_one();
    tokio::time::timeout(Duration::from_secs(30), &mut shutdown)
        .await
        .expect("shutdown completes once the handler is done");
    assert_eq!(
        *h.seen.lock().unwrap(),
        vec![evs[0].id.clone(), evs[1].id.clone()]
    );
    let (brokers, name) = (s.brokers.clone(), s.name(Topic::TaskReminders));
    let g = group.clone();
    let offset = tokio::task::spawn_blocking(move || committed(&brokers, &g, &name, 0))
        .await
        .unwrap();
    assert_eq!(
        offset,
        Offset::Offset(2),
        "both finished messages are committed"
    );

    let (t2, _stop2) = s.transport().await;
    let rec = Recorder::new();
    t2.intake()
        .subscribe(Topic::TaskReminders, &group, rec.clone())
        .await
        .unwrap();
    rec.wait_for(1).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(rec.seen_ids(), vec![evs[2].id.clone()]);
}

#[tokio::test]
async fn consumer_lag_is_exported_per_group_topic_and_partition() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    let group = s.group("lag");
    let topic = s.name(Topic::TaskReminders);
    let evs: Vec<CloudEvent> = (0..5).map(|n| event(4, n)).collect();
    let h = Arc::new(Holding {
        block: evs[0].id.clone(),
        entered: Notify::new(),
        release: Notify::new(),
        seen: Mutex::default(),
    });
    t.intake()
        .subscribe(Topic::TaskReminders, &group, h.clone())
        .await
        .unwrap();
    for ev in &evs {
        t.publisher()
            .publish(Topic::TaskReminders, "4", &ev.to_bytes())
            .await
            .unwrap();
    }
    let series = format!(
        "tickler_kafka_consumer_lag{{group=\"{group}\",topic=\"{topic}\",partition=\"0\"}}"
    );
    let value = |text: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .and_then(|v| v.trim().parse().ok())
    };
    eventually(
        "a lag of 5 while the first event is held",
        Duration::from_secs(20),
        || value(&tickler::telemetry::metrics::render(&[])) == Some(5.0),
    )
    .await;
    let text = tickler::telemetry::metrics::render(&[]);
    assert!(
        text.contains("# TYPE tickler_kafka_consumer_lag gauge"),
        "{text}"
    );
    h.release.notify_one();
    eventually(
        "the lag back to 0 once all is committed",
        Duration::from_secs(20),
        || value(&tickler::telemetry::metrics::render(&[])) == Some(0.0),
    )
    .await;
    t.shutdown().await;
    assert_eq!(
        value(&tickler::telemetry::metrics::render(&[])),
        None,
        "a stopped consumer leaves no stale series"
    );
}

#[tokio::test]
async fn publish_batch_fails_only_the_oversized_message_and_what_waits_behind_it() {
    let s = setup(|_| {});
    let (t, _stop) = s.transport().await;
    let big = vec![b'x'; 2_000_000];
    let (a, c) = (event(1, 0).to_bytes(), event(3, 0).to_bytes());
    let b2 = event(2, 1).to_bytes();
    let batch = [
        Message {
            topic: Topic::TaskEvents,
            key: "1",
            payload: &a,
        },
        Message {
            topic: Topic::TaskEvents,
            key: "2",
            payload: &big,
        },
        Message {
            topic: Topic::TaskEvents,
            key: "3",
            payload: &c,
        },
        Message {
            topic: Topic::TaskEvents,
            key: "2",
            payload: &b2,
        },
    ];
    let results = t.publisher().publish_batch(&batch).await;
    assert_eq!(results.len(), 4);
    assert!(results[0].is_ok() && results[2].is_ok(), "{results:?}");
    let too_big = results[1].as_ref().unwrap_err();
    assert!(!too_big.transient, "{too_big:?}");
    assert!(
        results[3].is_err(),
        "the next event of key 2 is not sent ahead of it"
    );
    let records = read_topic(&s.brokers, &s.name(Topic::TaskEvents)).await;
    let keys: HashSet<Vec<u8>> = records.iter().map(|m| m.key().unwrap().to_vec()).collect();
    assert_eq!(keys, HashSet::from([b"1".to_vec(), b"3".to_vec()]));
}

#[tokio::test]
async fn subscribing_to_a_missing_topic_fails_clearly() {
    let s = setup(|c| c.create_topics = false);
    let (t, _stop) = s.transport().await;
    assert!(t.ensure_topics().await.unwrap().is_empty());
    let err = t
        .intake()
        .subscribe(Topic::TaskEvents, &s.group("m"), Recorder::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("do not exist"), "{err}");
}

/// Produce→consume round trips through the adapters, one at a time (an indication only: the
/// machine is shared). Run with `--nocapture` to see the figures.
#[tokio::test]
async fn produce_to_consume_latency() {
    struct Stamp(tokio::sync::mpsc::UnboundedSender<Instant>);
    #[async_trait]
    impl EventHandler for Stamp {
        async fn handle(&self, _: &CloudEvent) -> Outcome {
            let _ = self.0.send(Instant::now());
            Outcome::Done
        }
    }
    let s = setup(|_| {});
    let connecting = Instant::now();
    let (t, _stop) = s.transport().await;
    let connected = connecting.elapsed();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    t.intake()
        .subscribe(Topic::TaskReminders, &s.group("lat"), Arc::new(Stamp(tx)))
        .await
        .unwrap();
    let publisher = t.publisher();
    let first = Instant::now();
    publisher
        .publish(Topic::TaskReminders, "0", &event(0, 0).to_bytes())
        .await
        .unwrap();
    let first_ack = first.elapsed();
    tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .unwrap();
    let (mut ack, mut e2e) = (Vec::new(), Vec::new());
    for n in 1..=200 {
        let start = Instant::now();
        publisher
            .publish(Topic::TaskReminders, "0", &event(0, n).to_bytes())
            .await
            .unwrap();
        ack.push(start.elapsed());
        let got = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        e2e.push(got - start);
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p) as usize].as_secs_f64() * 1000.0
    };
    eprintln!(
        "connect+topics {:.0} ms; first publish acked in {:.1} ms; publish→ack p50 {:.2} ms p99 {:.2} ms; publish→handler p50 {:.2} ms p99 {:.2} ms (200 sequential)",
        connected.as_secs_f64() * 1000.0,
        first_ack.as_secs_f64() * 1000.0,
        pct(&mut ack, 0.5),
        pct(&mut ack, 0.99),
        pct(&mut e2e, 0.5),
        pct(&mut e2e, 0.99),
    );
    assert!(
        pct(&mut e2e, 0.5) < 250.0,
        "round trips far slower than a loopback broker allows"
    );
}

// ---- health, on a private broker that the test stops and starts ----

struct PrivateStack {
    dir: &'static str,
}

impl PrivateStack {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dev-stack")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(Self::script())
            .args(args)
            .env("TICKLER_STACK_DIR", self.dir)
            .output()
            .expect("running scripts/dev-stack");
        assert!(
            out.status.success(),
            "scripts/dev-stack {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .args(["down", "--purge"])
            .env("TICKLER_STACK_DIR", self.dir)
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_while_the_broker_is_down_and_recovers() {
    init_logs();
    let stack = PrivateStack {
        dir: "/tmp/kafka-helper-stack",
    };
    tokio::task::block_in_place(|| stack.run(&["up", "kafka"]));
    let env = tokio::task::block_in_place(|| stack.run(&["env"]));
    let brokers = env
        .lines()
        .find_map(|l| l.strip_prefix("export TICKLER_KAFKA__BROKERS="))
        .expect("the private broker's address")
        .to_owned();
    assert_ne!(brokers, "127.0.0.1:19092", "never the shared broker");
    let topics = unique_topics(&unique_suffix());
    let config = test_config(&brokers);
    let (t, _stop) = transport(&config, &topics).await;
    let health = t.health();
    assert_eq!(health.name(), "transport");
    let err = health.check().await.unwrap_err();
    assert!(err.to_string().contains("missing"), "no topics yet: {err}");
    t.ensure_topics().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    health.check().await.expect("healthy with the broker up");

    tokio::task::block_in_place(|| stack.run(&["stop", "kafka"]));
    let down = Instant::now();
    let mut failed = None;
    while down.elapsed() < Duration::from_secs(15) {
        let started = Instant::now();
        if let Err(e) = health.check().await {
            failed = Some((e, started.elapsed()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (err, took) = failed.expect("health fails while the broker is down");
    assert!(err.transient, "{err:?}");
    assert!(
        took < Duration::from_secs(3),
        "the probe is bounded: {took:?}"
    );

    tokio::task::block_in_place(|| stack.run(&["start", "kafka"]));
    let up = Instant::now();
    loop {
        if health.check().await.is_ok() {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "health recovers with the broker"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
