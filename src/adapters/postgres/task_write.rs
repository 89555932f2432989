//! Task writes. Each is ONE transaction in as few round trips as the port allows, and returns the
//! task built from what it wrote (instants truncated in Rust, ids known beforehand) instead of
//! reading it back:
//!
//! * create — 1 statement, 1 round trip, no explicit transaction: the task, its tag links and
//!   reminders (multi-row inserts from `unnest` of arrays), the label ownership check and the
//!   outbox records are one INSERT … WITH statement, atomic on its own. The task and reminder ids
//!   come from blocks reserved ahead (`ids.rs`: one extra round trip per 32 ids), so the events,
//!   which carry them, are built before the statement runs.
//! * update, complete — 4 round trips: BEGIN; the task with its children `FOR UPDATE`; the
//!   mutation's writes and events in one statement; COMMIT. (The mutator runs in Rust between
//!   the read and the write, and can run only once, so the lock must come first.)
//! * delete — 4 round trips: BEGIN; the task `FOR UPDATE` (the event carries it as it was); the
//!   DELETE and the event in one statement; COMMIT.
//!
//! Ordering of writers: every write to a task or its children (tags, reminders) takes the task's
//! row lock first (UPDATE or FOR UPDATE) and bumps `revision`. Concurrent writers of one task
//! therefore run one after the other, as SQLite's single writer makes them, and one task's outbox
//! records get their `seq` in commit order (the outbox's per-key order relies on it). Under READ
//! COMMITTED a `SELECT … FOR UPDATE` that waited for another writer returns the task row as that
//! writer left it but the children as they were when the statement began; the read detects this
//! (the locked row's `xmin` differs from the snapshot's) and reads the task again under the lock.
//!
//! Label ownership is checked inside the same statement as the write; a label deleted by a
//! transaction that commits meanwhile is caught by the foreign keys, reported the same way.

use std::sync::LazyLock;

use sqlx::{PgConnection, PgPool, Postgres, Transaction};

use super::error::{bad_data, infra, repo, violated_foreign_key};
use super::rows::{
    REMINDERS_JOIN, TASK_COLUMNS, TaskRow, micro, no_nul, priority_value, title_key, truncate_task,
};
use super::search;
use super::tasks::{PgTaskRepository, load_task};
use crate::domain::change::TaskMutation;
use crate::domain::event::{OutgoingEvent, TASK_CREATED, TASK_DELETED, task_events};
use crate::domain::reminder::Reminder;
use crate::domain::task::Task;
use crate::domain::{CategoryId, ReminderId, TagId, TaskId, UserId};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, WriteContext};

pub(crate) async fn begin(pool: &PgPool) -> Result<Transaction<'static, Postgres>, InfraError> {
    pool.begin()
        .await
        .map_err(|e| infra("cannot start a write transaction", e))
}

pub(crate) async fn commit(tx: Transaction<'static, Postgres>) -> Result<(), InfraError> {
    tx.commit()
        .await
        .map_err(|e| infra("cannot commit the write transaction", e))
}

/// The outbox rows of `events` as the parallel arrays the write statements `unnest`.
pub(crate) struct OutboxArrays {
    topics: Vec<&'static str>,
    keys: Vec<String>,
    event_ids: Vec<String>,
    payloads: Vec<Vec<u8>>,
    user_ids: Vec<String>,
}

impl OutboxArrays {
    pub(crate) fn new(events: &[OutgoingEvent]) -> Self {
        Self {
            topics: events.iter().map(|e| e.topic.as_str()).collect(),
            keys: events
                .iter()
                .map(|e| e.event.partition_key().to_owned())
                .collect(),
            event_ids: events.iter().map(|e| e.event.id.clone()).collect(),
            payloads: events.iter().map(|e| e.event.to_bytes()).collect(),
            user_ids: events
                .iter()
                .map(|e| e.user_id.as_str().to_owned())
                .collect(),
        }
    }

    /// Binds the five arrays, in the order of [`OUTBOX_INSERT`]'s placeholders.
    pub(crate) fn bind<'q, O>(
        self,
        q: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
        q.bind(self.topics)
            .bind(self.keys)
            .bind(self.event_ids)
            .bind(self.payloads)
            .bind(self.user_ids)
    }
}

