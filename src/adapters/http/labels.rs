//! `/api/v1/categories` and `/api/v1/tags`: the same five operations on both kinds of label, one
//! implementation told apart by `LabelKind`; the thin handlers below only name the kind (and carry
//! their OpenAPI description).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::extract::{Authed, JsonBody, PathParams};
use super::problem::{ApiResult, ProblemDoc};
use super::views::{DeletedLabelView, LabelListView, LabelView};
use crate::app::input::LabelInput;
use crate::domain::label::LabelKind;

fn base(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Category => "/api/v1/categories",
        LabelKind::Tag => "/api/v1/tags",
    }
}

async fn list(state: AppState, actor: Authed, kind: LabelKind) -> ApiResult<Json<LabelListView>> {
    let labels = state.services.list_labels(&actor.0.user_id, kind).await?;
    Ok(Json(LabelListView {
        items: labels.iter().map(LabelView::from).collect(),
    }))
}

async fn create(
    state: AppState,
    actor: Authed,
    kind: LabelKind,
    input: LabelInput,
) -> ApiResult<Response> {
    let label = state
        .services
        .create_label(&actor.0.user_id, kind, input)
        .await?;
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, format!("{}/{}", base(kind), label.id))],
        Json(LabelView::from(&label)),
    )
        .into_response())
}

async fn get(
    state: AppState,
    actor: Authed,
    kind: LabelKind,
    id: i64,
) -> ApiResult<Json<LabelView>> {
    let label = state.services.get_label(&actor.0.user_id, kind, id).await?;
    Ok(Json(LabelView::from(&label)))
}

async fn update(
    state: AppState,
    actor: Authed,
    kind: LabelKind,
    id: i64,
    input: LabelInput,
) -> ApiResult<Json<LabelView>> {
    let label = state
        .services
        .update_label(&actor.0.user_id, kind, id, input)
        .await?;
    Ok(Json(LabelView::from(&label)))
}

async fn delete(
    state: AppState,
    actor: Authed,
    kind: LabelKind,
    id: i64,
) -> ApiResult<Json<DeletedLabelView>> {
    let (label, affected) = state
        .services
        .delete_label(&actor.0.user_id, kind, id)
        .await?;
    Ok(Json(DeletedLabelView {
        label: LabelView::from(&label),
        tasks_affected: affected,
    }))
}

// ---- categories ----

/// Your categories, oldest first, with task counts.
#[utoipa::path(
    get, path = "/api/v1/categories", tag = "categories",
    responses(
        (status = 200, description = "Your categories", body = LabelListView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_categories(
    State(s): State<AppState>,
    a: Authed,
) -> ApiResult<Json<LabelListView>> {
    list(s, a, LabelKind::Category).await
}

/// Creates a category (name 1-50 characters, unique for you; at most 50 categories).
#[utoipa::path(
    post, path = "/api/v1/categories", tag = "categories",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    request_body = LabelInput,
    responses(
        (status = 201, description = "Created", body = LabelView,
            headers(("Location" = String, description = "URL of the new category"))),
        (status = 400, description = "Malformed JSON or unknown field", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "DUPLICATE_NAME, LIMIT_EXCEEDED", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_ERROR, INVALID_COLOR", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_category(
    State(s): State<AppState>,
    a: Authed,
    JsonBody(input): JsonBody<LabelInput>,
) -> ApiResult<Response> {
    create(s, a, LabelKind::Category, input).await
}

#[utoipa::path(
    get, path = "/api/v1/categories/{id}", tag = "categories",
    params(("id" = i64, Path, description = "Category id")),
    responses(
        (status = 200, description = "The category", body = LabelView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "CATEGORY_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_category(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<LabelView>> {
    get(s, a, LabelKind::Category, id).await
}

/// Renames or recolours a category (`color: null` clears the colour).
#[utoipa::path(
    patch, path = "/api/v1/categories/{id}", tag = "categories",
    params(("id" = i64, Path, description = "Category id")),
    request_body = LabelInput,
    responses(
        (status = 200, description = "The updated category", body = LabelView),
        (status = 400, description = "Malformed JSON, unknown field, or nothing to update", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "CATEGORY_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "DUPLICATE_NAME", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_ERROR, INVALID_COLOR", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_category(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<LabelInput>,
) -> ApiResult<Json<LabelView>> {
    update(s, a, LabelKind::Category, id, input).await
}

/// Deletes a category; its tasks keep existing without a category. Answers 200 with the deleted
/// category and `tasks_affected`.
#[utoipa::path(
    delete, path = "/api/v1/categories/{id}", tag = "categories",
    params(("id" = i64, Path, description = "Category id")),
    responses(
        (status = 200, description = "The deleted category", body = DeletedLabelView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "CATEGORY_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_category(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<DeletedLabelView>> {
    delete(s, a, LabelKind::Category, id).await
}

// ---- tags ----

/// Your tags, oldest first, with task counts.
#[utoipa::path(
    get, path = "/api/v1/tags", tag = "tags",
    responses(
        (status = 200, description = "Your tags", body = LabelListView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_tags(State(s): State<AppState>, a: Authed) -> ApiResult<Json<LabelListView>> {
    list(s, a, LabelKind::Tag).await
}

/// Creates a tag (name 1-30 characters, unique for you; at most 100 tags).
#[utoipa::path(
    post, path = "/api/v1/tags", tag = "tags",
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe for 24 h")),
    request_body = LabelInput,
    responses(
        (status = 201, description = "Created", body = LabelView,
            headers(("Location" = String, description = "URL of the new tag"))),
        (status = 400, description = "Malformed JSON or unknown field", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "DUPLICATE_NAME, LIMIT_EXCEEDED", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_ERROR, INVALID_COLOR", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_tag(
    State(s): State<AppState>,
    a: Authed,
    JsonBody(input): JsonBody<LabelInput>,
) -> ApiResult<Response> {
    create(s, a, LabelKind::Tag, input).await
}

#[utoipa::path(
    get, path = "/api/v1/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The tag", body = LabelView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_tag(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<LabelView>> {
    get(s, a, LabelKind::Tag, id).await
}

/// Renames or recolours a tag (`color: null` clears the colour).
#[utoipa::path(
    patch, path = "/api/v1/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
    request_body = LabelInput,
    responses(
        (status = 200, description = "The updated tag", body = LabelView),
        (status = 400, description = "Malformed JSON, unknown field, or nothing to update", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "DUPLICATE_NAME", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_ERROR, INVALID_COLOR", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_tag(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
    JsonBody(input): JsonBody<LabelInput>,
) -> ApiResult<Json<LabelView>> {
    update(s, a, LabelKind::Tag, id, input).await
}

/// Deletes a tag; it is removed from every task. Answers 200 with the deleted tag and
/// `tasks_affected`.
#[utoipa::path(
    delete, path = "/api/v1/tags/{id}", tag = "tags",
    params(("id" = i64, Path, description = "Tag id")),
    responses(
        (status = 200, description = "The deleted tag", body = DeletedLabelView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "TAG_NOT_FOUND", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn delete_tag(
    State(s): State<AppState>,
    a: Authed,
    PathParams(id): PathParams<i64>,
) -> ApiResult<Json<DeletedLabelView>> {
    delete(s, a, LabelKind::Tag, id).await
}
