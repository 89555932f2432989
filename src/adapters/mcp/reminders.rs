//! `set_reminder`: unlike the seed's (which stored nothing and e-mailed at once in Kafka mode), it
//! stores a reminder on the task; the notification role fires it at its instant.

use rmcp::schemars::JsonSchema;
use serde::Deserialize;

use super::errors::{Suggest, ToolError, task_error};
use super::views::{Failed, Instant, ReminderError, ReminderSet, pending_reminders};
use super::{Call, Reply};
use crate::app::input::ReminderInput;
use crate::domain::event::format_instant;
use crate::domain::{ErrorCode, TaskId};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SetReminderParams {
    /// The task's id.
    pub task_id: i64,
    /// Remind this many minutes before the task's due date (the task needs one): 30 = half an
    /// hour, 1440 = a day, 10080 = a week; 0 = at the due time. Follows the due date if it
    /// changes.
    pub remind_before_minutes: Option<i64>,
    /// Or remind at this ISO 8601 instant, e.g. "2026-03-15T08:30:00Z" (must be in the future).
    pub remind_at: Option<String>,
}

pub async fn set_reminder(c: &Call<'_>, p: SetReminderParams) -> Reply {
    let task_id = p.task_id;
    match set(c, p).await {
        Ok(reply) => reply,
        Err(e) => failure(e, Some(task_id)),
    }
}

/// Arguments that do not fit the schema, answered in `set_reminder`'s own error shape.
pub fn bad_arguments(e: &ToolError, args: &serde_json::Value) -> Reply {
    failure(
        e.clone(),
        args.get("task_id").and_then(serde_json::Value::as_i64),
    )
}

fn failure(e: ToolError, task_id: Option<i64>) -> Reply {
    Reply::error_object(&ReminderError {
        success: false,
        status: Failed::Error,
        code: e.code,
        message: e.message,
        task_id,
        remind_at: None,
        details: e.details,
    })
}

async fn set(c: &Call<'_>, p: SetReminderParams) -> Result<Reply, ToolError> {
    if p.remind_before_minutes.is_some() == p.remind_at.is_some() {
        return Err(ToolError::new(
            ErrorCode::InvalidReminder,
            "Must provide either remind_before_minutes OR remind_at (not both, not neither)",
        ));
    }
    let spec = ReminderInput {
        minutes_before: p.remind_before_minutes,
        remind_at: p.remind_at,
    }
    .into_spec()?;
    let id = TaskId(p.task_id);
    let task = match c.services.add_reminders(c.actor, id, vec![spec]).await {
        Ok(t) => t,
        Err(e) => {
            return Err(task_error(
                c.services,
                &c.actor.user_id,
                e,
                "set reminder",
                Suggest::Recent,
            )
            .await);
        }
    };
    // The reminder this call added: repositories number reminders in insertion order.
    let added = task.reminders.iter().max_by_key(|r| r.id).ok_or_else(|| {
        ToolError::new(
            ErrorCode::InternalError,
            "Failed to set reminder: the reminder was not stored",
        )
    })?;
    Ok(Reply::object(&ReminderSet {
        success: true,
        message: format!(
            "Reminder set for task '{}' at {}",
            task.title.as_str(),
            format_instant(added.remind_at)
        ),
        task_id: task.id.0,
        reminder_id: added.id.0,
        remind_at: Instant(added.remind_at),
        reminders: pending_reminders(&task),
    }))
}
