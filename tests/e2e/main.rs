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

use cluster::{Cluster, Mode, PubSub};
use stack::{SCENARIO, Stack};
use workload::Expected;

const REMINDERS: usize = 1000;
const RECURRING: usize = 200;
const USERS: usize = 7;

/// The work of every scenario: `REMINDERS` reminders due between `from` and `to` seconds from
/// now, and `RECURRING` completed daily tasks, both streams running at once so every role has
/// work in hand from the start. Returns what must come out.
fn workload(c: &Cluster, from: i64, to: i64) -> tokio::task::JoinHandle<Expected> {
    let users = std::sync::Arc::new(workload::users(USERS, &c.name));
    let api = c.api();
    let now = Utc::now();
    tokio::spawn(async move {
        let reminders = {
            let (api, users) = (api.clone(), users.clone());
            tokio::spawn(async move {
                let mut expected = Expected::default();
                workload::reminder_tasks(
                    &api,
                    &users,
                    REMINDERS,
                    now + chrono::Duration::seconds(from),
                    now + chrono::Duration::seconds(to),
                    &mut expected,
                )
                .await;
                expected
            })
        };
        let mut recurring = Expected::default();
        workload::completed_recurring_tasks(&api, &users, RECURRING, &mut recurring).await;
        let mut expected = reminders.await.expect("reminder workload");
        expected.occurrences = recurring.occurrences;
        expected
    })
}

async fn check(c: &mut Cluster, work: tokio::task::JoinHandle<Expected>, within: u64) {
    let expected = work.await.expect("workload");
    let outcome = workload::wait_for(
        &c.smtp,
        &c.db_url,
        &expected,
        Duration::from_secs(within),
        Duration::from_secs(8),
    )
    .await;
    let why = workload::diagnose(&c.db_url, &outcome, &expected).await;
    if !why.is_empty() {
        eprintln!("missing reminders, where their trail stops:{why}");
    }
    workload::verify(&outcome, &expected, &c.email_crashes);
    if !c.email_crashes.is_empty() {
        eprintln!("{}: {} e-mail crash(es)", c.name, c.email_crashes.len());
    }
    let stuck = c.stop_all();
    assert!(stuck.is_empty(), "did not stop on SIGTERM: {stuck:?}");
}

