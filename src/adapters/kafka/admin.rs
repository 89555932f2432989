//! Topic creation at start-up. The broker of a deployment may not auto-create topics (the dev
//! stack's does not), and daprd never creates them, so Tickler creates its three topics and
//! their dead-letter topics, each with its configured size and retention. Existing topics are
//! left exactly as they are.

use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::error::RDKafkaErrorCode;

use super::context::LogContext;
use super::dead_letter::dlq_topic;
use super::error::infra;
use super::settings;
use crate::config::{KafkaConfig, TopicNames, TopicSettings};
use crate::domain::event::Topic;
use crate::ports::InfraError;

const OPERATION_TIMEOUT: Duration = Duration::from_secs(15);

/// The topics Tickler uses, with the settings each is created with.
pub(crate) fn wanted(cfg: &KafkaConfig, topics: &TopicNames) -> Vec<(String, TopicSettings)> {
    Topic::ALL
        .into_iter()
        .flat_map(|t| {
            let settings = match t {
                Topic::TaskEvents => &cfg.task_events,
                Topic::TaskReminders => &cfg.task_reminders,
                Topic::TaskRecurrence => &cfg.task_recurrence,
            };
            let name = topics.name(t);
            [
                (name.to_owned(), settings.clone()),
                (dlq_topic(name), settings.clone()),
            ]
        })
        .collect()
}

/// Creates whichever of the topics is missing; returns the names it created.
pub(crate) async fn ensure_topics(
    cfg: &KafkaConfig,
    topics: &TopicNames,
) -> Result<Vec<String>, InfraError> {
    let admin: AdminClient<LogContext> = settings::admin(cfg)
        .create_with_context(LogContext)
        .map_err(|e| infra("creating the Kafka admin client", e))?;
    let wanted = wanted(cfg, topics);
    let retention: Vec<String> = wanted
        .iter()
        .map(|(_, s)| s.retention_ms.to_string())
        .collect();
    let new: Vec<NewTopic<'_>> = wanted
        .iter()
        .zip(&retention)
        .map(|((name, s), retention)| {
            NewTopic::new(
                name,
                s.partitions,
                TopicReplication::Fixed(s.replication_factor),
            )
            .set("retention.ms", retention)
        })
        .collect();
    let opts = AdminOptions::new()
        .operation_timeout(Some(OPERATION_TIMEOUT))
        .request_timeout(Some(OPERATION_TIMEOUT));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(|e| infra("creating Kafka topics", e))?;
    let mut created = Vec::new();
    let mut failed = Vec::new();
    for r in results {
        match r {
            Ok(name) => {
                tracing::info!(topic = %name, "Kafka topic created");
                created.push(name);
            }
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => failed.push((name, code)),
        }
    }
    if !created.is_empty() {
        wait_until_visible(cfg, &created).await?;
    }
    if let Some((name, code)) = failed.first() {
        let transient = failed
            .iter()
            .all(|(_, c)| super::error::code_is_transient(*c));
        let all: Vec<String> = failed.iter().map(|(n, c)| format!("{n}: {c}")).collect();
        let err = InfraError {
            context: format!("creating Kafka topic {name}"),
            transient,
            source: Some(format!("{code}; all failures: {}", all.join(", ")).into()),
        };
        return Err(err);
    }
    Ok(created)
}

/// A topic the controller just created reaches the brokers' metadata a moment later; whoever
/// subscribes or publishes right after start-up must find it.
async fn wait_until_visible(cfg: &KafkaConfig, names: &[String]) -> Result<(), InfraError> {
    let client: rdkafka::consumer::BaseConsumer<LogContext> = settings::admin(cfg)
        .create_with_context(LogContext)
        .map_err(|e| infra("creating a Kafka metadata client", e))?;
    let names = names.to_vec();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        super::wait_for_topics(
            rdkafka::consumer::Consumer::client(&client),
            &refs,
            OPERATION_TIMEOUT,
        )
    })
    .await
    .map_err(|e| InfraError::permanent("waiting for new Kafka topics", e))?
    .map_err(|e| infra("waiting for new Kafka topics", e))
    .and_then(|missing| {
        if missing.is_empty() {
            Ok(())
        } else {
            Err(InfraError::msg(format!(
                "created Kafka topic(s) {} did not appear within {OPERATION_TIMEOUT:?}",
                missing.join(", ")
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_topic_comes_with_its_dead_letter_topic_and_settings() {
        let cfg = KafkaConfig::default();
        let w = wanted(&cfg, &TopicNames::default());
        let names: Vec<(&str, i32, i64)> = w
            .iter()
            .map(|(n, s)| (n.as_str(), s.partitions, s.retention_ms))
            .collect();
        const DAY: i64 = 24 * 3600 * 1000;
        assert_eq!(
            names,
            vec![
                ("task-events", 3, 7 * DAY),
                ("task-events.dlq", 3, 7 * DAY),
                ("task-reminders", 1, DAY),
                ("task-reminders.dlq", 1, DAY),
                ("task-recurrence", 1, 7 * DAY),
                ("task-recurrence.dlq", 1, 7 * DAY),
            ]
        );
    }
}
