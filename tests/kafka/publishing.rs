//! What the publisher writes: partition, bytes and headers; batch results; latency.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::contract::bus::event;
use crate::contract::kafka::*;
use async_trait::async_trait;
use rdkafka::Message as _;
use tickler::adapters::kafka::CONTENT_TYPE;
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{EventHandler, Message, Outcome};

use crate::support::*;

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
