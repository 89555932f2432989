//! The background roles' reminder methods (not user-scoped).
//!
//! Both writes take the task's row lock first, bumping its `revision`, as every writer of a task
//! does (see `task_write.rs`): a reminder never changes under a task update that holds the lock,
//! and the events of one task reach the outbox in commit order.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::{bad_data, infra};
use super::rows::{REMINDER_COLUMNS, ReminderRow, micro};
use super::task_write::{OutboxArrays, begin, commit, outbox_insert};
use super::tasks::{PgTaskRepository, fetch_tasks, load_task, select_tasks};
use crate::adapters::reminder_batch;
use crate::domain::event::{OutgoingEvent, TASK_UPDATED, task_events};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ReminderId, TaskId};
use crate::ports::{RepoError, WriteContext};

/// Two statements whatever the number of ids (the reminders, then their tasks with children),
/// outside a transaction: a task deleted in between leaves its reminder out.
pub(crate) async fn reminders(
    pool: &PgPool,
    ids: &[ReminderId],
) -> Result<Vec<(Reminder, Task)>, RepoError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| infra("cannot get a database connection", e))?;
    let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
    let rows: Vec<ReminderRow> = sqlx::query_as(&format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r WHERE r.id = ANY($1)"
    ))
    .bind(&ids)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| infra("cannot read reminders", e))?;
    let found = rows
        .into_iter()
        .map(ReminderRow::into_reminder)
        .collect::<Result<Vec<_>, _>>()?;
    if found.is_empty() {
        return Ok(Vec::new());
    }
    let mut qb = select_tasks();
    qb.push("t.id = ANY(")
        .push_bind(reminder_batch::task_ids(&found))
        .push(")");
    let tasks = fetch_tasks(&mut *conn, qb).await?;
    Ok(reminder_batch::with_their_tasks(found, tasks))
}

/// One statement: lock and bump the task, flip the reminder if it is still pending at the
/// expected instant, and append the event only if it did.
static FIRE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH t AS (UPDATE tasks SET revision = revision + 1 WHERE id = (SELECT task_id \
             FROM reminders WHERE id = $3 AND status = 'scheduled' AND fired_at IS NULL \
             AND remind_at = $4) RETURNING id), \
         f AS (UPDATE reminders r SET fired_at = $1, late = $2 FROM t \
             WHERE r.id = $3 AND r.task_id = t.id AND r.status = 'scheduled' \
             AND r.fired_at IS NULL AND r.remind_at = $4 RETURNING r.id), \
         o AS ({outbox}) SELECT EXISTS (SELECT 1 FROM f)",
        outbox = outbox_insert("f", 5),
    )
});

/// A conditional UPDATE is the idempotency check: only one caller can flip a pending reminder
/// whose instant is still the expected one, and only that caller writes the event. The condition
/// is evaluated again on the row as it is once the task's lock is held, so a reminder moved by a
/// concurrent update is not fired at its old instant.
pub(crate) async fn fire(
    repo: &PgTaskRepository,
    id: ReminderId,
    expected_remind_at: DateTime<Utc>,
    fired_at: DateTime<Utc>,
    late: bool,
    event: OutgoingEvent,
) -> Result<bool, RepoError> {
    let inner = &repo.inner;
    let q = sqlx::query_as::<_, (bool,)>(&FIRE_SQL)
        .bind(micro(fired_at))
        .bind(late)
        .bind(id.0)
        .bind(micro(expected_remind_at));
    let (fired,) = OutboxArrays::new(std::slice::from_ref(&event))
        .bind(q)
        .bind(micro(fired_at))
        .fetch_one(&inner.pool)
        .await
        .map_err(|e| infra("cannot mark the reminder fired", e))?;
    if fired {
        inner.wakeups.outbox_written();
    }
    Ok(fired)
}

/// A reminder that is gone (its task was deleted after it fired) is not an error: the delivery
/// that reports its outcome has nothing left to update, and failing it would only make the e-mail
/// role retry in vain. Five round trips (BEGIN; lock the task and set the status; read the task
/// as it is now for the event; append the event; COMMIT): a background path, once per e-mail.
pub(crate) async fn finish(
    repo: &PgTaskRepository,
    id: ReminderId,
    status: ReminderStatus,
    ctx: &WriteContext,
) -> Result<(), RepoError> {
    let inner = &repo.inner;
    let mut tx = begin(&inner.pool).await?;
    // The task first (the lock order of every writer), then the reminder, if its status changes.
    let task_id: Option<i64> = sqlx::query_scalar(
        "WITH t AS (UPDATE tasks SET revision = revision + 1 WHERE id = (SELECT task_id \
             FROM reminders WHERE id = $1) RETURNING id) \
         UPDATE reminders r SET status = $2, delivered_at = $3 FROM t \
         WHERE r.id = $1 AND r.task_id = t.id AND r.status <> $2 RETURNING r.task_id",
    )
    .bind(id.0)
    .bind(status.as_str())
    .bind(micro(ctx.now))
    .fetch_optional(&mut *tx)
    .await
    .map_err(|e| infra("cannot record the reminder's outcome", e))?;
    let Some(task_id) = task_id else {
        // Nothing changed; dropping the transaction rolls the revision bump back.
        return Ok(());
    };
    let task = load_task(&mut tx, None, TaskId(task_id))
        .await?
        .ok_or_else(|| bad_data(format!("reminder {id} has no task {task_id}")))?;
    let events = task_events(
        TASK_UPDATED,
        &task,
        &["reminders"],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    let q = sqlx::query_as::<_, (i32,)>(&FINISH_OUTBOX_SQL);
    OutboxArrays::new(&events)
        .bind(q)
        .bind(micro(ctx.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| infra("cannot write to the outbox", e))?;
    commit(tx).await?;
    inner.wakeups.outbox_written();
    Ok(())
}

static FINISH_OUTBOX_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH one AS (SELECT 1), o AS ({outbox}) SELECT 1",
        outbox = outbox_insert("one", 1)
    )
});

pub(crate) async fn pending(
    pool: &PgPool,
    after: ReminderId,
    limit: u32,
) -> Result<Vec<Reminder>, RepoError> {
    let rows: Vec<ReminderRow> = sqlx::query_as(&format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r \
         WHERE r.status = 'scheduled' AND r.fired_at IS NULL AND r.id > $1 ORDER BY r.id LIMIT $2"
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