/// The outbox insert of a write statement, from the rows of the CTE named `{from}`; `{p}` is the
/// first of six placeholders (five arrays, then `created_at`). Multi-row, in event order.
pub(crate) fn outbox_insert(from: &str, p: usize) -> String {
    format!(
        "INSERT INTO outbox (topic, key, event_id, payload, user_id, created_at) \
         SELECT x.topic, x.key, x.event_id, x.payload, x.user_id, ${c} FROM {from}, \
         unnest(${p}::text[], ${p1}::text[], ${p2}::text[], ${p3}::bytea[], ${p4}::text[]) \
         WITH ORDINALITY AS x(topic, key, event_id, payload, user_id, n) ORDER BY x.n",
        p1 = p + 1,
        p2 = p + 2,
        p3 = p + 3,
        p4 = p + 4,
        c = p + 5,
    )
}

/// The reminder rows as parallel arrays.
struct ReminderArrays {
    ids: Vec<i64>,
    minutes: Vec<Option<i64>>,
    remind_at: Vec<chrono::DateTime<chrono::Utc>>,
    status: Vec<&'static str>,
    fired_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    delivered_at: Vec<Option<chrono::DateTime<chrono::Utc>>>,
    late: Vec<bool>,
    created_at: Vec<chrono::DateTime<chrono::Utc>>,
}

impl ReminderArrays {
    fn new<'a>(reminders: impl IntoIterator<Item = &'a Reminder>) -> Self {
        let mut a = Self {
            ids: Vec::new(),
            minutes: Vec::new(),
            remind_at: Vec::new(),
            status: Vec::new(),
            fired_at: Vec::new(),
            delivered_at: Vec::new(),
            late: Vec::new(),
            created_at: Vec::new(),
        };
        for r in reminders {
            a.ids.push(r.id.0);
            a.minutes.push(r.minutes_before.map(i64::from));
            a.remind_at.push(r.remind_at);
            a.status.push(r.status.as_str());
            a.fired_at.push(r.fired_at);
            a.delivered_at.push(r.delivered_at);
            a.late.push(r.late);
            a.created_at.push(r.created_at);
        }
        a
    }

    fn bind<'q, O>(
        self,
        q: sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments>,
    ) -> sqlx::query::QueryAs<'q, Postgres, O, sqlx::postgres::PgArguments> {
        q.bind(self.ids)
            .bind(self.minutes)
            .bind(self.remind_at)
            .bind(self.status)
            .bind(self.fired_at)
            .bind(self.delivered_at)
            .bind(self.late)
            .bind(self.created_at)
    }
}

/// Label ownership, computed inside the write statement: `$user`, `$category`, `$tags`.
fn label_check(user: usize, category: usize, tags: usize) -> String {
    format!(
        "SELECT (${category}::bigint IS NULL OR EXISTS (SELECT 1 FROM labels \
         WHERE id = ${category} AND user_id = ${user} AND kind = 'category')) AS category_ok, \
         ARRAY(SELECT l.id FROM labels l WHERE l.id = ANY(${tags}::bigint[]) \
         AND l.user_id = ${user} AND l.kind = 'tag') AS tags_found"
    )
}

fn reminder_rows(from: &str, p: usize) -> String {
    format!(
        "SELECT x.id, {from}.id, x.minutes_before, x.remind_at, x.status, x.fired_at, \
         x.delivered_at, x.late, x.created_at FROM {from}, unnest(${p}::bigint[], \
         ${p1}::bigint[], ${p2}::timestamptz[], ${p3}::text[], ${p4}::timestamptz[], \
         ${p5}::timestamptz[], ${p6}::boolean[], ${p7}::timestamptz[]) AS x(id, minutes_before, \
         remind_at, status, fired_at, delivered_at, late, created_at)",
        p1 = p + 1,
        p2 = p + 2,
        p3 = p + 3,
        p4 = p + 4,
        p5 = p + 5,
        p6 = p + 6,
        p7 = p + 7,
    )
}

const TASK_VALUES: &str = "title, title_key, description, priority, due_date, category_id, \
     recurrence_rule, series_start, previous_task_id, completed, completed_at";

static CREATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH chk AS ({check}), \
         t AS (INSERT INTO tasks (id, user_id, {TASK_VALUES}, created_at, updated_at, search_doc) \
             SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16::tsvector \
             FROM chk WHERE chk.category_ok \
             AND cardinality(chk.tags_found) = cardinality($17::bigint[]) RETURNING id), \
         tg AS (INSERT INTO task_tags (task_id, tag_id, position) \
             SELECT t.id, x.tag_id, x.n - 1 FROM t, unnest($17::bigint[]) \
             WITH ORDINALITY AS x(tag_id, n)), \
         r AS (INSERT INTO reminders (id, task_id, minutes_before, remind_at, status, fired_at, \
             delivered_at, late, created_at) {reminders}), \
         o AS ({outbox}) \
         SELECT chk.category_ok, chk.tags_found, EXISTS (SELECT 1 FROM t) FROM chk",
        check = label_check(2, 8, 17),
        reminders = reminder_rows("t", 18),
        outbox = outbox_insert("t", 26),
    )
});

