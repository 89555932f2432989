//! Adapters: implementations of the ports, one module per technology.

pub mod dapr;
pub mod http;
pub mod jobs_runner;
pub mod kafka;
pub mod mail;
pub mod mcp;
pub mod memory;
pub mod postgres;
pub(crate) mod precision;
pub(crate) mod reminder_batch;
pub mod sqlite;
pub mod web;
