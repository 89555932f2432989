//! The background roles' reminder methods (not user-scoped).

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use sqlx::SqlitePool;

use super::direct::{Db, Sql, with_db};
use super::error::{bad_data, infra, sql};
use super::outbox::insert_events;
use super::rows::{REMINDER_COLUMNS, ReminderRow, TASK_COLUMNS, micros};
use super::tasks::{SqliteTaskRepository, fetch_tasks, load_task};
use crate::adapters::reminder_batch;
use crate::domain::event::{OutgoingEvent, TASK_UPDATED, task_events};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ReminderId, TaskId};
use crate::ports::{RepoError, WriteContext};

/// Two statements whatever the number of ids (the reminders, then their tasks with children),
/// on one connection outside a transaction: a task deleted in between leaves its reminder out.
pub(crate) fn reminders(db: &Db, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError> {
    let mut q = Sql::new(format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r WHERE r.id IN ("
    ));
    q.ids(ids.iter().map(|id| id.0)).push(")");
    let found = q.rows(db, "cannot read reminders", |row| {
        ReminderRow::read(row)?.into_reminder()
    })?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id IN ("
    ));
    q.ids(reminder_batch::task_ids(&found)).push(")");
    let tasks = fetch_tasks(db, &q)?;
    Ok(reminder_batch::with_their_tasks(found, tasks))
}

/// A conditional UPDATE is the idempotency check: only one caller can flip a pending reminder
/// whose instant is still the expected one, and only that caller writes the event.
pub(crate) async fn fire(
    repo: &SqliteTaskRepository,
    id: ReminderId,
    expected_remind_at: DateTime<Utc>,
    fired_at: DateTime<Utc>,
    late: bool,
    event: OutgoingEvent,
) -> Result<bool, RepoError> {
    let fired = repo
        .writer
        .run(move |db| {
            let fired = db
                .prepare_cached(
                    "UPDATE reminders SET fired_at = ?, late = ? \
                     WHERE id = ? AND status = 'scheduled' AND fired_at IS NULL AND remind_at = ?",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        micros(fired_at),
                        late,
                        id.0,
                        micros(expected_remind_at)
                    ])
                })
                .map_err(|e| sql("cannot mark the reminder fired", e))?
                == 1;
            if fired {
                insert_events(db, std::slice::from_ref(&event), fired_at)?;
            }
            Ok::<_, RepoError>(fired)
        })
        .await?;
    if fired {
        repo.wake.notify_one();
    }
    Ok(fired)
}

/// A reminder that is gone (its task was deleted after it fired) is not an error: the delivery
/// that reports its outcome has nothing left to update, and failing it would only make the e-mail
/// role retry in vain.
pub(crate) async fn finish(
    repo: &SqliteTaskRepository,
    id: ReminderId,
    status: ReminderStatus,
    ctx: &WriteContext,
) -> Result<(), RepoError> {
    let ctx = ctx.clone();
    let wrote = repo
        .writer
        .run(move |db| record_outcome(db, id, status, ctx))
        .await?;
    if wrote {
        repo.wake.notify_one();
    }
    Ok(())
}

/// Whether anything changed (and so an event was written).
fn record_outcome(
    db: &Db,
    id: ReminderId,
    status: ReminderStatus,
    ctx: WriteContext,
) -> Result<bool, RepoError> {
    let task_id: Option<i64> = db
        .prepare_cached(
            "UPDATE reminders SET status = ?, delivered_at = ? WHERE id = ? AND status <> ? \
             RETURNING task_id",
        )
        .and_then(|mut s| {
            s.query_row(
                params![status.as_str(), micros(ctx.now), id.0, status.as_str()],
                |row| row.get(0),
            )
            .optional()
        })
        .map_err(|e| sql("cannot record the reminder's outcome", e))?;
    let Some(task_id) = task_id else {
        return Ok(false);
    };
    let task = load_task(db, None, TaskId(task_id))?
        .ok_or_else(|| bad_data(format!("reminder {id} has no task {task_id}")))?;
    let events = task_events(
        TASK_UPDATED,
        &task,
        &["reminders"],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(db, &events, ctx.now)?;
    Ok(true)
}

pub(crate) async fn pending(
    pool: &SqlitePool,
    after: ReminderId,
    limit: u32,
) -> Result<Vec<Reminder>, RepoError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| infra("cannot get a database connection", e))?;
    let mut sql_ = Sql::new(format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r \
         WHERE r.status = 'scheduled' AND r.fired_at IS NULL AND r.id > "
    ));
    sql_.bind(after.0)
        .push(" ORDER BY r.id LIMIT ")
        .bind(i64::from(limit));
    Ok(with_db(&mut conn, |db| {
        sql_.rows(db, "cannot list pending reminders", |row| {
            ReminderRow::read(row)?.into_reminder()
        })
    })
    .await??)
}