static UPDATE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH chk AS ({check}), \
         u AS (UPDATE tasks SET title = $3, title_key = $4, description = $5, priority = $6, \
             due_date = $7, category_id = $8, recurrence_rule = $9, series_start = $10, \
             previous_task_id = $11, completed = $12, completed_at = $13, updated_at = $14, \
             search_doc = COALESCE($15::tsvector, search_doc), revision = revision + 1 \
             FROM chk WHERE tasks.id = $1 AND tasks.user_id = $2 AND chk.category_ok \
             AND cardinality(chk.tags_found) = cardinality($16::bigint[]) RETURNING tasks.id), \
         dt AS (DELETE FROM task_tags tt USING u WHERE $17 AND tt.task_id = u.id \
             AND tt.tag_id <> ALL($16::bigint[])), \
         it AS (INSERT INTO task_tags (task_id, tag_id, position) \
             SELECT u.id, x.tag_id, x.n - 1 FROM u, unnest($16::bigint[]) \
             WITH ORDINALITY AS x(tag_id, n) WHERE $17 \
             ON CONFLICT (task_id, tag_id) DO UPDATE SET position = excluded.position \
             WHERE task_tags.position <> excluded.position), \
         dr AS (DELETE FROM reminders rm USING u WHERE $18 AND rm.task_id = u.id \
             AND rm.id <> ALL($19::bigint[])), \
         ur AS (INSERT INTO reminders (id, task_id, minutes_before, remind_at, status, fired_at, \
             delivered_at, late, created_at) {reminders} \
             ON CONFLICT (id) DO UPDATE SET minutes_before = excluded.minutes_before, \
             remind_at = excluded.remind_at, status = excluded.status, \
             fired_at = excluded.fired_at, delivered_at = excluded.delivered_at, \
             late = excluded.late), \
         o AS ({outbox}) \
         SELECT chk.category_ok, chk.tags_found, EXISTS (SELECT 1 FROM u) FROM chk",
        check = label_check(2, 8, 16),
        reminders = reminder_rows("u", 20),
        outbox = outbox_insert("u", 28),
    )
});

static DELETE_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH d AS (DELETE FROM tasks WHERE id = $1 AND user_id = $2 RETURNING id), \
         o AS ({outbox}) SELECT EXISTS (SELECT 1 FROM d)",
        outbox = outbox_insert("d", 3),
    )
});

/// The user's task and its children, `fresh` when they are as the lock holder sees them.
static LOCK_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT {TASK_COLUMNS}, t.xmin = (SELECT s.xmin FROM tasks s WHERE s.id = t.id) AS fresh \
         FROM tasks t {REMINDERS_JOIN} WHERE t.id = $1 AND t.user_id = $2 FOR UPDATE OF t"
    )
});

/// Text PostgreSQL cannot store is invalid input (see `rows::no_nul`).
fn check_text(task: &Task) -> Result<(), RepoError> {
    no_nul("title", task.title.as_str())?;
    if let Some(d) = &task.description {
        no_nul("description", d)?;
    }
    Ok(())
}

/// What the label check of a write statement found.
type Checked = (bool, Vec<i64>, bool);

/// Why a write whose label check failed wrote nothing: the category first, then the first tag
/// that is not the user's.
fn label_error(
    category: Option<CategoryId>,
    tags: &[TagId],
    category_ok: bool,
    found: &[i64],
) -> RepoError {
    if let (false, Some(c)) = (category_ok, category) {
        return RepoError::CategoryNotFound(c);
    }
    match tags.iter().find(|t| !found.contains(&t.0)) {
        Some(t) => RepoError::TagNotFound(*t),
        None => RepoError::Infra(bad_data("the label check failed without a missing label")),
    }
}

/// A failed write statement: a label deleted meanwhile (foreign key), a second successor of a
/// recurring task (unique), or an infrastructure failure.
async fn write_error(
    pool: &PgPool,
    task: &Task,
    context: &'static str,
    err: sqlx::Error,
) -> RepoError {
    match violated_foreign_key(&err) {
        Some("tasks_category_id_fkey") => {
            if let Some(c) = task.category_id {
                return RepoError::CategoryNotFound(c);
            }
        }
        Some("task_tags_tag_id_fkey") => {
            let found: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM labels WHERE id = ANY($1) AND user_id = $2 AND kind = 'tag'",
            )
            .bind(task.tag_ids.iter().map(|t| t.0).collect::<Vec<_>>())
            .bind(task.user_id.as_str())
            .fetch_all(pool)
            .await
            .unwrap_or_default();
            if let Some(t) = task.tag_ids.iter().find(|t| !found.contains(&t.0)) {
                return RepoError::TagNotFound(*t);
            }
        }
        _ => {}
    }
    repo(context, err)
}

