//! Recurrence rules for repeating tasks: a validated, canonical subset of
//! RFC 5545 RRULE, accepted either as RRULE text or as a natural-language alias.
//!
//! Pure domain code: no I/O, no clock. Expansion is delegated to the `rrule` crate.

mod aliases;
mod expand;
mod rule;

use std::fmt;

use chrono::{DateTime, Utc};

/// Help text appended to every rejection so users see what would have worked.
const SUPPORTED: &str = "Recurrence pattern not recognized. Supported natural language: \
daily, weekly, monthly, yearly, weekdays, weekends, every monday, every 2 weeks, \
every monday and friday, end of month. Or RFC 5545 RRULE with FREQ=DAILY|WEEKLY|MONTHLY|YEARLY \
and INTERVAL, COUNT, UNTIL, BYDAY, BYMONTHDAY, BYMONTH (e.g. FREQ=WEEKLY;BYDAY=MO,WE,FR, \
FREQ=MONTHLY;BYMONTHDAY=15, FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25).";

/// Inputs longer than this are rejected before any parsing work.
const MAX_INPUT_LEN: usize = 512;

/// A validated recurrence rule in canonical RRULE form, e.g. "FREQ=WEEKLY;BYDAY=MO,WE".
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RecurrenceRule(String);

impl RecurrenceRule {
    /// Accepts a natural-language alias or an RRULE (optionally prefixed "RRULE:", any case,
    /// params in any order); returns the canonical rule.
    pub fn parse(input: &str) -> Result<Self, RecurrenceError> {
        parse_model(input).map(|rule| Self(rule.to_canonical()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// First occurrence strictly after `after` of the series whose first occurrence (DTSTART)
    /// is `series_start`, expanded in time zone `tz` (so 09:00 local stays 09:00 local across
    /// DST). None when COUNT/UNTIL ended the series.
    ///
    /// Details: `series_start` is truncated to whole seconds and is always an occurrence
    /// (and counts towards COUNT) even if it does not match the rule. A date-only UNTIL
    /// includes that whole local day in `tz`. Also `None` when the rule can never match
    /// again, when `series_start` is outside years 1..=9999, or when more than
    /// 100 000 occurrences lie between `series_start` and `after`.
    pub fn next_after(
        &self,
        series_start: DateTime<Utc>,
        after: DateTime<Utc>,
        tz: chrono_tz::Tz,
    ) -> Option<DateTime<Utc>> {
        // `self.0` is canonical by construction, so this re-parse cannot fail.
        let rule = rule::parse_rrule(&self.0).ok()?;
        expand::next_after(&rule, series_start, after, tz)
    }
}

fn parse_model(input: &str) -> Result<rule::Rule, RecurrenceError> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(RecurrenceError::because("The recurrence rule is empty."));
    }
    if trimmed.len() > MAX_INPUT_LEN {
        return Err(RecurrenceError::because(&format!(
            "The recurrence rule is longer than {MAX_INPUT_LEN} characters."
        )));
    }
    let upper = trimmed.to_ascii_uppercase();
    let body = upper.strip_prefix("RRULE:").unwrap_or(&upper).trim();
    if body.contains('=') {
        rule::parse_rrule(body)
    } else {
        aliases::parse_alias(trimmed)
    }
}

impl fmt::Display for RecurrenceRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RecurrenceRule {
    type Error = RecurrenceError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<RecurrenceRule> for String {
    fn from(rule: RecurrenceRule) -> Self {
        rule.0
    }
}

/// Why a recurrence rule was rejected; the message lists what is supported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RecurrenceError {
    pub message: String,
}

impl RecurrenceError {
    pub const CODE: &'static str = "INVALID_RECURRENCE_RULE";

    fn unsupported() -> Self {
        Self {
            message: SUPPORTED.to_string(),
        }
    }

    /// A specific reason, followed by the supported-patterns help text.
    fn because(reason: &str) -> Self {
        Self {
            message: format!("{reason} {SUPPORTED}"),
        }
    }
}
