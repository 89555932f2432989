//! The REST API inbound adapter (axum): `/api/v1` (tasks, reminders, categories, tags, me, the
//! OpenAPI document), and the unauthenticated `/healthz`, `/readyz`, `/metrics`.
//!
//! Conventions:
//! - Auth: `Authorization: Bearer <HS256 JWT>`; every query is scoped to the token's `sub`, and
//!   another user's task, category, tag or reminder is a 404 exactly like a missing one.
//! - Order of checks, the same on every route: 401 (token) first, then 400/415 framing
//!   (`Idempotency-Key`, path, query syntax, content type, JSON shape), then 422 content rules.
//!   The one exception is a declared `Content-Length` over the limit: 413 before anything, so an
//!   oversized body is never read, whoever sends it.
//! - Errors: `application/problem+json` with a stable `code` (see [`problem`]).
//! - `POST` creating a resource answers 201 with `Location`; other `POST`s 200.
//! - `DELETE` answers 200 with the deleted resource as it was (labels add `tasks_affected`;
//!   a cancelled reminder shows status `cancelled`), so a client can undo or log it.
//! - `Idempotency-Key` on any `POST` makes retries safe (see [`idempotency`]).
//! - Bodies larger than [`HttpState::body_limit`] are refused with 413 `PAYLOAD_TOO_LARGE`;
//!   unknown JSON fields with 400 `INVALID_REQUEST` naming the field.
//!
//! [`router`] returns a `Router` with its state applied, so the composition root can `.merge()`
//! other routers (e.g. `/mcp`) into it; those must not set a fallback of their own.

pub mod extract;
pub mod health;
pub mod idempotency;
pub mod labels;
pub mod me;
pub mod openapi;
pub mod openapi_contract;
pub mod problem;
pub mod recurrence;
pub mod reminders;
pub mod tasks;
pub mod views;

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};

use crate::app::Services;
use crate::auth::Auth;
use crate::domain::ErrorCode;
use crate::ports::{HealthCheck, Outbox};
use crate::telemetry::metrics;
use problem::Problem;

/// Default request body limit: 64 KiB is far above any valid task (10 000-character description).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Everything the HTTP adapter needs, built by the composition root.
pub struct HttpState {
    pub services: Services,
    pub auth: Arc<Auth>,
    /// Run by `/readyz` (database, transport, …).
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// For the `tickler_outbox_backlog` gauge of `/metrics` (none in roles without an outbox).
    pub outbox: Option<Arc<dyn Outbox>>,
    /// Largest accepted request body, in bytes (see [`DEFAULT_BODY_LIMIT`]).
    pub body_limit: usize,
}

pub(crate) type AppState = Arc<HttpState>;

/// The whole HTTP surface of the backend role, state applied.
pub fn router(state: HttpState) -> Router {
    let limit = state.body_limit;
    let state: AppState = Arc::new(state);

    let api = Router::new()
        .route("/tasks", post(tasks::create_task).get(tasks::list_tasks))
        .route(
            "/tasks/{id}",
            get(tasks::get_task)
                .patch(tasks::update_task)
                .delete(tasks::delete_task),
        )
        .route("/tasks/{id}/complete", post(tasks::complete_task))
        .route("/tasks/{id}/reopen", post(tasks::reopen_task))
        .route(
            "/tasks/{id}/tags/{tag_id}",
            put(tasks::add_tag).delete(tasks::remove_tag),
        )
        .route(
            "/tasks/{id}/reminders",
            get(reminders::list_reminders).post(reminders::add_reminder),
        )
        .route(
            "/tasks/{id}/reminders/{reminder_id}",
            axum::routing::delete(reminders::cancel_reminder),
        )
        .route(
            "/categories",
            get(labels::list_categories).post(labels::create_category),
        )
        .route(
            "/categories/{id}",
            get(labels::get_category)
                .patch(labels::update_category)
                .delete(labels::delete_category),
        )
        .route("/tags", get(labels::list_tags).post(labels::create_tag))
        .route(
            "/tags/{id}",
            get(labels::get_tag)
                .patch(labels::update_tag)
                .delete(labels::delete_tag),
        )
        .route("/me", get(me::get_me).patch(me::update_me))
        .route("/recurrence/preview", get(recurrence::preview_recurrence))
        // Only on the routes above (it acts on POST alone).
        .route_layer(from_fn_with_state(state.clone(), idempotency::idempotency))
        // Outermost on the same routes: 401 before any other check (see `authenticate_first`).
        .route_layer(from_fn_with_state(
            state.clone(),
            extract::authenticate_first,
        ))
        .route("/openapi.json", get(openapi::openapi_json))
        .method_not_allowed_fallback(method_not_allowed);

    layered(Router::new().nest("/api/v1", api), limit, state)
}

/// Only `/healthz`, `/readyz` and `/metrics`: the HTTP surface of the roles that serve no API.
pub fn ops_router(state: HttpState) -> Router {
    let limit = state.body_limit;
    layered(Router::new(), limit, Arc::new(state))
}

/// The probes, fallbacks and the layers every route shares (limits, panics, request ids, traces).
fn layered(routes: Router<AppState>, limit: usize, state: AppState) -> Router {
    routes
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(from_fn_with_state(limit, content_length_guard))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(from_fn(count_requests))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    // Method, path and request id only: headers (Authorization) and query strings
                    // stay out of the logs.
                    let request_id = req
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    tracing::info_span!(
                        "http",
                        method = %req.method(),
                        path = %req.uri().path(),
                        request_id,
                    )
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO))
                // 5xx are logged once, with their cause, where they are answered.
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}

async fn not_found() -> Problem {
    Problem::new(ErrorCode::NotFound, "No such route")
}

async fn method_not_allowed() -> Problem {
    Problem::invalid_request("Method not allowed on this route")
        .with_status(StatusCode::METHOD_NOT_ALLOWED)
}

/// Refuses a declared body over the limit before reading it (chunked bodies are cut by
/// `DefaultBodyLimit` in the extractors).
async fn content_length_guard(State(limit): State<usize>, req: Request, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Problem::payload_too_large(limit).into_response();
    }
    next.run(req).await
}

async fn count_requests(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    metrics::HTTP_REQUESTS.inc();
    if res.status().is_server_error() {
        metrics::HTTP_ERRORS.inc();
    }
    res
}

fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let msg = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %msg, "request handler panicked");
    Problem::internal().into_response()
}
