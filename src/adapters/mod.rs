//! Adapters: implementations of the ports, one module per technology.

pub mod mcp;
pub mod memory;
