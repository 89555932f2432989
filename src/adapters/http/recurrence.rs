//! `/api/v1/recurrence/preview`: the next occurrences of a rule or phrase, computed by the
//! domain's recurrence code in the caller's time zone, so a client shows exactly what the
//! `recurring` role will create. The web page's live preview uses [`preview`] too.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, LocalResult, NaiveDateTime, SubsecRound, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::AppState;
use super::extract::{Authed, QueryParams};
use super::problem::{ApiResult, ProblemDoc};
use crate::app::input::parse_rule;
use crate::domain::event::format_instant;
use crate::domain::{ErrorCode, ValidationError};

/// Occurrences listed when `count` is not given.
pub const DEFAULT_COUNT: u32 = 5;
/// Enough for a month of a daily rule; a preview is not a calendar export.
pub const MAX_COUNT: u32 = 50;

#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PreviewParams {
    /// RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO`) or a phrase (`every monday`, `weekdays`, …).
    pub rule: Option<String>,
    /// The series' first occurrence (a task's due date). ISO 8601; without an offset it is a
    /// wall-clock time in your time zone. Default: now, to the minute.
    pub start: Option<String>,
    /// How many occurrences, 1-50 (default 5). The start itself is the first.
    #[param(value_type = Option<u32>, minimum = 1, maximum = 50)]
    pub count: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OccurrenceView {
    /// The instant, UTC.
    #[schema(format = DateTime)]
    pub at: String,
    /// The same instant as a wall-clock time with offset in your time zone.
    pub local: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PreviewView {
    /// The canonical RRULE the rule is stored as.
    pub rule: String,
    /// IANA zone the occurrences were expanded in (yours).
    pub time_zone: String,
    pub occurrences: Vec<OccurrenceView>,
    /// True when COUNT or UNTIL ends the series before `count` occurrences.
    pub ends: bool,
}

fn local(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Parses `start`: an instant with an offset, or a wall-clock time in `tz` (a time skipped by a
/// DST change moves forward to the first instant that exists, as the domain's expansion does).
pub fn parse_start(raw: &str, tz: Tz) -> Result<DateTime<Utc>, ValidationError> {
    let raw = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Ok(dt.with_timezone(&Utc));
    }
    let naive = ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw, f).ok())
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(9, 0, 0))
        })
        .ok_or_else(|| {
            ValidationError::invalid(
                "start",
                format!("Invalid start: expected ISO 8601 (e.g. 2026-05-04T09:00): {raw}"),
            )
        })?;
    Ok(resolve_local(naive, tz))
}

/// The instant a wall-clock time in `tz` denotes: the earlier one when ambiguous, the first one
/// after a gap.
pub fn resolve_local(naive: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
    match tz.from_local_datetime(&naive) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => t.with_timezone(&Utc),
        LocalResult::None => (1..=180)
            .find_map(|m| {
                tz.from_local_datetime(&(naive + chrono::Duration::minutes(m)))
                    .earliest()
            })
            .map_or_else(|| naive.and_utc(), |t| t.with_timezone(&Utc)),
    }
}

pub fn parse_count(raw: Option<&str>) -> Result<u32, ValidationError> {
    match raw {
        None => Ok(DEFAULT_COUNT),
        Some(r) => r
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|c| (1..=MAX_COUNT).contains(c))
            .ok_or_else(|| {
                ValidationError::invalid("count", "count must be an integer from 1 to 50")
            }),
    }
}

/// The first `count` occurrences of `rule` starting at `start`, in `tz`.
pub fn preview(
    rule: &str,
    start: DateTime<Utc>,
    count: u32,
    tz: Tz,
) -> Result<PreviewView, ValidationError> {
    let rule = parse_rule(rule).map_err(|mut e| {
        e.field = Some("rule");
        e
    })?;
    let start = start.trunc_subsecs(0);
    let mut at = vec![start];
    while at.len() < count as usize {
        let last = *at.last().expect("never empty");
        match rule.next_after(start, last, tz) {
            Some(next) => at.push(next),
            None => break,
        }
    }
    Ok(PreviewView {
        rule: rule.as_str().to_owned(),
        time_zone: tz.name().to_owned(),
        ends: at.len() < count as usize,
        occurrences: at
            .into_iter()
            .map(|t| OccurrenceView {
                at: format_instant(t),
                local: local(t, tz),
            })
            .collect(),
    })
}

