//! Behaviour of `RecurrenceRule` through its public API: parsing, canonical form,
//! serde, and `next_after` across DST, COUNT/UNTIL bounds and month ends.

use std::time::{Duration, Instant};

use chrono::{
    DateTime, Datelike, NaiveDate, NaiveDateTime, Offset, SubsecRound, TimeZone, Timelike, Utc,
    Weekday,
};
use chrono_tz::Tz;
use chrono_tz::{America::New_York, Europe::London, UTC};
use tickler::domain::recurrence::{RecurrenceError, RecurrenceRule};

const HELP_PREFIX: &str = "Recurrence pattern not recognized. Supported natural language:";

fn rule(input: &str) -> RecurrenceRule {
    RecurrenceRule::parse(input).unwrap_or_else(|e| panic!("{input:?} rejected: {e}"))
}

fn rejection(input: &str) -> RecurrenceError {
    match RecurrenceRule::parse(input) {
        Ok(r) => panic!("{input:?} accepted as {r}"),
        Err(e) => e,
    }
}

/// A wall-clock time in `tz`, as UTC. Panics on nonexistent/ambiguous times.
fn at(tz: Tz, y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
    tz.with_ymd_and_hms(y, mo, d, h, mi, 0)
        .single()
        .unwrap_or_else(|| panic!("{y}-{mo}-{d} {h}:{mi} is not a unique time in {tz}"))
        .with_timezone(&Utc)
}

/// The first `n` occurrences strictly after `series_start`.
fn following(
    r: &RecurrenceRule,
    series_start: DateTime<Utc>,
    tz: Tz,
    n: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let mut cursor = series_start;
    while out.len() < n {
        match r.next_after(series_start, cursor, tz) {
            Some(next) => {
                out.push(next);
                cursor = next;
            }
            None => break,
        }
    }
    out
}

// ---------------------------------------------------------------- parsing