/// Backend, three notification replicas (a reminder must still fire once), e-mail delivery and
/// recurring: the steady state.
async fn steady(name: &str, mode: Mode) {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, name, mode).await;
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
    let work = workload(&c, 5, 30);
    check(&mut c, work, 120).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_split_roles_mail_every_reminder_once_with_three_notification_replicas() {
    steady("e2e-kafka-steady", Mode::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dapr_split_roles_mail_every_reminder_once_with_three_notification_replicas() {
    steady("e2e-dapr-steady", Mode::Dapr(PubSub::Kafka)).await;
}

/// The swap: Redis Streams instead of Kafka, changing only which component file daprd loads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dapr_on_redis_streams_mails_every_reminder_once() {
    steady("e2e-dapr-redis", Mode::Dapr(PubSub::Redis)).await;
}

/// The same work while each consumer role is SIGKILLed once mid-stream and restarted, the
/// broker is stopped for 10 s, and PostgreSQL restarts (Kafka-direct); in Dapr mode also a
/// sidecar is SIGKILLed and the Dapr Scheduler restarts: still every reminder once, every
/// occurrence once.
async fn faults(name: &str, mode: Mode) {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, name, mode).await;
    c.spawn("backend").await;
    let mut notification = c.spawn("notification").await;
    let mut email = c.spawn("email-delivery").await;
    let mut recurring = c.spawn("recurring").await;
    let work = workload(&c, 10, 60);
    let after = |s: u64| tokio::time::sleep(Duration::from_secs(s));
    after(2).await;
    recurring = c.kill_and_restart(recurring).await;
    after(3).await;
    notification = c.kill_and_restart(notification).await;
    after(8).await;
    email = c.kill_and_restart(email).await;
    if let Mode::Dapr(_) = mode {
        after(3).await;
        c.kill_sidecar(email);
        after(3).await;
        stack.dev_stack(&["stop", "dapr"]);
        after(3).await;
        stack.dev_stack(&["start", "dapr"]);
    }
    after(3).await;
    stack.dev_stack(&["stop", "kafka"]);
    after(10).await;
    stack.dev_stack(&["start", "kafka"]);
    after(6).await;
    stack.dev_stack(&["stop", "postgres"]);
    after(2).await;
    stack.dev_stack(&["start", "postgres"]);
    for i in [notification, email, recurring] {
        assert!(
            c.alive(i),
            "{} died:\n{}",
            c.procs[i].role,
            c.log_tail(i, 40)
        );
    }
    check(&mut c, work, 180).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kafka_split_roles_lose_and_duplicate_nothing_under_faults() {
    faults("e2e-kafka-faults", Mode::Kafka).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dapr_split_roles_lose_and_duplicate_nothing_under_faults() {
    faults("e2e-dapr-faults", Mode::Dapr(PubSub::Kafka)).await;
}

/// A mixed roll-out on the same Kafka topics: the backend and e-mail delivery Kafka-direct,
/// notification and recurring through Dapr; mid-stream e-mail delivery is switched to Dapr and
/// notification back to Kafka-direct (each keeps its consumer group = app id, so it resumes from
/// the offsets the other side committed). Nothing lost, nothing handled twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_kafka_direct_and_dapr_roles_share_topics_and_switch_without_loss() {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let dapr = Mode::Dapr(PubSub::Kafka);
    let mut c = Cluster::new(stack, "e2e-mixed", Mode::Kafka).await;
    c.spawn_as("backend", Mode::Kafka).await;
    let notification = c.spawn_as("notification", dapr).await;
    let email = c.spawn_as("email-delivery", Mode::Kafka).await;
    c.spawn_as("recurring", dapr).await;
    let work = workload(&c, 8, 45);
    tokio::time::sleep(Duration::from_secs(12)).await;
    c.switch(email, dapr).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    c.switch(notification, Mode::Kafka).await;
    check(&mut c, work, 150).await;
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
    let mut c = Cluster::new(stack, "e2e-kafka-badinput", Mode::Kafka).await;
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
    workload::verify(&outcome, &expected, &[]);
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

/// The Dapr-facing routes refuse a caller without the sidecar's `dapr-api-token` and change
/// nothing; the public listener does not serve them at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dapr_facing_routes_refuse_callers_without_the_token_and_are_not_public() {
    let _one_at_a_time = SCENARIO.lock().await;
    let stack = Stack::get();
    let mut c = Cluster::new(stack, "e2e-dapr-security", Mode::Dapr(PubSub::Kafka)).await;
    c.spawn("backend").await;
    let notification = c.spawn("notification").await;
    let email = c.spawn("email-delivery").await;
    let users = workload::users(1, &c.name);
    let mut expected = Expected::default();
    let soon = Utc::now() + chrono::Duration::hours(1);
    workload::reminder_tasks(&c.api(), &users, 1, soon, soon, &mut expected).await;
    let message_id = expected.mails.keys().next().expect("one reminder").clone();
    let reminder: i64 = message_id
        .trim_start_matches("<reminder-")
        .trim_end_matches("@tickler>")
        .parse()
        .expect("reminder id");
    let http = reqwest::Client::new();
    let due = serde_json::json!({
        "specversion": "1.0", "id": uuid::Uuid::new_v4().to_string(), "source": "attacker",
        "type": "reminder.due", "subject": "1", "time": Utc::now(),
        "datacontenttype": "application/json",
        "data": {"user_id": "x", "reminder_id": reminder, "task_id": 1, "task_title": "forged",
                 "task_description": null, "task_due_date": null, "task_priority": "high",
                 "remind_at": Utc::now(), "fired_at": Utc::now(), "late": false,
                 "recipient_email": users[0].email, "recipient_name": null, "time_zone": "UTC"}
    });
    let reminders_topic = format!("{}.task-reminders", c.name);
    for token in [None, Some("wrong-token")] {
        let with = |r: reqwest::RequestBuilder| match token {
            Some(t) => r.header("dapr-api-token", t),
            None => r,
        };
        let app = |i: usize| {
            format!(
                "http://127.0.0.1:{}",
                c.procs[i].app_port.expect("Dapr mode")
            )
        };
        let job = with(http.post(format!("{}/job/reminder-{reminder}", app(notification))))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("job trigger");
        assert_eq!(job.status(), 401, "job trigger without the right token");
        let event = with(http.post(format!("{}/events/{reminders_topic}", app(email))))
            .header("content-type", "application/cloudevents+json")
            .body(due.to_string())
            .send()
            .await
            .expect("event delivery");
        assert_eq!(
            event.status(),
            401,
            "event delivery without the right token"
        );
        let subs = with(http.get(format!("{}/dapr/subscribe", app(email))))
            .send()
            .await
            .expect("subscriptions");
        assert_eq!(
            subs.status(),
            401,
            "subscription list without the right token"
        );
    }
    for i in [notification, email] {
        let public = format!("http://127.0.0.1:{}", c.procs[i].port);
        for (method, path) in [
            (reqwest::Method::GET, "/dapr/subscribe".to_owned()),
            (reqwest::Method::POST, format!("/job/reminder-{reminder}")),
            (reqwest::Method::POST, format!("/events/{reminders_topic}")),
        ] {
            let r = http
                .request(method, format!("{public}{path}"))
                .send()
                .await
                .expect("public listener");
            assert_eq!(r.status(), 404, "{path} must not be served publicly");
        }
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(c.smtp.mails().is_empty(), "no mail was sent");
    use sqlx::Connection;
    let mut db = sqlx::PgConnection::connect(&c.db_url).await.expect("db");
    let fired: Option<chrono::DateTime<Utc>> =
        sqlx::query_scalar("SELECT fired_at FROM reminders WHERE id = $1")
            .bind(reminder)
            .fetch_one(&mut db)
            .await
            .expect("the reminder");
    assert_eq!(fired, None, "the reminder did not fire");
    let stuck = c.stop_all();
    assert!(stuck.is_empty(), "did not stop on SIGTERM: {stuck:?}");
}
