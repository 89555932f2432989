//! Task tools: `add_task`, `list_tasks`, `get_task`, `update_task`, `complete_task`,
//! `delete_task`, `search_tasks`. Arguments are converted by `app::input` (shared with REST) and
//! every write goes through the same `Services` method as REST, so the outbox records the same
//! events.

use rmcp::schemars::JsonSchema;
use serde::Deserialize;

use super::errors::{Suggest, ToolError, not_found, task_error};
use super::views::{
    Deleted, SearchHit, SearchResult, Success, TaskCompleted, TaskCreated, TaskDeleted, TaskFound,
    TaskList, TaskUpdated, TaskView,
};
use super::{Call, Reply};
use crate::app::ServiceError;
use crate::app::input::{CreateTaskInput, UpdateTaskInput, tri_state};
use crate::domain::query::{Cursor, SearchText, SortKey, StatusFilter, TaskQuery};
use crate::domain::task::{Priority, parse_instant};
use crate::domain::{CategoryId, ErrorCode, TagId, TaskId, ValidationError};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct AddTaskParams {
    /// What to do, 1-200 characters.
    pub title: String,
    /// Optional details.
    pub description: Option<String>,
    /// low | medium | high | urgent (default medium).
    pub priority: Option<String>,
    /// One of your category ids (see list_categories).
    pub category_id: Option<i64>,
    /// Up to 10 of your tag ids (see list_tags).
    pub tag_ids: Option<Vec<i64>>,
    /// ISO 8601: "2026-03-15T17:00:00Z", "2026-03-15T09:00:00-05:00", or a date alone
    /// "2026-03-15" (a date alone, or 00:00, means the end of that day, 23:59:59).
    pub due_date: Option<String>,
    /// "daily", "weekdays", "every monday", "every 2 weeks", "monthly", or an RFC 5545 RRULE
    /// such as "FREQ=WEEKLY;BYDAY=MO,WE,FR".
    pub recurrence_rule: Option<String>,
}

