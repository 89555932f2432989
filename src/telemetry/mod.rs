//! Logs and metrics.

pub mod metrics;

use tracing_subscriber::{EnvFilter, fmt};

/// Human-readable logs by default, JSON lines when `json` is set. `RUST_LOG` overrides `level`.
/// Logs go to stderr so that commands such as `tickler token` keep stdout for their output.
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    // Colours only for a person at a terminal; files and log collectors get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi)
        .with_target(true);
    // A second init (tests spawning several apps) is harmless: keep the first subscriber.
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
