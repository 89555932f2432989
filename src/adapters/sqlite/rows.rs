//! Row <-> domain mapping. Reading never panics: a value the domain cannot represent becomes a
//! permanent `InfraError` naming the column.

use chrono::{DateTime, Utc};

use super::error::{bad_data, sql};
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::query::importance;
use crate::domain::recurrence::RecurrenceRule;
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::{Priority, Recurrence, Task, Title};
use crate::domain::user::User;
use crate::domain::{CategoryId, ReminderId, TaskId, UserId};
use crate::ports::InfraError;

/// Unix microseconds, UTC: the storage form of every instant (nanoseconds are truncated).
pub(crate) fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// `t + d`, saturating at the latest representable instant instead of panicking on overflow.
pub(crate) fn add(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    chrono::Duration::from_std(d)
        .ok()
        .and_then(|d| t.checked_add_signed(d))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

pub(crate) fn instant(v: i64, column: &str) -> Result<DateTime<Utc>, InfraError> {
    DateTime::from_timestamp_micros(v)
        .ok_or_else(|| bad_data(format!("{column}: {v} is not a valid instant")))
}

pub(crate) fn opt_instant(
    v: Option<i64>,
    column: &str,
) -> Result<Option<DateTime<Utc>>, InfraError> {
    v.map(|v| instant(v, column)).transpose()
}

fn flag(v: i64, column: &str) -> Result<bool, InfraError> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(bad_data(format!("{column}: {v} is not 0 or 1"))),
    }
}

/// The stored form of a priority: its importance (0 low … 3 urgent), so "priority desc" lists
/// urgent first and matches `domain::query::sort_value`.
pub(crate) fn priority_value(p: Priority) -> i64 {
    importance(p)
}

fn priority_from(v: i64) -> Result<Priority, InfraError> {
    Priority::from_rank(3 - v).ok_or_else(|| bad_data(format!("tasks.priority: {v} out of range")))
}

/// The title's sort key (see `tasks.title_key` in the migration).
pub(crate) fn title_key(title: &Title) -> String {
    title.as_str().to_lowercase()
}

pub(crate) const TASK_COLUMNS: &str = "t.id, t.user_id, t.title, t.description, t.priority, \
     t.due_date, t.category_id, t.recurrence_rule, t.series_start, t.previous_task_id, \
     t.completed, t.completed_at, t.created_at, t.updated_at";

#[derive(Debug)]
pub(crate) struct TaskRow {
    pub id: i64,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub priority: i64,
    pub due_date: Option<i64>,
    pub category_id: Option<i64>,
    pub recurrence_rule: Option<String>,
    pub series_start: Option<i64>,
    pub previous_task_id: Option<i64>,
    pub completed: i64,
    pub completed_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

impl TaskRow {
    /// Reads a row of `TASK_COLUMNS`, in that order.
    pub fn read(row: &rusqlite::Row<'_>) -> Result<Self, InfraError> {
        let column = |e| sql("cannot read a task row", e);
        Ok(Self {
            id: row.get(0).map_err(column)?,
            user_id: row.get(1).map_err(column)?,
            title: row.get(2).map_err(column)?,
            description: row.get(3).map_err(column)?,
            priority: row.get(4).map_err(column)?,
            due_date: row.get(5).map_err(column)?,
            category_id: row.get(6).map_err(column)?,
            recurrence_rule: row.get(7).map_err(column)?,
            series_start: row.get(8).map_err(column)?,
            previous_task_id: row.get(9).map_err(column)?,
            completed: row.get(10).map_err(column)?,
            completed_at: row.get(11).map_err(column)?,
            created_at: row.get(12).map_err(column)?,
            updated_at: row.get(13).map_err(column)?,
        })
    }

