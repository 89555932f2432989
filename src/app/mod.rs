//! Use cases. Everything here talks only to ports, so the same code runs on the embedded
//! default, Kafka-direct and Dapr.
//!
//! - `tasks`, `labels`, `users`: what the REST API and the MCP tools call (one implementation, so
//!   the two interfaces cannot drift apart in behaviour or in the events they produce);
//! - `relay`: publishes the outbox;
//! - `notification`, `email_delivery`, `recurring`: the background roles.

pub mod dead_letters;
pub mod email_delivery;
pub mod email_template;
pub mod error;
pub mod input;
pub mod labels;
pub mod notification;
pub mod observed;
pub mod recurring;
pub mod relay;
pub mod tasks;
pub mod users;

pub use error::ServiceError;

use std::sync::Arc;

use crate::ports::{Clock, LabelRepository, StateStore, TaskRepository, UserRepository};

/// The ports the request-serving use cases need, cloned cheaply into every handler.
#[derive(Clone)]
pub struct Services {
    pub tasks: Arc<dyn TaskRepository>,
    pub labels: Arc<dyn LabelRepository>,
    pub users: Arc<dyn UserRepository>,
    pub state: Arc<dyn StateStore>,
    pub clock: Arc<dyn Clock>,
}

/// Who is calling, as established by the bearer token. Never taken from a request body or a tool
/// argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: crate::domain::UserId,
    pub email: Option<String>,
    pub name: Option<String>,
    /// W3C trace context of the request, carried into the events it causes.
    pub traceparent: Option<String>,
}
