//! Occurrence lookup. Expansion itself is the `rrule` crate's job; this module
//! maps our rule onto it, resolves wall-clock times in the series' time zone and
//! applies the series bounds (DTSTART, COUNT, UNTIL).

use chrono::{
    DateTime, Datelike, LocalResult, Month, NaiveDateTime, Offset, SubsecRound, TimeDelta,
    TimeZone, Utc,
};
use chrono_tz::Tz;
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Unvalidated};

use super::rule::{End, Freq, Rule, Until};

/// Upper bound on occurrences walked between the series start and `after`
/// (about 270 years of a daily series). Past it `next_after` answers `None`
/// rather than spend unbounded CPU on an absurd `after`.
const MAX_SCANNED: usize = 100_000;

/// Series starts the expansion accepts (the crate itself stops at year 10 000).
const START_YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// See `RecurrenceRule::next_after`. The series is `series_start` (whole seconds)
/// followed by the crate's occurrences after it; COUNT includes `series_start`
/// (RFC 5545: DTSTART always counts as the first occurrence).
pub(super) fn next_after(
    rule: &Rule,
    series_start: DateTime<Utc>,
    after: DateTime<Utc>,
    tz: Tz,
) -> Option<DateTime<Utc>> {
    let start = series_start.trunc_subsecs(0);
    if after < start {
        return Some(start);
    }
    if rule.end == End::Count(1)
        || ends_by(rule, after, tz)
        || never_matches(rule)
        || !START_YEARS.contains(&start.year())
    {
        return None;
    }
    // The crate expands "floating" wall-clock times (labelled UTC, so it never
    // sees a DST change) and `resolve` pins each one to an instant in `tz`.
    // Expanding directly in `tz` would drop occurrences on days whose local
    // midnight does not exist (e.g. America/Santiago's spring change).
    let wall_start = start.with_timezone(&tz).naive_local();
    let crate_start = wall_start.and_utc().with_timezone(&rrule::Tz::UTC);
    let mut set = RRuleSet::new(crate_start);
    for part in to_rrules(rule) {
        set = set.rrule(part.validate(crate_start).ok()?);
    }
    // `limit()` makes the iterator give up (yield None) after the crate's
    // MAX_ITER_LOOP fruitless steps instead of spinning on a rule that never matches.
    let set = set.limit();
    let mut taken: u32 = 1; // `start` itself
    let mut last = start;
    for wall in (&set).into_iter().take(MAX_SCANNED) {
        let Some(occurrence) = resolve(wall.naive_utc(), tz) else {
            continue;
        };
        // Skips the start itself and duplicates produced by a split BYDAY.
        if occurrence <= last {
            continue;
        }
        if !is_until(rule, occurrence, tz) {
            return None;
        }
        if matches!(rule.end, End::Count(n) if taken >= n) {
            return None;
        }
        taken += 1;
        last = occurrence;
        if occurrence > after {
            return Some(occurrence);
        }
    }
    None
}

/// The instant a wall-clock time in `tz` denotes, per RFC 5545 §3.3.5: a time
/// that occurs twice means the first one; a time skipped by a DST gap is read
/// with the offset from before the gap (so 02:30 becomes 03:30 after a 1h gap).
fn resolve(wall: NaiveDateTime, tz: Tz) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&wall) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            // A day earlier is safely before the transition (offsets are < 1 day).
            let before = wall.checked_sub_signed(TimeDelta::days(1))?;
            let offset = tz.offset_from_utc_datetime(&before).fix();
            let shift = TimeDelta::seconds(i64::from(offset.local_minus_utc()));
            wall.checked_sub_signed(shift).map(|t| t.and_utc())
        }
    }
}

/// True when UNTIL forbids every occurrence strictly later than `t`.
fn ends_by(rule: &Rule, t: DateTime<Utc>, tz: Tz) -> bool {
    match rule.end {
        End::Until(Until::Instant(until)) => t >= until,
        End::Until(Until::Date(day)) => t.with_timezone(&tz).date_naive() >= day,
        End::Never | End::Count(_) => false,
    }
}

/// True when `t` is still allowed by UNTIL (UNTIL is inclusive).
fn is_until(rule: &Rule, t: DateTime<Utc>, tz: Tz) -> bool {
    match rule.end {
        End::Until(Until::Instant(until)) => t <= until,
        End::Until(Until::Date(day)) => t.with_timezone(&tz).date_naive() <= day,
        End::Never | End::Count(_) => true,
    }
}

