//! `/api/v1/tasks`: create, list (filters, sort, search, cursor pagination), get, update, delete,
//! complete, reopen, and the task–tag links.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Deserialize;
use utoipa::IntoParams;

use super::AppState;
use super::extract::{Authed, JsonBody, PathParams, QueryParams};
use super::problem::{ApiResult, ProblemDoc};
use super::views::{TagLinkView, TaskPageView, TaskView, tag_link_status};
use crate::app::input::{CreateTaskInput, UpdateTaskInput};
use crate::domain::query::{
    Cursor, MAX_LIMIT, SearchText, SortKey, SortOrder, StatusFilter, TaskQuery,
};
use crate::domain::task::{Priority, parse_instant};
use crate::domain::{CategoryId, TagId, TaskId, ValidationError};

/// Query parameters of `GET /api/v1/tasks`. Every value is checked: a bad one is a 422 naming the
/// parameter, an unknown parameter a 400, so no filter is ever silently ignored.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// all | pending | completed (default all).
    pub status: Option<String>,
    /// low | medium | high | urgent.
    pub priority: Option<String>,
    #[param(value_type = Option<i64>)]
    pub category_id: Option<String>,
    /// Comma-separated tag ids; tasks carrying any of them.
    #[param(example = "1,2")]
    pub tag_ids: Option<String>,
    /// ISO 8601 instant; tasks due strictly before it (tasks without a due date are excluded).
    pub due_before: Option<String>,
    /// ISO 8601 instant; tasks due strictly after it.
    pub due_after: Option<String>,
    /// `true`: only pending tasks past their due date.
    #[param(value_type = Option<bool>)]
    pub overdue: Option<String>,
    /// Full-text search (prefix match on words of title and description; title matches rank
    /// first). Results are ordered by relevance and carry `search_rank`; cannot be combined with
    /// `sort`/`order`. Only the caller's 1,000 newest matching tasks are ranked.
    pub q: Option<String>,
    /// created_at | due_date | priority | title (short forms `created`, `due` accepted; default
    /// created_at).
    #[serde(alias = "sort_by")]
    pub sort: Option<String>,
    /// asc | desc (default: desc for created_at and priority, asc for due_date and title).
    pub order: Option<String>,
    /// 1-100, default 50.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl ListParams {
    pub fn into_query(self) -> Result<TaskQuery, ValidationError> {
        let int = |raw: &str, field: &'static str| {
            raw.trim()
                .parse::<i64>()
                .map_err(|_| ValidationError::invalid(field, format!("{field} must be an integer")))
        };
        let search = self.q.as_deref().map(SearchText::parse).transpose()?;
        if search.is_some() && (self.sort.is_some() || self.order.is_some()) {
            return Err(ValidationError::invalid(
                "sort",
                "Search results are ordered by relevance; sort and order cannot be combined with q",
            ));
        }
        let tag_ids = match self.tag_ids.as_deref() {
            None => Vec::new(),
            Some(raw) => {
                // Counted as sent, duplicates included (the document's pattern says so).
                if raw.split(',').count() > MAX_LIMIT as usize {
                    return Err(ValidationError::invalid("tag_ids", "At most 100 tag ids"));
                }
                let mut ids: Vec<TagId> = Vec::new();
                for part in raw.split(',') {
                    let id = TagId(int(part, "tag_ids")?);
                    if !ids.contains(&id) {
                        ids.push(id);
                    }
                }
                if ids.len() > MAX_LIMIT as usize {
                    return Err(ValidationError::invalid("tag_ids", "At most 100 tag ids"));
                }
                ids
            }
        };
        let limit = match self.limit.as_deref() {
            None => 0,
            Some(raw) => raw
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|l| (1..=MAX_LIMIT).contains(l))
                .ok_or_else(|| {
                    ValidationError::invalid("limit", "limit must be an integer from 1 to 100")
                })?,
        };
        let overdue = match self
            .overdue
            .as_deref()
            .map(|s| s.trim().to_ascii_lowercase())
        {
            None => false,
            Some(v) if v == "true" || v == "1" => true,
            Some(v) if v == "false" || v == "0" => false,
            Some(_) => {
                return Err(ValidationError::invalid(
                    "overdue",
                    "overdue must be true or false",
                ));
            }
        };
        Ok(TaskQuery {
            status: self
                .status
                .as_deref()
                .map(StatusFilter::parse)
                .transpose()?
                .unwrap_or_default(),
            priority: self.priority.as_deref().map(Priority::parse).transpose()?,
            category_id: self
                .category_id
                .as_deref()
                .map(|c| int(c, "category_id").map(CategoryId))
                .transpose()?,
            tag_ids,
            due_before: self
                .due_before
                .as_deref()
                .map(|d| parse_instant(d, "due_before"))
                .transpose()?,
            due_after: self
                .due_after
                .as_deref()
                .map(|d| parse_instant(d, "due_after"))
                .transpose()?,
            overdue,
            search,
            sort: self
                .sort
                .as_deref()
                .map(SortKey::parse)
                .transpose()?
                .unwrap_or_default(),
            order: self.order.as_deref().map(SortOrder::parse).transpose()?,
            limit,
            cursor: self.cursor.as_deref().map(Cursor::decode).transpose()?,
        })
    }
}

