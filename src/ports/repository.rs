//! Persistence of tasks, labels (categories, tags) and users. Every method is scoped by the user
//! id (except the few used by background roles, which say so): another user's row is "not found",
//! never visible. Task writes store their CloudEvents in the outbox in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::InfraError;
use crate::domain::change::TaskMutation;
use crate::domain::event::OutgoingEvent;
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::query::{Page, Ranked, TaskQuery};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::{Patch, Task};
use crate::domain::user::User;
use crate::domain::{CategoryId, ReminderId, TagId, TaskId, UserId, ValidationError};

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    /// The task or label does not exist for this user.
    #[error("not found")]
    NotFound,
    #[error("category {0} not found")]
    CategoryNotFound(CategoryId),
    #[error("tag {0} not found")]
    TagNotFound(TagId),
    /// A unique rule was hit: label name per user, or a recurring task's successor already exists.
    #[error("already exists")]
    Duplicate,
    /// The per-user limit of labels of this kind is reached.
    #[error("limit reached")]
    LimitExceeded,
    /// The mutation itself refused the change.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// Facts about the write every event needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteContext {
    pub now: DateTime<Utc>,
    /// W3C trace context of the request, carried into the events.
    pub traceparent: Option<String>,
}

/// Computes the new state of a task from its current state, inside the repository's transaction.
pub type Mutator = Box<dyn FnOnce(Task) -> Result<TaskMutation, ValidationError> + Send>;

#[async_trait]
pub trait TaskRepository: Send + Sync {
    /// Inserts `draft` (id 0, reminder ids 0) with its tag links and reminders, and its
    /// `task.created` event, in one transaction. Returns the task exactly as a later `get` returns
    /// it (ids assigned, instants at microsecond precision), built from what was written rather
    /// than read back. Checks that the category and tags belong to the
    /// user. Returns `Duplicate` when `draft.recurrence.previous_task_id` already has a successor.
    async fn create(&self, draft: Task, ctx: &WriteContext) -> Result<Task, RepoError>;

    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError>;

    /// Filters, sorts and pages the user's tasks. With `query.search`, orders by relevance (title
    /// matches first) and `rank` is set; otherwise `rank` is 0.
    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError>;

    /// Loads the task, applies `mutate`, stores the new state (fields, tag links, reminders: id 0
    /// inserted, others updated) and the mutation's events — all in one transaction. A mutation
    /// without an event type changes nothing and writes nothing.
    async fn update(
        &self,
        user: &UserId,
        id: TaskId,
        mutate: Mutator,
        ctx: &WriteContext,
    ) -> Result<TaskMutation, RepoError>;

    /// Deletes the task (tag links and reminders go with it) and records `task.deleted` carrying
    /// the task as it was.
    async fn delete(
        &self,
        user: &UserId,
        id: TaskId,
        ctx: &WriteContext,
    ) -> Result<Task, RepoError>;

    /// The user's task with this title and rule created at or after `since` (the seed's 60-second
    /// duplicate-create guard for agents that retry).
    async fn find_recent_duplicate(
        &self,
        user: &UserId,
        title: &str,
        rule: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<Task>, RepoError>;

    /// Up to `limit` of the user's tasks, newest first, optionally only pending ones ("did you
    /// mean" suggestions).
    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError>;

    // --- for background roles (not user-scoped) ---

    /// A reminder with its task (any user).
    async fn reminder(&self, id: ReminderId) -> Result<Option<(Reminder, Task)>, RepoError> {
        Ok(self.reminders(&[id]).await?.pop())
    }

    /// The reminders among `ids` that exist, each with its task (any user), in no particular
    /// order; an unknown id, or one whose task was deleted, is left out. One read for a batch of
    /// due reminders instead of one per reminder (issue #8: a burst's reads were a tenth of its
    /// CPU).
    async fn reminders(&self, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError>;

    /// Marks a pending reminder fired and records `event` (its `reminder.due`) in one transaction.
    /// Returns false, writing nothing, if the reminder is gone, not pending any more, or its
    /// instant is no longer `expected_remind_at` (it was moved): that makes firing idempotent.
    async fn fire_reminder(
        &self,
        id: ReminderId,
        expected_remind_at: DateTime<Utc>,
        fired_at: DateTime<Utc>,
        late: bool,
        event: OutgoingEvent,
    ) -> Result<bool, RepoError>;

    /// Sets the final status of a reminder (`sent`, `failed`, `skipped`) at `ctx.now` and records
    /// `task.updated` (changed field `reminders`, the task as it is now) in the same transaction,
    /// so every reader of the task's events (the web page's live feed among them) learns of it.
    /// A reminder that is gone, or already has this status, changes nothing and records nothing.
    async fn finish_reminder(
        &self,
        id: ReminderId,
        status: ReminderStatus,
        ctx: &WriteContext,
    ) -> Result<(), RepoError>;

    /// Pending reminders with `id > after`, by id, at most `limit` (start-up reconciliation).
    async fn pending_reminders(
        &self,
        after: ReminderId,
        limit: u32,
    ) -> Result<Vec<Reminder>, RepoError>;
}

#[async_trait]
pub trait LabelRepository: Send + Sync {
    /// `Duplicate` on a name the user already has for this kind; `LimitExceeded` past the kind's cap.
    async fn create(
        &self,
        user: &UserId,
        kind: LabelKind,
        name: LabelName,
        color: Option<Color>,
        now: DateTime<Utc>,
    ) -> Result<Label, RepoError>;

    /// Oldest first, with task counts.
    async fn list(&self, user: &UserId, kind: LabelKind) -> Result<Vec<Label>, RepoError>;

    async fn get(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<Option<Label>, RepoError>;

    async fn update(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
        name: Option<LabelName>,
        color: Patch<Color>,
    ) -> Result<Label, RepoError>;

    /// Deletes the label; tasks lose it (category set to none, tag links removed). Returns the
    /// label and how many tasks were affected.
    async fn delete(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<(Label, i64), RepoError>;
}

#[async_trait]
pub trait UserRepository: Send + Sync {
    /// Returns the stored user, creating it from the token's claims on first sight. Claims fill in
    /// a missing e-mail or name but never overwrite what the user set through the API.
    async fn upsert_from_claims(
        &self,
        id: &UserId,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<User, RepoError>;

    async fn get(&self, id: &UserId) -> Result<Option<User>, RepoError>;

    async fn save(&self, user: &User) -> Result<User, RepoError>;
}
