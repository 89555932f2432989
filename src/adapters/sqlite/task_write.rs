//! Task writes. Each runs inside the group-commit writer's transaction (see `writer`): it checks
//! label ownership, writes the task, its tag links and reminders, and appends its events to the
//! outbox, so either all of it commits or none of it does.
//!
//! Nothing is read back: the returned task is the one written, with the ids the inserts assigned
//! and its instants truncated to the microsecond first (the storage precision), which is exactly
//! what a later `get` returns. The events are built from that same value.

use rusqlite::params;

use super::direct::{Db, Sql};
use super::error::{bad_data, sql, sql_repo};
use super::outbox::insert_events;
use super::rows::{micros, priority_value, title_key};
use super::tasks::{SqliteTaskRepository, load_task};
use crate::adapters::precision::truncate_task;
use crate::domain::change::TaskMutation;
use crate::domain::event::{TASK_CREATED, TASK_DELETED, task_events};
use crate::domain::reminder::Reminder;
use crate::domain::task::Task;
use crate::domain::{CategoryId, ReminderId, TagId, TaskId, UserId};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, WriteContext};

pub(crate) async fn create(
    repo_: &SqliteTaskRepository,
    draft: Task,
    ctx: &WriteContext,
) -> Result<Task, RepoError> {
    let ctx = ctx.clone();
    let saved = repo_
        .writer
        .run(move |db| insert_task(db, draft, ctx))
        .await?;
    repo_.wake.notify_one();
    Ok(saved)
}

fn insert_task(db: &Db, draft: Task, ctx: WriteContext) -> Result<Task, RepoError> {
    check_labels(db, &draft.user_id, draft.category_id, &draft.tag_ids)?;
    let mut task = truncate_task(draft);
    let recurrence = task.recurrence.as_ref();
    db.prepare_cached(
        "INSERT INTO tasks (user_id, title, title_key, description, priority, due_date, \
         category_id, recurrence_rule, series_start, previous_task_id, completed, completed_at, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            task.user_id.as_str(),
            task.title.as_str(),
            title_key(&task.title),
            task.description.as_deref(),
            priority_value(task.priority),
            task.due_date.map(micros),
            task.category_id.map(|c| c.0),
            recurrence.map(|r| r.rule.as_str()),
            recurrence.and_then(|r| r.series_start).map(micros),
            recurrence.and_then(|r| r.previous_task_id).map(|p| p.0),
            task.completed,
            task.completed_at.map(micros),
            micros(task.created_at),
            micros(task.updated_at),
        ])
    })
    .map_err(|e| sql_repo("cannot insert the task", e))?;
    task.id = TaskId(db.last_insert_rowid());
    write_tags(db, task.id, &task.tag_ids)?;
    for r in &mut task.reminders {
        r.task_id = task.id;
        r.id = insert_reminder(db, task.id, r)?;
    }
    let events = task_events(
        TASK_CREATED,
        &task,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(db, &events, ctx.now)?;
    Ok(task)
}

pub(crate) async fn update(
    repo_: &SqliteTaskRepository,
    user: &UserId,
    id: TaskId,
    mutate: Mutator,
    ctx: &WriteContext,
) -> Result<TaskMutation, RepoError> {
    let (user, ctx) = (user.clone(), ctx.clone());
    let mutation = repo_
        .writer
        .run(move |db| update_task(db, user, id, mutate, ctx))
        .await?;
    if mutation.event_type.is_some() {
        repo_.wake.notify_one();
    }
    Ok(mutation)
}

