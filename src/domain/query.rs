//! Listing tasks: filters, sort orders, search and cursor pagination, defined once here so that
//! every repository adapter (memory, SQLite, PostgreSQL) implements the same semantics and the
//! contract tests can hold them to it.

use base64::Engine;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::task::{Priority, Task};
use super::{CategoryId, ErrorCode, TagId, ValidationError};

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusFilter {
    #[default]
    All,
    Pending,
    Completed,
}

impl StatusFilter {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "all" | "" => Ok(Self::All),
            "pending" => Ok(Self::Pending),
            "completed" => Ok(Self::Completed),
            _ => Err(ValidationError::invalid(
                "status",
                "status must be one of: all, pending, completed",
            )),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SortKey {
    #[default]
    CreatedAt,
    DueDate,
    Priority,
    Title,
}

impl SortKey {
    /// Accepts the seed's names (`created_at`, `due_date`, `priority`) and short forms.
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "created" | "created_at" | "" => Ok(Self::CreatedAt),
            "due" | "due_date" => Ok(Self::DueDate),
            "priority" => Ok(Self::Priority),
            "title" => Ok(Self::Title),
            _ => Err(ValidationError::invalid(
                "sort",
                "sort must be one of: created_at, due_date, priority, title",
            )),
        }
    }

    /// Newest first, soonest due first, most urgent first, A to Z.
    pub fn default_order(self) -> SortOrder {
        match self {
            Self::CreatedAt | Self::Priority => SortOrder::Desc,
            Self::DueDate | Self::Title => SortOrder::Asc,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortOrder {
    Asc,
    Desc,
}

impl SortOrder {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        match raw.trim().to_ascii_lowercase().as_str() {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            _ => Err(ValidationError::invalid(
                "order",
                "order must be asc or desc",
            )),
        }
    }
}

/// A task's position in a sort order. Tasks without a due date sort last in both directions.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortValue {
    Int(i64),
    Text(String),
}

/// The value a task sorts by. Adapters compute the same value in SQL (see each adapter's notes).
pub fn sort_value(task: &Task, key: SortKey, order: SortOrder) -> SortValue {
    match key {
        SortKey::CreatedAt => SortValue::Int(task.created_at.timestamp_micros()),
        SortKey::DueDate => SortValue::Int(match (task.due_date, order) {
            (Some(d), _) => d.timestamp_micros(),
            (None, SortOrder::Asc) => i64::MAX,
            (None, SortOrder::Desc) => i64::MIN,
        }),
        SortKey::Priority => SortValue::Int(importance(task.priority)),
        SortKey::Title => SortValue::Text(task.title.as_str().to_lowercase()),
    }
}

/// Higher is more important (urgent = 3), so "priority desc" lists urgent first.
pub fn importance(p: Priority) -> i64 {
    3 - i64::from(p.rank())
}

/// Where the next page starts: after (value, id) in keyset order, or at an offset for ranked search.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Cursor {
    After { v: SortValue, id: i64 },
    Offset { o: u64 },
}

impl Cursor {
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("cursor serialises");
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(raw: &str) -> Result<Self, ValidationError> {
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(raw.trim())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| {
                ValidationError::new(
                    ErrorCode::InvalidCursor,
                    "cursor",
                    "cursor is not one this server issued",
                )
            })
    }
}

/// Free-text search: 1-200 characters with at least one letter or digit (the seed's rule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let t = super::text::clean("q", raw, super::text::Lines::Single)?;
        if t.is_empty() || raw.chars().count() > 200 || !t.chars().any(char::is_alphanumeric) {
            return Err(ValidationError::invalid(
                "q",
                "Search query must be 1-200 characters and contain at least one letter or digit",
            ));
        }
        Ok(Self(t))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Lower-cased alphanumeric words: what every adapter matches on (as prefixes).
    pub fn terms(&self) -> Vec<String> {
        self.0
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    }
}

/// How many of the user's newest matches a search ranks (every adapter agrees). Finding matches is
/// cheap; scoring them is what grows with a common word (a word in 18,000 of a user's tasks cost
/// ~45 ms to rank in full). Within these, title hits still rank above description hits; an older
/// match beyond them is found by a more specific search. 1,000 is more than anyone pages through.
pub const SEARCH_CANDIDATES: usize = 1_000;

