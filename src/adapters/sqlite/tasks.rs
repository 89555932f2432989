//! `TaskRepository` for SQLite: the trait impl, the simple reads, and loading a task's tags and
//! reminders. Writes live in `task_write`, listing and search in `task_list`, the background
//! roles' reminder methods in `reminders`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection, SqlitePool};
use tokio::sync::Notify;

use super::error::infra;
use super::rows::{REMINDER_COLUMNS, ReminderRow, TASK_COLUMNS, TaskRow, micros};
use super::writer::Writer;
use super::{reminders, task_list, task_write};
use crate::domain::change::TaskMutation;
use crate::domain::event::OutgoingEvent;
use crate::domain::query::{Page, Ranked, TaskQuery};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ReminderId, TagId, TaskId, UserId};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, TaskRepository, WriteContext};

#[derive(Clone)]
pub struct SqliteTaskRepository {
    /// The writer pool (one connection), for the few writes that are not the writer's.
    pub(crate) pool: SqlitePool,
    /// The group-commit writer: every task write goes through it.
    pub(crate) writer: Writer,
    /// Reader connections for gets, lists and searches, which never wait behind writes in WAL mode.
    pub(crate) readers: SqlitePool,
    /// The outbox's wake-up, notified after each commit that wrote events.
    pub(crate) wake: Arc<Notify>,
}

impl SqliteTaskRepository {
    pub(crate) fn new(
        pool: SqlitePool,
        writer: Writer,
        readers: SqlitePool,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            writer,
            readers,
            wake,
        }
    }

    /// A reader connection.
    pub(crate) async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Sqlite>, InfraError> {
        self.readers
            .acquire()
            .await
            .map_err(|e| infra("cannot get a database connection", e))
    }
}

/// Runs `qb` (a SELECT of `TASK_COLUMNS`) and returns complete tasks, tags and reminders included.
pub(crate) async fn fetch_tasks(
    conn: &mut SqliteConnection,
    mut qb: QueryBuilder<'_, Sqlite>,
) -> Result<Vec<Task>, InfraError> {
    let rows: Vec<TaskRow> = qb
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| infra("cannot read tasks", e))?;
    let mut tasks = rows
        .into_iter()
        .map(TaskRow::into_task)
        .collect::<Result<Vec<_>, _>>()?;
    attach_children(conn, &mut tasks).await?;
    Ok(tasks)
}

/// One task by id, scoped to `user` unless `None` (background roles).
pub(crate) async fn load_task(
    conn: &mut SqliteConnection,
    user: Option<&UserId>,
    id: TaskId,
) -> Result<Option<Task>, InfraError> {
    let mut qb = QueryBuilder::new(format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = "));
    qb.push_bind(id.0);
    if let Some(user) = user {
        qb.push(" AND t.user_id = ")
            .push_bind(user.as_str().to_owned());
    }
    Ok(fetch_tasks(conn, qb).await?.pop())
}

/// Fills in tags (in their stored order) and reminders (by id) with one query each, whatever the
/// number of tasks, instead of two queries per task.
pub(crate) async fn attach_children(
    conn: &mut SqliteConnection,
    tasks: &mut [Task],
) -> Result<(), InfraError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let index: HashMap<i64, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.0, i)).collect();

    let mut qb =
        QueryBuilder::<Sqlite>::new("SELECT task_id, tag_id FROM task_tags WHERE task_id IN (");
    push_ids(&mut qb, tasks.iter().map(|t| t.id.0));
    qb.push(") ORDER BY task_id, position");
    let links: Vec<(i64, i64)> = qb
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| infra("cannot read task tags", e))?;
    for (task_id, tag_id) in links {
        if let Some(&i) = index.get(&task_id) {
            tasks[i].tag_ids.push(TagId(tag_id));
        }
    }

    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r WHERE r.task_id IN ("
    ));
    push_ids(&mut qb, tasks.iter().map(|t| t.id.0));
    qb.push(") ORDER BY r.id");
    let rows: Vec<ReminderRow> = qb
        .build_query_as()
        .fetch_all(&mut *conn)
        .await
        .map_err(|e| infra("cannot read reminders", e))?;
    for row in rows {
        let r = row.into_reminder()?;
        if let Some(&i) = index.get(&r.task_id.0) {
            tasks[i].reminders.push(r);
        }
    }
    Ok(())
}