pub(super) fn task_location(id: TaskId) -> String {
    format!("/api/v1/tasks/{id}")
}

/// Creates a task. Omitting `reminders` gives the user's default reminder when there is a due
/// date. Send an `Idempotency-Key` to make retries safe.
#[utoipa::path(
    post, path = "/api/v1/tasks", tag = "tasks",
    request_body = CreateTaskInput,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    responses(
        (status = 201, description = "Created", body = TaskView,
            headers(("Location" = String, description = "URL of the new task"))),
        (status = 400, description = "Malformed JSON or unknown field", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "CATEGORY_NOT_FOUND or TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "IDEMPOTENCY_CONFLICT (same key in flight)", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed (INVALID_PRIORITY, TOO_MANY_TAGS, INVALID_RECURRENCE_RULE, INVALID_DUE_DATE, INVALID_REMINDER, TOO_MANY_REMINDERS, VALIDATION_ERROR, IDEMPOTENCY_CONFLICT)", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    JsonBody(input): JsonBody<CreateTaskInput>,
) -> ApiResult<impl IntoResponse> {
    let new = input.into_new_task()?;
    let task = state.services.create_task(&actor, new).await?;
    let now = state.services.clock.now();
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, task_location(task.id))],
        Json(TaskView::new(&task, now)),
    ))
}

