//! The storage precision both databases share: instants are kept to the microsecond (PostgreSQL's
//! `timestamptz`, SQLite's INTEGER unix microseconds). Writes truncate every instant before binding
//! it, so the value a write returns, without reading it back, is the value a later read returns.

use chrono::{DateTime, Utc};

use crate::domain::task::Task;

/// `t` truncated to the microsecond.
pub(crate) fn micro(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or(t)
}

/// A task with every instant (its reminders' too) truncated to the microsecond.
pub(crate) fn truncate_task(mut t: Task) -> Task {
    t.due_date = t.due_date.map(micro);
    t.completed_at = t.completed_at.map(micro);
    t.created_at = micro(t.created_at);
    t.updated_at = micro(t.updated_at);
    if let Some(r) = t.recurrence.as_mut() {
        r.series_start = r.series_start.map(micro);
    }
    for r in &mut t.reminders {
        r.remind_at = micro(r.remind_at);
        r.fired_at = r.fired_at.map(micro);
        r.delivered_at = r.delivered_at.map(micro);
        r.created_at = micro(r.created_at);
    }
    t
}