/// Appends `a, b, c` as bound parameters (the caller writes the parentheses).
pub(crate) fn push_ids(qb: &mut QueryBuilder<'_, Sqlite>, ids: impl IntoIterator<Item = i64>) {
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(id);
    }
}

#[async_trait]
impl TaskRepository for SqliteTaskRepository {
    async fn create(&self, draft: Task, ctx: &WriteContext) -> Result<Task, RepoError> {
        task_write::create(self, draft, ctx).await
    }

    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        Ok(load_task(&mut *self.conn().await?, Some(user), id).await?)
    }

    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError> {
        task_list::list(&mut *self.conn().await?, user, query, now).await
    }

    async fn update(
        &self,
        user: &UserId,
        id: TaskId,
        mutate: Mutator,
        ctx: &WriteContext,
    ) -> Result<TaskMutation, RepoError> {
        task_write::update(self, user, id, mutate, ctx).await
    }

    async fn delete(
        &self,
        user: &UserId,
        id: TaskId,
        ctx: &WriteContext,
    ) -> Result<Task, RepoError> {
        task_write::delete(self, user, id, ctx).await
    }

    async fn find_recent_duplicate(
        &self,
        user: &UserId,
        title: &str,
        rule: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<Task>, RepoError> {
        // Through the title index: the MCP duplicate guard runs before every creation, and by
        // creation time it would scan all of the user's tasks of the last minute (hundreds under
        // load) for each one. The title key is a function of the title, so it narrows exactly.
        let mut qb = QueryBuilder::new(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t INDEXED BY tasks_by_title WHERE t.user_id = "
        ));
        qb.push_bind(user.as_str().to_owned())
            .push(" AND t.title_key = ")
            .push_bind(title.to_lowercase())
            .push(" AND t.title = ")
            .push_bind(title.to_owned())
            // `IS` compares NULL with NULL as equal: "no rule" matches "no rule".
            .push(" AND t.recurrence_rule IS ")
            .push_bind(rule.map(str::to_owned))
            .push(" AND t.created_at >= ")
            .push_bind(micros(since))
            .push(" ORDER BY t.created_at DESC, t.id DESC LIMIT 1");
        Ok(fetch_tasks(&mut *self.conn().await?, qb).await?.pop())
    }

    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let mut qb = QueryBuilder::new(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.user_id = "
        ));
        qb.push_bind(user.as_str().to_owned());
        if pending_only {
            qb.push(" AND t.completed = 0");
        }
        qb.push(" ORDER BY t.created_at DESC, t.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        Ok(fetch_tasks(&mut *self.conn().await?, qb).await?)
    }

    async fn reminder(&self, id: ReminderId) -> Result<Option<(Reminder, Task)>, RepoError> {
        reminders::reminder(&mut *self.conn().await?, id).await
    }

    async fn fire_reminder(
        &self,
        id: ReminderId,
        expected_remind_at: DateTime<Utc>,
        fired_at: DateTime<Utc>,
        late: bool,
        event: OutgoingEvent,
    ) -> Result<bool, RepoError> {
        reminders::fire(self, id, expected_remind_at, fired_at, late, event).await
    }

    async fn finish_reminder(
        &self,
        id: ReminderId,
        status: ReminderStatus,
        ctx: &WriteContext,
    ) -> Result<(), RepoError> {
        reminders::finish(self, id, status, ctx).await
    }

    async fn pending_reminders(
        &self,
        after: ReminderId,
        limit: u32,
    ) -> Result<Vec<Reminder>, RepoError> {
        reminders::pending(&self.pool, after, limit).await
    }
}
