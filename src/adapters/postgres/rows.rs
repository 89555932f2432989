//! Row <-> domain mapping. Reading never panics: a value the domain cannot represent becomes a
//! permanent `InfraError` naming the column.

use chrono::{DateTime, Utc};

use super::error::bad_data;
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::query::importance;
use crate::domain::recurrence::RecurrenceRule;
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::{Priority, Recurrence, Task, Title};
use crate::domain::user::User;
use crate::domain::{CategoryId, ReminderId, TagId, TaskId, UserId, ValidationError};
use crate::ports::{InfraError, RepoError};

pub(crate) use crate::adapters::precision::{micro, truncate_task};

/// `t` rounded up to the microsecond.
pub(crate) fn micro_ceil(t: DateTime<Utc>) -> DateTime<Utc> {
    let down = micro(t);
    if down == t {
        t
    } else {
        down + chrono::Duration::microseconds(1)
    }
}

/// PostgreSQL text cannot hold NUL characters (Rust strings and SQLite can): refuse them as
/// invalid input instead of failing the statement with an infrastructure error.
pub(crate) fn no_nul(field: &'static str, value: &str) -> Result<(), RepoError> {
    if value.contains('\0') {
        return Err(RepoError::Invalid(ValidationError::invalid(
            field,
            "must not contain NUL characters",
        )));
    }
    Ok(())
}

/// The stored form of a priority: its importance (0 low … 3 urgent), so "priority desc" lists
/// urgent first and matches `domain::query::sort_value`.
pub(crate) fn priority_value(p: Priority) -> i16 {
    // Importance is 0..=3.
    importance(p) as i16
}

fn priority_from(v: i16) -> Result<Priority, InfraError> {
    Priority::from_rank(3 - i64::from(v))
        .ok_or_else(|| bad_data(format!("tasks.priority: {v} out of range")))
}

/// The title's sort key (see `tasks.title_key` in the migration).
pub(crate) fn title_key(title: &Title) -> String {
    title.as_str().to_lowercase()
}

/// The task's columns, its tag ids in order, and its reminders' columns as parallel arrays (one
/// LATERAL aggregate), so that a page of tasks with their children is one statement.
pub(crate) const TASK_COLUMNS: &str = "t.id, t.user_id, t.title, t.description, t.priority, \
     t.due_date, t.category_id, t.recurrence_rule, t.series_start, t.previous_task_id, \
     t.completed, t.completed_at, t.created_at, t.updated_at, \
     ARRAY(SELECT tt.tag_id FROM task_tags tt WHERE tt.task_id = t.id ORDER BY tt.position) \
     AS tag_ids, rm.r_id, rm.r_minutes, rm.r_remind_at, rm.r_status, rm.r_fired_at, \
     rm.r_delivered_at, rm.r_late, rm.r_created_at";

/// Joined after `FROM tasks t` (or a subquery aliased `t`) to provide the `rm.*` columns.
pub(crate) const REMINDERS_JOIN: &str = "LEFT JOIN LATERAL (SELECT \
     array_agg(r.id ORDER BY r.id) AS r_id, \
     array_agg(r.minutes_before ORDER BY r.id) AS r_minutes, \
     array_agg(r.remind_at ORDER BY r.id) AS r_remind_at, \
     array_agg(r.status ORDER BY r.id) AS r_status, \
     array_agg(r.fired_at ORDER BY r.id) AS r_fired_at, \
     array_agg(r.delivered_at ORDER BY r.id) AS r_delivered_at, \
     array_agg(r.late ORDER BY r.id) AS r_late, \
     array_agg(r.created_at ORDER BY r.id) AS r_created_at \
     FROM reminders r WHERE r.task_id = t.id) rm ON true";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct TaskRow {
    pub id: i64,
    pub user_id: String,
    pub title: String,
    pub description: Option<String>,
    pub priority: i16,
    pub due_date: Option<DateTime<Utc>>,
    pub category_id: Option<i64>,
    pub recurrence_rule: Option<String>,
    pub series_start: Option<DateTime<Utc>>,
    pub previous_task_id: Option<i64>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub tag_ids: Vec<i64>,
    // array_agg over no rows is NULL: a task without reminders.
    pub r_id: Option<Vec<i64>>,
    pub r_minutes: Option<Vec<Option<i64>>>,
    pub r_remind_at: Option<Vec<DateTime<Utc>>>,
    pub r_status: Option<Vec<String>>,
    pub r_fired_at: Option<Vec<Option<DateTime<Utc>>>>,
    pub r_delivered_at: Option<Vec<Option<DateTime<Utc>>>>,
    pub r_late: Option<Vec<bool>>,
    pub r_created_at: Option<Vec<DateTime<Utc>>>,
}

