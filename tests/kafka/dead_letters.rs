//! Parsing foreign records, retry limits and back-off, and the dead-letter record.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::contract::bus::{Recorder, event};
use crate::contract::kafka::*;
use async_trait::async_trait;
use rdkafka::Message as _;
use rdkafka::message::{Header, OwnedHeaders};
use tickler::adapters::kafka::{CONTENT_TYPE, dead_letter};
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{EventHandler, Outcome};

use crate::support::*;

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
