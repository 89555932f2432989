//! Result shapes of the tools: the seed's field names and `status` values, Tickler's values.
//!
//! Every shape derives `JsonSchema` so the tool's `outputSchema` is generated from the very type
//! that is serialised, and cannot drift from it. Instants are RFC 3339 UTC with a `Z`
//! (`2026-01-15T17:00:00Z`), where the seed wrote naive UTC without an offset.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rmcp::schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Serialize;

use crate::domain::event::format_instant;
use crate::domain::label::Label;
use crate::domain::reminder::Reminder;
use crate::domain::task::{Priority, Task};

/// An instant, serialised as RFC 3339 UTC with a `Z`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instant(pub DateTime<Utc>);

impl Serialize for Instant {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_instant(self.0))
    }
}

impl JsonSchema for Instant {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Instant".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "format": "date-time",
            "description": "UTC instant, RFC 3339 (e.g. 2026-01-15T17:00:00Z)"
        })
    }
}

fn instant(t: Option<DateTime<Utc>>) -> Option<Instant> {
    t.map(Instant)
}

fn priority_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": ["low", "medium", "high", "urgent"]})
}

/// Declares a one-value string enum, so each result's `status` has an exact schema (`const`).
macro_rules! status {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, JsonSchema)]
        #[schemars(crate = "rmcp::schemars")]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }
    };
}

status!(Created { Created => "created" });
status!(Updated { Updated => "updated" });
status!(Deleted { Deleted => "deleted" });
status!(Completed { Completed => "completed" });
status!(Success { Success => "success" });
status!(Failed { Error => "error" });
status!(TagAdded { Added => "added", AlreadyAssigned => "already_assigned" });
status!(TagRemoved { Removed => "removed", NotAssigned => "not_assigned" });

/// A category or tag as shown inside a task.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LabelRef {
    pub id: i64,
    pub name: String,
    /// `#RRGGBB` or null.
    pub color: Option<String>,
}

impl From<&Label> for LabelRef {
    fn from(l: &Label) -> Self {
        Self {
            id: l.id,
            name: l.name.as_str().to_owned(),
            color: l.color.as_ref().map(|c| c.as_str().to_owned()),
        }
    }
}

/// The user's categories and tags by id, to show a task's labels by name.
#[derive(Debug, Default)]
pub struct LabelIndex {
    pub categories: HashMap<i64, LabelRef>,
    pub tags: HashMap<i64, LabelRef>,
}

impl LabelIndex {
    fn category(&self, task: &Task) -> Option<LabelRef> {
        task.category_id
            .and_then(|c| self.categories.get(&c.0).cloned())
    }

    /// In the task's order; a tag deleted meanwhile is left out.
    fn tags(&self, task: &Task) -> Vec<LabelRef> {
        task.tag_ids
            .iter()
            .filter_map(|t| self.tags.get(&t.0).cloned())
            .collect()
    }
}

/// A pending reminder of a task.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ReminderView {
    pub id: i64,
    /// When it fires.
    pub remind_at: Instant,
    /// Set when the reminder follows the due date (it moves when the due date changes).
    pub minutes_before: Option<u32>,
}

impl From<&Reminder> for ReminderView {
    fn from(r: &Reminder) -> Self {
        Self {
            id: r.id.0,
            remind_at: Instant(r.remind_at),
            minutes_before: r.minutes_before,
        }
    }
}

pub fn pending_reminders(task: &Task) -> Vec<ReminderView> {
    let mut out: Vec<ReminderView> = task
        .reminders
        .iter()
        .filter(|r| r.is_pending())
        .map(ReminderView::from)
        .collect();
    out.sort_by(|a, b| a.remind_at.0.cmp(&b.remind_at.0).then(a.id.cmp(&b.id)));
    out
}

/// A task in `list_tasks`, `get_task` and `search_tasks` results (the seed's field set).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskView {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[schemars(schema_with = "priority_schema")]
    pub priority: Priority,
    pub due_date: Option<Instant>,
    pub category: Option<LabelRef>,
    pub tags: Vec<LabelRef>,
    /// Canonical RFC 5545 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO`.
    pub recurrence_rule: Option<String>,
    pub created_at: Instant,
    pub updated_at: Instant,
}

