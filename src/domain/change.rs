//! How a task changes. Each function takes the current task and returns the whole new state plus
//! the event it produces; repositories persist the result and its event in one transaction, so the
//! rules live here once instead of in every adapter.

use chrono::{DateTime, Utc};

use super::event::{TASK_COMPLETED, TASK_UPDATED};
use super::recurrence::RecurrenceRule;
use super::reminder::{self, PlannedReminder, Redate, Reminder, ReminderStatus};
use super::task::{NewTask, Patch, Recurrence, Task, TaskPatch};
use super::{ErrorCode, TagId, TaskId, UserId, ValidationError};

/// The new state of a task and the event to record with it (`None`: nothing changed).
#[derive(Debug, Clone, PartialEq)]
pub struct TaskMutation {
    pub task: Task,
    pub event_type: Option<&'static str>,
    pub changed_fields: Vec<&'static str>,
}

impl TaskMutation {
    fn unchanged(task: Task) -> Self {
        Self {
            task,
            event_type: None,
            changed_fields: Vec::new(),
        }
    }
}

/// A task ready to insert (id 0, reminders id 0); its event is `task.created`.
pub fn create(
    user: &UserId,
    new: NewTask,
    user_default_reminder: Option<u32>,
    now: DateTime<Utc>,
) -> Result<Task, ValidationError> {
    let planned = reminder::plan(
        new.reminders.as_deref(),
        new.due_date,
        user_default_reminder,
        now,
    )?;
    Ok(Task {
        id: TaskId(0),
        user_id: user.clone(),
        title: new.title,
        description: new.description,
        priority: new.priority,
        due_date: new.due_date,
        category_id: new.category_id,
        tag_ids: new.tag_ids,
        recurrence: new.recurrence.map(|r| Recurrence {
            series_start: r.series_start.or(new.due_date),
            ..r
        }),
        completed: false,
        completed_at: None,
        created_at: now,
        updated_at: now,
        reminders: planned
            .into_iter()
            .map(|p| Reminder::planned(TaskId(0), p, now))
            .collect(),
    })
}

/// Applies a validated patch. Re-dating moves relative reminders; replacing reminders cancels the
/// pending ones; completing cancels them; reopening restores the ones still in the future.
pub fn apply_patch(
    mut task: Task,
    patch: TaskPatch,
    now: DateTime<Utc>,
) -> Result<TaskMutation, ValidationError> {
    if patch.is_empty() {
        return Err(ValidationError::new(
            ErrorCode::InvalidRequest,
            "body",
            "Must provide at least one field to update (title, description, priority, due_date, category_id, tag_ids, recurrence_rule, completed, reminders)",
        ));
    }
    let changed = patch.changed_fields();
    let was_completed = task.completed;
    if let Some(t) = patch.title {
        task.title = t;
    }
    task.description = patch.description.apply(task.description.take());
    if let Some(p) = patch.priority {
        task.priority = p;
    }
    task.category_id = patch.category_id.apply(task.category_id.take());
    if let Some(tags) = patch.tag_ids {
        task.tag_ids = tags;
    }
    if !patch.due_date.is_keep() {
        task.due_date = patch.due_date.apply(task.due_date.take());
        redate_reminders(&mut task.reminders, task.due_date, now);
    }
    match patch.recurrence_rule {
        Patch::Keep => {}
        Patch::Clear => task.recurrence = None,
        Patch::Set(rule) => set_rule(&mut task, rule),
    }
    if let Some(specs) = patch.reminders {
        let planned = reminder::plan(Some(&specs), task.due_date, None, now)?;
        replace_reminders(&mut task, &planned, now);
    }
    let mut event_type = TASK_UPDATED;
    match patch.completed {
        Some(true) if !was_completed => {
            mark_completed(&mut task, now);
            event_type = TASK_COMPLETED;
        }
        Some(false) if was_completed => mark_reopened(&mut task, now),
        _ => {}
    }
    task.updated_at = now;
    Ok(TaskMutation {
        task,
        event_type: Some(event_type),
        changed_fields: changed,
    })
}

/// An update must change something; saying so beats a silent no-op.
pub fn require_some_field(patch: &TaskPatch) -> Result<(), ValidationError> {
    if patch.is_empty() {
        return Err(ValidationError::new(
            ErrorCode::InvalidRequest,
            "body",
            "Must provide at least one field to update (title, description, priority, due_date, category_id, tag_ids, recurrence_rule, completed, reminders)",
        ));
    }
    Ok(())
}

/// Completing twice is a no-op: no second event, so no second occurrence of a recurring task.
pub fn complete(mut task: Task, now: DateTime<Utc>) -> TaskMutation {
    if task.completed {
        return TaskMutation::unchanged(task);
    }
    mark_completed(&mut task, now);
    task.updated_at = now;
    TaskMutation {
        task,
        event_type: Some(TASK_COMPLETED),
        changed_fields: vec!["completed"],
    }
}

