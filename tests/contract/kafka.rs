//! Kafka test helpers: the broker of the dev stack, unique topics per test (created by the
//! adapter, deleted when the test ends), and a plain reader of a topic's records.

use std::net::ToSocketAddrs;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, OwnedMessage};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use tickler::adapters::kafka::{KafkaTransport, dead_letter};
use tickler::config::{KafkaConfig, TopicNames};
use tickler::domain::event::Topic;
use tickler::ports::EventIntake;
use tokio::sync::watch;

use super::BoxFut;
use super::bus::{BusFixture, DeadLetterView};

/// `TICKLER_TEST_KAFKA_BROKERS` (default: the dev stack's 127.0.0.1:19092). Fails the test
/// with instructions when nothing listens there.
pub fn brokers() -> String {
    let brokers =
        std::env::var("TICKLER_TEST_KAFKA_BROKERS").unwrap_or_else(|_| "127.0.0.1:19092".into());
    let first = brokers.split(',').next().unwrap_or_default().to_owned();
    let reachable = first
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        reachable,
        "no Kafka broker at {brokers}: start the dev stack with `scripts/dev-stack up kafka`, \
         or point TICKLER_TEST_KAFKA_BROKERS at a broker"
    );
    brokers
}

/// Logs only when asked for (`RUST_LOG=tickler=debug,librdkafka=info cargo test …`).
pub fn init_logs() {
    tickler::telemetry::init("off", false);
}

pub fn unique_suffix() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..10].to_owned()
}

/// Topic names no other test uses.
pub fn unique_topics(suffix: &str) -> TopicNames {
    TopicNames {
        task_events: format!("test-events-{suffix}"),
        task_reminders: format!("test-reminders-{suffix}"),
        task_recurrence: format!("test-recurrence-{suffix}"),
    }
}

/// Settings for tests: short back-offs, lag refreshed every 500 ms.
pub fn test_config(brokers: &str) -> KafkaConfig {
    KafkaConfig {
        brokers: brokers.to_owned(),
        client_id: "tickler-test".into(),
        max_attempts: 4,
        retry_backoff_ms: 50,
        max_backoff_ms: 200,
        delivery_timeout_ms: 10_000,
        lag_interval_ms: 500,
        ..KafkaConfig::default()
    }
}

/// Every topic name of `topics`, dead-letter topics included.
pub fn all_names(topics: &TopicNames) -> Vec<String> {
    Topic::ALL
        .into_iter()
        .flat_map(|t| {
            let n = topics.name(t).to_owned();
            let d = dead_letter::dlq_topic(&n);
            [n, d]
        })
        .collect()
}

/// Deletes the topics when dropped (also when the test panics).
pub struct TopicGuard {
    pub brokers: String,
    pub names: Vec<String>,
}

impl Drop for TopicGuard {
    fn drop(&mut self) {
        let brokers = self.brokers.clone();
        let names = std::mem::take(&mut self.names);
        // Drop cannot await; a thread with its own runtime can.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
                    .set("bootstrap.servers", &brokers)
                    .create()
                    .unwrap();
                let refs: Vec<&str> = names.iter().map(String::as_str).collect();
                let _ = admin
                    .delete_topics(
                        &refs,
                        &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
                    )
                    .await;
            });
        })
        .join();
    }
}

/// A transport of its own (its own shutdown signal), ready for subscriptions.
pub async fn transport(
    config: &KafkaConfig,
    topics: &TopicNames,
) -> (KafkaTransport, watch::Sender<bool>) {
    let (tx, rx) = watch::channel(false);
    let t = KafkaTransport::connect(config, topics, rx)
        .await
        .unwrap_or_else(|e| panic!("connecting to Kafka at {}: {e:?}", config.brokers));
    (t, tx)
}

/// Every record of `topic` from the beginning up to its current end, by partition then offset.
pub async fn read_topic(brokers: &str, topic: &str) -> Vec<OwnedMessage> {
    let brokers = brokers.to_owned();
    let topic = topic.to_owned();
    tokio::task::spawn_blocking(move || read_topic_blocking(&brokers, &topic))
        .await
        .unwrap()
}