fn document(task: &Task) -> String {
    search::document(
        &task.user_id,
        task.title.as_str(),
        task.description.as_deref(),
    )
}

pub(crate) async fn create(
    repo_: &PgTaskRepository,
    draft: Task,
    ctx: &WriteContext,
) -> Result<Task, RepoError> {
    check_text(&draft)?;
    let inner = &repo_.inner;
    let mut task = truncate_task(draft);
    let id = inner
        .task_ids
        .take(&inner.pool, 1)
        .await?
        .first()
        .copied()
        .ok_or_else(|| bad_data("no task id was reserved"))?;
    task.id = TaskId(id);
    let reminder_ids = inner
        .reminder_ids
        .take(&inner.pool, task.reminders.len())
        .await?;
    if reminder_ids.len() != task.reminders.len() {
        return Err(bad_data("fewer reminder ids were reserved than asked for").into());
    }
    // Increasing ids in draft order: the order a read returns them in (by id).
    for (r, rid) in task.reminders.iter_mut().zip(reminder_ids) {
        r.id = ReminderId(rid);
        r.task_id = task.id;
    }
    let events = task_events(
        TASK_CREATED,
        &task,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    let recurrence = task.recurrence.as_ref();
    let q = sqlx::query_as::<_, Checked>(&CREATE_SQL)
        .bind(task.id.0)
        .bind(task.user_id.as_str())
        .bind(task.title.as_str())
        .bind(title_key(&task.title))
        .bind(task.description.as_deref())
        .bind(priority_value(task.priority))
        .bind(task.due_date)
        .bind(task.category_id.map(|c| c.0))
        .bind(recurrence.map(|r| r.rule.as_str()))
        .bind(recurrence.and_then(|r| r.series_start))
        .bind(recurrence.and_then(|r| r.previous_task_id).map(|p| p.0))
        .bind(task.completed)
        .bind(task.completed_at)
        .bind(task.created_at)
        .bind(task.updated_at)
        .bind(document(&task))
        .bind(task.tag_ids.iter().map(|t| t.0).collect::<Vec<i64>>());
    let q = ReminderArrays::new(&task.reminders).bind(q);
    let q = OutboxArrays::new(&events).bind(q).bind(micro(ctx.now));
    let (category_ok, found, inserted) = match q.fetch_one(&inner.pool).await {
        Ok(checked) => checked,
        Err(e) => return Err(write_error(&inner.pool, &task, "cannot insert the task", e).await),
    };
    if !inserted {
        return Err(label_error(
            task.category_id,
            &task.tag_ids,
            category_ok,
            &found,
        ));
    }
    inner.wakeups.outbox_written();
    Ok(task)
}

#[derive(sqlx::FromRow)]
struct LockedRow {
    #[sqlx(flatten)]
    task: TaskRow,
    fresh: bool,
}

/// The user's task with its children, row-locked until the transaction ends (see the module
/// docs for `fresh`).
async fn lock_task(
    conn: &mut PgConnection,
    user: &UserId,
    id: TaskId,
) -> Result<Option<Task>, InfraError> {
    let row: Option<LockedRow> = sqlx::query_as(&LOCK_SQL)
        .bind(id.0)
        .bind(user.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(|e| infra("cannot lock the task", e))?;
    match row {
        None => Ok(None),
        Some(r) if r.fresh => Ok(Some(r.task.into_task()?)),
        // Another writer committed while we waited for the lock: read it again, now that we
        // hold it.
        Some(_) => load_task(conn, Some(user), id).await,
    }
}

pub(crate) async fn update(
    repo_: &PgTaskRepository,
    user: &UserId,
    id: TaskId,
    mutate: Mutator,
    ctx: &WriteContext,
) -> Result<TaskMutation, RepoError> {
    let inner = &repo_.inner;
    let mut tx = begin(&inner.pool).await?;
    let current = lock_task(&mut tx, user, id)
        .await?
        .ok_or(RepoError::NotFound)?;
    // Dropping `tx` on any early return rolls back; nothing has been written yet anyway.
    let mutation = mutate(current.clone())?;
    let Some(event_type) = mutation.event_type else {
        return Ok(mutation);
    };
    let mut new = truncate_task(mutation.task);
    // A mutation changes a task's content, never its identity.
    new.id = current.id;
    new.user_id = current.user_id.clone();
    new.created_at = current.created_at;
    check_text(&new)?;

    // Reminders: id 0 is new (ids reserved now), known ids are kept, an unknown id is a bug in
    // the mutation and fails the write.
    if let Some(r) = new
        .reminders
        .iter()
        .find(|r| r.id.0 != 0 && !current.reminders.iter().any(|c| c.id == r.id))
    {
        return Err(bad_data(format!("reminder {} does not belong to task {id}", r.id)).into());
    }
    let fresh = new.reminders.iter().filter(|r| r.id.0 == 0).count();
    let mut fresh_ids = inner
        .reminder_ids
        .take(&inner.pool, fresh)
        .await?
        .into_iter();
    for r in &mut new.reminders {
        r.task_id = id;
        if r.id.0 == 0 {
            r.id = ReminderId(
                fresh_ids
                    .next()
                    .ok_or_else(|| bad_data("fewer reminder ids were reserved than asked for"))?,
            );
        }
    }
    new.reminders.sort_by_key(|r| r.id);
    let changed: Vec<&Reminder> = new
        .reminders
        .iter()
        .filter(|r| current.reminders.iter().find(|c| c.id == r.id) != Some(*r))
        .collect();
    let kept: Vec<i64> = new.reminders.iter().map(|r| r.id.0).collect();
    let removed = current.reminders.iter().any(|c| !kept.contains(&c.id.0));
    let tags_changed = new.tag_ids != current.tag_ids;
    let doc = (new.title != current.title || new.description != current.description)
        .then(|| document(&new));

    let events = task_events(
        event_type,
        &new,
        &mutation.changed_fields,
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    let recurrence = new.recurrence.as_ref();
    let q = sqlx::query_as::<_, Checked>(&UPDATE_SQL)
        .bind(id.0)
        .bind(user.as_str())
        .bind(new.title.as_str())
        .bind(title_key(&new.title))
        .bind(new.description.as_deref())
        .bind(priority_value(new.priority))
        .bind(new.due_date)
        .bind(new.category_id.map(|c| c.0))
        .bind(recurrence.map(|r| r.rule.as_str()))
        .bind(recurrence.and_then(|r| r.series_start))
        .bind(recurrence.and_then(|r| r.previous_task_id).map(|p| p.0))
        .bind(new.completed)
        .bind(new.completed_at)
        .bind(new.updated_at)
        .bind(doc)
        .bind(new.tag_ids.iter().map(|t| t.0).collect::<Vec<i64>>())
        .bind(tags_changed)
        .bind(removed)
        .bind(kept);
    let q = ReminderArrays::new(changed).bind(q);
    let q = OutboxArrays::new(&events).bind(q).bind(micro(ctx.now));
    let (category_ok, found, updated) = match q.fetch_one(&mut *tx).await {
        Ok(checked) => checked,
        Err(e) => return Err(write_error(&inner.pool, &new, "cannot update the task", e).await),
    };
    if !updated {
        return Err(label_error(
            new.category_id,
            &new.tag_ids,
            category_ok,
            &found,
        ));
    }
    commit(tx).await?;
    inner.wakeups.outbox_written();
    Ok(TaskMutation {
        task: new,
        event_type: Some(event_type),
        changed_fields: mutation.changed_fields,
    })
}

pub(crate) async fn delete(
    repo_: &PgTaskRepository,
    user: &UserId,
    id: TaskId,
    ctx: &WriteContext,
) -> Result<Task, RepoError> {
    let inner = &repo_.inner;
    let mut tx = begin(&inner.pool).await?;
    let current = lock_task(&mut tx, user, id)
        .await?
        .ok_or(RepoError::NotFound)?;
    let events = task_events(
        TASK_DELETED,
        &current,
        &[],
        ctx.now,
        ctx.traceparent.as_deref(),
    );
    // Tag links and reminders go with it (ON DELETE CASCADE).
    let q = sqlx::query_as::<_, (bool,)>(&DELETE_SQL)
        .bind(id.0)
        .bind(user.as_str());
    let (deleted,) = OutboxArrays::new(&events)
        .bind(q)
        .bind(micro(ctx.now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| infra("cannot delete the task", e))?;
    if !deleted {
        return Err(bad_data(format!("task {id} vanished while locked")).into());
    }
    commit(tx).await?;
    inner.wakeups.outbox_written();
    Ok(current)
}
