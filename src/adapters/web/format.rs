//! Instants as a person reads them, in their own time zone.

use chrono::{DateTime, Datelike, Duration, Utc};
use chrono_tz::Tz;
use maud::{Markup, html};

use crate::domain::event::format_instant;

/// `Today 09:00`, `Tomorrow 23:59`, `Mon 4 May 09:00`, `Mon 4 May 2027 09:00`.
pub fn when(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let local = t.with_timezone(&tz);
    let today = now.with_timezone(&tz).date_naive();
    let day = local.date_naive();
    let time = local.format("%H:%M");
    if day == today {
        format!("Today {time}")
    } else if day == today + Duration::days(1) {
        format!("Tomorrow {time}")
    } else if day == today - Duration::days(1) {
        format!("Yesterday {time}")
    } else if day.year() == today.year() {
        format!("{} {time}", local.format("%a %-d %b"))
    } else {
        format!("{} {time}", local.format("%a %-d %b %Y"))
    }
}

/// Seconds too, for delivery times ("why wasn't I reminded?" is answered to the second).
pub fn when_precise(t: DateTime<Utc>, tz: Tz, now: DateTime<Utc>) -> String {
    let secs = t.with_timezone(&tz).format(":%S");
    format!("{}{secs}", when(t, tz, now))
}

/// A `<time>` element: machine-readable instant, human text.
pub fn time_el(t: DateTime<Utc>, text: String) -> Markup {
    html! { time datetime=(format_instant(t)) { (text) } }
}

/// The value of an `<input type="datetime-local">` for `t` in `tz` (to the minute).
pub fn input_value(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%Y-%m-%dT%H:%M").to_string()
}

/// How a due date stands: overdue, due today, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueState {
    Overdue,
    Today,
    Later,
}

pub fn due_state(due: DateTime<Utc>, completed: bool, tz: Tz, now: DateTime<Utc>) -> DueState {
    if completed {
        DueState::Later
    } else if due < now {
        DueState::Overdue
    } else if due.with_timezone(&tz).date_naive() == now.with_timezone(&tz).date_naive() {
        DueState::Today
    } else {
        DueState::Later
    }
}

/// `60 min before`, `1 h before`, `1 day before`, `at due time`.
pub fn offset(minutes: u32) -> String {
    match minutes {
        0 => "at due time".into(),
        m if m % 1440 == 0 => plural(m / 1440, "day") + " before",
        m if m % 60 == 0 => plural(m / 60, "hour") + " before",
        m => plural(m, "minute") + " before",
    }
}

fn plural(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_relative_to_today_in_the_zone() {
        let tz: Tz = "America/New_York".parse().unwrap();
        let now = DateTime::parse_from_rfc3339("2026-05-06T03:00:00Z")
            .unwrap()
            .with_timezone(&Utc); // 23:00 on the 5th in New York
        let t = DateTime::parse_from_rfc3339("2026-05-06T13:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(when(t, tz, now), "Tomorrow 09:00");
        assert_eq!(due_state(t, false, tz, now), DueState::Later);
        assert_eq!(
            due_state(now - Duration::seconds(1), false, tz, now),
            DueState::Overdue
        );
        assert_eq!(offset(60), "1 hour before");
        assert_eq!(offset(2880), "2 days before");
        assert_eq!(offset(5), "5 minutes before");
    }
}
