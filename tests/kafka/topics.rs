//! Topic creation at start-up, and subscribing when topics are missing.

use std::time::Duration;

use crate::contract::bus::Recorder;
use crate::contract::kafka::*;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, ResourceSpecifier, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use tickler::adapters::kafka::dead_letter;
use tickler::domain::event::Topic;

use crate::support::*;

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
