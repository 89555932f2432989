//! `/api/v1/tasks/{id}/reminders`: a task's reminders, adding one, cancelling one.

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;

use super::AppState;
use super::extract::{Authed, JsonBody, PathParams};
use super::problem::{ApiResult, Problem, ProblemDoc};
use super::views::{ReminderListView, ReminderView};
use crate::app::input::ReminderInput;
use crate::domain::{ErrorCode, ReminderId, TaskId};

/// Every reminder of the task, whatever its status, oldest first.
#[utoipa::path(
    get, path = "/api/v1/tasks/{id}/reminders", tag = "reminders",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task's reminders", body = ReminderListView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_reminders(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<ReminderListView>> {
    let task = state.services.get_task(&actor.user_id, TaskId(id)).await?;
    let mut items: Vec<ReminderView> = task.reminders.iter().map(ReminderView::from).collect();
    items.sort_by_key(|r| r.id);
    Ok(Json(ReminderListView { items }))
}

/// Adds one reminder: exactly one of `minutes_before` (needs a due date; moves with it) or
/// `remind_at` (an absolute instant, not in the past).
#[utoipa::path(
    post, path = "/api/v1/tasks/{id}/reminders", tag = "reminders",
    params(("id" = i64, Path, description = "Task id"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    request_body = ReminderInput,
    responses(
        (status = 201, description = "The new reminder", body = ReminderView,
            headers(("Location" = String, description = "URL of the new reminder"))),
        (status = 400, description = "Malformed JSON or unknown field", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "INVALID_REMINDER, TOO_MANY_REMINDERS, VALIDATION_ERROR", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn add_reminder(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<ReminderInput>,
) -> ApiResult<impl IntoResponse> {
    let spec = input.into_spec()?;
    let task = state
        .services
        .add_reminders(&actor, TaskId(id), vec![spec])
        .await?;
    // The write stores the task's state right after it, so its newest reminder is this one.
    let reminder = task
        .reminders
        .iter()
        .max_by_key(|r| r.id)
        .ok_or_else(Problem::internal)?;
    Ok((
        StatusCode::CREATED,
        [(
            header::LOCATION,
            format!("/api/v1/tasks/{}/reminders/{}", task.id, reminder.id),
        )],
        Json(ReminderView::from(reminder)),
    ))
}

/// Cancels a pending reminder and answers 200 with it (status `cancelled`).
#[utoipa::path(
    delete, path = "/api/v1/tasks/{id}/reminders/{reminder_id}", tag = "reminders",
    params(("id" = i64, Path, description = "Task id"),
        ("reminder_id" = i64, Path, description = "Reminder id")),
    responses(
        (status = 200, description = "The cancelled reminder", body = ReminderView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TASK_NOT_FOUND or REMINDER_NOT_FOUND (also when no longer pending)", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn cancel_reminder(
    State(state): State<AppState>,
    Authed(actor): Authed,
    PathParams((id, reminder_id)): PathParams<(i64, i64)>,
) -> ApiResult<Json<ReminderView>> {
    let task = state
        .services
        .cancel_reminder(&actor, TaskId(id), ReminderId(reminder_id))
        .await?;
    task.reminders
        .iter()
        .find(|r| r.id.0 == reminder_id)
        .map(|r| Json(ReminderView::from(r)))
        .ok_or_else(|| {
            Problem::new(
                ErrorCode::ReminderNotFound,
                format!("Reminder #{reminder_id} not found"),
            )
        })
}
