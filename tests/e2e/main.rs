//! End-to-end: the four roles as separate OS processes of the real binary, on the real
//! PostgreSQL, Kafka and SMTP server, under load and under faults. Scenarios run one at a time
//! (they share a private stack and some stop its services); see `stack.rs`.
//!
//! Each scenario creates reminders due within the next seconds for several users and completes
//! recurring tasks, then checks the SMTP sink received exactly one mail per reminder, to its
//! owner, with the Message-ID derived from the reminder, and that exactly one next occurrence
//! exists per completed task.

mod cluster;
mod stack;
mod workload;

use std::time::Duration;

use chrono::Utc;

use cluster::{Cluster, Mode};
use stack::{SCENARIO, Stack};
use workload::Expected;

const REMINDERS: usize = 1000;
const RECURRING: usize = 200;
const USERS: usize = 7;

/// Backend, three notification replicas (a reminder must still fire once), e-mail delivery and
/// recurring: the steady state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_split_roles_mail_every_reminder_once_with_three_notification_replicas() {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, "e2e_kafka_steady", Mode::Kafka).await;
    for role in [
        "backend",
        "notification",
        "notification",
        "notification",
        "email-delivery",
        "recurring",
    ] {
        c.spawn(role).await;
    }
    let users = workload::users(USERS, &c.name);
    let mut expected = Expected::default();
    let now = Utc::now();
    let api = c.api();
    workload::reminder_tasks(
        &api,
        &users,
        REMINDERS,
        now + chrono::Duration::seconds(5),
        now + chrono::Duration::seconds(30),
        &mut expected,
    )
    .await;
    workload::completed_recurring_tasks(&api, &users, RECURRING, &mut expected).await;
    let outcome = workload::wait_for(
        &c.smtp,
        &c.db_url,
        &expected,
        Duration::from_secs(90),
        Duration::from_secs(5),
    )
    .await;
    workload::verify(&outcome, &expected);
    let stuck = c.stop_all();
    assert!(stuck.is_empty(), "did not stop on SIGTERM: {stuck:?}");
}

/// The same work while each consumer role is SIGKILLed once mid-stream and restarted, Kafka is
/// stopped for 10 s, and PostgreSQL restarts: still every reminder once, every occurrence once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_split_roles_lose_and_duplicate_nothing_under_faults() {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, "e2e_kafka_faults", Mode::Kafka).await;
    let backend = c.spawn("backend").await;
    let mut notification = c.spawn("notification").await;
    let mut email = c.spawn("email-delivery").await;
    let mut recurring = c.spawn("recurring").await;
    let _ = backend;
    let users = std::sync::Arc::new(workload::users(USERS, &c.name));
    let api = c.api();
    let now = Utc::now();
    // Both streams run from the start, so every role has work in hand when it is killed.
    let reminders = {
        let (api, users) = (api.clone(), users.clone());
        tokio::spawn(async move {
            let mut expected = Expected::default();
            workload::reminder_tasks(
                &api,
                &users,
                REMINDERS,
                now + chrono::Duration::seconds(10),
                now + chrono::Duration::seconds(60),
                &mut expected,
            )
            .await;
            expected
        })
    };
    let recurrences = {
        let (api, users) = (api.clone(), users.clone());
        tokio::spawn(async move {
            let mut expected = Expected::default();
            workload::completed_recurring_tasks(&api, &users, RECURRING, &mut expected).await;
            expected
        })
    };
    let after = |s: u64| tokio::time::sleep(Duration::from_secs(s));
    after(2).await;
    recurring = c.kill_and_restart(recurring).await;
    after(3).await;
    notification = c.kill_and_restart(notification).await;
    after(8).await;
    email = c.kill_and_restart(email).await;
    after(5).await;
    stack.dev_stack(&["stop", "kafka"]);
    after(10).await;
    stack.dev_stack(&["start", "kafka"]);
    after(6).await;
    stack.dev_stack(&["stop", "postgres"]);
    after(2).await;
    stack.dev_stack(&["start", "postgres"]);
    let mut expected = reminders.await.expect("reminder workload");
    expected.occurrences = recurrences.await.expect("recurring workload").occurrences;
    let outcome = workload::wait_for(
        &c.smtp,
        &c.db_url,
        &expected,
        Duration::from_secs(150),
        Duration::from_secs(8),
    )
    .await;
    workload::verify(&outcome, &expected);
    for i in [notification, email, recurring] {
        assert!(
            c.alive(i),
            "{} died:\n{}",
            c.procs[i].role,
            c.log_tail(i, 40)
        );
    }
    let stuck = c.stop_all();
    assert!(stuck.is_empty(), "did not stop on SIGTERM: {stuck:?}");
}

