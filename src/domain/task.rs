//! Tasks: the aggregate users manage. Constructors validate, so a `Task` in memory is always valid.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::recurrence::RecurrenceRule;
use super::reminder::Reminder;
use super::text::{Lines, clean};
use super::{CategoryId, ErrorCode, TagId, TaskId, UserId, ValidationError};

/// Seed limit: a task carries at most 10 tags.
pub const MAX_TAGS_PER_TASK: usize = 10;
/// Guards storage and rendering; the seed left descriptions unbounded.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    #[default]
    Medium,
    High,
    Urgent,
}

impl Priority {
    pub const ALL: [Priority; 4] = [Self::Low, Self::Medium, Self::High, Self::Urgent];

    /// Case-insensitive, as the seed's tools accepted "HIGH" and "High".
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "low" => Ok(Self::Low),
            "medium" => Ok(Self::Medium),
            "high" => Ok(Self::High),
            "urgent" => Ok(Self::Urgent),
            _ => Err(ValidationError::new(
                ErrorCode::InvalidPriority,
                "priority",
                "Priority must be one of: low, medium, high, urgent",
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Urgent => "urgent",
        }
    }

    /// Sort rank: urgent first, as the seed ordered priority lists.
    pub fn rank(self) -> u8 {
        match self {
            Self::Urgent => 0,
            Self::High => 1,
            Self::Medium => 2,
            Self::Low => 3,
        }
    }

    pub fn from_rank(rank: i64) -> Option<Self> {
        Self::ALL.into_iter().find(|p| i64::from(p.rank()) == rank)
    }
}

/// 1-200 characters after trimming, without control characters, in NFC (see [`super::text`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Title(String);

impl Title {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let title = clean("title", raw, Lines::Single)?;
        if title.is_empty() {
            return Err(ValidationError::invalid("title", "Title cannot be empty"));
        }
        // The limit counts what the client sent (JSON Schema's `maxLength`), not the trimmed,
        // normalised text, so the OpenAPI document can state it exactly.
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::invalid(
                "title",
                "Title must be 200 characters or less",
            ));
        }
        Ok(Self(title))
    }

    /// A title read back from storage. It was validated when written; rules added since (such as
    /// the control-character one) must not make older rows unreadable, but a row no rule ever
    /// allowed (blank, too long) is corrupt and refused.
    pub fn from_stored(raw: String) -> Result<Self, ValidationError> {
        if raw.trim().is_empty() {
            return Err(ValidationError::invalid("title", "Title cannot be empty"));
        }
        if raw.chars().count() > Self::MAX_CHARS {
            return Err(ValidationError::invalid(
                "title",
                "Title must be 200 characters or less",
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An empty or blank description is stored as none, as the seed did. Newlines and tabs are
/// allowed, other control characters are not (see [`super::text`]).
pub fn parse_description(raw: Option<&str>) -> Result<Option<String>, ValidationError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    // Counted as sent, like titles.
    if raw.chars().count() > MAX_DESCRIPTION_CHARS {
        return Err(ValidationError::invalid(
            "description",
            "Description must be 10000 characters or less",
        ));
    }
    let text = clean("description", raw, Lines::Multi)?;
    Ok((!text.is_empty()).then_some(text))
}

/// Tag ids on a task: at most ten entries (counted as sent, duplicates included, as the
/// OpenAPI document's `maxItems` says), deduplicated.
pub fn parse_tag_ids(ids: &[i64]) -> Result<Vec<TagId>, ValidationError> {
    if ids.len() > MAX_TAGS_PER_TASK {
        return Err(ValidationError::new(
            ErrorCode::TooManyTags,
            "tag_ids",
            "Maximum 10 tags per task",
        ));
    }
    let mut out: Vec<TagId> = Vec::with_capacity(ids.len());
    for id in ids {
        if !out.contains(&TagId(*id)) {
            out.push(TagId(*id));
        }
    }
    if out.len() > MAX_TAGS_PER_TASK {
        return Err(ValidationError::new(
            ErrorCode::TooManyTags,
            "tag_ids",
            "Maximum 10 tags per task",
        ));
    }
    Ok(out)
}

/// A stored task, as every interface returns it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Task {
    pub id: TaskId,
    pub user_id: UserId,
    pub title: Title,
    pub description: Option<String>,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub category_id: Option<CategoryId>,
    pub tag_ids: Vec<TagId>,
    pub recurrence: Option<Recurrence>,
    pub completed: bool,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub reminders: Vec<Reminder>,
}

/// A recurring task's rule and the anchor of its series. The anchor (the first occurrence's due
/// time) travels from one occurrence to the next so that COUNT and UNTIL apply to the whole series,
/// not to each occurrence afresh as in the seed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurrence {
    pub rule: RecurrenceRule,
    pub series_start: Option<DateTime<Utc>>,
    /// The task this one was generated from, so an occurrence is generated once per completion.
    pub previous_task_id: Option<TaskId>,
}

impl Task {
    pub fn is_overdue(&self, now: DateTime<Utc>) -> bool {
        !self.completed && self.due_date.is_some_and(|d| d < now)
    }
}

/// A validated request to create a task. Category, tag and reminder references are checked
/// against the user's own data by the repository inside the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct NewTask {
    pub title: Title,
    pub description: Option<String>,
    pub priority: Priority,
    pub due_date: Option<DateTime<Utc>>,
    pub category_id: Option<CategoryId>,
    pub tag_ids: Vec<TagId>,
    pub recurrence: Option<Recurrence>,
    /// `None`: the request did not mention reminders, so the user's default applies.
    pub reminders: Option<Vec<super::reminder::ReminderSpec>>,
}

/// "Leave as is", "clear" or "set": the distinction the seed's update could not express.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Patch<T> {
    #[default]
    Keep,
    Clear,
    Set(T),
}

