//! `GET /preview`: the next five occurrences of a rule as the page shows them (JSON for the
//! script), computed by the same code as the REST API's `/api/v1/recurrence/preview`. The start
//! is a due phrase (quick-add) or a `datetime-local` value (the task's page), in the user's zone.

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::{Ctx, Session, WebApp, WebError, due_phrase, format, rules};
use crate::adapters::http::recurrence;
use crate::domain::ValidationError;

#[derive(Debug, Deserialize)]
pub struct PreviewQuery {
    pub rule: Option<String>,
    /// A due phrase (quick-add) …
    pub due: Option<String>,
    /// … or a `datetime-local` value (edit page), in the user's zone.
    pub start: Option<String>,
}

/// The next five occurrences of a rule, as the page shows them (JSON for the script).
pub async fn preview(
    State(state): State<WebApp>,
    session: Session,
    Query(q): Query<PreviewQuery>,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, session).await?;
    let tz = ctx.tz();
    let answer = (|| -> Result<serde_json::Value, String> {
        let rule = q
            .rule
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(String::new)?;
        let start = match (
            q.start.as_deref().map(str::trim).filter(|s| !s.is_empty()),
            q.due.as_deref().map(str::trim).filter(|s| !s.is_empty()),
        ) {
            (Some(s), _) => recurrence::parse_start(s, tz).map_err(|e| e.message)?,
            (None, Some(d)) => due_phrase::parse(d, tz, ctx.now)?,
            (None, None) => recurrence::to_the_minute(ctx.now),
        };
        let p = recurrence::preview(rule, start, recurrence::DEFAULT_COUNT, tz)
            .map_err(|e: ValidationError| e.message)?;
        let items: Vec<String> = p
            .occurrences
            .iter()
            .filter_map(|o| chrono::DateTime::parse_from_rfc3339(&o.at).ok())
            .map(|t| format::when(t.with_timezone(&chrono::Utc), tz, ctx.now))
            .collect();
        Ok(serde_json::json!({
            "ok": true,
            "rule": p.rule,
            "text": rules::describe(&p.rule),
            "time_zone": p.time_zone,
            "items": items,
            "ends": p.ends,
        }))
    })();
    Ok(
        Json(answer.unwrap_or_else(|e| serde_json::json!({ "ok": false, "error": e })))
            .into_response(),
    )
}
