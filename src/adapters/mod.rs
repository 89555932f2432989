//! Adapters: implementations of the ports, one module per technology.

pub mod http;
pub mod kafka;
pub mod mail;
pub mod mcp;
pub mod memory;
pub mod sqlite;
pub mod web;
