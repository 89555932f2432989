//! The background roles' reminder methods (not user-scoped).

use chrono::{DateTime, Utc};
use futures::FutureExt;
use sqlx::{SqliteConnection, SqlitePool};

use super::error::{bad_data, infra};
use super::outbox::insert_events;
use super::rows::{REMINDER_COLUMNS, ReminderRow, micros};
use super::tasks::{SqliteTaskRepository, load_task};
use crate::domain::event::{OutgoingEvent, TASK_UPDATED, task_events};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ReminderId, TaskId};
use crate::ports::{RepoError, WriteContext};

pub(crate) async fn reminder(
    conn: &mut SqliteConnection,
    id: ReminderId,
) -> Result<Option<(Reminder, Task)>, RepoError> {
    let row: Option<ReminderRow> = sqlx::query_as(&format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r WHERE r.id = ?"
    ))
    .bind(id.0)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| infra("cannot read the reminder", e))?;
    let Some(row) = row else { return Ok(None) };
    let reminder = row.into_reminder()?;
    // The reminder and its task are read on one connection outside a transaction; the task may
    // have been deleted in between, which reads as "no such reminder".
    Ok(load_task(conn, None, reminder.task_id)
        .await?
        .map(|task| (reminder, task)))
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
        .run(move |conn| {
            async move {
                let fired = sqlx::query(
                    "UPDATE reminders SET fired_at = ?, late = ? \
                     WHERE id = ? AND status = 'scheduled' AND fired_at IS NULL AND remind_at = ?",
                )
                .bind(micros(fired_at))
                .bind(late)
                .bind(id.0)
                .bind(micros(expected_remind_at))
                .execute(&mut *conn)
                .await
                .map_err(|e| infra("cannot mark the reminder fired", e))?
                .rows_affected()
                    == 1;
                if fired {
                    insert_events(conn, std::slice::from_ref(&event), fired_at).await?;
                }
                Ok::<_, RepoError>(fired)
            }
            .boxed()
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
        .run(move |conn| record_outcome(conn, id, status, ctx).boxed())
        .await?;
    if wrote {
        repo.wake.notify_one();
    }
    Ok(())
}

/// Whether anything changed (and so an event was written).
async fn record_outcome(
    conn: &mut SqliteConnection,
    id: ReminderId,
    status: ReminderStatus,
    ctx: WriteContext,
) -> Result<bool, RepoError> {
    let task_id: Option<i64> = sqlx::query_scalar(
        "UPDATE reminders SET status = ?, delivered_at = ? WHERE id = ? AND status <> ? \
         RETURNING task_id",
    )
    .bind(status.as_str())
    .bind(micros(ctx.now))
    .bind(id.0)
    .bind(status.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| infra("cannot record the reminder's outcome", e))?;
    let Some(task_id) = task_id else {
        return Ok(false);
    };
    let task = load_task(conn, None, TaskId(task_id))
        .await?
        .ok_or_else(|| bad_data(format!("reminder {id} has no task {task_id}")))?;
    let events = task_events(
        TASK_UPDATED,
        &task,
        &["reminders"],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    insert_events(conn, &events, ctx.now).await?;
    Ok(true)
}

pub(crate) async fn pending(
    pool: &SqlitePool,
    after: ReminderId,
    limit: u32,
) -> Result<Vec<Reminder>, RepoError> {
    let rows: Vec<ReminderRow> = sqlx::query_as(&format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r \
         WHERE r.status = 'scheduled' AND r.fired_at IS NULL AND r.id > ? ORDER BY r.id LIMIT ?"
    ))
    .bind(after.0)
    .bind(i64::from(limit))
    .fetch_all(pool)
    .await
    .map_err(|e| infra("cannot list pending reminders", e))?;
    Ok(rows
        .into_iter()
        .map(ReminderRow::into_reminder)
        .collect::<Result<_, _>>()?)
}