fn update_task(
    db: &Db,
    user: UserId,
    id: TaskId,
    mutate: Mutator,
    ctx: WriteContext,
) -> Result<TaskMutation, RepoError> {
    let current = load_task(db, Some(&user), id)?.ok_or(RepoError::NotFound)?;
    let mutation = mutate(current.clone())?;
    let Some(event_type) = mutation.event_type else {
        return Ok(mutation);
    };
    let mut new = truncate_task(mutation.task);
    // A mutation changes a task's content, never its identity.
    new.id = current.id;
    new.user_id = current.user_id.clone();
    new.created_at = current.created_at;
    check_labels(db, &user, new.category_id, &new.tag_ids)?;
    let recurrence = new.recurrence.as_ref();
    db.prepare_cached(
        "UPDATE tasks SET title = ?, title_key = ?, description = ?, priority = ?, due_date = ?, \
         category_id = ?, recurrence_rule = ?, series_start = ?, previous_task_id = ?, \
         completed = ?, completed_at = ?, updated_at = ? WHERE id = ? AND user_id = ?",
    )
    .and_then(|mut update| {
        update.execute(params![
            new.title.as_str(),
            title_key(&new.title),
            new.description.as_deref(),
            priority_value(new.priority),
            new.due_date.map(micros),
            new.category_id.map(|c| c.0),
            recurrence.map(|r| r.rule.as_str()),
            recurrence.and_then(|r| r.series_start).map(micros),
            recurrence.and_then(|r| r.previous_task_id).map(|p| p.0),
            new.completed,
            new.completed_at.map(micros),
            micros(new.updated_at),
            id.0,
            user.as_str(),
        ])
    })
    .map_err(|e| sql_repo("cannot update the task", e))?;
    if new.tag_ids != current.tag_ids {
        db.execute("DELETE FROM task_tags WHERE task_id = ?", [id.0])
            .map_err(|e| sql("cannot replace task tags", e))?;
        write_tags(db, id, &new.tag_ids)?;
    }
    sync_reminders(db, id, &current.reminders, &mut new.reminders)?;
    let events = task_events(
        event_type,
        &new,
        &mutation.changed_fields,
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(db, &events, ctx.now)?;
    Ok(TaskMutation {
        task: new,
        event_type: Some(event_type),
        changed_fields: mutation.changed_fields,
    })
}

pub(crate) async fn delete(
    repo_: &SqliteTaskRepository,
    user: &UserId,
    id: TaskId,
    ctx: &WriteContext,
) -> Result<Task, RepoError> {
    let (user, ctx) = (user.clone(), ctx.clone());
    let gone = repo_
        .writer
        .run(move |db| delete_task(db, user, id, ctx))
        .await?;
    repo_.wake.notify_one();
    Ok(gone)
}

fn delete_task(db: &Db, user: UserId, id: TaskId, ctx: WriteContext) -> Result<Task, RepoError> {
    let current = load_task(db, Some(&user), id)?.ok_or(RepoError::NotFound)?;
    // Tag links and reminders go with it (ON DELETE CASCADE); the FTS trigger unindexes it.
    db.execute(
        "DELETE FROM tasks WHERE id = ? AND user_id = ?",
        params![id.0, user.as_str()],
    )
    .map_err(|e| sql("cannot delete the task", e))?;
    let events = task_events(
        TASK_DELETED,
        &current,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(db, &events, ctx.now)?;
    Ok(current)
}

/// The category and every tag must be the user's own labels of the right kind. Checked inside the
/// write transaction, so a label deleted concurrently cannot slip through.
fn check_labels(
    db: &Db,
    user: &UserId,
    category: Option<CategoryId>,
    tags: &[TagId],
) -> Result<(), RepoError> {
    if let Some(c) = category {
        let found = db
            .prepare_cached(
                "SELECT 1 FROM labels WHERE id = ? AND user_id = ? AND kind = 'category'",
            )
            .and_then(|mut s| s.exists(params![c.0, user.as_str()]))
            .map_err(|e| sql("cannot check the category", e))?;
        if !found {
            return Err(RepoError::CategoryNotFound(c));
        }
    }
    if !tags.is_empty() {
        let mut q = Sql::new("SELECT id FROM labels WHERE kind = 'tag' AND user_id = ");
        q.bind(user.as_str().to_owned()).push(" AND id IN (");
        q.ids(tags.iter().map(|t| t.0)).push(")");
        let found = q.rows(db, "cannot check the tags", |row| {
            row.get::<_, i64>(0)
                .map_err(|e| sql("cannot check the tags", e))
        })?;
        if let Some(missing) = tags.iter().find(|t| !found.contains(&t.0)) {
            return Err(RepoError::TagNotFound(*missing));
        }
    }
    Ok(())
}

/// One statement for all of a task's tags (a task has at most a few dozen, far below SQLite's
/// bound-parameter limit).
fn write_tags(db: &Db, task: TaskId, tags: &[TagId]) -> Result<(), InfraError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut q = Sql::new("INSERT INTO task_tags (task_id, tag_id, position) VALUES ");
    for (position, tag) in (0_i64..).zip(tags) {
        if position > 0 {
            q.push(", ");
        }
        q.push("(")
            .bind(task.0)
            .push(", ")
            .bind(tag.0)
            .push(", ")
            .bind(position)
            .push(")");
    }
    db.prepare_cached(&q.text)
        .and_then(|mut s| s.execute(rusqlite::params_from_iter(&q.params)))
        .map_err(|e| sql("cannot link the tags", e))?;
    Ok(())
}

/// Inserts one reminder and returns the id it got.
fn insert_reminder(db: &Db, task: TaskId, r: &Reminder) -> Result<ReminderId, InfraError> {
    db.prepare_cached(
        "INSERT INTO reminders (task_id, minutes_before, remind_at, status, fired_at, \
         delivered_at, late, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .and_then(|mut insert| {
        insert.execute(params![
            task.0,
            r.minutes_before.map(i64::from),
            micros(r.remind_at),
            r.status.as_str(),
            r.fired_at.map(micros),
            r.delivered_at.map(micros),
            r.late,
            micros(r.created_at),
        ])
    })
    .map_err(|e| sql("cannot insert a reminder", e))?;
    Ok(ReminderId(db.last_insert_rowid()))
}

