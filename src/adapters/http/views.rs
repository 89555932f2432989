//! Response bodies. Instants are RFC 3339 strings in UTC with a `Z`; field names follow the seed's
//! tool parameters (`title`, `due_date`, `category_id`, `tag_ids`, `recurrence_rule`, …).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::change::TagLink;
use crate::domain::event::format_instant;
use crate::domain::label::Label;
use crate::domain::reminder::Reminder;
use crate::domain::task::Task;
use crate::domain::user::User;

fn instant(t: Option<DateTime<Utc>>) -> Option<String> {
    t.map(format_instant)
}

/// Reminder times keep milliseconds: how late a delivery was is measured in them.
fn precise(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReminderView {
    pub id: i64,
    /// Set for reminders relative to the due date.
    pub minutes_before: Option<u32>,
    #[schema(format = DateTime)]
    pub remind_at: String,
    /// scheduled | sent | failed | cancelled | skipped
    pub status: String,
    #[schema(format = DateTime)]
    pub fired_at: Option<String>,
    #[schema(format = DateTime)]
    pub delivered_at: Option<String>,
    /// Delivered more than a minute after `remind_at`.
    pub late: bool,
}

impl From<&Reminder> for ReminderView {
    fn from(r: &Reminder) -> Self {
        Self {
            id: r.id.0,
            minutes_before: r.minutes_before,
            remind_at: precise(r.remind_at),
            status: r.status.as_str().to_owned(),
            fired_at: r.fired_at.map(precise),
            delivered_at: r.delivered_at.map(precise),
            late: r.late,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskView {
    pub id: i64,
    pub title: String,
    pub description: Option<String>,
    /// low | medium | high | urgent
    pub priority: String,
    #[schema(format = DateTime)]
    pub due_date: Option<String>,
    pub category_id: Option<i64>,
    pub tag_ids: Vec<i64>,
    /// Canonical RFC 5545 RRULE, e.g. `FREQ=WEEKLY;BYDAY=MO`.
    pub recurrence_rule: Option<String>,
    pub completed: bool,
    #[schema(format = DateTime)]
    pub completed_at: Option<String>,
    #[schema(format = DateTime)]
    pub created_at: String,
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Pending and past its due date.
    pub overdue: bool,
    pub reminders: Vec<ReminderView>,
    /// Relevance, only when listing with `q` (higher is better; title matches rank first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search_rank: Option<f64>,
}

impl TaskView {
    pub fn new(t: &Task, now: DateTime<Utc>) -> Self {
        Self {
            id: t.id.0,
            title: t.title.as_str().to_owned(),
            description: t.description.clone(),
            priority: t.priority.as_str().to_owned(),
            due_date: instant(t.due_date),
            category_id: t.category_id.map(|c| c.0),
            tag_ids: t.tag_ids.iter().map(|t| t.0).collect(),
            recurrence_rule: t.recurrence.as_ref().map(|r| r.rule.as_str().to_owned()),
            completed: t.completed,
            completed_at: instant(t.completed_at),
            created_at: format_instant(t.created_at),
            updated_at: format_instant(t.updated_at),
            overdue: t.is_overdue(now),
            reminders: t.reminders.iter().map(ReminderView::from).collect(),
            search_rank: None,
        }
    }

    pub fn ranked(mut self, rank: Option<f64>) -> Self {
        self.search_rank = rank;
        self
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaskPageView {
    pub items: Vec<TaskView>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TagLinkView {
    /// added | already_assigned | removed | not_assigned
    pub status: String,
    pub task_id: i64,
    pub tag_id: i64,
    pub task: TaskView,
}

pub fn tag_link_status(link: TagLink) -> &'static str {
    match link {
        TagLink::Added => "added",
        TagLink::AlreadyAssigned => "already_assigned",
        TagLink::Removed => "removed",
        TagLink::NotAssigned => "not_assigned",
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReminderListView {
    pub items: Vec<ReminderView>,
}

/// A category or a tag.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelView {
    pub id: i64,
    pub name: String,
    /// `#RRGGBB`
    pub color: Option<String>,
    /// Tasks (completed or not) using it.
    pub task_count: i64,
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Label> for LabelView {
    fn from(l: &Label) -> Self {
        Self {
            id: l.id,
            name: l.name.as_str().to_owned(),
            color: l.color.as_ref().map(|c| c.as_str().to_owned()),
            task_count: l.task_count,
            created_at: format_instant(l.created_at),
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LabelListView {
    pub items: Vec<LabelView>,
}

/// A deleted category or tag, and how many tasks lost it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeletedLabelView {
    #[serde(flatten)]
    pub label: LabelView,
    pub tasks_affected: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct UserView {
    /// The token's `sub`.
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    /// IANA zone, e.g. `Europe/Paris`.
    pub time_zone: String,
    /// Minutes before the due date for new tasks' reminder; `null`: none.
    pub default_reminder_minutes: Option<u32>,
}

impl From<&User> for UserView {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_str().to_owned(),
            email: u.email.clone(),
            name: u.name.clone(),
            time_zone: u.time_zone.name().to_owned(),
            default_reminder_minutes: u.default_reminder_minutes,
        }
    }
}
