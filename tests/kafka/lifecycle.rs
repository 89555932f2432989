//! Graceful shutdown and the consumer-lag metric.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::contract::bus::{Recorder, event};
use async_trait::async_trait;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{EventHandler, Outcome};
use tokio::sync::Notify;

use crate::support::*;

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