impl<T> Patch<T> {
    pub fn is_keep(&self) -> bool {
        matches!(self, Self::Keep)
    }

    pub fn apply(self, current: Option<T>) -> Option<T> {
        match self {
            Self::Keep => current,
            Self::Clear => None,
            Self::Set(v) => Some(v),
        }
    }
}

/// A validated partial update. `reminders: Some(..)` replaces the pending reminders.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskPatch {
    pub title: Option<Title>,
    pub description: Patch<String>,
    pub priority: Option<Priority>,
    pub due_date: Patch<DateTime<Utc>>,
    pub category_id: Patch<CategoryId>,
    pub tag_ids: Option<Vec<TagId>>,
    pub recurrence_rule: Patch<RecurrenceRule>,
    pub completed: Option<bool>,
    pub reminders: Option<Vec<super::reminder::ReminderSpec>>,
}

impl TaskPatch {
    pub fn is_empty(&self) -> bool {
        self.title.is_none()
            && self.description.is_keep()
            && self.priority.is_none()
            && self.due_date.is_keep()
            && self.category_id.is_keep()
            && self.tag_ids.is_none()
            && self.recurrence_rule.is_keep()
            && self.completed.is_none()
            && self.reminders.is_none()
    }

    /// Names of the fields this patch touches, carried in `task.updated` events.
    pub fn changed_fields(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut push = |cond: bool, name| {
            if cond {
                out.push(name)
            }
        };
        push(self.title.is_some(), "title");
        push(!self.description.is_keep(), "description");
        push(self.priority.is_some(), "priority");
        push(!self.due_date.is_keep(), "due_date");
        push(!self.category_id.is_keep(), "category_id");
        push(self.tag_ids.is_some(), "tag_ids");
        push(!self.recurrence_rule.is_keep(), "recurrence_rule");
        push(self.completed.is_some(), "completed");
        push(self.reminders.is_some(), "reminders");
        out
    }
}

/// Parses an ISO 8601 due date. A value without an offset is UTC. A date-only value, or one at
/// exactly midnight, means the end of that day (23:59:59), as the seed's `add_task` did: "due
/// Friday" should not be overdue on Friday morning.
pub fn parse_due_date(raw: &str) -> Result<DateTime<Utc>, ValidationError> {
    use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
    let raw = raw.trim();
    let err = || {
        ValidationError::new(
            ErrorCode::InvalidDueDate,
            "due_date",
            format!(
                "Invalid due_date format. Use ISO 8601 (e.g., 2025-01-15T17:00:00-05:00 or 2025-01-15): {raw}"
            ),
        )
    };
    let end_of_day = NaiveTime::from_hms_opt(23, 59, 59).expect("valid time");
    let bump = |t: NaiveTime| {
        if t == NaiveTime::MIN { end_of_day } else { t }
    };
    if let Ok(d) = NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_time(end_of_day).and_utc());
    }
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        let local = dt.naive_local();
        let fixed = local.date().and_time(bump(local.time()));
        return fixed
            .and_local_timezone(*dt.offset())
            .single()
            .map(|d| d.with_timezone(&Utc))
            .ok_or_else(err);
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(n.date().and_time(bump(n.time())).and_utc());
        }
    }
    Err(err())
}

/// Parses an ISO 8601 instant without the end-of-day rule (filters, absolute reminders).
pub fn parse_instant(raw: &str, field: &'static str) -> Result<DateTime<Utc>, ValidationError> {
    use chrono::NaiveDateTime;
    let raw = raw.trim();
    if let Ok(dt) = DateTime::parse_from_rfc3339(raw) {
        return Ok(dt.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(raw, fmt) {
            return Ok(n.and_utc());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    Err(ValidationError::new(
        if field == "due_date" {
            ErrorCode::InvalidDueDate
        } else {
            ErrorCode::ValidationError
        },
        field,
        format!("Invalid {field}: expected ISO 8601 date-time (e.g., 2025-01-15T17:00:00Z): {raw}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn title_is_trimmed_and_bounded() {
        assert_eq!(Title::parse("  buy milk ").unwrap().as_str(), "buy milk");
        assert!(Title::parse("   ").is_err());
        assert!(Title::parse(&"x".repeat(200)).is_ok());
        assert!(Title::parse(&"é".repeat(201)).is_err());
    }

    #[test]
    fn priority_is_case_insensitive_and_coded() {
        assert_eq!(Priority::parse("HIGH").unwrap(), Priority::High);
        let e = Priority::parse("critical").unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidPriority);
    }

    #[test]
    fn tags_are_deduplicated_and_limited() {
        assert_eq!(parse_tag_ids(&[1, 1, 2]).unwrap(), vec![TagId(1), TagId(2)]);
        let many: Vec<i64> = (1..=11).collect();
        assert_eq!(
            parse_tag_ids(&many).unwrap_err().code,
            ErrorCode::TooManyTags
        );
    }

    #[test]
    fn midnight_and_date_only_mean_end_of_day() {
        let d = parse_due_date("2026-01-15").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-01-15T23:59:59+00:00");
        let d = parse_due_date("2026-01-15T00:00:00-05:00").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-01-16T04:59:59+00:00");
        let d = parse_due_date("2026-01-15T17:00:00Z").unwrap();
        assert_eq!(d.to_rfc3339(), "2026-01-15T17:00:00+00:00");
        assert_eq!(
            parse_due_date("next friday").unwrap_err().code,
            ErrorCode::InvalidDueDate
        );
    }

    #[test]
    fn blank_description_is_none() {
        assert_eq!(parse_description(Some("  ")).unwrap(), None);
        assert!(parse_description(Some(&"a".repeat(10_001))).is_err());
    }
}
