//! Probes and metrics, unauthenticated: `/healthz` (the process answers), `/readyz` (every
//! dependency answers within a timeout) and `/metrics` (Prometheus text).

use std::collections::BTreeMap;
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use crate::ports::error::chain;
use crate::telemetry::metrics;

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Serialize, ToSchema)]
pub struct LiveView {
    /// Always `ok`.
    pub status: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CheckView {
    /// `ok` or `error`.
    pub status: String,
    /// What failed (no internal details).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub duration_ms: u64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready` or `unavailable`.
    pub status: String,
    pub checks: BTreeMap<String, CheckView>,
}

/// Liveness: 200 while the process can answer.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, description = "Alive", body = LiveView)))]
pub async fn healthz() -> Json<LiveView> {
    Json(LiveView {
        status: "ok".into(),
    })
}

/// Readiness: runs every dependency check concurrently; 503 if any fails or times out.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses(
        (status = 200, description = "Every dependency answers", body = ReadyView),
        (status = 503, description = "A dependency failed", body = ReadyView),
    ))]
pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let runs = state.health.iter().map(|check| async move {
        let started = std::time::Instant::now();
        let result = tokio::time::timeout(CHECK_TIMEOUT, check.check()).await;
        let duration_ms = started.elapsed().as_millis() as u64;
        let error = match result {
            Ok(Ok(())) => None,
            Ok(Err(e)) => {
                tracing::warn!(check = check.name(), error = %chain(&e), "readiness check failed");
                Some(format!("{} check failed", check.name()))
            }
            Err(_) => {
                tracing::warn!(check = check.name(), "readiness check timed out");
                Some(format!("timed out after {} ms", CHECK_TIMEOUT.as_millis()))
            }
        };
        (
            check.name().to_owned(),
            CheckView {
                status: if error.is_none() { "ok" } else { "error" }.into(),
                error,
                duration_ms,
            },
        )
    });
    let checks: BTreeMap<String, CheckView> =
        futures::future::join_all(runs).await.into_iter().collect();
    let ready = checks.values().all(|c| c.error.is_none());
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(ReadyView {
            status: if ready { "ready" } else { "unavailable" }.into(),
            checks,
        }),
    )
}

/// Prometheus text: the process counters and the outbox backlog gauge.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut gauges = Vec::new();
    if let Some(outbox) = &state.outbox {
        match outbox.backlog().await {
            Ok(n) => gauges.push((
                "tickler_outbox_backlog",
                "Outbox events not yet published",
                n as f64,
            )),
            Err(e) => tracing::warn!(error = %chain(&e), "outbox backlog unavailable"),
        }
    }
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(&gauges),
    )
}