/// Parses the query and computes the preview for a user in `tz` at `now`.
pub fn preview_query(
    params: PreviewParams,
    tz: Tz,
    now: DateTime<Utc>,
) -> Result<PreviewView, ValidationError> {
    let rule = params
        .rule
        .as_deref()
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            ValidationError::new(
                ErrorCode::InvalidRecurrenceRule,
                "rule",
                "rule is required: an RRULE (FREQ=WEEKLY;BYDAY=MO) or a phrase (every monday)",
            )
        })?;
    let start = match params.start.as_deref().filter(|s| !s.trim().is_empty()) {
        Some(s) => parse_start(s, tz)?,
        None => to_the_minute(now),
    };
    let count = parse_count(params.count.as_deref())?;
    preview(rule, start, count, tz)
}

/// "Now, to the minute": a preview without a start should not list 09:41:37.
pub fn to_the_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    let t = t.trunc_subsecs(0);
    t - chrono::Duration::seconds(i64::from(chrono::Timelike::second(&t)))
}

/// Previews a recurrence: the next occurrences of a rule or phrase from `start`, in your time
/// zone (DST-correct, COUNT and UNTIL applied), exactly as the recurring role will create them.
#[utoipa::path(
    get, path = "/api/v1/recurrence/preview", tag = "recurrence",
    params(PreviewParams),
    responses(
        (status = 200, description = "The rule's canonical form and its first occurrences", body = PreviewView),
        (status = 400, description = "Unknown or repeated query parameter", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 401, description = "Missing or invalid token", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "INVALID_RECURRENCE_RULE (missing or unsupported rule), VALIDATION_ERROR (start, count)", body = ProblemDoc, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn preview_recurrence(
    State(state): State<AppState>,
    Authed(actor): Authed,
    QueryParams(params): QueryParams<PreviewParams>,
) -> ApiResult<Json<PreviewView>> {
    let user = state.services.current_user(&actor).await?;
    let now = state.services.clock.now();
    Ok(Json(preview_query(params, user.time_zone, now)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn weekly_phrase_in_a_zone_keeps_wall_clock_across_dst() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let start = parse_start("2026-03-23T09:00", tz).unwrap();
        let p = preview("every monday", start, 3, tz).unwrap();
        assert_eq!(p.rule, "FREQ=WEEKLY;BYDAY=MO");
        let local: Vec<&str> = p.occurrences.iter().map(|o| o.local.as_str()).collect();
        assert_eq!(
            local,
            [
                "2026-03-23T09:00:00+01:00",
                "2026-03-30T09:00:00+02:00",
                "2026-04-06T09:00:00+02:00"
            ]
        );
        assert!(!p.ends);
    }

    #[test]
    fn count_ends_the_series() {
        let p = preview(
            "FREQ=DAILY;COUNT=2",
            at("2026-01-01T10:00:00Z"),
            5,
            chrono_tz::UTC,
        )
        .unwrap();
        assert_eq!(p.occurrences.len(), 2);
        assert!(p.ends);
    }

    #[test]
    fn errors_name_their_field() {
        let e = preview("every blue moon", Utc::now(), 5, chrono_tz::UTC).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidRecurrenceRule);
        assert_eq!(e.field, Some("rule"));
        assert_eq!(parse_count(Some("0")).unwrap_err().field, Some("count"));
        assert_eq!(parse_count(Some("51")).unwrap_err().field, Some("count"));
        assert_eq!(
            parse_start("yesterday", chrono_tz::UTC).unwrap_err().field,
            Some("start")
        );
    }

    #[test]
    fn a_time_skipped_by_dst_moves_forward() {
        let tz: Tz = "Europe/Paris".parse().unwrap();
        let t = parse_start("2026-03-29T02:30", tz).unwrap();
        assert_eq!(format_instant(t), "2026-03-29T01:00:00Z");
    }
}
