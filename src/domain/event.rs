//! The event contract: CloudEvents 1.0 in structured JSON, identical bytes on every transport.
//!
//! Events are built here, from domain values, so that the REST API, MCP tools and background roles
//! cannot drift apart in what they publish.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::task::Task;
use super::{ReminderId, TaskId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Topic {
    #[serde(rename = "task-events")]
    TaskEvents,
    #[serde(rename = "task-reminders")]
    TaskReminders,
    #[serde(rename = "task-recurrence")]
    TaskRecurrence,
}

impl Topic {
    pub const ALL: [Topic; 3] = [Self::TaskEvents, Self::TaskReminders, Self::TaskRecurrence];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TaskEvents => "task-events",
            Self::TaskReminders => "task-reminders",
            Self::TaskRecurrence => "task-recurrence",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == raw)
    }
}

pub const TASK_CREATED: &str = "task.created";
pub const TASK_UPDATED: &str = "task.updated";
pub const TASK_COMPLETED: &str = "task.completed";
pub const TASK_DELETED: &str = "task.deleted";
pub const REMINDER_DUE: &str = "reminder.due";

/// The event types each topic carries. Anything else on a topic is not part of the contract: its
/// consumers dead-letter it rather than guess.
pub fn carries(topic: Topic, event_type: &str) -> bool {
    match topic {
        Topic::TaskEvents => {
            [TASK_CREATED, TASK_UPDATED, TASK_COMPLETED, TASK_DELETED].contains(&event_type)
        }
        Topic::TaskReminders => event_type == REMINDER_DUE,
        Topic::TaskRecurrence => event_type == TASK_COMPLETED,
    }
}

/// A CloudEvents 1.0 envelope (structured mode). `id` is the idempotency key of every consumer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CloudEvent {
    pub specversion: String,
    pub id: String,
    pub source: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// The task id: also the partition key, so one task's events stay in order.
    pub subject: String,
    pub time: DateTime<Utc>,
    pub datacontenttype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceparent: Option<String>,
    pub data: serde_json::Value,
}

impl CloudEvent {
    pub fn new(
        event_type: &str,
        subject: TaskId,
        time: DateTime<Utc>,
        data: serde_json::Value,
        traceparent: Option<String>,
    ) -> Self {
        Self {
            specversion: "1.0".into(),
            id: uuid::Uuid::now_v7().to_string(),
            source: "tickler".into(),
            event_type: event_type.into(),
            subject: subject.to_string(),
            time,
            datacontenttype: "application/json".into(),
            traceparent,
            data,
        }
    }

    pub fn partition_key(&self) -> &str {
        &self.subject
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a CloudEvent always serialises")
    }

    /// Parses and checks the envelope. The error says what is wrong, for the dead-letter record.
    /// Attributes Tickler does not use (daprd adds `pubsubname`, `topic`, `traceid`,
    /// `tracestate`) are ignored, and an empty `traceparent` (daprd writes `""` when it has no
    /// trace context) counts as absent.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, String> {
        let mut ev: Self =
            serde_json::from_slice(bytes).map_err(|e| format!("not a CloudEvent: {e}"))?;
        if ev.traceparent.as_deref() == Some("") {
            ev.traceparent = None;
        }
        if ev.specversion != "1.0" {
            return Err(format!("unsupported specversion {}", ev.specversion));
        }
        if ev.id.is_empty() {
            return Err("empty event id".into());
        }
        Ok(ev)
    }

    pub fn data_as<T: for<'de> Deserialize<'de>>(&self) -> Result<T, String> {
        serde_json::from_value(self.data.clone())
            .map_err(|e| format!("{} data does not match its schema: {e}", self.event_type))
    }
}

/// An event waiting in the outbox: which topic it goes to, whose it is (the user's live feed reads
/// the outbox by user), and the event itself.
#[derive(Debug, Clone, PartialEq)]
pub struct OutgoingEvent {
    pub topic: Topic,
    pub user_id: UserId,
    pub event: CloudEvent,
}

/// `data` of every `task.*` event: the task as it is after the change (before it, for deletes).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskEventData {
    pub user_id: UserId,
    pub task: Task,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changed_fields: Vec<String>,
}

/// `data` of `reminder.due`: everything e-mail delivery needs, so it does not race task edits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReminderDueData {
    pub user_id: UserId,
    pub reminder_id: ReminderId,
    pub task_id: TaskId,
    pub task_title: String,
    pub task_description: Option<String>,
    pub task_due_date: Option<DateTime<Utc>>,
    pub task_priority: String,
    pub remind_at: DateTime<Utc>,
    pub fired_at: DateTime<Utc>,
    pub late: bool,
    pub recipient_email: Option<String>,
    pub recipient_name: Option<String>,
    pub time_zone: String,
}

/// The events a task write produces. `task.completed` of a recurring task also goes to
/// `task-recurrence`, where the recurring role listens.
pub fn task_events(
    event_type: &str,
    task: &Task,
    changed_fields: &[&str],
    now: DateTime<Utc>,
    traceparent: Option<&str>,
) -> Vec<OutgoingEvent> {
    let data = TaskEventData {
        user_id: task.user_id.clone(),
        task: task.clone(),
        changed_fields: changed_fields.iter().map(|s| (*s).to_owned()).collect(),
    };
    let event = CloudEvent::new(
        event_type,
        task.id,
        now,
        serde_json::to_value(&data).expect("task data serialises"),
        traceparent.map(str::to_owned),
    );
    let mut out = vec![OutgoingEvent {
        topic: Topic::TaskEvents,
        user_id: task.user_id.clone(),
        event: event.clone(),
    }];
    if event_type == TASK_COMPLETED && task.recurrence.is_some() {
        out.push(OutgoingEvent {
            topic: Topic::TaskRecurrence,
            user_id: task.user_id.clone(),
            event,
        });
    }
    out
}

/// RFC 3339 with a `Z`, the format used in every payload and API response.
pub fn format_instant(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as daprd 1.18 publishes it: keys sorted, its own attributes added, and
    /// `traceparent` overwritten with "" (dapr-kafka-verified.md §2).
    #[test]
    fn daprd_published_events_parse_with_an_empty_traceparent_as_absent() {
        let raw = br#"{"data":{"taskId":"TASK-1"},"datacontenttype":"application/json","id":"1a","pubsubname":"kafka","source":"svc-a","specversion":"1.0","subject":"task/TASK-1","time":"2026-01-01T00:00:00Z","topic":"p1","traceid":"","traceparent":"","tracestate":"","type":"com.example.task.created"}"#;
        let ev = CloudEvent::from_slice(raw).unwrap();
        assert_eq!(ev.id, "1a");
        assert_eq!(ev.event_type, "com.example.task.created");
        assert_eq!(ev.traceparent, None);
        assert_eq!(ev.data, serde_json::json!({"taskId": "TASK-1"}));
    }

    #[test]
    fn other_specversions_and_non_events_are_refused() {
        let mut ev = CloudEvent::new(
            TASK_CREATED,
            TaskId(1),
            Utc::now(),
            serde_json::json!({}),
            None,
        );
        ev.specversion = "2.0".into();
        assert!(
            CloudEvent::from_slice(&ev.to_bytes())
                .unwrap_err()
                .contains("specversion")
        );
        assert!(CloudEvent::from_slice(br#"{"hello":"world"}"#).is_err());
        assert!(CloudEvent::from_slice(b"[1,2,3]").is_err());
    }
}
