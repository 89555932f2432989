//! Task writes. Each runs inside the group-commit writer's transaction (see `writer`): it checks
//! label ownership, writes the task, its tag links and reminders, and appends its events to the
//! outbox, so either all of it commits or none of it does.
//!
//! Nothing is read back: the returned task is the one written, with the ids the inserts assigned
//! and its instants truncated to the microsecond first (the storage precision), which is exactly
//! what a later `get` returns. The events are built from that same value.

use futures::FutureExt;
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::error::{bad_data, infra, repo};
use super::outbox::insert_events;
use super::rows::{micros, priority_value, title_key};
use super::tasks::{SqliteTaskRepository, load_task, push_ids};
use crate::adapters::precision::truncate_task;
use crate::domain::change::TaskMutation;
use crate::domain::event::{TASK_CREATED, TASK_DELETED, task_events};
use crate::domain::reminder::Reminder;
use crate::domain::task::Task;
use crate::domain::{CategoryId, ReminderId, TagId, TaskId, UserId};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, WriteContext};

pub(crate) async fn begin(
    pool: &sqlx::SqlitePool,
) -> Result<Transaction<'static, Sqlite>, InfraError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| infra("cannot start a write transaction", e))
}

pub(crate) async fn commit(tx: Transaction<'static, Sqlite>) -> Result<(), InfraError> {
    tx.commit()
        .await
        .map_err(|e| infra("cannot commit the write transaction", e))
}

pub(crate) async fn create(
    repo_: &SqliteTaskRepository,
    draft: Task,
    ctx: &WriteContext,
) -> Result<Task, RepoError> {
    let ctx = ctx.clone();
    let saved = repo_
        .writer
        .run(move |conn| insert_task(conn, draft, ctx).boxed())
        .await?;
    repo_.wake.notify_one();
    Ok(saved)
}

async fn insert_task(
    conn: &mut SqliteConnection,
    draft: Task,
    ctx: WriteContext,
) -> Result<Task, RepoError> {
    check_labels(conn, &draft.user_id, draft.category_id, &draft.tag_ids).await?;
    let mut task = truncate_task(draft);
    let recurrence = task.recurrence.as_ref();
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tasks (user_id, title, title_key, description, priority, due_date, \
         category_id, recurrence_rule, series_start, previous_task_id, completed, completed_at, \
         created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(task.user_id.as_str())
    .bind(task.title.as_str())
    .bind(title_key(&task.title))
    .bind(task.description.as_deref())
    .bind(priority_value(task.priority))
    .bind(task.due_date.map(micros))
    .bind(task.category_id.map(|c| c.0))
    .bind(recurrence.map(|r| r.rule.as_str()))
    .bind(recurrence.and_then(|r| r.series_start).map(micros))
    .bind(recurrence.and_then(|r| r.previous_task_id).map(|p| p.0))
    .bind(task.completed)
    .bind(task.completed_at.map(micros))
    .bind(micros(task.created_at))
    .bind(micros(task.updated_at))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| repo("cannot insert the task", e))?;
    task.id = TaskId(id);
    write_tags(conn, task.id, &task.tag_ids).await?;
    for r in &mut task.reminders {
        r.task_id = task.id;
        r.id = insert_reminder(conn, task.id, r).await?;
    }
    let events = task_events(
        TASK_CREATED,
        &task,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(conn, &events, ctx.now).await?;
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
        .run(move |conn| update_task(conn, user, id, mutate, ctx).boxed())
        .await?;
    if mutation.event_type.is_some() {
        repo_.wake.notify_one();
    }
    Ok(mutation)
}

async fn update_task(
    conn: &mut SqliteConnection,
    user: UserId,
    id: TaskId,
    mutate: Mutator,
    ctx: WriteContext,
) -> Result<TaskMutation, RepoError> {
    let current = load_task(conn, Some(&user), id)
        .await?
        .ok_or(RepoError::NotFound)?;
    let mutation = mutate(current.clone())?;
    let Some(event_type) = mutation.event_type else {
        return Ok(mutation);
    };
    let mut new = truncate_task(mutation.task);
    // A mutation changes a task's content, never its identity.
    new.id = current.id;
    new.user_id = current.user_id.clone();
    new.created_at = current.created_at;
    check_labels(conn, &user, new.category_id, &new.tag_ids).await?;
    let recurrence = new.recurrence.as_ref();
    sqlx::query(
        "UPDATE tasks SET title = ?, title_key = ?, description = ?, priority = ?, due_date = ?, \
         category_id = ?, recurrence_rule = ?, series_start = ?, previous_task_id = ?, \
         completed = ?, completed_at = ?, updated_at = ? WHERE id = ? AND user_id = ?",
    )
    .bind(new.title.as_str())
    .bind(title_key(&new.title))
    .bind(new.description.as_deref())
    .bind(priority_value(new.priority))
    .bind(new.due_date.map(micros))
    .bind(new.category_id.map(|c| c.0))
    .bind(recurrence.map(|r| r.rule.as_str()))
    .bind(recurrence.and_then(|r| r.series_start).map(micros))
    .bind(recurrence.and_then(|r| r.previous_task_id).map(|p| p.0))
    .bind(new.completed)
    .bind(new.completed_at.map(micros))
    .bind(micros(new.updated_at))
    .bind(id.0)
    .bind(user.as_str())
    .execute(&mut *conn)
    .await
    .map_err(|e| repo("cannot update the task", e))?;
    if new.tag_ids != current.tag_ids {
        sqlx::query("DELETE FROM task_tags WHERE task_id = ?")
            .bind(id.0)
            .execute(&mut *conn)
            .await
            .map_err(|e| infra("cannot replace task tags", e))?;
        write_tags(conn, id, &new.tag_ids).await?;
    }
    sync_reminders(conn, id, &current.reminders, &mut new.reminders).await?;
    let events = task_events(
        event_type,
        &new,
        &mutation.changed_fields,
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(conn, &events, ctx.now).await?;
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
        .run(move |conn| delete_task(conn, user, id, ctx).boxed())
        .await?;
    repo_.wake.notify_one();
    Ok(gone)
}

async fn delete_task(
    conn: &mut SqliteConnection,
    user: UserId,
    id: TaskId,
    ctx: WriteContext,
) -> Result<Task, RepoError> {
    let current = load_task(conn, Some(&user), id)
        .await?
        .ok_or(RepoError::NotFound)?;
    // Tag links and reminders go with it (ON DELETE CASCADE); the FTS trigger unindexes it.
    sqlx::query("DELETE FROM tasks WHERE id = ? AND user_id = ?")
        .bind(id.0)
        .bind(user.as_str())
        .execute(&mut *conn)
        .await
        .map_err(|e| infra("cannot delete the task", e))?;
    let events = task_events(
        TASK_DELETED,
        &current,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(conn, &events, ctx.now).await?;
    Ok(current)
}

/// The category and every tag must be the user's own labels of the right kind. Checked inside the
/// write transaction, so a label deleted concurrently cannot slip through.
async fn check_labels(
    conn: &mut SqliteConnection,
    user: &UserId,
    category: Option<CategoryId>,
    tags: &[TagId],
) -> Result<(), RepoError> {
    if let Some(c) = category {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM labels WHERE id = ? AND user_id = ? AND kind = 'category'",
        )
        .bind(c.0)
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| infra("cannot check the category", e))?;
        if found.is_none() {
            return Err(RepoError::CategoryNotFound(c));
        }
    }
    if !tags.is_empty() {
        let mut qb = sqlx::QueryBuilder::<Sqlite>::new(
            "SELECT id FROM labels WHERE kind = 'tag' AND user_id = ",
        );
        qb.push_bind(user.as_str().to_owned()).push(" AND id IN (");
        push_ids(&mut qb, tags.iter().map(|t| t.0));
        qb.push(")");
        let found: Vec<i64> = qb
            .build_query_scalar()
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| infra("cannot check the tags", e))?;
        if let Some(missing) = tags.iter().find(|t| !found.contains(&t.0)) {
            return Err(RepoError::TagNotFound(*missing));
        }
    }
    Ok(())
}