impl TaskRow {
    pub fn into_task(self) -> Result<Task, InfraError> {
        let id = self.id;
        let recurrence = match self.recurrence_rule {
            None => None,
            Some(raw) => Some(Recurrence {
                rule: RecurrenceRule::parse(&raw)
                    .map_err(|e| bad_data(format!("tasks.recurrence_rule of task {id}: {e}")))?,
                series_start: self.series_start,
                previous_task_id: self.previous_task_id.map(TaskId),
            }),
        };
        let reminders = reminders_of(
            id,
            self.r_id.unwrap_or_default(),
            self.r_minutes.unwrap_or_default(),
            self.r_remind_at.unwrap_or_default(),
            self.r_status.unwrap_or_default(),
            self.r_fired_at.unwrap_or_default(),
            self.r_delivered_at.unwrap_or_default(),
            self.r_late.unwrap_or_default(),
            self.r_created_at.unwrap_or_default(),
        )?;
        Ok(Task {
            id: TaskId(id),
            user_id: user_id(&self.user_id, "tasks.user_id")?,
            title: Title::from_stored(self.title)
                .map_err(|e| bad_data(format!("tasks.title of task {}: {e}", id)))?,
            description: self.description,
            priority: priority_from(self.priority)?,
            due_date: self.due_date,
            category_id: self.category_id.map(CategoryId),
            tag_ids: self.tag_ids.into_iter().map(TagId).collect(),
            recurrence,
            completed: self.completed,
            completed_at: self.completed_at,
            created_at: self.created_at,
            updated_at: self.updated_at,
            reminders,
        })
    }
}

#[allow(clippy::too_many_arguments)]
fn reminders_of(
    task: i64,
    ids: Vec<i64>,
    minutes: Vec<Option<i64>>,
    remind_at: Vec<DateTime<Utc>>,
    status: Vec<String>,
    fired_at: Vec<Option<DateTime<Utc>>>,
    delivered_at: Vec<Option<DateTime<Utc>>>,
    late: Vec<bool>,
    created_at: Vec<DateTime<Utc>>,
) -> Result<Vec<Reminder>, InfraError> {
    let n = ids.len();
    if [
        minutes.len(),
        remind_at.len(),
        status.len(),
        fired_at.len(),
        delivered_at.len(),
        late.len(),
        created_at.len(),
    ]
    .iter()
    .any(|&len| len != n)
    {
        return Err(bad_data(format!(
            "reminders of task {task}: columns of different lengths"
        )));
    }
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(reminder(
            ids[i],
            task,
            minutes[i],
            remind_at[i],
            &status[i],
            fired_at[i],
            delivered_at[i],
            late[i],
            created_at[i],
        )?);
    }
    Ok(out)
}

#[allow(clippy::too_many_arguments)]
fn reminder(
    id: i64,
    task_id: i64,
    minutes_before: Option<i64>,
    remind_at: DateTime<Utc>,
    status: &str,
    fired_at: Option<DateTime<Utc>>,
    delivered_at: Option<DateTime<Utc>>,
    late: bool,
    created_at: DateTime<Utc>,
) -> Result<Reminder, InfraError> {
    Ok(Reminder {
        id: ReminderId(id),
        task_id: TaskId(task_id),
        minutes_before: minutes_before
            .map(|m| {
                u32::try_from(m)
                    .map_err(|_| bad_data(format!("reminders.minutes_before: {m} out of range")))
            })
            .transpose()?,
        remind_at,
        status: ReminderStatus::parse(status)
            .ok_or_else(|| bad_data(format!("reminders.status: unknown status {status:?}")))?,
        fired_at,
        delivered_at,
        late,
        created_at,
    })
}

pub(crate) const REMINDER_COLUMNS: &str = "r.id, r.task_id, r.minutes_before, r.remind_at, \
     r.status, r.fired_at, r.delivered_at, r.late, r.created_at";

#[derive(Debug, sqlx::FromRow)]
pub(crate) struct ReminderRow {
    pub id: i64,
    pub task_id: i64,
    pub minutes_before: Option<i64>,
    pub remind_at: DateTime<Utc>,
    pub status: String,
    pub fired_at: Option<DateTime<Utc>>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub late: bool,
    pub created_at: DateTime<Utc>,
}

impl ReminderRow {
    pub fn into_reminder(self) -> Result<Reminder, InfraError> {
        reminder(
            self.id,
            self.task_id,
            self.minutes_before,
            self.remind_at,
            &self.status,
            self.fired_at,
            self.delivered_at,
            self.late,
            self.created_at,
        )
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
    pub created_at: DateTime<Utc>,
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
            created_at: self.created_at,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micro_truncates_nanoseconds_and_keeps_micros() {
        let t = DateTime::from_timestamp(1_700_000_000, 123_456_789).unwrap();
        assert_eq!(micro(t).timestamp_subsec_nanos(), 123_456_000);
        assert_eq!(micro(micro(t)), micro(t));
        assert_eq!(micro_ceil(t).timestamp_subsec_nanos(), 123_457_000);
        assert_eq!(micro_ceil(micro(t)), micro(t));
        // Before the epoch, truncation is still towards the past, as timestamp_micros is.
        let early = DateTime::from_timestamp(-10, 999_999_999).unwrap();
        assert_eq!(micro(early).timestamp_micros(), early.timestamp_micros());
    }

    #[test]
    fn nul_characters_are_invalid_input() {
        assert!(no_nul("title", "fine").is_ok());
        assert!(matches!(
            no_nul("title", "bad\0title"),
            Err(RepoError::Invalid(e)) if e.field == Some("title")
        ));
    }
}
