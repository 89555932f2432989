//! Shared by the Kafka-only tests: fresh topics per test, a foreign producer, waiting, and
//! daprd's partition formula.

use std::time::{Duration, Instant};

use crate::contract::kafka::*;
use rdkafka::ClientConfig;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tickler::adapters::kafka::KafkaTransport;
use tickler::config::{KafkaConfig, TopicNames};
use tickler::domain::event::Topic;
use tokio::sync::watch;

/// Fresh topics, created by the adapter, deleted at the end.
pub struct Setup {
    pub brokers: String,
    pub topics: TopicNames,
    pub config: KafkaConfig,
    pub suffix: String,
    _guard: TopicGuard,
}

pub fn setup(tune: impl FnOnce(&mut KafkaConfig)) -> Setup {
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
    pub async fn transport(&self) -> (KafkaTransport, watch::Sender<bool>) {
        let (t, stop) = transport(&self.config, &self.topics).await;
        t.ensure_topics().await.expect("creating test topics");
        (t, stop)
    }

    pub fn group(&self, name: &str) -> String {
        format!("{name}-{}", self.suffix)
    }

    pub fn name(&self, topic: Topic) -> String {
        self.topics.name(topic).to_owned()
    }

    /// A producer outside the adapter, writing what a foreign publisher (daprd, a tool) would.
    pub fn raw_producer(&self) -> FutureProducer {
        ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .set("partitioner", "fnv1a_random")
            .create()
            .unwrap()
    }
}

pub async fn produce_raw(
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

pub async fn eventually(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// sarama's hash partitioner, which daprd uses: `abs(int32(fnv1a32(key))) % n`.
pub fn daprd_partition(key: &[u8], partitions: i32) -> i32 {
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
