//! `TaskRepository` for PostgreSQL: the trait impl and the reads. Writes live in `task_write`,
//! listing and search in `task_list`, the background roles' reminder methods in `reminders`.
//!
//! Every read is one statement: the task rows with their tag ids and reminders aggregated per
//! task (`rows::TASK_COLUMNS`), whatever the number of tasks.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::Inner;
use super::error::infra;
use super::rows::{REMINDERS_JOIN, TASK_COLUMNS, TaskRow, micro};
use super::{reminders, task_list, task_write};
use crate::domain::change::TaskMutation;
use crate::domain::event::OutgoingEvent;
use crate::domain::query::{Page, Ranked, TaskQuery};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ReminderId, TaskId, UserId};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, TaskRepository, WriteContext};

#[derive(Clone)]
pub struct PgTaskRepository {
    pub(crate) inner: Arc<Inner>,
}

impl PgTaskRepository {
    pub(crate) fn new(inner: Arc<Inner>) -> Self {
        Self { inner }
    }
}

/// `SELECT <task columns> FROM tasks t <reminders> WHERE ` — the caller appends the condition and
/// any ORDER BY / LIMIT.
pub(crate) fn select_tasks<'a>() -> QueryBuilder<'a, Postgres> {
    QueryBuilder::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t {REMINDERS_JOIN} WHERE "
    ))
}

/// Runs `qb` (a SELECT of `TASK_COLUMNS`) and returns complete tasks.
pub(crate) async fn fetch_tasks<'e, E>(
    executor: E,
    mut qb: QueryBuilder<'_, Postgres>,
) -> Result<Vec<Task>, InfraError>
where
    E: sqlx::Executor<'e, Database = Postgres>,
{
    let rows: Vec<TaskRow> = qb
        .build_query_as()
        .fetch_all(executor)
        .await
        .map_err(|e| infra("cannot read tasks", e))?;
    rows.into_iter().map(TaskRow::into_task).collect()
}

/// One task by id, scoped to `user` unless `None` (background roles).
pub(crate) async fn load_task(
    conn: &mut PgConnection,
    user: Option<&UserId>,
    id: TaskId,
) -> Result<Option<Task>, InfraError> {
    let mut qb = select_tasks();
    qb.push("t.id = ").push_bind(id.0);
    if let Some(user) = user {
        qb.push(" AND t.user_id = ")
            .push_bind(user.as_str().to_owned());
    }
    Ok(fetch_tasks(conn, qb).await?.pop())
}

#[async_trait]
impl TaskRepository for PgTaskRepository {
    async fn create(&self, draft: Task, ctx: &WriteContext) -> Result<Task, RepoError> {
        task_write::create(self, draft, ctx).await
    }

    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        let mut qb = select_tasks();
        qb.push("t.id = ")
            .push_bind(id.0)
            .push(" AND t.user_id = ")
            .push_bind(user.as_str().to_owned());
        Ok(fetch_tasks(&self.inner.pool, qb).await?.pop())
    }

    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError> {
        task_list::list(&self.inner.pool, user, query, now).await
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
        let mut qb = select_tasks();
        // `title_key` (a function of the title) lets the title index find it, instead of every
        // task the user created in the window.
        qb.push("t.user_id = ")
            .push_bind(user.as_str().to_owned())
            .push(" AND t.title_key = ")
            .push_bind(title.to_lowercase())
            .push(" AND t.title = ")
            .push_bind(title.to_owned())
            // "no rule" matches "no rule".
            .push(" AND t.recurrence_rule IS NOT DISTINCT FROM ")
            .push_bind(rule.map(str::to_owned))
            .push(" AND t.created_at >= ")
            .push_bind(micro(since))
            .push(" ORDER BY t.created_at DESC, t.id DESC LIMIT 1");
        if title.contains('\0') || rule.is_some_and(|r| r.contains('\0')) {
            // No stored text holds a NUL (see rows::no_nul), and PostgreSQL refuses to compare one.
            return Ok(None);
        }
        Ok(fetch_tasks(&self.inner.pool, qb).await?.pop())
    }

    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let mut qb = select_tasks();
        qb.push("t.user_id = ").push_bind(user.as_str().to_owned());
        if pending_only {
            qb.push(" AND NOT t.completed");
        }
        qb.push(" ORDER BY t.created_at DESC, t.id DESC LIMIT ")
            .push_bind(i64::from(limit));
        Ok(fetch_tasks(&self.inner.pool, qb).await?)
    }

    async fn reminders(&self, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        reminders::reminders(&self.inner.pool, ids).await
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
        reminders::pending(&self.inner.pool, after, limit).await
    }
}
