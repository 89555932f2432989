//! `TaskRepository` for SQLite: the trait impl, the simple reads, and loading a task's tags and
//! reminders. Writes live in `task_write`, listing and search in `task_list`, the background
//! roles' reminder methods in `reminders`.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use tokio::sync::Notify;

use super::direct::{Db, Sql};
use super::error::sql as sql_error;
use super::readers::Readers;
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
    pub(crate) readers: Readers,
    /// The outbox's wake-up, notified after each commit that wrote events.
    pub(crate) wake: Arc<Notify>,
}

impl SqliteTaskRepository {
    pub(crate) fn new(
        pool: SqlitePool,
        writer: Writer,
        readers: Readers,
        wake: Arc<Notify>,
    ) -> Self {
        Self {
            pool,
            writer,
            readers,
            wake,
        }
    }

    /// Runs a read on a reader connection, directly on its SQLite handle (see `direct`).
    pub(crate) async fn read<T, E: From<InfraError>>(
        &self,
        f: impl FnOnce(&Db) -> Result<T, E>,
    ) -> Result<T, E> {
        self.readers.read(f).await
    }
}

/// Runs `sql` (a SELECT of `TASK_COLUMNS`) and returns complete tasks, tags and reminders included.
pub(crate) fn fetch_tasks(db: &Db, sql: &Sql) -> Result<Vec<Task>, InfraError> {
    let mut tasks = sql.rows(db, "cannot read tasks", |row| {
        TaskRow::read(row)?.into_task()
    })?;
    attach_children(db, &mut tasks)?;
    Ok(tasks)
}

/// One task by id, scoped to `user` unless `None` (background roles).
pub(crate) fn load_task(
    db: &Db,
    user: Option<&UserId>,
    id: TaskId,
) -> Result<Option<Task>, InfraError> {
    let mut sql = Sql::new(format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id = "));
    sql.bind(id.0);
    if let Some(user) = user {
        sql.push(" AND t.user_id = ").bind(user.as_str().to_owned());
    }
    Ok(fetch_tasks(db, &sql)?.pop())
}

/// Fills in tags (in their stored order) and reminders (by id) with one query each, whatever the
/// number of tasks, instead of two queries per task.
pub(crate) fn attach_children(db: &Db, tasks: &mut [Task]) -> Result<(), InfraError> {
    if tasks.is_empty() {
        return Ok(());
    }
    let index: HashMap<i64, usize> = tasks.iter().enumerate().map(|(i, t)| (t.id.0, i)).collect();
    let mut sql = Sql::new("SELECT task_id, tag_id FROM task_tags WHERE task_id IN (");
    sql.ids(tasks.iter().map(|t| t.id.0))
        .push(") ORDER BY task_id, position");
    let links = sql.rows(db, "cannot read task tags", |row| {
        let column = |e| sql_error("cannot read task tags", e);
        Ok((
            row.get::<_, i64>(0).map_err(column)?,
            row.get::<_, i64>(1).map_err(column)?,
        ))
    })?;
    for (task_id, tag_id) in links {
        if let Some(&i) = index.get(&task_id) {
            tasks[i].tag_ids.push(TagId(tag_id));
        }
    }
    let mut sql = Sql::new(format!(
        "SELECT {REMINDER_COLUMNS} FROM reminders r WHERE r.task_id IN ("
    ));
    sql.ids(tasks.iter().map(|t| t.id.0))
        .push(") ORDER BY r.id");
    let reminders = sql.rows(db, "cannot read reminders", |row| {
        ReminderRow::read(row)?.into_reminder()
    })?;
    for r in reminders {
        if let Some(&i) = index.get(&r.task_id.0) {
            tasks[i].reminders.push(r);
        }
    }
    Ok(())
}

#[async_trait]
impl TaskRepository for SqliteTaskRepository {
    async fn create(&self, draft: Task, ctx: &WriteContext) -> Result<Task, RepoError> {
        task_write::create(self, draft, ctx).await
    }

    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        Ok(self.read(|db| load_task(db, Some(user), id)).await?)
    }

    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError> {
        self.read(|db| task_list::list(db, user, query, now)).await
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
        let mut sql = Sql::new(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t INDEXED BY tasks_by_title WHERE t.user_id = "
        ));
        sql.bind(user.as_str().to_owned())
            .push(" AND t.title_key = ")
            .bind(title.to_lowercase())
            .push(" AND t.title = ")
            .bind(title.to_owned())
            // `IS` compares NULL with NULL as equal: "no rule" matches "no rule".
            .push(" AND t.recurrence_rule IS ")
            .bind(rule.map(str::to_owned))
            .push(" AND t.created_at >= ")
            .bind(micros(since))
            .push(" ORDER BY t.created_at DESC, t.id DESC LIMIT 1");
        Ok(self.read(|db| fetch_tasks(db, &sql)).await?.pop())
    }

    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let mut sql = Sql::new(format!(
            "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.user_id = "
        ));
        sql.bind(user.as_str().to_owned());
        if pending_only {
            sql.push(" AND t.completed = 0");
        }
        sql.push(" ORDER BY t.created_at DESC, t.id DESC LIMIT ")
            .bind(i64::from(limit));
        Ok(self.read(|db| fetch_tasks(db, &sql)).await?)
    }

    async fn reminders(&self, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.read(|db| reminders::reminders(db, ids)).await
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
