//! Tickler: an event-driven task and reminder service.
//!
//! Layout (dependencies point inward): `domain` is pure; `ports` are the traits the application
//! needs from the outside world; `app` holds the use cases and the four roles, talking only to
//! ports; `adapters` implement ports (memory, SQLite, SMTP, …) and drive the app (HTTP);
//! `bootstrap` is the single composition root that builds adapters from configuration.

pub mod adapters;
pub mod app;
pub mod auth;
pub mod bootstrap;
pub mod config;
pub mod domain;
pub mod ports;
pub mod telemetry;