impl TaskView {
    pub fn new(task: &Task, labels: &LabelIndex) -> Self {
        Self {
            id: task.id.0,
            title: task.title.as_str().to_owned(),
            description: task.description.clone(),
            completed: task.completed,
            priority: task.priority,
            due_date: instant(task.due_date),
            category: labels.category(task),
            tags: labels.tags(task),
            recurrence_rule: rule(task),
            created_at: Instant(task.created_at),
            updated_at: Instant(task.updated_at),
        }
    }
}

fn rule(task: &Task) -> Option<String> {
    task.recurrence.as_ref().map(|r| r.rule.as_str().to_owned())
}

/// `add_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskCreated {
    pub status: Created,
    pub task_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[schemars(schema_with = "priority_schema")]
    pub priority: Priority,
    pub due_date: Option<Instant>,
    pub category: Option<LabelRef>,
    pub tags: Vec<LabelRef>,
    pub recurrence_rule: Option<String>,
    pub created_at: Instant,
    /// True when the same title and recurrence were added less than 60 seconds ago: this is that
    /// task, and nothing new was created.
    pub deduplicated: bool,
    /// Pending reminders (a task with a due date gets one 60 minutes before it by default).
    pub reminders: Vec<ReminderView>,
}

impl TaskCreated {
    pub fn new(task: &Task, labels: &LabelIndex, created: bool) -> Self {
        Self {
            status: Created::Created,
            task_id: task.id.0,
            title: task.title.as_str().to_owned(),
            description: task.description.clone(),
            completed: task.completed,
            priority: task.priority,
            due_date: instant(task.due_date),
            category: labels.category(task),
            tags: labels.tags(task),
            recurrence_rule: rule(task),
            created_at: Instant(task.created_at),
            deduplicated: !created,
            reminders: pending_reminders(task),
        }
    }
}

/// `get_task`: the task with `status: "success"`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskFound {
    pub status: Success,
    #[serde(flatten)]
    pub task: TaskView,
    pub completed_at: Option<Instant>,
    pub reminders: Vec<ReminderView>,
}

/// `update_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskUpdated {
    pub status: Updated,
    pub task_id: i64,
    pub title: String,
    pub description: Option<String>,
    pub completed: bool,
    #[schemars(schema_with = "priority_schema")]
    pub priority: Priority,
    pub due_date: Option<Instant>,
    pub category: Option<LabelRef>,
    pub tags: Vec<LabelRef>,
    pub recurrence_rule: Option<String>,
    pub updated_at: Instant,
    pub reminders: Vec<ReminderView>,
}

impl TaskUpdated {
    pub fn new(task: &Task, labels: &LabelIndex) -> Self {
        Self {
            status: Updated::Updated,
            task_id: task.id.0,
            title: task.title.as_str().to_owned(),
            description: task.description.clone(),
            completed: task.completed,
            priority: task.priority,
            due_date: instant(task.due_date),
            category: labels.category(task),
            tags: labels.tags(task),
            recurrence_rule: rule(task),
            updated_at: Instant(task.updated_at),
            reminders: pending_reminders(task),
        }
    }
}

/// `complete_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskCompleted {
    pub status: Completed,
    pub task_id: i64,
    pub title: String,
    pub completed: bool,
    #[schemars(schema_with = "priority_schema")]
    pub priority: Priority,
    pub due_date: Option<Instant>,
    pub recurrence_rule: Option<String>,
    pub completed_at: Option<Instant>,
}

impl TaskCompleted {
    pub fn new(task: &Task) -> Self {
        Self {
            status: Completed::Completed,
            task_id: task.id.0,
            title: task.title.as_str().to_owned(),
            completed: task.completed,
            priority: task.priority,
            due_date: instant(task.due_date),
            recurrence_rule: rule(task),
            completed_at: instant(task.completed_at),
        }
    }
}

/// `delete_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskDeleted {
    pub status: Deleted,
    pub task_id: i64,
    pub title: String,
}

