//! Task use cases: the one implementation behind REST and MCP.

use chrono::Duration;

use super::{Actor, ServiceError, Services};
use crate::domain::change::{self, TagLink, TaskMutation};
use crate::domain::query::{Page, Ranked, TaskQuery};
use crate::domain::reminder::{self, ReminderSpec};
use crate::domain::task::{NewTask, Task, TaskPatch};
use crate::domain::{ErrorCode, ReminderId, TagId, TaskId, UserId, ValidationError};
use crate::ports::{RepoError, WriteContext};

/// The seed's guard against agents that retry `add_task`: the same title and rule within this
/// window returns the existing task.
pub const DUPLICATE_WINDOW: Duration = Duration::seconds(60);

impl Services {
    fn ctx(&self, actor: &Actor) -> WriteContext {
        WriteContext {
            now: self.clock.now(),
            traceparent: actor.traceparent.clone(),
        }
    }

    pub async fn create_task(&self, actor: &Actor, new: NewTask) -> Result<Task, ServiceError> {
        let user = self.current_user(actor).await?;
        let ctx = self.ctx(actor);
        let draft = change::create(&actor.user_id, new, user.default_reminder_minutes, ctx.now)?;
        self.tasks
            .create(draft, &ctx)
            .await
            .map_err(|e| ServiceError::from_repo(e, None))
    }

    /// Creates the task unless an identical one (title and rule) was created in the last minute;
    /// returns the task and whether it is new.
    pub async fn create_task_once(
        &self,
        actor: &Actor,
        new: NewTask,
    ) -> Result<(Task, bool), ServiceError> {
        let since = self.clock.now() - DUPLICATE_WINDOW;
        let rule = new.recurrence.as_ref().map(|r| r.rule.as_str().to_owned());
        let existing = self
            .tasks
            .find_recent_duplicate(&actor.user_id, new.title.as_str(), rule.as_deref(), since)
            .await
            .map_err(|e| ServiceError::from_repo(e, None))?;
        match existing {
            Some(task) => Ok((task, false)),
            None => self.create_task(actor, new).await.map(|t| (t, true)),
        }
    }

    pub async fn get_task(&self, user: &UserId, id: TaskId) -> Result<Task, ServiceError> {
        self.tasks
            .get(user, id)
            .await
            .map_err(|e| ServiceError::from_repo(e, Some(id)))?
            .ok_or(ServiceError::TaskNotFound(id))
    }

    pub async fn list_tasks(
        &self,
        user: &UserId,
        query: &TaskQuery,
    ) -> Result<Page<Ranked<Task>>, ServiceError> {
        self.tasks
            .list(user, query, self.clock.now())
            .await
            .map_err(|e| ServiceError::from_repo(e, None))
    }

    pub async fn recent_tasks(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, ServiceError> {
        self.tasks
            .recent(user, pending_only, limit)
            .await
            .map_err(|e| ServiceError::from_repo(e, None))
    }

    async fn mutate(
        &self,
        actor: &Actor,
        id: TaskId,
        f: impl FnOnce(Task, chrono::DateTime<chrono::Utc>) -> Result<TaskMutation, ValidationError>
        + Send
        + 'static,
    ) -> Result<TaskMutation, ServiceError> {
        let ctx = self.ctx(actor);
        let now = ctx.now;
        self.tasks
            .update(&actor.user_id, id, Box::new(move |t| f(t, now)), &ctx)
            .await
            .map_err(|e| ServiceError::from_repo(e, Some(id)))
    }

    pub async fn update_task(
        &self,
        actor: &Actor,
        id: TaskId,
        patch: TaskPatch,
    ) -> Result<Task, ServiceError> {
        change::require_some_field(&patch)?;
        self.mutate(actor, id, move |t, now| change::apply_patch(t, patch, now))
            .await
            .map(|m| m.task)
    }

    /// Completing an already completed task changes nothing and publishes nothing.
    pub async fn complete_task(&self, actor: &Actor, id: TaskId) -> Result<Task, ServiceError> {
        self.mutate(actor, id, |t, now| Ok(change::complete(t, now)))
            .await
            .map(|m| m.task)
    }

    pub async fn reopen_task(&self, actor: &Actor, id: TaskId) -> Result<Task, ServiceError> {
        self.mutate(actor, id, |t, now| Ok(change::reopen(t, now)))
            .await
            .map(|m| m.task)
    }

    pub async fn delete_task(&self, actor: &Actor, id: TaskId) -> Result<Task, ServiceError> {
        self.tasks
            .delete(&actor.user_id, id, &self.ctx(actor))
            .await
            .map_err(|e| ServiceError::from_repo(e, Some(id)))
    }

    pub async fn add_tag(
        &self,
        actor: &Actor,
        id: TaskId,
        tag: TagId,
    ) -> Result<(Task, TagLink), ServiceError> {
        let m = self
            .mutate(actor, id, move |t, now| Ok(change::add_tag(t, tag, now)?.0))
            .await?;
        // The mutation records an event exactly when the tag was not there yet.
        let link = if m.event_type.is_some() {
            TagLink::Added
        } else {
            TagLink::AlreadyAssigned
        };
        Ok((m.task, link))
    }

    pub async fn remove_tag(
        &self,
        actor: &Actor,
        id: TaskId,
        tag: TagId,
    ) -> Result<(Task, TagLink), ServiceError> {
        let m = self
            .mutate(actor, id, move |t, now| {
                Ok(change::remove_tag(t, tag, now).0)
            })
            .await?;
        let link = if m.event_type.is_some() {
            TagLink::Removed
        } else {
            TagLink::NotAssigned
        };
        Ok((m.task, link))
    }

    /// Adds reminders; relative ones need the task to have a due date.
    pub async fn add_reminders(
        &self,
        actor: &Actor,
        id: TaskId,
        specs: Vec<ReminderSpec>,
    ) -> Result<Task, ServiceError> {
        if specs.is_empty() {
            return Err(ValidationError::new(
                ErrorCode::InvalidReminder,
                "reminders",
                "No reminder given",
            )
            .into());
        }
        self.mutate(actor, id, move |t, now| {
            let planned = reminder::plan(Some(&specs), t.due_date, None, now)?;
            change::add_reminders(t, &planned, now)
        })
        .await
        .map(|m| m.task)
    }

    pub async fn cancel_reminder(
        &self,
        actor: &Actor,
        id: TaskId,
        reminder: ReminderId,
    ) -> Result<Task, ServiceError> {
        let result = self
            .mutate(actor, id, move |t, now| {
                change::cancel_reminder(t, reminder, now).ok_or_else(|| {
                    ValidationError::new(
                        ErrorCode::ReminderNotFound,
                        "reminder_id",
                        format!("Reminder #{reminder} not found or no longer pending"),
                    )
                })
            })
            .await;
        match result {
            Err(ServiceError::Invalid(v)) if v.code == ErrorCode::ReminderNotFound => {
                Err(ServiceError::ReminderNotFound(reminder.0))
            }
            other => other.map(|m| m.task),
        }
    }
}

impl From<RepoError> for ServiceError {
    fn from(e: RepoError) -> Self {
        ServiceError::from_repo(e, None)
    }
}
