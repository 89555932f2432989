//! The routes daprd calls on the app, as one router served on a listener of their own
//! (`dapr.app_listen`, i.e. `APP_PORT`), never on the public API listener:
//!
//! | route | for |
//! |---|---|
//! | `GET /dapr/subscribe` | the programmatic subscriptions (see `intake`) |
//! | `GET /dapr/config` | daprd asks at start; Tickler has no actor settings: `{}` |
//! | `POST /events/{topic}` | deliveries of a topic this process consumes |
//! | `POST /dead-letters/{topic}` | deliveries of `{topic}.dlq`, recorded in `DeadLetters` |
//! | `POST /job/{name}` | Jobs API triggers (see `scheduler`) |
//!
//! With `dapr.app_token` set (`APP_API_TOKEN`), every route requires it in `dapr-api-token`,
//! compared in constant time; anything else gets 401 and changes nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use super::client::TOKEN_HEADER;
use super::intake::{IntakeInner, key_from};
use super::scheduler::{Fired, JobsInner};
use crate::config::Secret;
use crate::ports::DeadLetters;

#[derive(Clone)]
pub(crate) struct AppState {
    pub intake: Arc<IntakeInner>,
    pub jobs: Arc<JobsInner>,
    pub dead_letters: Arc<dyn DeadLetters>,
    pub token: Option<Secret>,
}

pub(crate) fn router(state: AppState) -> Router {
    if state.token.is_none() {
        tracing::warn!(
            "dapr.app_token (APP_API_TOKEN) is not set: the Dapr-facing routes accept any caller"
        );
    }
    Router::new()
        .route("/dapr/subscribe", get(subscriptions))
        .route(
            "/dapr/config",
            get(|| async { axum::Json(serde_json::json!({})) }),
        )
        .route("/events/{topic}", post(event))
        .route("/dead-letters/{topic}", post(dead_letter))
        .route("/job/{name}", post(job))
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

/// Equal strings, in time that depends only on their lengths.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(expected) = &state.token {
        let given = req
            .headers()
            .get(TOKEN_HEADER)
            .map(|v| v.as_bytes())
            .unwrap_or_default();
        if !same(given, expected.expose().as_bytes()) {
            tracing::warn!(path = %req.uri().path(), "Dapr-facing route called without the app token; refused");
            return (StatusCode::UNAUTHORIZED, "invalid api token").into_response();
        }
    }
    next.run(req).await
}

async fn subscriptions(State(state): State<AppState>) -> impl IntoResponse {
    axum::Json(state.intake.subscriptions())
}

fn answer(status: super::intake::Status) -> Response {
    axum::Json(serde_json::json!({ "status": status.as_str() })).into_response()
}

async fn event(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match state
        .intake
        .deliver(
            &topic,
            key_from(&headers),
            body.to_vec(),
            state.dead_letters.clone(),
        )
        .await
    {
        Some(status) => answer(status),
        // Not subscribed here: daprd treats 404 as "drop" (to the dead-letter topic).
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn dead_letter(
    State(state): State<AppState>,
    Path(topic): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match state
        .intake
        .dead_letter(
            &topic,
            key_from(&headers),
            &body,
            state.dead_letters.as_ref(),
        )
        .await
    {
        Some(status) => answer(status),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn job(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Response {
    match state.jobs.fire(&name, &body).await {
        Fired::Finished => StatusCode::OK.into_response(),
        Fired::Again => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert!(!same(b"", b"a"));
    }
}
