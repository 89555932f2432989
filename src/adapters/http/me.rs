//! `/api/v1/me`: the caller's profile (created from the token's claims on first sight).

use axum::Json;
use axum::extract::State;

use super::AppState;
use super::extract::{Authed, JsonBody};
use super::problem::{ApiResult, Problem, ProblemDoc};
use super::views::UserView;
use crate::app::input::UserPatchInput;

#[utoipa::path(
    get, path = "/api/v1/me", tag = "me",
    responses(
        (status = 200, description = "Your profile", body = UserView),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn get_me(
    State(state): State<AppState>,
    Authed(actor): Authed,
) -> ApiResult<Json<UserView>> {
    let user = state.services.current_user(&actor).await?;
    Ok(Json(UserView::from(&user)))
}

/// Changes e-mail, name, time zone or default reminder. Every field is checked before any is
/// written.
#[utoipa::path(
    patch, path = "/api/v1/me", tag = "me",
    request_body = UserPatchInput,
    responses(
        (status = 200, description = "Your updated profile", body = UserView),
        (status = 400, description = "Malformed JSON, unknown field, or nothing to update", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "VALIDATION_ERROR, INVALID_TIME_ZONE, INVALID_REMINDER", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_me(
    State(state): State<AppState>,
    Authed(actor): Authed,
    JsonBody(input): JsonBody<UserPatchInput>,
) -> ApiResult<Json<UserView>> {
    if input.email.is_none()
        && input.name.is_none()
        && input.time_zone.is_none()
        && input.default_reminder_minutes.is_none()
    {
        return Err(Problem::invalid_request(
            "Must provide at least one field to update (email, name, time_zone, default_reminder_minutes)",
        )
        .with_field("body"));
    }
    let user = state.services.update_user(&actor, input).await?;
    Ok(Json(UserView::from(&user)))
}