fn read_topic_blocking(brokers: &str, topic: &str) -> Vec<OwnedMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        // assign() wants a group id; nothing is ever committed to it.
        .set("group.id", format!("reader-{}", unique_suffix()))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .unwrap();
    let timeout = Duration::from_secs(10);
    let md = consumer.fetch_metadata(Some(topic), timeout).unwrap();
    let partitions: Vec<i32> = md.topics()[0].partitions().iter().map(|p| p.id()).collect();
    let mut tpl = TopicPartitionList::new();
    let mut remaining = 0usize;
    let mut ends = std::collections::HashMap::new();
    for p in &partitions {
        let (lo, hi) = consumer.fetch_watermarks(topic, *p, timeout).unwrap();
        if hi > lo {
            tpl.add_partition_offset(topic, *p, Offset::Offset(lo))
                .unwrap();
            ends.insert(*p, hi);
            remaining += 1;
        }
    }
    let mut out = Vec::new();
    if remaining == 0 {
        return out;
    }
    consumer.assign(&tpl).unwrap();
    let deadline = std::time::Instant::now() + timeout;
    while remaining > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "reading {topic} timed out"
        );
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(100)) {
            let end = ends[&m.partition()];
            if m.offset() == end - 1 {
                remaining -= 1;
            }
            out.push(m.detach());
        }
    }
    out.sort_by_key(|m| (m.partition(), m.offset()));
    out
}

/// The value of header `name` as text.
pub fn header(m: &OwnedMessage, name: &str) -> Option<String> {
    m.headers()?
        .iter()
        .find(|h| h.key == name)
        .and_then(|h| h.value)
        .map(|v| String::from_utf8_lossy(v).into_owned())
}

/// The bus contract's fixture on the real broker: fresh topics (task-events with 3 partitions)
/// and unique groups.
pub async fn kafka_bus() -> BusFixture {
    init_logs();
    let brokers = brokers();
    let suffix = unique_suffix();
    let topics = unique_topics(&suffix);
    let config = test_config(&brokers);
    let guard = TopicGuard {
        brokers: brokers.clone(),
        names: all_names(&topics),
    };
    let (first, first_stop) = transport(&config, &topics).await;
    first.ensure_topics().await.expect("creating test topics");
    let publisher = first.publisher();
    let intake = first.intake();
    let current: Transports = Arc::new(tokio::sync::Mutex::new(vec![(first, first_stop)]));
    let restart = {
        let current = current.clone();
        let (config, topics) = (config.clone(), topics.clone());
        Box::new(move || {
            let current = current.clone();
            let (config, topics) = (config.clone(), topics.clone());
            Box::pin(async move {
                let mut all = current.lock().await;
                if let Some((t, stop)) = all.last() {
                    let _ = stop.send(true);
                    t.shutdown().await;
                }
                let (t, stop) = transport(&config, &topics).await;
                let intake = t.intake();
                all.push((t, stop));
                intake
            }) as BoxFut<Arc<dyn EventIntake>>
        })
    };
    let dead_letters = {
        let (brokers, topics) = (brokers.clone(), topics.clone());
        Arc::new(move |topic: Topic| {
            let brokers = brokers.clone();
            let name = dead_letter::dlq_topic(topics.name(topic));
            Box::pin(async move {
                read_topic(&brokers, &name)
                    .await
                    .into_iter()
                    .map(|m| DeadLetterView {
                        payload: m.payload().map(<[u8]>::to_vec),
                        reason: header(&m, dead_letter::ERROR).unwrap_or_default(),
                        group: header(&m, dead_letter::GROUP),
                    })
                    .collect()
            }) as BoxFut<Vec<DeadLetterView>>
        })
    };
    BusFixture {
        publisher,
        intake,
        restart,
        dead_letters,
        settle: Duration::from_millis(700),
        group_suffix: format!("-{suffix}"),
        // Transports first: their consumers stop before the topics go.
        guard: Box::new((StopOnDrop(current), guard)),
    }
}

/// The fixture's transports so far (one more per restart), each with its stop signal.
type Transports = Arc<tokio::sync::Mutex<Vec<(KafkaTransport, watch::Sender<bool>)>>>;

/// Signals every transport of the fixture to stop when the test ends.
struct StopOnDrop(Transports);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(all) = self.0.try_lock() {
            for (_, stop) in all.iter() {
                let _ = stop.send(true);
            }
        }
    }
}
