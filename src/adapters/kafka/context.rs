//! librdkafka's log lines and client errors, sent to `tracing` (target `librdkafka`). librdkafka
//! never prints credentials at these levels, and no client configuration is ever logged.

use rdkafka::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;

/// The context of the producer, the admin client and metadata probes: logging only.
#[derive(Clone, Default)]
pub(crate) struct LogContext;

impl ClientContext for LogContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        log_line(level, fac, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        client_error(&error, reason);
    }
}

/// For group-less consumers that only read metadata.
impl ConsumerContext for LogContext {}

pub(crate) fn log_line(level: RDKafkaLogLevel, fac: &str, line: &str) {
    match level {
        RDKafkaLogLevel::Emerg
        | RDKafkaLogLevel::Alert
        | RDKafkaLogLevel::Critical
        | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", facility = fac, "{line}"),
        RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", facility = fac, "{line}"),
        RDKafkaLogLevel::Notice => tracing::info!(target: "librdkafka", facility = fac, "{line}"),
        // librdkafka's "info" lines are internal detail (connections, metadata).
        RDKafkaLogLevel::Info | RDKafkaLogLevel::Debug => {
            tracing::debug!(target: "librdkafka", facility = fac, "{line}")
        }
    }
}

/// Errors librdkafka reports outside any request (broker down, authentication failure). The
/// transient ones repeat on every reconnect attempt, so they are warnings, not errors.
pub(crate) fn client_error(error: &KafkaError, reason: &str) {
    if super::error::is_transient(error) {
        tracing::warn!(target: "librdkafka", error = %error, "{reason}");
    } else {
        tracing::error!(target: "librdkafka", error = %error, "{reason}");
    }
}