/// Cheap proof that no month in BYMONTH has any BYMONTHDAY (e.g. Feb 30):
/// answer at once instead of letting the crate hit its loop limit.
fn never_matches(rule: &Rule) -> bool {
    const LONGEST: [u8; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if rule.by_month_day.is_empty() {
        return false;
    }
    let months: Vec<u8> = if rule.by_month.is_empty() {
        (1..=12).collect()
    } else {
        rule.by_month.clone()
    };
    months.iter().all(|&m| {
        let longest = usize::from(m)
            .checked_sub(1)
            .and_then(|i| LONGEST.get(i))
            .copied()
            .unwrap_or(31);
        rule.by_month_day.iter().all(|d| d.unsigned_abs() > longest)
    })
}

/// The rule as one crate RRULE, or two when BYDAY mixes plain weekdays with
/// ordinals: the crate intersects those ("MO,5SA" would match nothing) while
/// RFC 5545 means the union, which an RRULE set of the two halves gives.
fn to_rrules(rule: &Rule) -> Vec<RRule<Unvalidated>> {
    let freq = match rule.freq {
        Freq::Daily => Frequency::Daily,
        Freq::Weekly => Frequency::Weekly,
        Freq::Monthly => Frequency::Monthly,
        Freq::Yearly => Frequency::Yearly,
    };
    let months: Vec<Month> = rule
        .by_month
        .iter()
        .filter_map(|m| Month::try_from(*m).ok())
        .collect();
    // COUNT and UNTIL are deliberately not passed: they are applied in
    // `next_after` so that `series_start` counts even when it does not match
    // the rule, and so an UNTIL before the start is not a crate error.
    let base = RRule::new(freq)
        .interval(rule.interval)
        .by_month(&months)
        .by_month_day(rule.by_month_day.clone());
    let (every, nth): (Vec<NWeekday>, Vec<NWeekday>) = rule
        .by_day
        .iter()
        .map(|d| NWeekday::new(d.ordinal.map(i16::from), d.weekday))
        .partition(|d| matches!(d, NWeekday::Every(_)));
    if every.is_empty() || nth.is_empty() {
        let all = every.into_iter().chain(nth).collect();
        vec![base.by_weekday(all)]
    } else {
        vec![base.clone().by_weekday(every), base.by_weekday(nth)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::recurrence::rule::parse_rrule;

    fn model(rrule: &str) -> Rule {
        parse_rrule(rrule).unwrap_or_else(|e| panic!("{rrule}: {e}"))
    }

    #[test]
    fn impossible_month_days_are_detected_up_front() {
        for rrule in [
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=-30,31",
            "FREQ=MONTHLY;BYMONTH=4,6,9,11;BYMONTHDAY=31",
        ] {
            assert!(never_matches(&model(rrule)), "{rrule}");
        }
        for rrule in [
            "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=29",
            "FREQ=MONTHLY;BYMONTHDAY=31",
            "FREQ=MONTHLY;BYMONTH=2,3;BYMONTHDAY=31",
            "FREQ=DAILY;BYMONTH=2",
        ] {
            assert!(!never_matches(&model(rrule)), "{rrule}");
        }
    }

    #[test]
    fn mixed_byday_becomes_two_crate_rules() {
        assert_eq!(to_rrules(&model("FREQ=MONTHLY;BYDAY=MO,-1FR")).len(), 2);
        assert_eq!(to_rrules(&model("FREQ=MONTHLY;BYDAY=1MO,-1FR")).len(), 1);
        assert_eq!(to_rrules(&model("FREQ=WEEKLY;BYDAY=MO,FR")).len(), 1);
    }

    #[test]
    fn wall_times_resolve_per_rfc_5545() {
        let ny = chrono_tz::America::New_York;
        let wall = |d, h, m| {
            chrono::NaiveDate::from_ymd_opt(2026, 3, d)
                .and_then(|date| date.and_hms_opt(h, m, 0))
                .unwrap_or_default()
        };
        let utc = |d, h, m| wall(d, h, m).and_utc();
        assert_eq!(resolve(wall(7, 9, 0), ny), Some(utc(7, 14, 0)));
        // 02:30 on 8 March does not exist: read with the EST offset -> 03:30 EDT.
        assert_eq!(resolve(wall(8, 2, 30), ny), Some(utc(8, 7, 30)));
        let fall = chrono::NaiveDate::from_ymd_opt(2026, 11, 1)
            .and_then(|d| d.and_hms_opt(1, 30, 0))
            .unwrap_or_default();
        // 01:30 on 1 November happens twice: the first (EDT) one.
        assert_eq!(
            resolve(fall, ny),
            Some((fall + TimeDelta::hours(4)).and_utc())
        );
    }
}
