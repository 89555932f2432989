//! Process-wide counters rendered in the Prometheus text format at `/metrics`. A handful of
//! atomics is all Tickler needs; they cost nothing on the hot path. Values that exist per
//! something (a consumer group's lag per partition) are labelled gauges, set by whoever measures
//! them and rendered with the counters.
//!
//! | metric | type | labels | set by |
//! |---|---|---|---|
//! | `tickler_kafka_consumer_lag` | gauge | `group`, `topic`, `partition` | the Kafka intake, from librdkafka statistics (`kafka.lag_interval_ms`) |
//! | `tickler_event_delivery_seconds` | histogram | | every consuming role: event `time` (its transaction) → its handler starts |

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
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

pub static DB_WRITE_TRANSACTIONS: Counter = Counter::new(
    "tickler_db_write_transactions_total",
    "Transactions committed by the embedded store's group-commit writer",
);
pub static DB_BATCHED_WRITES: Counter = Counter::new(
    "tickler_db_batched_writes_total",
    "Writes committed by the embedded store's group-commit writer (divided by the transactions: the mean batch)",
);

pub static DB_WAL_CHECKPOINTS: Counter = Counter::new(
    "tickler_db_wal_checkpoints_total",
    "WAL checkpoints the embedded store's checkpointer thread ran that copied pages back",
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
    &DB_WRITE_TRANSACTIONS,
    &DB_BATCHED_WRITES,
    &DB_WAL_CHECKPOINTS,
];

/// A gauge with one value per combination of label values (a Prometheus "gauge vector").
pub struct LabelledGauge {
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    values: Mutex<BTreeMap<Vec<String>, f64>>,
}

impl LabelledGauge {
    pub const fn new(
        name: &'static str,
        help: &'static str,
        labels: &'static [&'static str],
    ) -> Self {
        Self {
            name,
            help,
            labels,
            values: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Vec<String>, f64>> {
        self.values.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `label_values` in the order of the gauge's labels.
    pub fn set(&self, label_values: &[&str], value: f64) {
        debug_assert_eq!(label_values.len(), self.labels.len());
        let key = label_values.iter().map(|v| (*v).to_owned()).collect();
        self.lock().insert(key, value);
    }

    pub fn get(&self, label_values: &[&str]) -> Option<f64> {
        let key: Vec<String> = label_values.iter().map(|v| (*v).to_owned()).collect();
        self.lock().get(&key).copied()
    }

    /// Forgets every series whose first label values are `prefix` (e.g. one group and topic
    /// that this process no longer consumes), so a stopped consumer leaves no stale value.
    pub fn remove_prefix(&self, prefix: &[&str]) {
        self.lock()
            .retain(|k, _| k.len() < prefix.len() || k.iter().zip(prefix).any(|(a, b)| a != b));
    }

    fn render_into(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} gauge",
            self.name, self.help, self.name
        );
        for (values, value) in self.lock().iter() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .zip(values)
                .map(|(l, v)| format!("{l}=\"{}\"", escape_label(v)))
                .collect();
            let _ = writeln!(out, "{}{{{}}} {value}", self.name, labels.join(","));
        }
    }
}

/// Label values escape backslash, double quote and newline (Prometheus text format).
fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub static KAFKA_CONSUMER_LAG: LabelledGauge = LabelledGauge::new(
    "tickler_kafka_consumer_lag",
    "Messages of a partition not yet committed by a consumer group of this process",
    &["group", "topic", "partition"],
);

const LABELLED: &[&LabelledGauge] = &[&KAFKA_CONSUMER_LAG];

/// Bucket bounds (seconds) of every histogram: from a millisecond, where an in-process hand-off
/// lands, to a minute, where a consumer that was down lands.
const BOUNDS: [f64; 14] = [
    0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 60.0,
];

/// A Prometheus histogram with fixed buckets; observing is a few relaxed atomic adds.
pub struct Histogram {
    name: &'static str,
    help: &'static str,
    buckets: [AtomicU64; BOUNDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

impl Histogram {
    pub const fn new(name: &'static str, help: &'static str) -> Self {
        Self {
            name,
            help,
            buckets: [const { AtomicU64::new(0) }; BOUNDS.len()],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, seconds: f64) {
        let seconds = seconds.max(0.0);
        if let Some(i) = BOUNDS.iter().position(|b| seconds <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    fn render_into(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP {} {}\n# TYPE {} histogram",
            self.name, self.help, self.name
        );
        let mut cumulative = 0;
        for (bound, bucket) in BOUNDS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(out, "{}_bucket{{le=\"{bound}\"}} {cumulative}", self.name);
        }
        let count = self.count.load(Ordering::Relaxed);
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{}_bucket{{le=\"+Inf\"}} {count}", self.name);
        let _ = writeln!(out, "{}_sum {sum}\n{}_count {count}", self.name, self.name);
    }
}

pub static EVENT_DELIVERY: Histogram = Histogram::new(
    "tickler_event_delivery_seconds",
    "From an event's time (the write that produced it) to the start of its handler in this process",
);

const HISTOGRAMS: &[&Histogram] = &[&EVENT_DELIVERY];

/// Renders every counter and labelled gauge, plus the gauges given by the caller (name, help,
/// value).
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
    for g in LABELLED {
        g.render_into(&mut out);
    }
    for h in HISTOGRAMS {
        h.render_into(&mut out);
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
    fn a_histogram_renders_cumulative_buckets() {
        static H: Histogram = Histogram::new("t_seconds", "Test");
        H.observe(0.0005);
        H.observe(0.03);
        H.observe(120.0);
        let mut out = String::new();
        H.render_into(&mut out);
        assert!(out.contains("t_seconds_bucket{le=\"0.001\"} 1\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"0.05\"} 2\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"60\"} 2\n"), "{out}");
        assert!(out.contains("t_seconds_bucket{le=\"+Inf\"} 3\n"), "{out}");
        assert!(out.contains("t_seconds_count 3"), "{out}");
    }

    #[test]
    fn renders_prometheus_text() {
        EMAILS_SENT.inc();
        let text = render(&[("tickler_outbox_backlog", "Unpublished events", 3.0)]);
        assert!(
            text.contains("# TYPE tickler_emails_sent_total counter\ntickler_emails_sent_total ")
        );
        assert!(text.contains("tickler_outbox_backlog 3"));
    }

    #[test]
    fn labelled_gauges_render_escaped_and_can_be_forgotten() {
        static G: LabelledGauge = LabelledGauge::new("t_lag", "Lag", &["group", "partition"]);
        G.set(&["g\"1", "0"], 5.0);
        G.set(&["g\"1", "1"], 0.0);
        G.set(&["other", "0"], 2.0);
        let mut out = String::new();
        G.render_into(&mut out);
        assert!(out.contains("# TYPE t_lag gauge\n"), "{out}");
        assert!(
            out.contains("t_lag{group=\"g\\\"1\",partition=\"0\"} 5\n"),
            "{out}"
        );
        assert!(
            out.contains("t_lag{group=\"other\",partition=\"0\"} 2\n"),
            "{out}"
        );
        G.remove_prefix(&["g\"1"]);
        assert_eq!(G.get(&["g\"1", "0"]), None);
        assert_eq!(G.get(&["other", "0"]), Some(2.0));
    }
}