/// Lists the caller's tasks: filters, sort, full-text search and cursor pagination.
#[utoipa::path(
    get, path = "/api/v1/tasks", tag = "tasks",
    params(ListParams),
    responses(
        (status = 200, description = "A page of tasks", body = TaskPageView),
        (status = 400, description = "Unknown or repeated query parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Bad parameter value (VALIDATION_ERROR, INVALID_PRIORITY, INVALID_CURSOR)", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_tasks(
    State(state): State<AppState>,
    Authed(actor): Authed,
    QueryParams(params): QueryParams<ListParams>,
) -> ApiResult<Json<TaskPageView>> {
    let query = params.into_query()?;
    let searching = query.search.is_some();
    let page = state.services.list_tasks(&actor.user_id, &query).await?;
    let now = state.services.clock.now();
    Ok(Json(TaskPageView {
        items: page
            .items
            .iter()
            .map(|r| TaskView::new(&r.item, now).ranked(searching.then_some(r.rank)))
            .collect(),
        next_cursor: page.next_cursor,
    }))
}

#[utoipa::path(
    get, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<TaskView>> {
    let task = state.services.get_task(&actor.user_id, TaskId(id)).await?;
    Ok(Json(TaskView::new(&task, state.services.clock.now())))
}

/// Partial update. An absent field is left alone; `null` (or `""` for text) clears
/// `description`, `due_date`, `category_id` and `recurrence_rule`.
#[utoipa::path(
    patch, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    request_body = UpdateTaskInput,
    responses(
        (status = 200, description = "The updated task", body = TaskView),
        (status = 400, description = "Malformed JSON, unknown field, or no field to update", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND, CATEGORY_NOT_FOUND or TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "Validation failed", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<UpdateTaskInput>,
) -> ApiResult<Json<TaskView>> {
    let patch = input.into_patch()?;
    let task = state
        .services
        .update_task(&actor, TaskId(id), patch)
        .await?;
    Ok(Json(TaskView::new(&task, state.services.clock.now())))
}

/// Deletes the task (its reminders and tag links go with it) and answers 200 with the task as it
/// was.
#[utoipa::path(
    delete, path = "/api/v1/tasks/{id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The deleted task", body = TaskView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<TaskView>> {
    let task = state.services.delete_task(&actor, TaskId(id)).await?;
    Ok(Json(TaskView::new(&task, state.services.clock.now())))
}

/// Marks the task completed (cancelling its pending reminders). Completing a completed task
/// changes nothing.
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/complete", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    responses(
        (status = 200, description = "The completed task", body = TaskView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn complete_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<TaskView>> {
    let task = state.services.complete_task(&actor, TaskId(id)).await?;
    Ok(Json(TaskView::new(&task, state.services.clock.now())))
}

/// Marks the task pending again (restoring reminders still in the future).
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/reopen", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    responses(
        (status = 200, description = "The reopened task", body = TaskView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn reopen_task(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<TaskView>> {
    let task = state.services.reopen_task(&actor, TaskId(id)).await?;
    Ok(Json(TaskView::new(&task, state.services.clock.now())))
}

/// Puts a tag on a task; `status` says `added` or `already_assigned`.
#[utoipa::path(
    put, path = "/api/v1/tasks/{id}/tags/{tag_id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), ("tag_id" = i64, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The link", body = TagLinkView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND or TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "TOO_MANY_TAGS", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn add_tag(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams((id, tag_id)): PathParams<(i64, i64)>,
) -> ApiResult<Json<TagLinkView>> {
    let (task, link) = state
        .services
        .add_tag(&actor, TaskId(id), TagId(tag_id))
        .await?;
    Ok(Json(link_view(&state, &task, tag_id, link)))
}

/// Takes a tag off a task; `status` says `removed` or `not_assigned`.
#[utoipa::path(
    delete, path = "/api/v1/tasks/{id}/tags/{tag_id}", tag = "tasks",
    params(("id" = i64, Path, description = "Task id"), ("tag_id" = i64, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The link", body = TagLinkView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn remove_tag(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams((id, tag_id)): PathParams<(i64, i64)>,
) -> ApiResult<Json<TagLinkView>> {
    let (task, link) = state
        .services
        .remove_tag(&actor, TaskId(id), TagId(tag_id))
        .await?;
    Ok(Json(link_view(&state, &task, tag_id, link)))
}

fn link_view(
    state: &AppState,
    task: &crate::domain::task::Task,
    tag_id: i64,
    link: crate::domain::change::TagLink,
) -> TagLinkView {
    TagLinkView {
        status: tag_link_status(link).to_owned(),
        task_id: task.id.0,
        tag_id,
        task: TaskView::new(task, state.services.clock.now()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    fn params(f: impl FnOnce(&mut ListParams)) -> ListParams {
        let mut p = ListParams::default();
        f(&mut p);
        p
    }

    #[test]
    fn bad_values_are_refused_with_their_code() {
        let code = |p: ListParams| p.into_query().unwrap_err().code;
        assert_eq!(
            code(params(|p| p.priority = Some("critical".into()))),
            ErrorCode::InvalidPriority
        );
        assert_eq!(
            code(params(|p| p.cursor = Some("nope".into()))),
            ErrorCode::InvalidCursor
        );
        for f in [
            (|p: &mut ListParams| p.limit = Some("0".into())) as fn(&mut ListParams),
            |p| p.limit = Some("101".into()),
            |p| p.status = Some("done".into()),
            |p| p.sort = Some("colour".into()),
            |p| p.order = Some("up".into()),
            |p| p.overdue = Some("maybe".into()),
            |p| p.tag_ids = Some("1,x".into()),
            |p| p.category_id = Some("x".into()),
            |p| p.due_before = Some("tomorrow".into()),
            |p| p.q = Some("!!".into()),
            |p| {
                p.q = Some("milk".into());
                p.sort = Some("title".into());
            },
        ] {
            assert_eq!(code(params(f)), ErrorCode::ValidationError);
        }
    }

    #[test]
    fn good_values_build_the_query() {
        let q = params(|p| {
            p.status = Some("pending".into());
            p.tag_ids = Some("3, 1,3".into());
            p.sort = Some("due".into());
            p.limit = Some("7".into());
            p.overdue = Some("true".into());
        })
        .into_query()
        .unwrap();
        assert_eq!(q.status, StatusFilter::Pending);
        assert_eq!(q.tag_ids, vec![TagId(3), TagId(1)]);
        assert_eq!(q.sort, SortKey::DueDate);
        assert_eq!(q.limit, 7);
        assert!(q.overdue);
    }
}