pub async fn add_task(c: &Call<'_>, p: AddTaskParams) -> Result<Reply, ToolError> {
    let new = CreateTaskInput {
        title: p.title,
        description: p.description,
        priority: p.priority,
        due_date: p.due_date,
        category_id: p.category_id,
        tag_ids: p.tag_ids,
        recurrence_rule: p.recurrence_rule,
        // Not mentioned: the user's default reminder applies (an hour before the due date).
        reminders: None,
    }
    .into_new_task()?;
    let (task, created) = c
        .services
        .create_task_once(c.actor, new)
        .await
        .map_err(|e| ToolError::from_service(&e, "create task"))?;
    let labels = c.labels_of(&[&task]).await?;
    Ok(Reply::object(&TaskCreated::new(&task, &labels, created)))
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct ListTasksParams {
    /// all | pending | completed (default all).
    #[schemars(extend("enum" = ["all", "pending", "completed", null]))]
    pub status: Option<String>,
    /// Only this priority: low | medium | high | urgent.
    pub priority: Option<String>,
    /// Only tasks in this category.
    pub category_id: Option<i64>,
    /// Only tasks carrying at least one of these tags.
    pub tag_ids: Option<Vec<i64>>,
    /// Only tasks due strictly before this ISO 8601 instant (tasks without a due date are left
    /// out).
    pub due_before: Option<String>,
    /// Only tasks due strictly after this ISO 8601 instant (tasks without a due date are left
    /// out).
    pub due_after: Option<String>,
    /// created_at (newest first, default) | due_date (soonest first, undated last) | priority
    /// (urgent first) | title (A-Z).
    #[schemars(extend("enum" = ["created_at", "due_date", "priority", "title", null]))]
    pub sort_by: Option<String>,
    /// Page size, 1-100 (default 50).
    pub limit: Option<u32>,
    /// The next_cursor of a previous list_tasks call with the same filters.
    pub cursor: Option<String>,
}

/// Renames the domain's field names to this tool's argument names in error details.
fn field(mut v: ValidationError, name: &'static str) -> ValidationError {
    v.field = Some(name);
    v
}

fn list_query(p: ListTasksParams) -> Result<TaskQuery, ValidationError> {
    Ok(TaskQuery {
        status: p
            .status
            .as_deref()
            .map(StatusFilter::parse)
            .transpose()?
            .unwrap_or_default(),
        priority: p.priority.as_deref().map(Priority::parse).transpose()?,
        category_id: p.category_id.map(CategoryId),
        tag_ids: p
            .tag_ids
            .unwrap_or_default()
            .into_iter()
            .map(TagId)
            .collect(),
        due_before: p
            .due_before
            .as_deref()
            .map(|d| parse_instant(d, "due_before"))
            .transpose()?,
        due_after: p
            .due_after
            .as_deref()
            .map(|d| parse_instant(d, "due_after"))
            .transpose()?,
        overdue: false,
        search: None,
        sort: p
            .sort_by
            .as_deref()
            .map(|s| SortKey::parse(s).map_err(|e| field(e, "sort_by")))
            .transpose()?
            .unwrap_or_default(),
        order: None,
        limit: check_limit(p.limit)?,
        cursor: p.cursor.as_deref().map(Cursor::decode).transpose()?,
    })
}

fn check_limit(limit: Option<u32>) -> Result<u32, ValidationError> {
    match limit {
        None => Ok(0),
        Some(n @ 1..=100) => Ok(n),
        Some(_) => Err(ValidationError::invalid(
            "limit",
            "limit must be between 1 and 100",
        )),
    }
}

pub async fn list_tasks(c: &Call<'_>, p: ListTasksParams) -> Result<Reply, ToolError> {
    let query = list_query(p)?;
    // A filter on someone else's (or a deleted) label is an error, not an empty list.
    if let Some(cat) = query.category_id {
        c.require_category(cat.0).await?;
    }
    for tag in &query.tag_ids {
        c.require_tag(tag.0).await?;
    }
    let page = c
        .services
        .list_tasks(&c.actor.user_id, &query)
        .await
        .map_err(|e| ToolError::from_service(&e, "list tasks"))?;
    let tasks: Vec<_> = page.items.iter().map(|r| &r.item).collect();
    let labels = c.labels_of(&tasks).await?;
    let list = TaskList {
        result: tasks.iter().map(|t| TaskView::new(t, &labels)).collect(),
        next_cursor: page.next_cursor,
    };
    let more = list.next_cursor.as_ref().map(|cur| {
        format!(
            "More tasks match: call list_tasks again with the same filters and cursor=\"{cur}\" for the next page."
        )
    });
    Ok(Reply::list(&list.result, list.next_cursor.as_deref(), more))
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct TaskIdParams {
    /// The task's id (from add_task, list_tasks or search_tasks).
    pub task_id: i64,
}

pub async fn get_task(c: &Call<'_>, p: TaskIdParams) -> Result<Reply, ToolError> {
    let id = TaskId(p.task_id);
    let task = match c.services.get_task(&c.actor.user_id, id).await {
        Ok(t) => t,
        // The seed's get_task answered NOT_FOUND "Task not found: {id}"; keep that contract and
        // add the suggestions the other tools give.
        Err(ServiceError::TaskNotFound(_)) => {
            let mut e = not_found(c.services, &c.actor.user_id, id, Suggest::Recent).await;
            e.code = ErrorCode::NotFound.as_str().to_owned();
            e.message = format!("Task not found: {id}");
            return Err(e);
        }
        Err(e) => return Err(ToolError::from_service(&e, "get task")),
    };
    let labels = c.labels_of(&[&task]).await?;
    Ok(Reply::object(&TaskFound {
        status: Success::Success,
        task: TaskView::new(&task, &labels),
        completed_at: task.completed_at.map(super::views::Instant),
        reminders: super::views::pending_reminders(&task),
    }))
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskParams {
    /// The task's id.
    pub task_id: i64,
    /// New title, 1-200 characters.
    pub title: Option<String>,
    /// New description; null or "" removes it.
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<String>")]
    pub description: Option<Option<String>>,
    /// true completes the task (a recurring task then gets its next occurrence); false reopens
    /// it.
    pub completed: Option<bool>,
    /// low | medium | high | urgent.
    pub priority: Option<String>,
    /// One of your category ids; null removes the category.
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<i64>")]
    pub category_id: Option<Option<i64>>,
    /// ISO 8601 date-time or date (a date alone or 00:00 means the end of that day); null or ""
    /// removes the due date (and the reminders relative to it).
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<String>")]
    pub due_date: Option<Option<String>>,
    /// A phrase ("every monday", "weekdays", "every 2 weeks") or an RRULE; null or "" stops the
    /// recurrence.
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<String>")]
    pub recurrence_rule: Option<Option<String>>,
}

pub async fn update_task(c: &Call<'_>, p: UpdateTaskParams) -> Result<Reply, ToolError> {
    let id = TaskId(p.task_id);
    let patch = UpdateTaskInput {
        title: p.title,
        description: p.description,
        priority: p.priority,
        due_date: p.due_date,
        category_id: p.category_id,
        tag_ids: None,
        recurrence_rule: p.recurrence_rule,
        completed: p.completed,
        reminders: None,
    }
    .into_patch()?;
    let task = match c.services.update_task(c.actor, id, patch).await {
        Ok(t) => t,
        // The use case names the REST fields; name this tool's arguments instead.
        Err(ServiceError::Invalid(v)) if v.code == ErrorCode::InvalidRequest => {
            return Err(ToolError::new(
                ErrorCode::InvalidRequest,
                "Must provide at least one field to update (title, description, completed, \
priority, category_id, due_date, recurrence_rule)",
            ));
        }
        Err(e) => {
            return Err(task_error(
                c.services,
                &c.actor.user_id,
                e,
                "update task",
                Suggest::Recent,
            )
            .await);
        }
    };
    let labels = c.labels_of(&[&task]).await?;
    Ok(Reply::object(&TaskUpdated::new(&task, &labels)))
}

pub async fn complete_task(c: &Call<'_>, p: TaskIdParams) -> Result<Reply, ToolError> {
    let id = TaskId(p.task_id);
    match c.services.complete_task(c.actor, id).await {
        Ok(task) => Ok(Reply::object(&TaskCompleted::new(&task))),
        Err(e) => Err(task_error(
            c.services,
            &c.actor.user_id,
            e,
            "complete task",
            Suggest::Pending,
        )
        .await),
    }
}

pub async fn delete_task(c: &Call<'_>, p: TaskIdParams) -> Result<Reply, ToolError> {
    let id = TaskId(p.task_id);
    match c.services.delete_task(c.actor, id).await {
        Ok(task) => Ok(Reply::object(&TaskDeleted {
            status: Deleted::Deleted,
            task_id: task.id.0,
            title: task.title.as_str().to_owned(),
        })),
        Err(e) => Err(task_error(
            c.services,
            &c.actor.user_id,
            e,
            "delete task",
            Suggest::Recent,
        )
        .await),
    }
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct SearchTasksParams {
    /// Words to look for in titles and descriptions, 1-200 characters with at least one letter
    /// or digit. Every word must match (as a word prefix: "meet" finds "meeting"). Ranks the
    /// 1,000 newest matching tasks; use more words for older ones.
    pub query: String,
    /// Most results to return, 1-100 (default 50).
    pub limit: Option<u32>,
}

pub async fn search_tasks(c: &Call<'_>, p: SearchTasksParams) -> Result<Reply, ToolError> {
    let query = TaskQuery {
        search: Some(SearchText::parse(&p.query).map_err(|e| field(e, "query"))?),
        limit: check_limit(p.limit)?,
        ..TaskQuery::default()
    };
    let page = c
        .services
        .list_tasks(&c.actor.user_id, &query)
        .await
        .map_err(|e| ToolError::from_service(&e, "search tasks"))?;
    let tasks: Vec<_> = page.items.iter().map(|r| &r.item).collect();
    let labels = c.labels_of(&tasks).await?;
    let result = SearchResult {
        result: page
            .items
            .iter()
            .map(|r| SearchHit {
                task: TaskView::new(&r.item, &labels),
                search_rank: r.rank,
            })
            .collect(),
    };
    Ok(Reply::list(&result.result, None, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_arguments_are_checked_not_ignored() {
        let bad = |p: ListTasksParams| list_query(p).unwrap_err();
        assert_eq!(
            bad(ListTasksParams {
                status: Some("done".into()),
                ..Default::default()
            })
            .field,
            Some("status")
        );
        assert_eq!(
            bad(ListTasksParams {
                priority: Some("critical".into()),
                ..Default::default()
            })
            .code,
            ErrorCode::InvalidPriority
        );
        assert_eq!(
            bad(ListTasksParams {
                sort_by: Some("colour".into()),
                ..Default::default()
            })
            .field,
            Some("sort_by")
        );
        assert_eq!(
            bad(ListTasksParams {
                limit: Some(0),
                ..Default::default()
            })
            .field,
            Some("limit")
        );
        let q = list_query(ListTasksParams {
            status: Some("PENDING".into()),
            sort_by: Some("due_date".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(q.status, StatusFilter::Pending);
        assert_eq!(q.sort, SortKey::DueDate);
    }

    #[test]
    fn update_tells_clear_from_keep() {
        let p: UpdateTaskParams =
            serde_json::from_value(serde_json::json!({"task_id": 1, "due_date": null})).unwrap();
        assert_eq!(p.due_date, Some(None));
        assert_eq!(p.description, None);
    }
}
