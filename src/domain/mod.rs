//! The pure core of Tickler: validated types, rules and events. Nothing here performs I/O or knows
//! about HTTP, SQL or brokers, so every rule can be unit-tested in isolation and reused by every
//! adapter.

pub mod change;
pub mod error;
pub mod event;
pub mod ids;
pub mod label;
pub mod query;
pub mod recurrence;
pub mod reminder;
pub mod task;
pub mod text;
pub mod user;

pub use error::{ErrorCode, ValidationError};
pub use ids::{CategoryId, ReminderId, TagId, TaskId, UserId};
