//! Process-wide counters rendered in the Prometheus text format at `/metrics`. A handful of
//! atomics is all Tickler needs; they cost nothing on the hot path.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

pub struct Counter {
    name: &'static str,
    help: &'static str,
    value: AtomicU64,
}

impl Counter {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            value: AtomicU64::new(0),
        }
    }

    pub fn inc(&self) {
        self.add(1);
    }

    pub fn add(&self, n: u64) {
        self.value.fetch_add(n, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }
}

pub static HTTP_REQUESTS: Counter =
    Counter::new("tickler_http_requests_total", "HTTP requests served");
pub static HTTP_ERRORS: Counter = Counter::new(
    "tickler_http_server_errors_total",
    "HTTP responses with a 5xx status",
);
pub static EVENTS_PUBLISHED: Counter = Counter::new(
    "tickler_events_published_total",
    "Outbox events accepted by the transport",
);
pub static EVENTS_HANDLED: Counter = Counter::new(
    "tickler_events_handled_total",
    "Events processed by a consumer",
);
pub static EVENTS_RETRIED: Counter = Counter::new(
    "tickler_events_retried_total",
    "Event deliveries answered with retry",
);
pub static EVENTS_REJECTED: Counter = Counter::new(
    "tickler_events_dead_lettered_total",
    "Events rejected to the dead-letter path",
);
pub static REMINDERS_FIRED: Counter = Counter::new(
    "tickler_reminders_fired_total",
    "Reminders that published reminder.due",
);
pub static REMINDERS_LATE: Counter = Counter::new(
    "tickler_reminders_late_total",
    "Reminders fired more than a minute after their time",
);
pub static EMAILS_SENT: Counter = Counter::new(
    "tickler_emails_sent_total",
    "Reminder e-mails accepted by the mail server",
);
pub static EMAILS_FAILED: Counter = Counter::new(
    "tickler_emails_failed_total",
    "Reminder e-mails given up on",
);
pub static OCCURRENCES_CREATED: Counter = Counter::new(
    "tickler_occurrences_created_total",
    "Next occurrences of recurring tasks created",
);

const ALL: &[&Counter] = &[
    &HTTP_REQUESTS,
    &HTTP_ERRORS,
    &EVENTS_PUBLISHED,
    &EVENTS_HANDLED,
    &EVENTS_RETRIED,
    &EVENTS_REJECTED,
    &REMINDERS_FIRED,
    &REMINDERS_LATE,
    &EMAILS_SENT,
    &EMAILS_FAILED,
    &OCCURRENCES_CREATED,
];

/// Renders every counter plus the gauges given by the caller (name, help, value).
pub fn render(gauges: &[(&str, &str, f64)]) -> String {
    let mut out = String::with_capacity(2048);
    for c in ALL {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} counter\n{} {}",
            c.name,
            c.help,
            c.name,
            c.name,
            c.get()
        );
    }
    for (name, help, value) in gauges {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}"
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        EMAILS_SENT.inc();
        let text = render(&[("tickler_outbox_backlog", "Unpublished events", 3.0)]);
        assert!(
            text.contains("# TYPE tickler_emails_sent_total counter\ntickler_emails_sent_total ")
        );
        assert!(text.contains("tickler_outbox_backlog 3"));
    }
}
