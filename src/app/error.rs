//! The error every use case returns, with the stable code and the message a client sees.

use crate::domain::label::LabelKind;
use crate::domain::{ErrorCode, TaskId, ValidationError};
use crate::ports::{InfraError, RepoError, StateError};

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("Task #{0} not found")]
    TaskNotFound(TaskId),
    #[error("{noun} #{1} not found", noun = .0.noun())]
    LabelNotFound(LabelKind, i64),
    #[error("Reminder #{0} not found")]
    ReminderNotFound(i64),
    #[error("{0}")]
    Duplicate(String),
    #[error("{0}")]
    LimitExceeded(String),
    #[error("{0}")]
    Conflict(String),
    /// The storage or transport failed; the cause chain is logged once, where it is answered.
    #[error("internal error")]
    Internal(#[source] InfraError),
}

impl ServiceError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Invalid(v) => v.code,
            Self::TaskNotFound(_) => ErrorCode::TaskNotFound,
            Self::LabelNotFound(kind, _) => kind.not_found_code(),
            Self::ReminderNotFound(_) => ErrorCode::ReminderNotFound,
            Self::Duplicate(_) => ErrorCode::DuplicateName,
            Self::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Self::Conflict(_) => ErrorCode::IdempotencyConflict,
            Self::Internal(e) if e.transient => ErrorCode::Unavailable,
            Self::Internal(_) => ErrorCode::InternalError,
        }
    }

    /// The field a validation error is about, if any.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Self::Invalid(v) => v.field,
            _ => None,
        }
    }

    /// Maps a repository error for an operation on task `id`.
    pub fn from_repo(err: RepoError, id: Option<TaskId>) -> Self {
        match err {
            RepoError::NotFound => Self::TaskNotFound(id.unwrap_or(TaskId(0))),
            RepoError::CategoryNotFound(c) => Self::LabelNotFound(LabelKind::Category, c.0),
            RepoError::TagNotFound(t) => Self::LabelNotFound(LabelKind::Tag, t.0),
            RepoError::Duplicate => Self::Duplicate("already exists".into()),
            RepoError::LimitExceeded => Self::LimitExceeded("limit reached".into()),
            RepoError::Invalid(v) => Self::Invalid(v),
            RepoError::Infra(e) => Self::Internal(e),
        }
    }
}

impl From<StateError> for ServiceError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::ETagMismatch => Self::Conflict("concurrent modification".into()),
            StateError::Infra(i) => Self::Internal(i),
        }
    }
}