/// A malformed message, one of an unknown type and one with a future `specversion`, written to
/// each topic by a foreign producer: each goes to the topic's `.dlq` with a log line naming why,
/// and the consumers keep going (a reminder created afterwards is still mailed).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_bad_input_on_the_wire_is_dead_lettered_and_consumers_keep_going() {
    use rdkafka::Message as _;
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{Consumer, StreamConsumer};
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, "e2e_kafka_badinput", Mode::Kafka).await;
    for role in ["backend", "notification", "email-delivery", "recurring"] {
        c.spawn(role).await;
    }
    let topics: Vec<String> = ["task-events", "task-reminders", "task-recurrence"]
        .iter()
        .map(|t| format!("{}.{t}", c.name))
        .collect();
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", stack.kafka_brokers())
        .create()
        .expect("producer");
    let event = |ty: &str, spec: &str| {
        serde_json::json!({
            "specversion": spec, "id": uuid::Uuid::new_v4().to_string(), "source": "elsewhere",
            "type": ty, "subject": "1", "time": "2026-01-01T00:00:00Z",
            "datacontenttype": "application/json", "data": {}
        })
        .to_string()
    };
    let bad = [
        "not json at all {".to_owned(),
        event("task.archived", "1.0"),
        event("task.created", "2.0"),
    ];
    for topic in &topics {
        for payload in &bad {
            producer
                .send(
                    FutureRecord::to(topic).key("1").payload(payload),
                    Duration::from_secs(10),
                )
                .await
                .expect("produce a bad record");
        }
    }
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", stack.kafka_brokers())
        .set("group.id", format!("{}.dlq-reader", c.name))
        .set("auto.offset.reset", "earliest")
        .create()
        .expect("consumer");
    let dlqs: Vec<String> = topics.iter().map(|t| format!("{t}.dlq")).collect();
    consumer
        .subscribe(&dlqs.iter().map(String::as_str).collect::<Vec<_>>())
        .expect("subscribe to the dead-letter topics");
    let mut got: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while got.values().map(Vec::len).sum::<usize>() < bad.len() * topics.len() {
        let msg = tokio::time::timeout_at(deadline, consumer.recv())
            .await
            .expect("dead letters within 60 s")
            .expect("read a dead letter");
        let payload = String::from_utf8_lossy(msg.payload().unwrap_or_default()).into_owned();
        got.entry(msg.topic().to_owned()).or_default().push(payload);
    }
    for dlq in &dlqs {
        let mut seen = got.get(dlq).cloned().unwrap_or_default();
        seen.sort();
        let mut want = bad.to_vec();
        want.sort();
        assert_eq!(seen, want, "{dlq} holds the original values, once each");
    }
    // Still consuming: a reminder created now is mailed.
    let users = workload::users(1, &c.name);
    let mut expected = Expected::default();
    let now = Utc::now();
    workload::reminder_tasks(&c.api(), &users, 1, now, now, &mut expected).await;
    let outcome = workload::wait_for(
        &c.smtp,
        &c.db_url,
        &expected,
        Duration::from_secs(30),
        Duration::from_secs(1),
    )
    .await;
    workload::verify(&outcome, &expected);
    let logs: String = (0..c.procs.len()).map(|i| c.log_tail(i, 400)).collect();
    let dead_lettered = logs
        .lines()
        .filter(|l| l.contains("WARN") && l.to_lowercase().contains("dead-letter"))
        .count();
    assert!(
        dead_lettered >= bad.len() * topics.len(),
        "one warning per dead letter, found {dead_lettered}:\n{logs}"
    );
    let stuck = c.stop_all();
    assert!(stuck.is_empty(), "did not stop on SIGTERM: {stuck:?}");
}