/// One statement for all of a task's tags (a task has at most a few dozen, far below SQLite's
/// bound-parameter limit).
async fn write_tags(
    conn: &mut SqliteConnection,
    task: TaskId,
    tags: &[TagId],
) -> Result<(), InfraError> {
    if tags.is_empty() {
        return Ok(());
    }
    let mut qb =
        sqlx::QueryBuilder::<Sqlite>::new("INSERT INTO task_tags (task_id, tag_id, position) ");
    qb.push_values((0_i64..).zip(tags), |mut row, (position, tag)| {
        row.push_bind(task.0).push_bind(tag.0).push_bind(position);
    });
    qb.build()
        .execute(&mut *conn)
        .await
        .map_err(|e| infra("cannot link the tags", e))?;
    Ok(())
}

/// Inserts one reminder and returns the id it got.
async fn insert_reminder(
    conn: &mut SqliteConnection,
    task: TaskId,
    r: &Reminder,
) -> Result<ReminderId, InfraError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO reminders (task_id, minutes_before, remind_at, status, fired_at, \
         delivered_at, late, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(task.0)
    .bind(r.minutes_before.map(i64::from))
    .bind(micros(r.remind_at))
    .bind(r.status.as_str())
    .bind(r.fired_at.map(micros))
    .bind(r.delivered_at.map(micros))
    .bind(r.late)
    .bind(micros(r.created_at))
    .fetch_one(&mut *conn)
    .await
    .map_err(|e| infra("cannot insert a reminder", e))?;
    Ok(ReminderId(id))
}

/// Makes the stored reminders equal `new`: id 0 is inserted (and gets its id in `new`), known
/// ids are updated when they changed, stored ones missing from `new` are deleted. An id that is
/// not one of this task's reminders is a bug in the mutation and fails the write. Leaves `new`
/// ordered by id, the order a read returns.
async fn sync_reminders(
    conn: &mut SqliteConnection,
    task: TaskId,
    current: &[Reminder],
    new: &mut [Reminder],
) -> Result<(), InfraError> {
    for r in new.iter_mut() {
        if r.id.0 == 0 {
            r.task_id = task;
            r.id = insert_reminder(conn, task, r).await?;
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
                sqlx::query(
                    "UPDATE reminders SET minutes_before = ?, remind_at = ?, status = ?, \
                     fired_at = ?, delivered_at = ?, late = ? WHERE id = ? AND task_id = ?",
                )
                .bind(r.minutes_before.map(i64::from))
                .bind(micros(r.remind_at))
                .bind(r.status.as_str())
                .bind(r.fired_at.map(micros))
                .bind(r.delivered_at.map(micros))
                .bind(r.late)
                .bind(r.id.0)
                .bind(task.0)
                .execute(&mut *conn)
                .await
                .map_err(|e| infra("cannot update a reminder", e))?;
            }
        }
    }
    new.sort_by_key(|r| r.id);
    for gone in current.iter().filter(|c| !new.iter().any(|r| r.id == c.id)) {
        sqlx::query("DELETE FROM reminders WHERE id = ?")
            .bind(gone.id.0)
            .execute(&mut *conn)
            .await
            .map_err(|e| infra("cannot delete a reminder", e))?;
    }
    Ok(())
}
