//! PLACEHOLDER replaced by the `recurrence` branch (RFC 5545 parsing, aliases, expansion).
use chrono::{DateTime, Utc};

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecurrenceRule(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecurrenceError {
    pub message: String,
}

impl RecurrenceError {
    pub const CODE: &'static str = "INVALID_RECURRENCE_RULE";
}

impl RecurrenceRule {
    pub fn parse(input: &str) -> Result<Self, RecurrenceError> {
        match input.trim().to_ascii_lowercase().as_str() {
            "daily" => Ok(Self("FREQ=DAILY".into())),
            s if s.starts_with("freq=") => Ok(Self(s.to_ascii_uppercase())),
            _ => Err(RecurrenceError {
                message: "unsupported".into(),
            }),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
    pub fn next_after(
        &self,
        _s: DateTime<Utc>,
        after: DateTime<Utc>,
        _tz: chrono_tz::Tz,
    ) -> Option<DateTime<Utc>> {
        Some(after + chrono::Duration::days(1))
    }
}
impl std::fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
impl TryFrom<String> for RecurrenceRule {
    type Error = RecurrenceError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}
impl From<RecurrenceRule> for String {
    fn from(r: RecurrenceRule) -> String {
        r.0
    }
}
