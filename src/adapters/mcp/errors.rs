//! Tool errors: the seed's error object `{"status":"error","code","message","details"?}`, built
//! from the use cases' `ServiceError` so the codes are the REST API's.

use serde_json::{Value, json};

use super::views::{ErrorView, Failed};
use crate::app::{ServiceError, Services};
use crate::domain::{ErrorCode, TaskId, UserId, ValidationError};
use crate::ports::error::chain;

/// How many of the user's tasks a TASK_NOT_FOUND answer suggests (the seed's number).
pub const SUGGESTIONS: u32 = 5;

/// Why a tool could not do what was asked, as the model will read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolError {
    pub code: String,
    pub message: String,
    pub details: Option<Value>,
}

impl ToolError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code: code.as_str().to_owned(),
            message: message.into(),
            details: None,
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Arguments that do not fit the tool's input schema (wrong type, unknown argument, …).
    pub fn bad_arguments(tool: &str, err: &serde_json::Error) -> Self {
        let text = err.to_string();
        if text.contains("unknown field `user_id`") {
            return Self::new(
                ErrorCode::ValidationError,
                "user_id is not an argument: every tool acts for the user of the bearer token",
            )
            .with_details(json!({"field": "user_id"}));
        }
        Self::new(
            ErrorCode::ValidationError,
            format!("Invalid arguments for {tool}: {text}"),
        )
    }

    /// `action` names what failed in an internal error's message ("create task").
    pub fn from_service(err: &ServiceError, action: &str) -> Self {
        match err {
            ServiceError::Internal(infra) => {
                tracing::error!(error = %chain(infra), action, "MCP tool failed");
                Self::new(err.code(), format!("Failed to {action}: {err}"))
            }
            ServiceError::Invalid(v) => Self::from(v.clone()),
            other => Self::new(other.code(), other.to_string()),
        }
    }

    pub fn view(&self) -> ErrorView {
        ErrorView {
            status: Failed::Error,
            code: self.code.clone(),
            message: self.message.clone(),
            details: self.details.clone(),
        }
    }
}

impl From<ValidationError> for ToolError {
    fn from(v: ValidationError) -> Self {
        let e = Self::new(v.code, v.message);
        match v.field {
            Some(f) => e.with_details(json!({"field": f})),
            None => e,
        }
    }
}

/// Which tasks a "task not found" answer lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suggest {
    /// "Your pending tasks:" (`complete_task`).
    Pending,
    /// "Your recent tasks:" (every other tool).
    Recent,
}

/// Turns a use-case error into a tool error; a missing task gets the seed's "did you mean" list
/// of up to five of the user's own tasks.
pub async fn task_error(
    services: &Services,
    user: &UserId,
    err: ServiceError,
    action: &str,
    suggest: Suggest,
) -> ToolError {
    match err {
        ServiceError::TaskNotFound(id) => not_found(services, user, id, suggest).await,
        other => ToolError::from_service(&other, action),
    }
}

pub async fn not_found(
    services: &Services,
    user: &UserId,
    id: TaskId,
    suggest: Suggest,
) -> ToolError {
    let pending_only = suggest == Suggest::Pending;
    // A failure to list suggestions must not hide the real answer ("not found").
    let recent = services
        .recent_tasks(user, pending_only, SUGGESTIONS)
        .await
        .unwrap_or_default();
    let mut message = format!("Task #{id} not found.");
    if recent.is_empty() {
        message.push_str(if pending_only {
            "\n\nYou have no pending tasks."
        } else {
            "\n\nYou have no tasks."
        });
    } else {
        message.push_str(if pending_only {
            "\n\nYour pending tasks:"
        } else {
            "\n\nYour recent tasks:"
        });
        for t in &recent {
            message.push_str(&format!("\n  - Task #{}: {}", t.id, t.title.as_str()));
        }
    }
    let suggestions: Vec<Value> = recent
        .iter()
        .map(|t| json!({"id": t.id.0, "title": t.title.as_str()}))
        .collect();
    ToolError::new(ErrorCode::TaskNotFound, message).with_details(json!({
        "requested_task_id": id.0,
        "suggestions": suggestions,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_errors_keep_code_and_field() {
        let e = ToolError::from(ValidationError::new(
            ErrorCode::InvalidPriority,
            "priority",
            "Priority must be one of: low, medium, high, urgent",
        ));
        assert_eq!(e.code, "INVALID_PRIORITY");
        assert_eq!(e.details, Some(json!({"field": "priority"})));
    }

    #[test]
    fn user_id_argument_is_refused_with_a_reason() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        #[allow(dead_code)]
        struct P {
            title: String,
        }
        let err = serde_json::from_value::<P>(json!({"title": "x", "user_id": "bob"})).unwrap_err();
        let e = ToolError::bad_arguments("add_task", &err);
        assert_eq!(e.code, "VALIDATION_ERROR");
        assert!(e.message.contains("bearer token"), "{}", e.message);
    }
}