    /// The task, without its tags and reminders (loaded separately, in bulk).
    pub fn into_task(self) -> Result<Task, InfraError> {
        let recurrence = match self.recurrence_rule {
            None => None,
            Some(raw) => Some(Recurrence {
                rule: RecurrenceRule::parse(&raw).map_err(|e| {
                    bad_data(format!("tasks.recurrence_rule of task {}: {e}", self.id))
                })?,
                series_start: opt_instant(self.series_start, "tasks.series_start")?,
                previous_task_id: self.previous_task_id.map(TaskId),
            }),
        };
        Ok(Task {
            id: TaskId(self.id),
            user_id: user_id(&self.user_id, "tasks.user_id")?,
            title: Title::from_stored(self.title)
                .map_err(|e| bad_data(format!("tasks.title of task {}: {e}", self.id)))?,
            description: self.description,
            priority: priority_from(self.priority)?,
            due_date: opt_instant(self.due_date, "tasks.due_date")?,
            category_id: self.category_id.map(CategoryId),
            tag_ids: Vec::new(),
            recurrence,
            completed: flag(self.completed, "tasks.completed")?,
            completed_at: opt_instant(self.completed_at, "tasks.completed_at")?,
            created_at: instant(self.created_at, "tasks.created_at")?,
            updated_at: instant(self.updated_at, "tasks.updated_at")?,
            reminders: Vec::new(),
        })
    }
}

pub(crate) const REMINDER_COLUMNS: &str = "r.id, r.task_id, r.minutes_before, r.remind_at, \
     r.status, r.fired_at, r.delivered_at, r.late, r.created_at";

#[derive(Debug)]
pub(crate) struct ReminderRow {
    pub id: i64,
    pub task_id: i64,
    pub minutes_before: Option<i64>,
    pub remind_at: i64,
    pub status: String,
    pub fired_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub late: i64,
    pub created_at: i64,
}

impl ReminderRow {
    /// Reads a row of `REMINDER_COLUMNS`, in that order.
    pub fn read(row: &rusqlite::Row<'_>) -> Result<Self, InfraError> {
        let column = |e| sql("cannot read a reminder row", e);
        Ok(Self {
            id: row.get(0).map_err(column)?,
            task_id: row.get(1).map_err(column)?,
            minutes_before: row.get(2).map_err(column)?,
            remind_at: row.get(3).map_err(column)?,
            status: row.get(4).map_err(column)?,
            fired_at: row.get(5).map_err(column)?,
            delivered_at: row.get(6).map_err(column)?,
            late: row.get(7).map_err(column)?,
            created_at: row.get(8).map_err(column)?,
        })
    }

    pub fn into_reminder(self) -> Result<Reminder, InfraError> {
        let minutes_before = self
            .minutes_before
            .map(|m| {
                u32::try_from(m)
                    .map_err(|_| bad_data(format!("reminders.minutes_before: {m} out of range")))
            })
            .transpose()?;
        Ok(Reminder {
            id: ReminderId(self.id),
            task_id: TaskId(self.task_id),
            minutes_before,
            remind_at: instant(self.remind_at, "reminders.remind_at")?,
            status: ReminderStatus::parse(&self.status).ok_or_else(|| {
                bad_data(format!(
                    "reminders.status: unknown status {:?}",
                    self.status
                ))
            })?,
            fired_at: opt_instant(self.fired_at, "reminders.fired_at")?,
            delivered_at: opt_instant(self.delivered_at, "reminders.delivered_at")?,
            late: flag(self.late, "reminders.late")?,
            created_at: instant(self.created_at, "reminders.created_at")?,
        })
    }
}

pub(crate) fn kind_str(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Category => "category",
        LabelKind::Tag => "tag",
    }
}

/// Label columns plus the number of tasks using the label (completed or not).
pub(crate) const LABEL_COLUMNS: &str = "l.id, l.user_id, l.kind, l.name, l.color, l.created_at, \
     CASE l.kind WHEN 'category' THEN (SELECT COUNT(*) FROM tasks t WHERE t.category_id = l.id) \
     ELSE (SELECT COUNT(*) FROM task_tags tt WHERE tt.tag_id = l.id) END AS task_count";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct LabelRow {
    pub id: i64,
    pub user_id: String,
    pub kind: String,
    pub name: String,
    pub color: Option<String>,
    pub created_at: i64,
    pub task_count: i64,
}

impl LabelRow {
    pub fn into_label(self) -> Result<Label, InfraError> {
        let kind = match self.kind.as_str() {
            "category" => LabelKind::Category,
            "tag" => LabelKind::Tag,
            other => return Err(bad_data(format!("labels.kind: unknown kind {other:?}"))),
        };
        Ok(Label {
            id: self.id,
            kind,
            user_id: user_id(&self.user_id, "labels.user_id")?,
            name: LabelName::from_stored(kind, self.name)
                .map_err(|e| bad_data(format!("labels.name of label {}: {e}", self.id)))?,
            color: self
                .color
                .map(|c| Color::parse(&c))
                .transpose()
                .map_err(|e| bad_data(format!("labels.color of label {}: {e}", self.id)))?,
            task_count: self.task_count,
            created_at: instant(self.created_at, "labels.created_at")?,
        })
    }
}

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct UserRow {
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub time_zone: String,
    pub default_reminder_minutes: Option<i64>,
}

impl UserRow {
    pub fn into_user(self) -> Result<User, InfraError> {
        Ok(User {
            id: user_id(&self.id, "users.id")?,
            email: self.email,
            name: self.name,
            time_zone: self.time_zone.parse().map_err(|_| {
                bad_data(format!(
                    "users.time_zone: unknown zone {:?}",
                    self.time_zone
                ))
            })?,
            default_reminder_minutes: self
                .default_reminder_minutes
                .map(|m| {
                    u32::try_from(m).map_err(|_| {
                        bad_data(format!("users.default_reminder_minutes: {m} out of range"))
                    })
                })
                .transpose()?,
        })
    }
}

fn user_id(raw: &str, column: &str) -> Result<UserId, InfraError> {
    UserId::parse(raw).map_err(|e| bad_data(format!("{column}: {e}")))
}
