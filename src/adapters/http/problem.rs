//! Errors as RFC 9457 problem documents (`application/problem+json`) with Tickler's stable `code`.
//!
//! Status mapping, one place for every route:
//! - 400 `INVALID_REQUEST`: malformed JSON, unknown or mistyped fields, bad path/query syntax;
//! - 401 `UNAUTHORIZED` (with `WWW-Authenticate: Bearer`);
//! - 404 `*_NOT_FOUND` (also for another user's resources: they are never acknowledged);
//! - 409 `DUPLICATE_NAME`, `LIMIT_EXCEEDED`, `IDEMPOTENCY_CONFLICT` (a request with the same key is
//!   still in flight);
//! - 413 `PAYLOAD_TOO_LARGE`;
//! - 422 every validation code (`VALIDATION_ERROR`, `INVALID_PRIORITY`, …, `INVALID_CURSOR`) and
//!   `IDEMPOTENCY_CONFLICT` when a key is reused with a different request;
//! - 503 `UNAVAILABLE` (a transient infrastructure failure), 500 `INTERNAL_ERROR`.
//!
//! Server errors are logged once, here, with their whole cause chain; their body never carries
//! internal details.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::app::ServiceError;
use crate::domain::{ErrorCode, ValidationError};
use crate::ports::error::chain;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// The problem document as serialised (also its OpenAPI schema).
#[derive(Debug, Clone, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct ProblemDoc {
    /// `urn:tickler:problem:<code in kebab case>`.
    #[serde(rename = "type")]
    pub problem_type: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// Stable machine-readable code, e.g. `TASK_NOT_FOUND`, `INVALID_PRIORITY`.
    pub code: String,
    /// The input field the problem is about, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// An error answer. Build it from a `ServiceError`, a `ValidationError` or with [`Problem::new`].
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub detail: String,
    pub field: Option<String>,
}

/// The status a code is answered with (unless a caller chose otherwise, e.g. 405 or 415).
pub fn status_for(code: ErrorCode) -> StatusCode {
    use ErrorCode::*;
    match code {
        ValidationError
        | InvalidPriority
        | TooManyTags
        | TooManyReminders
        | InvalidRecurrenceRule
        | InvalidDueDate
        | InvalidColor
        | InvalidTimeZone
        | InvalidReminder
        | InvalidCursor => StatusCode::UNPROCESSABLE_ENTITY,
        InvalidRequest => StatusCode::BAD_REQUEST,
        Unauthorized => StatusCode::UNAUTHORIZED,
        TaskNotFound | CategoryNotFound | TagNotFound | ReminderNotFound | NotFound => {
            StatusCode::NOT_FOUND
        }
        DuplicateName | LimitExceeded | IdempotencyConflict => StatusCode::CONFLICT,
        PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        InternalError => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl Problem {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            status: status_for(code),
            code,
            detail: detail.into(),
            field: None,
        }
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid_request(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, detail)
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthorized, detail)
    }

    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("Request body exceeds the limit of {limit} bytes"),
        )
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "An internal error occurred")
    }

    pub fn doc(&self) -> ProblemDoc {
        ProblemDoc {
            problem_type: format!(
                "urn:tickler:problem:{}",
                self.code.as_str().to_ascii_lowercase().replace('_', "-")
            ),
            title: self.status.canonical_reason().unwrap_or("Error").to_owned(),
            status: self.status.as_u16(),
            detail: self.detail.clone(),
            code: self.code.as_str().to_owned(),
            field: self.field.clone(),
        }
    }
}

impl From<ValidationError> for Problem {
    fn from(v: ValidationError) -> Self {
        let p = Problem::new(v.code, v.message);
        match v.field {
            Some(f) => p.with_field(f),
            None => p,
        }
    }
}

impl From<ServiceError> for Problem {
    fn from(err: ServiceError) -> Self {
        let code = err.code();
        match err {
            ServiceError::Invalid(v) => v.into(),
            ServiceError::Internal(e) => {
                // The one place a failed request's cause is logged.
                tracing::error!(code = code.as_str(), error = %chain(&e), "request failed");
                let detail = if e.transient {
                    "A dependency is temporarily unavailable; retry later"
                } else {
                    "An internal error occurred"
                };
                Problem::new(code, detail)
            }
            other => Problem::new(code, other.to_string()),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self.doc()).expect("problem serialises");
        let mut res = (self.status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"tickler\""),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res
    }
}

/// Handler results: the success response or a problem.
pub type ApiResult<T> = Result<T, Problem>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::InfraError;

    #[test]
    fn internal_errors_do_not_leak() {
        let err = ServiceError::Internal(InfraError::permanent(
            "insert task",
            std::io::Error::other("password=hunter2 at db.internal"),
        ));
        let p = Problem::from(err);
        assert_eq!(p.status, StatusCode::INTERNAL_SERVER_ERROR);
        let doc = serde_json::to_string(&p.doc()).unwrap();
        assert!(
            !doc.contains("hunter2") && !doc.contains("insert task"),
            "{doc}"
        );
        assert!(doc.contains("INTERNAL_ERROR"));
    }

    #[test]
    fn transient_errors_are_503() {
        let err = ServiceError::Internal(InfraError::transient("db", std::io::Error::other("x")));
        assert_eq!(Problem::from(err).status, StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn validation_codes_are_422_and_carry_the_field() {
        let p = Problem::from(ValidationError::new(
            ErrorCode::InvalidPriority,
            "priority",
            "bad",
        ));
        assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(p.doc().field.as_deref(), Some("priority"));
        assert_eq!(p.doc().problem_type, "urn:tickler:problem:invalid-priority");
    }
}