/// Relevance of `task` for `terms`: every term must prefix-match a word of the title or the
/// description; title hits weigh ten times description hits. `None` means "not a match".
pub fn search_score(task: &Task, terms: &[String]) -> Option<f64> {
    let words = |s: &str| -> Vec<String> {
        s.split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect()
    };
    let title = words(task.title.as_str());
    let desc = task.description.as_deref().map(words).unwrap_or_default();
    let mut score = 0.0;
    for term in terms {
        let t = title
            .iter()
            .filter(|w| w.starts_with(term.as_str()))
            .count() as f64;
        let d = desc.iter().filter(|w| w.starts_with(term.as_str())).count() as f64;
        if t + d == 0.0 {
            return None;
        }
        score += 10.0 * t + d;
    }
    Some(score)
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct TaskQuery {
    pub status: StatusFilter,
    pub priority: Option<Priority>,
    pub category_id: Option<CategoryId>,
    /// Tasks carrying any of these tags.
    pub tag_ids: Vec<TagId>,
    pub due_before: Option<DateTime<Utc>>,
    pub due_after: Option<DateTime<Utc>>,
    /// Pending tasks whose due date has passed.
    pub overdue: bool,
    pub search: Option<SearchText>,
    pub sort: SortKey,
    pub order: Option<SortOrder>,
    pub limit: u32,
    pub cursor: Option<Cursor>,
}

impl TaskQuery {
    pub fn effective_order(&self) -> SortOrder {
        self.order.unwrap_or_else(|| self.sort.default_order())
    }

    pub fn effective_limit(&self) -> u32 {
        match self.limit {
            0 => DEFAULT_LIMIT,
            n => n.min(MAX_LIMIT),
        }
    }

    /// The filter part, shared by every adapter (SQL adapters push it into their WHERE clause).
    /// Due-date bounds are strict and drop tasks without a due date, as in the seed.
    pub fn matches(&self, task: &Task, now: DateTime<Utc>) -> bool {
        let status_ok = match self.status {
            StatusFilter::All => true,
            StatusFilter::Pending => !task.completed,
            StatusFilter::Completed => task.completed,
        };
        status_ok
            && self.priority.is_none_or(|p| task.priority == p)
            && self.category_id.is_none_or(|c| task.category_id == Some(c))
            && (self.tag_ids.is_empty() || task.tag_ids.iter().any(|t| self.tag_ids.contains(t)))
            && self
                .due_before
                .is_none_or(|b| task.due_date.is_some_and(|d| d < b))
            && self
                .due_after
                .is_none_or(|a| task.due_date.is_some_and(|d| d > a))
            && (!self.overdue || task.is_overdue(now))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

/// A search hit: the task and its relevance (higher is better).
#[derive(Debug, Clone, PartialEq)]
pub struct Ranked<T> {
    pub item: T,
    pub rank: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        let c = Cursor::After {
            v: SortValue::Text("abc".into()),
            id: 7,
        };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        let c = Cursor::Offset { o: 50 };
        assert_eq!(Cursor::decode(&c.encode()).unwrap(), c);
        assert_eq!(
            Cursor::decode("!!!").unwrap_err().code,
            ErrorCode::InvalidCursor
        );
    }

    #[test]
    fn search_text_rules() {
        assert!(SearchText::parse("  ").is_err());
        assert!(SearchText::parse("!!!").is_err());
        assert!(SearchText::parse(&"a".repeat(201)).is_err());
        assert_eq!(
            SearchText::parse("Buy, MILK!").unwrap().terms(),
            vec!["buy", "milk"]
        );
    }

    #[test]
    fn parse_names_of_the_seed() {
        assert_eq!(SortKey::parse("due_date").unwrap(), SortKey::DueDate);
        assert_eq!(
            StatusFilter::parse("PENDING").unwrap(),
            StatusFilter::Pending
        );
        assert!(SortKey::parse("colour").is_err());
    }
}