pub fn reopen(mut task: Task, now: DateTime<Utc>) -> TaskMutation {
    if !task.completed {
        return TaskMutation::unchanged(task);
    }
    mark_reopened(&mut task, now);
    task.updated_at = now;
    TaskMutation {
        task,
        event_type: Some(TASK_UPDATED),
        changed_fields: vec!["completed"],
    }
}

/// Outcome of linking a tag, kept distinct for the seed's `already_assigned` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagLink {
    Added,
    AlreadyAssigned,
    Removed,
    NotAssigned,
}

/// Adding a tag that is already there is answered before the limit check (unlike the seed, where a
/// task with ten tags could not be re-tagged idempotently).
pub fn add_tag(
    mut task: Task,
    tag: TagId,
    now: DateTime<Utc>,
) -> Result<(TaskMutation, TagLink), ValidationError> {
    if task.tag_ids.contains(&tag) {
        return Ok((TaskMutation::unchanged(task), TagLink::AlreadyAssigned));
    }
    if task.tag_ids.len() >= super::task::MAX_TAGS_PER_TASK {
        return Err(ValidationError::new(
            ErrorCode::TooManyTags,
            "tag_id",
            "Maximum 10 tags per task exceeded",
        ));
    }
    task.tag_ids.push(tag);
    task.updated_at = now;
    Ok((
        TaskMutation {
            task,
            event_type: Some(TASK_UPDATED),
            changed_fields: vec!["tag_ids"],
        },
        TagLink::Added,
    ))
}

pub fn remove_tag(mut task: Task, tag: TagId, now: DateTime<Utc>) -> (TaskMutation, TagLink) {
    let before = task.tag_ids.len();
    task.tag_ids.retain(|t| *t != tag);
    if task.tag_ids.len() == before {
        return (TaskMutation::unchanged(task), TagLink::NotAssigned);
    }
    task.updated_at = now;
    (
        TaskMutation {
            task,
            event_type: Some(TASK_UPDATED),
            changed_fields: vec!["tag_ids"],
        },
        TagLink::Removed,
    )
}

/// Adds reminders to a task (MCP `set_reminder`, `POST /tasks/{id}/reminders`).
pub fn add_reminders(
    mut task: Task,
    planned: &[PlannedReminder],
    now: DateTime<Utc>,
) -> Result<TaskMutation, ValidationError> {
    let pending = task.reminders.iter().filter(|r| r.is_pending()).count();
    if pending + planned.len() > reminder::MAX_REMINDERS_PER_TASK {
        return Err(ValidationError::new(
            ErrorCode::TooManyReminders,
            "reminders",
            format!(
                "Maximum {} reminders per task",
                reminder::MAX_REMINDERS_PER_TASK
            ),
        ));
    }
    let id = task.id;
    task.reminders
        .extend(planned.iter().map(|p| Reminder::planned(id, *p, now)));
    task.updated_at = now;
    Ok(TaskMutation {
        task,
        event_type: Some(TASK_UPDATED),
        changed_fields: vec!["reminders"],
    })
}

/// Cancels one pending reminder; `None` when the task has no such pending reminder.
pub fn cancel_reminder(
    mut task: Task,
    id: super::ReminderId,
    now: DateTime<Utc>,
) -> Option<TaskMutation> {
    let r = task
        .reminders
        .iter_mut()
        .find(|r| r.id == id && r.is_pending())?;
    r.status = ReminderStatus::Cancelled;
    task.updated_at = now;
    Some(TaskMutation {
        task,
        event_type: Some(TASK_UPDATED),
        changed_fields: vec!["reminders"],
    })
}

fn set_rule(task: &mut Task, rule: RecurrenceRule) {
    let previous = task.recurrence.take();
    task.recurrence = Some(Recurrence {
        series_start: task.due_date,
        previous_task_id: previous.and_then(|p| p.previous_task_id),
        rule,
    });
}

fn redate_reminders(reminders: &mut [Reminder], due: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    for r in reminders.iter_mut() {
        match reminder::redate(r, due, now) {
            Redate::Keep => {}
            Redate::MoveTo(at) => r.remind_at = at,
            Redate::Cancel => r.status = ReminderStatus::Cancelled,
        }
    }
}

fn replace_reminders(task: &mut Task, planned: &[PlannedReminder], now: DateTime<Utc>) {
    for r in task.reminders.iter_mut().filter(|r| r.is_pending()) {
        r.status = ReminderStatus::Cancelled;
    }
    let id = task.id;
    task.reminders
        .extend(planned.iter().map(|p| Reminder::planned(id, *p, now)));
}

fn mark_completed(task: &mut Task, now: DateTime<Utc>) {
    task.completed = true;
    task.completed_at = Some(now);
    for r in task.reminders.iter_mut().filter(|r| r.is_pending()) {
        r.status = ReminderStatus::Cancelled;
    }
}

fn mark_reopened(task: &mut Task, now: DateTime<Utc>) {
    task.completed = false;
    task.completed_at = None;
    for r in task.reminders.iter_mut() {
        if r.status == ReminderStatus::Cancelled && r.fired_at.is_none() && r.remind_at > now {
            r.status = ReminderStatus::Scheduled;
        }
    }
}