/// Makes the stored reminders equal `new`: id 0 is inserted (and gets its id in `new`), known
/// ids are updated when they changed, stored ones missing from `new` are deleted. An id that is
/// not one of this task's reminders is a bug in the mutation and fails the write. Leaves `new`
/// ordered by id, the order a read returns.
fn sync_reminders(
    db: &Db,
    task: TaskId,
    current: &[Reminder],
    new: &mut [Reminder],
) -> Result<(), InfraError> {
    for r in new.iter_mut() {
        if r.id.0 == 0 {
            r.task_id = task;
            r.id = insert_reminder(db, task, r)?;
            continue;
        }
        match current.iter().find(|c| c.id == r.id) {
            None => {
                return Err(bad_data(format!(
                    "reminder {} does not belong to task {task}",
                    r.id
                )));
            }
            Some(c) if c == r => {}
            Some(_) => {
                db.prepare_cached(
                    "UPDATE reminders SET minutes_before = ?, remind_at = ?, status = ?, \
                     fired_at = ?, delivered_at = ?, late = ? WHERE id = ? AND task_id = ?",
                )
                .and_then(|mut update| {
                    update.execute(params![
                        r.minutes_before.map(i64::from),
                        micros(r.remind_at),
                        r.status.as_str(),
                        r.fired_at.map(micros),
                        r.delivered_at.map(micros),
                        r.late,
                        r.id.0,
                        task.0,
                    ])
                })
                .map_err(|e| sql("cannot update a reminder", e))?;
            }
        }
    }
    new.sort_by_key(|r| r.id);
    for gone in current.iter().filter(|c| !new.iter().any(|r| r.id == c.id)) {
        db.execute("DELETE FROM reminders WHERE id = ?", [gone.id.0])
            .map_err(|e| sql("cannot delete a reminder", e))?;
    }
    Ok(())
}