#[test]
fn rrule_prefix_case_and_order_are_canonicalised() {
    let cases = [
        ("RRULE:FREQ=WEEKLY;BYDAY=MO,WE", "FREQ=WEEKLY;BYDAY=MO,WE"),
        ("rrule:freq=weekly;byday=we,mo", "FREQ=WEEKLY;BYDAY=MO,WE"),
        (
            "  RRule: byday=WE,MO ; freq=Weekly  ",
            "FREQ=WEEKLY;BYDAY=MO,WE",
        ),
        (
            "count=10;interval=2;freq=daily",
            "FREQ=DAILY;INTERVAL=2;COUNT=10",
        ),
        (
            "BYMONTHDAY=25;FREQ=YEARLY;BYMONTH=12",
            "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
        ),
        ("BYDAY=-1FR;FREQ=MONTHLY", "FREQ=MONTHLY;BYDAY=-1FR"),
        (
            "until=20261231t235959z;freq=daily",
            "FREQ=DAILY;UNTIL=20261231T235959Z",
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(rule(input).as_str(), expected, "input {input:?}");
        assert_eq!(
            rule(expected).as_str(),
            expected,
            "canonical {expected:?} not fixed point"
        );
    }
}

#[test]
fn aliases_are_stored_as_canonical_rrules() {
    assert_eq!(
        rule("every monday and friday").as_str(),
        "FREQ=WEEKLY;BYDAY=MO,FR"
    );
    assert_eq!(
        rule("Weekdays").as_str(),
        "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"
    );
    assert_eq!(rule("end of month").as_str(), "FREQ=MONTHLY;BYMONTHDAY=-1");
    assert_eq!(rule("every 2 weeks").as_str(), "FREQ=WEEKLY;INTERVAL=2");
}

#[test]
fn conversions_and_serde_use_the_canonical_string() {
    let r = rule("every other week");
    assert_eq!(r.to_string(), "FREQ=WEEKLY;INTERVAL=2");
    assert_eq!(String::from(r.clone()), "FREQ=WEEKLY;INTERVAL=2");
    assert_eq!(
        RecurrenceRule::try_from("biweekly".to_string()),
        Ok(r.clone())
    );

    let json = serde_json::to_string(&r).expect("serialize");
    assert_eq!(json, r#""FREQ=WEEKLY;INTERVAL=2""#);
    let back: RecurrenceRule = serde_json::from_str(&json).expect("deserialize");
    assert_eq!(back, r);
    let from_alias: RecurrenceRule = serde_json::from_str(r#""every monday""#).expect("alias");
    assert_eq!(from_alias.as_str(), "FREQ=WEEKLY;BYDAY=MO");
    let err = serde_json::from_str::<RecurrenceRule>(r#""FREQ=HOURLY""#).expect_err("hourly");
    assert!(
        err.to_string().contains("cannot recur more than daily"),
        "{err}"
    );
}

#[test]
fn unsupported_input_is_rejected_with_help() {
    // (input, specific reason expected before the help text; "" = help text only)
    let cases = [
        (
            "FREQ=HOURLY",
            "FREQ=HOURLY is not supported: a task cannot recur more than daily. ",
        ),
        ("freq=minutely", "FREQ=MINUTELY is not supported"),
        (
            "FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1",
            "BYSETPOS is not supported. ",
        ),
        (
            "FREQ=DAILY;COUNT=3;UNTIL=20260101",
            "COUNT and UNTIL cannot be combined. ",
        ),
        (
            "every 0 days",
            "INTERVAL must be a whole number from 1 to 365. ",
        ),
        ("", "The recurrence rule is empty. "),
        ("   \t ", "The recurrence rule is empty. "),
        (
            "FREQ=DAILY;COUNT=abc",
            "COUNT must be a whole number from 1 to 1000. ",
        ),
        (
            "DTSTART:20260101T090000Z\nRRULE:FREQ=DAILY",
            "Unknown rule part 'DTSTART:",
        ),
        ("=", "Unknown rule part ''. "),
        ("FREQ=DAILY;;", "'' is not a KEY=VALUE rule part. "),
        ("RRULE:", ""),
        (";;;", ""),
        ("banana", ""),
        ("every blue moon", ""),
        ("\u{1F600} every \u{0}", ""),
    ];
    for (input, reason) in cases {
        let message = rejection(input).message;
        assert!(message.starts_with(reason), "{input:?}: {message}");
        let help_at = message.find(HELP_PREFIX);
        assert_eq!(
            help_at == Some(0),
            reason.is_empty(),
            "{input:?}: {message}"
        );
        let help = help_at.map_or("", |i| &message[i..]);
        assert!(
            help.contains("FREQ=DAILY|WEEKLY|MONTHLY|YEARLY"),
            "{input:?}: {message}"
        );
    }
    assert_eq!(RecurrenceError::CODE, "INVALID_RECURRENCE_RULE");
    let too_long = format!("FREQ=DAILY;BYMONTH={}", "1,".repeat(300));
    assert!(
        rejection(&too_long)
            .message
            .starts_with("The recurrence rule is longer than 512")
    );
}

// ------------------------------------------------------------ time zones

#[test]
fn new_york_spring_forward_keeps_nine_local() {
    let r = rule("daily");
    let start = at(New_York, 2026, 3, 7, 9, 0);
    assert_eq!(start, Utc.with_ymd_and_hms(2026, 3, 7, 14, 0, 0).unwrap());
    let next = following(&r, start, New_York, 2);
    assert_eq!(
        next,
        vec![
            Utc.with_ymd_and_hms(2026, 3, 8, 13, 0, 0).unwrap(),
            Utc.with_ymd_and_hms(2026, 3, 9, 13, 0, 0).unwrap(),
        ]
    );
    for t in next {
        assert_eq!(t.with_timezone(&New_York).hour(), 9);
    }
}

#[test]
fn london_autumn_change_keeps_nine_local() {
    let r = rule("every day");
    let start = at(London, 2026, 10, 24, 9, 0); // BST, 08:00Z
    assert_eq!(start.hour(), 8);
    let next = following(&r, start, London, 2);
    assert_eq!(
        next,
        vec![
            Utc.with_ymd_and_hms(2026, 10, 25, 9, 0, 0).unwrap(), // GMT from 25 Oct
            Utc.with_ymd_and_hms(2026, 10, 26, 9, 0, 0).unwrap(),
        ]
    );
}

#[test]
fn expanding_in_utc_does_not_follow_local_dst() {
    let start = at(New_York, 2026, 3, 7, 9, 0);
    let next = rule("daily").next_after(start, start, UTC);
    assert_eq!(
        next,
        Some(Utc.with_ymd_and_hms(2026, 3, 8, 14, 0, 0).unwrap())
    );
}

#[test]
fn nonexistent_local_time_shifts_forward_and_ambiguous_takes_first() {
    // 02:30 does not exist in New York on 2026-03-08: RFC 5545 shifts it by the gap.
    let r = rule("daily");
    let start = at(New_York, 2026, 3, 7, 2, 30);
    let next = following(&r, start, New_York, 2);
    assert_eq!(next[0], at(New_York, 2026, 3, 8, 3, 30));
    assert_eq!(next[1], at(New_York, 2026, 3, 9, 2, 30));
    // 01:30 happens twice on 2026-11-01: the first (EDT) instance is used.
    let start = at(New_York, 2026, 10, 31, 1, 30);
    let next = following(&r, start, New_York, 2);
    assert_eq!(
        next[0],
        Utc.with_ymd_and_hms(2026, 11, 1, 5, 30, 0).unwrap()
    );
    assert_eq!(
        next[1],
        Utc.with_ymd_and_hms(2026, 11, 2, 6, 30, 0).unwrap()
    );
}

#[test]
fn dst_gap_at_midnight_does_not_drop_the_day() {
    // Chile jumps 00:00 -> 01:00 on 2026-09-06, so 00:30 that day reads as 01:30.
    let santiago = chrono_tz::America::Santiago;
    let start = at(santiago, 2026, 9, 4, 0, 30);
    let next = following(&rule("daily"), start, santiago, 3);
    let expected = vec![
        at(santiago, 2026, 9, 5, 0, 30),
        at(santiago, 2026, 9, 6, 1, 30),
        at(santiago, 2026, 9, 7, 0, 30),
    ];
    assert_eq!(next, expected);
}

// ------------------------------------------------------------ bounds

#[test]
fn count_includes_the_series_start() {
    let r = rule("FREQ=DAILY;COUNT=3");
    let monday = at(UTC, 2026, 3, 2, 9, 0);
    assert_eq!(monday.weekday(), Weekday::Mon);
    assert_eq!(
        r.next_after(monday, monday, UTC),
        Some(at(UTC, 2026, 3, 3, 9, 0))
    );
    let wednesday = at(UTC, 2026, 3, 4, 9, 0);
    assert_eq!(
        r.next_after(monday, at(UTC, 2026, 3, 3, 9, 0), UTC),
        Some(wednesday)
    );
    assert_eq!(r.next_after(monday, wednesday, UTC), None);
    assert_eq!(r.next_after(monday, at(UTC, 2030, 1, 1, 0, 0), UTC), None);
    // Before the series starts, the start itself is next.
    assert_eq!(
        r.next_after(monday, at(UTC, 2026, 1, 1, 0, 0), UTC),
        Some(monday)
    );
    assert_eq!(
        rule("FREQ=WEEKLY;COUNT=1").next_after(monday, monday, UTC),
        None
    );
}

#[test]
fn series_start_counts_even_when_it_does_not_match_the_rule() {
    let r = rule("FREQ=WEEKLY;BYDAY=MO;COUNT=2");
    let wednesday = at(UTC, 2026, 3, 4, 9, 0);
    let monday = at(UTC, 2026, 3, 9, 9, 0);
    assert_eq!(
        r.next_after(wednesday, wednesday - chrono::Duration::seconds(1), UTC),
        Some(wednesday)
    );
    assert_eq!(r.next_after(wednesday, wednesday, UTC), Some(monday));
    assert_eq!(r.next_after(wednesday, monday, UTC), None);
}

#[test]
fn until_instant_is_inclusive() {
    let start = at(UTC, 2026, 3, 2, 9, 0);
    let r = rule("FREQ=DAILY;UNTIL=20260305T090000Z");
    assert_eq!(
        r.next_after(start, at(UTC, 2026, 3, 4, 9, 0), UTC),
        Some(at(UTC, 2026, 3, 5, 9, 0))
    );
    assert_eq!(r.next_after(start, at(UTC, 2026, 3, 5, 9, 0), UTC), None);
    let one_second_early = rule("FREQ=DAILY;UNTIL=20260305T085959Z");
    assert_eq!(
        one_second_early.next_after(start, at(UTC, 2026, 3, 4, 9, 0), UTC),
        None
    );
    assert_eq!(
        one_second_early.next_after(start, at(UTC, 2026, 3, 3, 9, 0), UTC),
        Some(at(UTC, 2026, 3, 4, 9, 0))
    );
}

#[test]
fn until_date_includes_that_whole_local_day() {
    // 23:30 in New York on 5 March is already 6 March in UTC; still included.
    let start = at(New_York, 2026, 3, 2, 23, 30);
    let r = rule("FREQ=DAILY;UNTIL=20260305");
    let last = at(New_York, 2026, 3, 5, 23, 30);
    assert_eq!(last.day(), 6);
    assert_eq!(
        r.next_after(start, at(New_York, 2026, 3, 4, 23, 30), New_York),
        Some(last)
    );
    assert_eq!(r.next_after(start, last, New_York), None);
    assert_eq!(following(&r, start, New_York, 10).len(), 3);
}

#[test]
fn until_before_start_leaves_only_the_start() {
    let start = at(UTC, 2026, 3, 2, 9, 0);
    let r = rule("FREQ=DAILY;UNTIL=20260101");
    assert_eq!(
        r.next_after(start, at(UTC, 2026, 3, 1, 0, 0), UTC),
        Some(start)
    );
    assert_eq!(r.next_after(start, start, UTC), None);
}

// ------------------------------------------------------------ calendars

#[test]
fn monthly_from_the_31st_skips_short_months() {
    let start = at(UTC, 2026, 1, 31, 9, 0);
    let next = following(&rule("monthly"), start, UTC, 3);
    let expected: Vec<_> = [(3, 31), (5, 31), (7, 31)]
        .map(|(m, d)| at(UTC, 2026, m, d, 9, 0))
        .into();
    assert_eq!(next, expected);
}

#[test]
fn last_day_of_month_handles_february() {
    let r = rule("end of month");
    let start = at(UTC, 2026, 1, 31, 9, 0);
    assert_eq!(
        following(&r, start, UTC, 2),
        vec![at(UTC, 2026, 2, 28, 9, 0), at(UTC, 2026, 3, 31, 9, 0)]
    );
    let leap = at(UTC, 2028, 1, 31, 9, 0);
    assert_eq!(
        r.next_after(leap, leap, UTC),
        Some(at(UTC, 2028, 2, 29, 9, 0))
    );
}

#[test]
fn yearly_on_february_29_waits_for_leap_years() {
    let start = at(UTC, 2024, 2, 29, 9, 0);
    let next = following(&rule("yearly"), start, UTC, 2);
    assert_eq!(
        next,
        vec![at(UTC, 2028, 2, 29, 9, 0), at(UTC, 2032, 2, 29, 9, 0)]
    );
}

#[test]
fn weekly_day_lists() {
    let start = at(New_York, 2026, 3, 2, 9, 0); // Monday
    let next = following(
        &rule("every monday, wednesday and friday"),
        start,
        New_York,
        4,
    );
    let expected: Vec<_> = [4, 6, 9, 11].map(|d| at(New_York, 2026, 3, d, 9, 0)).into();
    assert_eq!(next, expected);

    let start = at(UTC, 2026, 3, 3, 18, 0); // Tuesday
    let next = following(&rule("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH"), start, UTC, 3);
    let expected: Vec<_> = [5, 17, 19].map(|d| at(UTC, 2026, 3, d, 18, 0)).into();
    assert_eq!(next, expected);

    let saturday = at(UTC, 2026, 3, 7, 10, 0);
    let next = following(&rule("weekdays"), saturday, UTC, 6);
    let days: Vec<u32> = next.iter().map(|t| t.day()).collect();
    assert_eq!(days, vec![9, 10, 11, 12, 13, 16]);
}

#[test]
fn monthly_and_yearly_by_rules() {
    let last_friday = following(
        &rule("FREQ=MONTHLY;BYDAY=-1FR"),
        at(UTC, 2026, 1, 30, 9, 0),
        UTC,
        2,
    );
    assert_eq!(
        last_friday,
        vec![at(UTC, 2026, 2, 27, 9, 0), at(UTC, 2026, 3, 27, 9, 0)]
    );
    let first_monday = following(
        &rule("FREQ=MONTHLY;BYDAY=1MO"),
        at(UTC, 2026, 1, 5, 9, 0),
        UTC,
        2,
    );
    assert_eq!(
        first_monday,
        vec![at(UTC, 2026, 2, 2, 9, 0), at(UTC, 2026, 3, 2, 9, 0)]
    );
    let fifteenth = following(
        &rule("FREQ=MONTHLY;BYMONTHDAY=15"),
        at(UTC, 2026, 1, 10, 9, 0),
        UTC,
        2,
    );
    assert_eq!(
        fifteenth,
        vec![at(UTC, 2026, 1, 15, 9, 0), at(UTC, 2026, 2, 15, 9, 0)]
    );
    let christmas = rule("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25");
    let start = at(UTC, 2026, 12, 25, 8, 0);
    assert_eq!(
        christmas.next_after(start, start, UTC),
        Some(at(UTC, 2027, 12, 25, 8, 0))
    );
    let every_3_days = following(&rule("every 3 days"), at(UTC, 2026, 2, 26, 7, 0), UTC, 2);
    assert_eq!(
        every_3_days,
        vec![at(UTC, 2026, 3, 1, 7, 0), at(UTC, 2026, 3, 4, 7, 0)]
    );
}

#[test]
fn byday_mixing_plain_and_ordinal_days_is_a_union() {
    // Every Monday plus the last Friday of each month.
    let start = at(UTC, 2026, 3, 23, 9, 0);
    let next = following(&rule("FREQ=MONTHLY;BYDAY=MO,-1FR"), start, UTC, 7);
    let expected: Vec<_> = [(3, 27), (3, 30), (4, 6), (4, 13), (4, 20), (4, 24), (4, 27)]
        .map(|(m, d)| at(UTC, 2026, m, d, 9, 0))
        .into();
    assert_eq!(next, expected);
    // 6 April is both "MO" and "1MO": one occurrence, counted once.
    let counted = following(&rule("FREQ=MONTHLY;BYDAY=MO,1MO;COUNT=4"), start, UTC, 10);
    let expected: Vec<_> = [(3, 30), (4, 6), (4, 13)]
        .map(|(m, d)| at(UTC, 2026, m, d, 9, 0))
        .into();
    assert_eq!(counted, expected);
}

#[test]
fn rules_that_never_match_return_none_quickly() {
    let start = at(UTC, 2026, 3, 7, 9, 0);
    for r in [
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31",
        "FREQ=MONTHLY;BYMONTH=4;BYMONTHDAY=31",
        "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30,-30",
        "FREQ=MONTHLY;BYMONTHDAY=1;BYDAY=2MO",
        "FREQ=YEARLY;BYMONTHDAY=1;BYDAY=2MO",
    ] {
        let began = Instant::now();
        assert_eq!(rule(r).next_after(start, start, UTC), None, "{r}");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{r} took {:?}",
            began.elapsed()
        );
    }
}

#[test]
fn extreme_instants_do_not_panic() {
    let r = rule("FREQ=DAILY");
    let (min, max) = (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MAX_UTC);
    assert_eq!(r.next_after(min, min, UTC), None);
    assert_eq!(r.next_after(max, max, UTC), None);
    // Sub-second precision of the series start is dropped.
    assert_eq!(r.next_after(max, min, UTC), Some(max.trunc_subsecs(0)));
    let start = at(UTC, 2026, 3, 7, 9, 0);
    assert_eq!(r.next_after(start, max, New_York), None);
}

// ------------------------------------------------------------ properties

mod properties {
    use super::*;
    use proptest::prelude::*;

    const ZONES: [Tz; 8] = [
        UTC,
        New_York,
        London,
        chrono_tz::Australia::Sydney,
        chrono_tz::Asia::Kolkata,
        chrono_tz::America::Santiago,
        chrono_tz::Pacific::Chatham,
        chrono_tz::Asia::Tehran,
    ];

    fn weekday_code() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec!["MO", "TU", "WE", "TH", "FR", "SA", "SU"])
    }

    fn signed(max: i32) -> impl Strategy<Value = i32> {
        (1..=max, any::<bool>()).prop_map(|(n, neg)| if neg { -n } else { n })
    }

    fn list<S: Strategy>(item: S, max: usize) -> impl Strategy<Value = String>
    where
        S::Value: ToString,
    {
        prop::collection::vec(item, 1..=max).prop_map(|v| {
            v.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(",")
        })
    }

    /// Valid RRULE parts for one FREQ, small enough to expand in tests.
    fn valid_parts() -> impl Strategy<Value = Vec<String>> {
        let freq = prop::sample::select(vec!["DAILY", "WEEKLY", "MONTHLY", "YEARLY"]);
        freq.prop_flat_map(|freq| {
            // rrule 0.14 cannot expand -5 (monthly) / -53 (yearly); the parser rejects them.
            let ordinals = match freq {
                "MONTHLY" => Some((-4, 5)),
                "YEARLY" => Some((-52, 53)),
                _ => None,
            };
            let (min, max) = ordinals.unwrap_or((-1, 1));
            let day = (
                weekday_code(),
                prop::option::of(prop_oneof![1..=max, min..=-1]),
            )
                .prop_map(move |(code, n)| match (ordinals, n) {
                    (Some(_), Some(n)) => format!("{n}{code}"),
                    _ => code.to_string(),
                });
            let month_day = if freq == "WEEKLY" {
                Just(None).boxed()
            } else {
                prop::option::of(list(signed(31), 3)).boxed()
            };
            let interval = prop_oneof![Just(1u32), 1..=4u32, 1..=365u32];
            let end = prop_oneof![
                Just(None),
                (1..=40u32).prop_map(|n| Some(format!("COUNT={n}"))),
                (1..=1000u32).prop_map(|n| Some(format!("COUNT={n}"))),
                (2020..2040i32, 1..=12u32, 1..=28u32)
                    .prop_map(|(y, m, d)| Some(format!("UNTIL={y:04}{m:02}{d:02}"))),
                (2020..2040i32, 1..=12u32, 1..=28u32, 0..24u32, 0..60u32).prop_map(
                    |(y, m, d, h, mi)| Some(format!("UNTIL={y:04}{m:02}{d:02}T{h:02}{mi:02}00Z"))
                ),
            ];
            (
                Just(freq),
                prop::option::of(interval),
                prop::option::of(list(1..=12u8, 3)),
                month_day,
                prop::option::of(list(day, 4)),
                end,
            )
                .prop_map(|(freq, interval, months, month_days, days, end)| {
                    let mut parts = vec![format!("FREQ={freq}")];
                    parts.extend(interval.map(|n| format!("INTERVAL={n}")));
                    parts.extend(months.map(|m| format!("BYMONTH={m}")));
                    parts.extend(month_days.map(|d| format!("BYMONTHDAY={d}")));
                    parts.extend(days.map(|d| format!("BYDAY={d}")));
                    parts.extend(end);
                    parts
                })
        })
    }

    /// The same rule written the way a user might: any order, any case, maybe prefixed.
    fn valid_rrule_text() -> impl Strategy<Value = String> {
        (valid_parts().prop_shuffle(), any::<bool>(), any::<bool>()).prop_map(
            |(parts, lower, prefixed)| {
                let text = format!(
                    "{}{}",
                    if prefixed { "RRULE:" } else { "" },
                    parts.join(";")
                );
                if lower { text.to_lowercase() } else { text }
            },
        )
    }

    /// Strings built from RRULE-ish fragments, to reach deep into the parser.
    fn rrule_ish() -> impl Strategy<Value = String> {
        let fragment = prop_oneof![
            prop::sample::select(vec![
                "FREQ",
                "DAILY",
                "WEEKLY",
                "MONTHLY",
                "YEARLY",
                "HOURLY",
                "INTERVAL",
                "COUNT",
                "UNTIL",
                "BYDAY",
                "BYMONTHDAY",
                "BYMONTH",
                "BYSETPOS",
                "RRULE:",
                "=",
                ";",
                ",",
                "+",
                "-",
                "MO",
                "SU",
                "T",
                "Z",
                "every",
                "other",
                "and",
                "monday",
                "weeks",
                " ",
                "0",
                "1",
                "31",
                "53",
                "366",
                "20260229",
                "é",
                "\u{0}",
            ])
            .prop_map(str::to_string),
            "[0-9]{1,12}",
        ];
        prop::collection::vec(fragment, 0..16).prop_map(|v| v.concat())
    }

    fn instant(min_year: i32, max_year: i32) -> impl Strategy<Value = DateTime<Utc>> {
        let lo = Utc
            .with_ymd_and_hms(min_year, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        let hi = Utc
            .with_ymd_and_hms(max_year, 1, 1, 0, 0, 0)
            .unwrap()
            .timestamp();
        (lo..hi).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap())
    }

    /// The property behind every `next_after` check: the answer is strictly after
    /// `after`, not before the start, and is itself an occurrence of the series.
    fn check_next(
        r: &RecurrenceRule,
        start: DateTime<Utc>,
        after: DateTime<Utc>,
        tz: Tz,
    ) -> Result<(), TestCaseError> {
        let Some(next) = r.next_after(start, after, tz) else {
            return Ok(());
        };
        prop_assert!(next > after, "{r}: {next} not after {after}");
        prop_assert!(next >= start, "{r}: {next} before start {start}");
        // Asking from just before `next` finds `next` again: it is in the series.
        let just_before = next - chrono::Duration::seconds(1);
        prop_assert_eq!(r.next_after(start, just_before, tz), Some(next));
        Ok(())
    }

    /// Brute-force RFC 5545 for the supported subset, independent of the crate:
    /// test every local date against the rule, then resolve the wall time.
    struct Oracle {
        freq: String,
        interval: i64,
        by_month: Vec<u32>,
        by_month_day: Vec<i64>,
        by_day: Vec<(Option<i64>, Weekday)>,
        count: Option<usize>,
        until: Option<String>,
    }

    impl Oracle {
        fn new(canonical: &str) -> Self {
            let mut o = Oracle {
                freq: String::new(),
                interval: 1,
                by_month: vec![],
                by_month_day: vec![],
                by_day: vec![],
                count: None,
                until: None,
            };
            for part in canonical.split(';') {
                let (key, value) = part.split_once('=').unwrap();
                let items = value.split(',');
                match key {
                    "FREQ" => o.freq = value.to_string(),
                    "INTERVAL" => o.interval = value.parse().unwrap(),
                    "BYMONTH" => o.by_month = items.map(|v| v.parse().unwrap()).collect(),
                    "BYMONTHDAY" => o.by_month_day = items.map(|v| v.parse().unwrap()).collect(),
                    "BYDAY" => {
                        o.by_day = items
                            .map(|v| {
                                let (n, code) = v.split_at(v.len() - 2);
                                let day = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
                                    .iter()
                                    .position(|c| *c == code)
                                    .unwrap();
                                (n.parse().ok(), Weekday::try_from(day as u8).unwrap())
                            })
                            .collect()
                    }
                    "COUNT" => o.count = Some(value.parse().unwrap()),
                    "UNTIL" => o.until = Some(value.to_string()),
                    _ => unreachable!("{key}"),
                }
            }
            o
        }

        fn matches(&self, date: NaiveDate, start: NaiveDate) -> bool {
            let months = |d: NaiveDate| i64::from(d.year()) * 12 + i64::from(d.month0());
            let week = |d: NaiveDate| {
                (d - chrono::Days::new(u64::from(d.weekday().num_days_from_monday())) - start)
                    .num_days()
                    .div_euclid(7)
            };
            let period = match self.freq.as_str() {
                "DAILY" => (date - start).num_days(),
                "WEEKLY" => week(date) - week(start),
                "MONTHLY" => months(date) - months(start),
                _ => i64::from(date.year() - start.year()),
            };
            if period % self.interval != 0 {
                return false;
            }
            let (mut by_month, mut by_month_day, mut by_day) = (
                self.by_month.clone(),
                self.by_month_day.clone(),
                self.by_day.clone(),
            );
            if by_day.is_empty() && by_month_day.is_empty() {
                match self.freq.as_str() {
                    "WEEKLY" => by_day = vec![(None, start.weekday())],
                    "MONTHLY" => by_month_day = vec![i64::from(start.day())],
                    "YEARLY" => {
                        if by_month.is_empty() {
                            by_month = vec![start.month()];
                        }
                        by_month_day = vec![i64::from(start.day())];
                    }
                    _ => {}
                }
            }
            let month_len = date.num_days_in_month() as i64;
            let day = i64::from(date.day());
            let in_year = i64::from(date.ordinal());
            let year_len = if date.leap_year() { 366 } else { 365 };
            let (pos, len) = if self.freq == "MONTHLY" || !by_month.is_empty() {
                (day, month_len)
            } else {
                (in_year, year_len)
            };
            let nth_ok = |n: i64| n == (pos - 1) / 7 + 1 || n == -((len - pos) / 7 + 1);
            (by_month.is_empty() || by_month.contains(&date.month()))
                && (by_month_day.is_empty()
                    || by_month_day
                        .iter()
                        .any(|d| *d == day || *d == day - month_len - 1))
                && (by_day.is_empty()
                    || by_day
                        .iter()
                        .any(|(n, w)| *w == date.weekday() && n.is_none_or(nth_ok)))
        }

        /// Occurrences after `start` whose local date is before `horizon`.
        fn following(
            &self,
            start: DateTime<Utc>,
            tz: Tz,
            horizon: NaiveDate,
        ) -> Vec<DateTime<Utc>> {
            let local = start.with_timezone(&tz).naive_local();
            let mut out: Vec<DateTime<Utc>> = vec![];
            let mut date = local.date();
            while date < horizon {
                if self.matches(date, local.date()) {
                    let t = oracle_resolve(date.and_time(local.time()), tz);
                    let until_ok = match self.until.as_deref() {
                        None => true,
                        Some(u) if u.len() == 8 => date.format("%Y%m%d").to_string().as_str() <= u,
                        Some(u) => t.format("%Y%m%dT%H%M%SZ").to_string().as_str() <= u,
                    };
                    if !until_ok || self.count.is_some_and(|c| out.len() + 1 >= c) {
                        break;
                    }
                    if t > start {
                        out.push(t);
                    }
                }
                date = date.succ_opt().unwrap();
            }
            out
        }
    }

    /// RFC 5545 §3.3.5 again, computed differently from the library: for a time in
    /// a gap, walk back minute by minute to the last existing time and use its offset.
    fn oracle_resolve(wall: NaiveDateTime, tz: Tz) -> DateTime<Utc> {
        if let Some(t) = tz.from_local_datetime(&wall).earliest() {
            return t.with_timezone(&Utc);
        }
        let earlier = (1..=24 * 60)
            .find_map(|m| {
                tz.from_local_datetime(&(wall - chrono::Duration::minutes(m)))
                    .latest()
            })
            .unwrap();
        let offset = chrono::Duration::seconds(earlier.offset().fix().local_minus_utc().into());
        (wall - offset).and_utc()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn parse_never_panics_and_is_idempotent(input in prop_oneof![".*", rrule_ish()]) {
            if let Ok(r) = RecurrenceRule::parse(&input) {
                let again = RecurrenceRule::parse(r.as_str());
                prop_assert_eq!(again.as_ref(), Ok(&r));
            }
        }

        #[test]
        fn valid_rules_parse_to_a_fixed_point(text in valid_rrule_text()) {
            let r = RecurrenceRule::parse(&text);
            prop_assert!(r.is_ok(), "{text:?} rejected: {r:?}");
            let r = r.unwrap();
            prop_assert_eq!(RecurrenceRule::parse(r.as_str()), Ok(r.clone()));
            prop_assert_eq!(RecurrenceRule::parse(&text.to_uppercase()), Ok(r.clone()));
            prop_assert!(!r.as_str().contains("INTERVAL=1;") && !r.as_str().ends_with("INTERVAL=1"));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        #[test]
        fn next_after_stays_in_the_series(
            text in valid_rrule_text(),
            start in instant(2020, 2040),
            after_offset_days in -30i64..4000,
            tz in prop::sample::select(ZONES.to_vec()),
        ) {
            let r = rule(&text);
            let after = start + chrono::Duration::days(after_offset_days);
            check_next(&r, start, after, tz)?;
            if let Some(first) = r.next_after(start, start, tz) {
                check_next(&r, start, first, tz)?;
            }
        }

        #[test]
        fn next_after_agrees_with_a_brute_force_oracle(
            text in valid_rrule_text(),
            start in instant(2020, 2040),
            tz in prop::sample::select(ZONES.to_vec()),
        ) {
            const K: usize = 6;
            let r = rule(&text);
            let horizon = start.with_timezone(&tz).date_naive() + chrono::Days::new(3 * 366);
            let expected = Oracle::new(r.as_str()).following(start, tz, horizon);
            let actual = following(&r, start, tz, K);
            let in_horizon: Vec<_> = actual
                .iter()
                .copied()
                .take_while(|t| t.with_timezone(&tz).date_naive() < horizon)
                .collect();
            let want = &expected[..expected.len().min(K)];
            prop_assert_eq!(in_horizon.as_slice(), want, "{} from {} in {}", r, start, tz);
        }

        #[test]
        fn count_bounds_the_series(
            text in valid_rrule_text(),
            count in 1u32..=12,
            start in instant(2020, 2040),
            tz in prop::sample::select(ZONES.to_vec()),
        ) {
            // Replace any end with COUNT and walk the series: at most `count`
            // occurrences including the start, strictly increasing.
            let canonical = rule(&text).to_string();
            let base: Vec<&str> = canonical
                .split(';')
                .filter(|p| !p.starts_with("COUNT") && !p.starts_with("UNTIL"))
                .collect();
            let r = rule(&format!("{};COUNT={count}", base.join(";")));
            let walked = following(&r, start, tz, count as usize + 1);
            prop_assert!(walked.len() < count as usize, "{r}: {} after start", walked.len());
            prop_assert!(walked.windows(2).all(|w| w[0] < w[1]));
            prop_assert!(walked.first().is_none_or(|t| *t > start));
            // Plain daily/weekly series never skip, so COUNT is reached exactly.
            if matches!(base.as_slice(), [f] | [f, _] if *f != "FREQ=MONTHLY" && *f != "FREQ=YEARLY")
                && base.iter().all(|p| !p.starts_with("BY"))
            {
                prop_assert_eq!(walked.len(), count as usize - 1, "{}", r);
            }
        }
    }
}
