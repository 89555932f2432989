//! Partitions progress independently, in order, one handler call at a time, across back-pressure and rebalances.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::contract::bus::event;
use async_trait::async_trait;
use tickler::adapters::kafka::KafkaTransport;
use tickler::domain::event::{CloudEvent, Topic};
use tickler::ports::{EventHandler, Message, Outcome};
use tokio::sync::Notify;

use crate::support::*;

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
