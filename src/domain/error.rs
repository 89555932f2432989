//! Stable error codes shared by every interface (REST problem documents, MCP tool results).
//! The codes are part of the public contract: clients branch on them, so they never change meaning.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    ValidationError,
    InvalidPriority,
    TooManyTags,
    TooManyReminders,
    InvalidRecurrenceRule,
    InvalidDueDate,
    InvalidColor,
    InvalidTimeZone,
    InvalidReminder,
    InvalidRequest,
    InvalidCursor,
    TaskNotFound,
    CategoryNotFound,
    TagNotFound,
    ReminderNotFound,
    DuplicateName,
    LimitExceeded,
    IdempotencyConflict,
    Unauthorized,
    NotFound,
    PayloadTooLarge,
    InternalError,
    Unavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ValidationError => "VALIDATION_ERROR",
            Self::InvalidPriority => "INVALID_PRIORITY",
            Self::TooManyTags => "TOO_MANY_TAGS",
            Self::TooManyReminders => "TOO_MANY_REMINDERS",
            Self::InvalidRecurrenceRule => "INVALID_RECURRENCE_RULE",
            Self::InvalidDueDate => "INVALID_DUE_DATE",
            Self::InvalidColor => "INVALID_COLOR",
            Self::InvalidTimeZone => "INVALID_TIME_ZONE",
            Self::InvalidReminder => "INVALID_REMINDER",
            Self::InvalidRequest => "INVALID_REQUEST",
            Self::InvalidCursor => "INVALID_CURSOR",
            Self::TaskNotFound => "TASK_NOT_FOUND",
            Self::CategoryNotFound => "CATEGORY_NOT_FOUND",
            Self::TagNotFound => "TAG_NOT_FOUND",
            Self::ReminderNotFound => "REMINDER_NOT_FOUND",
            Self::DuplicateName => "DUPLICATE_NAME",
            Self::LimitExceeded => "LIMIT_EXCEEDED",
            Self::IdempotencyConflict => "IDEMPOTENCY_CONFLICT",
            Self::Unauthorized => "UNAUTHORIZED",
            Self::NotFound => "NOT_FOUND",
            Self::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Self::InternalError => "INTERNAL_ERROR",
            Self::Unavailable => "UNAVAILABLE",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: which field, why, and the stable code a client can branch on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ValidationError {
    pub code: ErrorCode,
    pub field: Option<&'static str>,
    pub message: String,
}

impl ValidationError {
    pub fn new(code: ErrorCode, field: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            field: Some(field),
            message: message.into(),
        }
    }

    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationError, field, message)
    }
}