/// `list_tasks`: the tasks under `result` (the text content is the bare array).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TaskList {
    pub result: Vec<TaskView>,
    /// Present when more tasks match: pass it as `cursor` to get the next page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// A `search_tasks` hit: the task and its relevance.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct SearchHit {
    #[serde(flatten)]
    pub task: TaskView,
    /// Higher is more relevant; title matches weigh more than description matches.
    pub search_rank: f64,
}

/// `search_tasks`: best match first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct SearchResult {
    pub result: Vec<SearchHit>,
}

/// A category or tag in `list_categories` / `list_tags`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LabelView {
    pub id: i64,
    pub name: String,
    pub color: Option<String>,
    /// Tasks (completed or not) that use it.
    pub task_count: i64,
    pub created_at: Instant,
}

impl From<&Label> for LabelView {
    fn from(l: &Label) -> Self {
        Self {
            id: l.id,
            name: l.name.as_str().to_owned(),
            color: l.color.as_ref().map(|c| c.as_str().to_owned()),
            task_count: l.task_count,
            created_at: Instant(l.created_at),
        }
    }
}

/// `list_categories` / `list_tags`: oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct LabelList {
    pub result: Vec<LabelView>,
}

/// `create_category`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CategoryCreated {
    pub status: Created,
    pub category_id: i64,
    pub name: String,
    pub color: Option<String>,
    pub created_at: Instant,
}

/// `update_category`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CategoryUpdated {
    pub status: Updated,
    pub category_id: i64,
    pub name: String,
    pub color: Option<String>,
}

/// `delete_category`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct CategoryDeleted {
    pub status: Deleted,
    pub category_id: i64,
    pub name: String,
    /// Tasks that had this category; they keep existing, without a category.
    pub tasks_affected: i64,
}

/// `create_tag`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TagCreated {
    pub status: Created,
    pub tag_id: i64,
    pub name: String,
    pub color: Option<String>,
    pub created_at: Instant,
}

/// `update_tag`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TagUpdated {
    pub status: Updated,
    pub tag_id: i64,
    pub name: String,
    pub color: Option<String>,
}

/// `delete_tag`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TagDeleted {
    pub status: Deleted,
    pub tag_id: i64,
    pub name: String,
    /// Tasks that carried this tag; they keep existing, without it.
    pub tasks_affected: i64,
}

/// `add_tag_to_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TagLinked {
    pub status: TagAdded,
    pub task_id: i64,
    pub tag_id: i64,
}

/// `remove_tag_from_task`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct TagUnlinked {
    pub status: TagRemoved,
    pub task_id: i64,
    pub tag_id: i64,
}

/// `set_reminder` (the seed's `success` shape rather than `status`).
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ReminderSet {
    /// Always true here; failures come back as `{"success": false, "status": "error", ...}`.
    pub success: bool,
    pub message: String,
    pub task_id: i64,
    pub reminder_id: i64,
    /// When the reminder e-mail is sent.
    pub remind_at: Instant,
    /// Every pending reminder of the task after this one was added.
    pub reminders: Vec<ReminderView>,
}

/// The error object every tool returns (with `isError: true`) when it cannot do what was asked.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ErrorView {
    pub status: Failed,
    /// Stable code to branch on, e.g. TASK_NOT_FOUND, INVALID_DUE_DATE, VALIDATION_ERROR.
    pub code: String,
    pub message: String,
    /// `field` (the argument at fault) and, for TASK_NOT_FOUND, `requested_task_id` and
    /// `suggestions` (up to 5 of your tasks, newest first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `set_reminder`'s error object: the seed's shape plus `status` and `code`.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ReminderError {
    pub success: bool,
    pub status: Failed,
    pub code: String,
    pub message: String,
    /// The task_id argument, when it was an integer.
    pub task_id: Option<i64>,
    pub remind_at: Option<Instant>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_carry_a_z_and_statuses_their_names() {
        let t = DateTime::parse_from_rfc3339("2026-01-15T17:00:00.123+00:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            serde_json::to_value(Instant(t)).unwrap(),
            "2026-01-15T17:00:00Z"
        );
        assert_eq!(
            serde_json::to_value(TagAdded::AlreadyAssigned).unwrap(),
            "already_assigned"
        );
    }
}
