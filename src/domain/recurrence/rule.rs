//! The validated rule model: RRULE text in, canonical RRULE text out.
//!
//! Only the subset of RFC 5545 that makes sense for tasks is modelled; everything
//! else is rejected here so that expansion never sees a rule it cannot honour.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc, Weekday};

use super::RecurrenceError;

pub(super) const MAX_INTERVAL: u32 = 365;
pub(super) const MAX_COUNT: u32 = 1000;

/// BYDAY ordinal ranges `(most negative, most positive)`. A month has at most 5
/// of any weekday and a year 53, but rrule 0.14 rejects -5 (monthly) and -53
/// (yearly) because its validator computes the lower bound as -31/7 and -366/7.
const MONTHLY_ORDINALS: (i8, i8) = (-4, 5);
const YEARLY_ORDINALS: (i8, i8) = (-52, 53);

const WEEKDAY_CODES: [(&str, Weekday); 7] = [
    ("MO", Weekday::Mon),
    ("TU", Weekday::Tue),
    ("WE", Weekday::Wed),
    ("TH", Weekday::Thu),
    ("FR", Weekday::Fri),
    ("SA", Weekday::Sat),
    ("SU", Weekday::Sun),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Freq {
    Daily,
    Weekly,
    Monthly,
    Yearly,
}

impl Freq {
    fn code(self) -> &'static str {
        match self {
            Self::Daily => "DAILY",
            Self::Weekly => "WEEKLY",
            Self::Monthly => "MONTHLY",
            Self::Yearly => "YEARLY",
        }
    }
}

/// One BYDAY entry: every `weekday`, or the `ordinal`-th one in the month/year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct DaySpec {
    pub ordinal: Option<i8>,
    pub weekday: Weekday,
}

impl DaySpec {
    pub(super) fn every(weekday: Weekday) -> Self {
        Self {
            ordinal: None,
            weekday,
        }
    }

    /// MO..SU first, then plain before positive before negative ordinals.
    fn sort_key(&self) -> (u32, u8, i8) {
        let (class, magnitude) = match self.ordinal {
            None => (0, 0),
            Some(n) if n > 0 => (1, n),
            Some(n) => (2, -n),
        };
        (self.weekday.num_days_from_monday(), class, magnitude)
    }
}

/// UNTIL as written: a whole local day (`YYYYMMDD`) or a UTC instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Until {
    Date(NaiveDate),
    Instant(DateTime<Utc>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum End {
    Never,
    Count(u32),
    Until(Until),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Rule {
    pub freq: Freq,
    pub interval: u16,
    pub by_month: Vec<u8>,
    pub by_month_day: Vec<i8>,
    pub by_day: Vec<DaySpec>,
    pub end: End,
}

impl Rule {
    pub(super) fn new(freq: Freq) -> Self {
        Self {
            freq,
            interval: 1,
            by_month: Vec::new(),
            by_month_day: Vec::new(),
            by_day: Vec::new(),
            end: End::Never,
        }
    }

    /// Sorts and deduplicates every list so equal rules render identically.
    pub(super) fn normalized(mut self) -> Self {
        self.by_month.sort_unstable();
        self.by_month.dedup();
        self.by_month_day
            .sort_unstable_by_key(|d| (*d < 0, d.unsigned_abs()));
        self.by_month_day.dedup();
        self.by_day.sort_unstable_by_key(DaySpec::sort_key);
        self.by_day.dedup();
        self
    }

    /// Canonical RRULE: FREQ;INTERVAL;BYMONTH;BYMONTHDAY;BYDAY;COUNT|UNTIL.
    pub(super) fn to_canonical(&self) -> String {
        let mut out = format!("FREQ={}", self.freq.code());
        if self.interval != 1 {
            let _ = write!(out, ";INTERVAL={}", self.interval);
        }
        if !self.by_month.is_empty() {
            let _ = write!(out, ";BYMONTH={}", join(&self.by_month, u8::to_string));
        }
        if !self.by_month_day.is_empty() {
            let days = join(&self.by_month_day, i8::to_string);
            let _ = write!(out, ";BYMONTHDAY={days}");
        }
        if !self.by_day.is_empty() {
            let _ = write!(out, ";BYDAY={}", join(&self.by_day, render_day));
        }
        match self.end {
            End::Never => {}
            End::Count(n) => {
                let _ = write!(out, ";COUNT={n}");
            }
            End::Until(Until::Date(d)) => {
                let _ = write!(out, ";UNTIL={}", d.format("%Y%m%d"));
            }
            End::Until(Until::Instant(t)) => {
                let _ = write!(out, ";UNTIL={}", t.format("%Y%m%dT%H%M%SZ"));
            }
        }
        out
    }
}

fn join<T>(items: &[T], render: impl Fn(&T) -> String) -> String {
    items.iter().map(render).collect::<Vec<_>>().join(",")
}

fn render_day(day: &DaySpec) -> String {
    let code = WEEKDAY_CODES
        .iter()
        .find(|(_, w)| *w == day.weekday)
        .map_or("", |(c, _)| c);
    match day.ordinal {
        Some(n) => format!("{n}{code}"),
        None => code.to_string(),
    }
}

/// Raw values of the supported parts, before cross-part validation.
#[derive(Default)]
struct Parts<'a> {
    freq: Option<&'a str>,
    interval: Option<&'a str>,
    count: Option<&'a str>,
    until: Option<&'a str>,
    by_day: Option<&'a str>,
    by_month_day: Option<&'a str>,
    by_month: Option<&'a str>,
}

/// Parses an uppercase RRULE body (no "RRULE:" prefix), parts in any order.
pub(super) fn parse_rrule(body: &str) -> Result<Rule, RecurrenceError> {
    let parts = split_parts(body)?;
    let freq = parse_freq(parts.freq)?;
    let mut rule = Rule::new(freq);
    if let Some(v) = parts.interval {
        let n = parse_bounded("INTERVAL", v, MAX_INTERVAL)?;
        rule.interval = u16::try_from(n).map_err(|_| out_of_range("INTERVAL", MAX_INTERVAL))?;
    }
    if let Some(v) = parts.by_month {
        rule.by_month = parse_list(v, parse_month)?;
    }
    if let Some(v) = parts.by_month_day {
        if freq == Freq::Weekly {
            return Err(RecurrenceError::because(
                "BYMONTHDAY cannot be used with FREQ=WEEKLY.",
            ));
        }
        rule.by_month_day = parse_list(v, parse_month_day)?;
    }
    if let Some(v) = parts.by_day {
        rule.by_day = parse_list(v, |item| parse_day(item, freq))?;
    }
    rule.end = match (parts.count, parts.until) {
        (Some(_), Some(_)) => {
            return Err(RecurrenceError::because(
                "COUNT and UNTIL cannot be combined.",
            ));
        }
        (Some(v), None) => End::Count(parse_bounded("COUNT", v, MAX_COUNT)?),
        (None, Some(v)) => End::Until(parse_until(v)?),
        (None, None) => End::Never,
    };
    Ok(rule.normalized())
}

fn split_parts(body: &str) -> Result<Parts<'_>, RecurrenceError> {
    let mut parts = Parts::default();
    for part in body.split(';') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(RecurrenceError::because(&format!(
                "'{}' is not a KEY=VALUE rule part.",
                part.trim()
            )));
        };
        let (key, value) = (key.trim(), value.trim());
        let slot = match key {
            "FREQ" => &mut parts.freq,
            "INTERVAL" => &mut parts.interval,
            "COUNT" => &mut parts.count,
            "UNTIL" => &mut parts.until,
            "BYDAY" => &mut parts.by_day,
            "BYMONTHDAY" => &mut parts.by_month_day,
            "BYMONTH" => &mut parts.by_month,
            "BYSETPOS" | "BYHOUR" | "BYMINUTE" | "BYSECOND" | "BYYEARDAY" | "BYWEEKNO" | "WKST" => {
                return Err(RecurrenceError::because(&format!(
                    "{key} is not supported."
                )));
            }
            _ => {
                return Err(RecurrenceError::because(&format!(
                    "Unknown rule part '{key}'."
                )));
            }
        };
        if slot.replace(value).is_some() {
            return Err(RecurrenceError::because(&format!(
                "{key} appears more than once."
            )));
        }
    }
    Ok(parts)
}

fn parse_freq(value: Option<&str>) -> Result<Freq, RecurrenceError> {
    match value {
        None => Err(RecurrenceError::because("FREQ is required.")),
        Some("DAILY") => Ok(Freq::Daily),
        Some("WEEKLY") => Ok(Freq::Weekly),
        Some("MONTHLY") => Ok(Freq::Monthly),
        Some("YEARLY") => Ok(Freq::Yearly),
        Some(f @ ("HOURLY" | "MINUTELY" | "SECONDLY")) => Err(RecurrenceError::because(&format!(
            "FREQ={f} is not supported: a task cannot recur more than daily."
        ))),
        Some(f) => Err(RecurrenceError::because(&format!("Unknown FREQ '{f}'."))),
    }
}

fn out_of_range(name: &str, max: u32) -> RecurrenceError {
    RecurrenceError::because(&format!("{name} must be a whole number from 1 to {max}."))
}

/// Unsigned decimal in `1..=max`; no sign, at most 9 digits so it cannot overflow.
pub(super) fn parse_bounded(name: &str, value: &str, max: u32) -> Result<u32, RecurrenceError> {
    let digits_only =
        !value.is_empty() && value.len() <= 9 && value.bytes().all(|b| b.is_ascii_digit());
    match value.parse::<u32>() {
        Ok(n) if digits_only && (1..=max).contains(&n) => Ok(n),
        _ => Err(out_of_range(name, max)),
    }
}

fn parse_list<T>(
    value: &str,
    item: impl Fn(&str) -> Result<T, RecurrenceError>,
) -> Result<Vec<T>, RecurrenceError> {
    value.split(',').map(|v| item(v.trim())).collect()
}

fn parse_month(value: &str) -> Result<u8, RecurrenceError> {
    parse_bounded("BYMONTH", value, 12)
        .map(|m| m as u8)
        .map_err(|_| RecurrenceError::because(&format!("BYMONTH value '{value}' is not 1 to 12.")))
}

/// Splits an optional leading sign off a value.
fn split_sign(value: &str) -> (i8, &str) {
    if let Some(rest) = value.strip_prefix('-') {
        (-1, rest)
    } else {
        (1, value.strip_prefix('+').unwrap_or(value))
    }
}

fn parse_month_day(value: &str) -> Result<i8, RecurrenceError> {
    let (sign, magnitude) = split_sign(value);
    parse_bounded("BYMONTHDAY", magnitude, 31)
        .map(|d| sign * d as i8)
        .map_err(|_| {
            RecurrenceError::because(&format!(
                "BYMONTHDAY value '{value}' is not 1 to 31 or -31 to -1."
            ))
        })
}

fn parse_day(value: &str, freq: Freq) -> Result<DaySpec, RecurrenceError> {
    let bad = || RecurrenceError::because(&format!("BYDAY value '{value}' is not a weekday."));
    let split = value.len().checked_sub(2).ok_or_else(bad)?;
    let (ordinal, code) = (
        value.get(..split).ok_or_else(bad)?,
        value.get(split..).ok_or_else(bad)?,
    );
    let weekday = WEEKDAY_CODES
        .iter()
        .find(|(c, _)| *c == code)
        .map(|(_, w)| *w)
        .ok_or_else(bad)?;
    if ordinal.is_empty() {
        return Ok(DaySpec::every(weekday));
    }
    let (min, max) = match freq {
        Freq::Monthly => MONTHLY_ORDINALS,
        Freq::Yearly => YEARLY_ORDINALS,
        Freq::Daily | Freq::Weekly => {
            return Err(RecurrenceError::because(&format!(
                "BYDAY ordinals like '{value}' need FREQ=MONTHLY or FREQ=YEARLY."
            )));
        }
    };
    let (sign, magnitude) = split_sign(ordinal);
    let bound = if sign < 0 { -min } else { max };
    let n = parse_bounded("BYDAY ordinal", magnitude, bound as u32).map_err(|_| {
        RecurrenceError::because(&format!(
            "BYDAY ordinal in '{value}' must be 1 to {max} or -1 to {min} with FREQ={}.",
            freq.code()
        ))
    })?;
    Ok(DaySpec {
        ordinal: Some(sign * n as i8),
        weekday,
    })
}

fn parse_until(value: &str) -> Result<Until, RecurrenceError> {
    let bad = || {
        RecurrenceError::because(&format!(
            "UNTIL '{value}' must be a date YYYYMMDD or a UTC time YYYYMMDDTHHMMSSZ."
        ))
    };
    let bytes = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<u32> {
        let slice = bytes.get(range)?;
        if !slice.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            slice
                .iter()
                .fold(0, |acc, b| acc * 10 + u32::from(b - b'0')),
        )
    };
    let date = || -> Option<NaiveDate> {
        let year = i32::try_from(digits(0..4)?).ok()?;
        NaiveDate::from_ymd_opt(year, digits(4..6)?, digits(6..8)?)
    };
    match bytes.len() {
        8 => date().map(Until::Date).ok_or_else(bad),
        16 if bytes[8] == b'T' && bytes[15] == b'Z' => date()
            .and_then(|d| d.and_hms_opt(digits(9..11)?, digits(11..13)?, digits(13..15)?))
            .map(|t| Until::Instant(t.and_utc()))
            .ok_or_else(bad),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(input: &str) -> String {
        match parse_rrule(input) {
            Ok(rule) => rule.to_canonical(),
            Err(e) => panic!("{input} rejected: {}", e.message),
        }
    }

    fn reason(input: &str) -> String {
        match parse_rrule(input) {
            Ok(rule) => panic!("{input} accepted as {}", rule.to_canonical()),
            Err(e) => e.message,
        }
    }

    #[test]
    fn seed_whitelist_is_accepted_unchanged() {
        for rule in [
            "FREQ=DAILY",
            "FREQ=WEEKLY",
            "FREQ=MONTHLY",
            "FREQ=YEARLY",
            "FREQ=DAILY;COUNT=5",
            "FREQ=WEEKLY;INTERVAL=2",
            "FREQ=MONTHLY;INTERVAL=3;COUNT=4",
            "FREQ=WEEKLY;BYDAY=MO",
            "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            "FREQ=MONTHLY;BYMONTHDAY=15",
            "FREQ=MONTHLY;BYDAY=1MO",
            "FREQ=MONTHLY;BYDAY=-1FR",
            "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
        ] {
            assert_eq!(canonical(rule), rule);
        }
    }

    #[test]
    fn parts_are_reordered_and_lists_sorted() {
        let cases = [
            ("COUNT=5;FREQ=DAILY", "FREQ=DAILY;COUNT=5"),
            ("INTERVAL=2;FREQ=WEEKLY", "FREQ=WEEKLY;INTERVAL=2"),
            ("BYDAY=FR,MO,WE;FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
            ("BYDAY=SU,MO,SU;FREQ=WEEKLY", "FREQ=WEEKLY;BYDAY=MO,SU"),
            (
                "BYMONTHDAY=25;BYMONTH=12;FREQ=YEARLY",
                "FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25",
            ),
            (
                "FREQ=MONTHLY;BYMONTHDAY=-1,15,1,-2",
                "FREQ=MONTHLY;BYMONTHDAY=1,15,-1,-2",
            ),
            (
                "FREQ=MONTHLY;BYDAY=-1MO,+1MO,MO",
                "FREQ=MONTHLY;BYDAY=MO,1MO,-1MO",
            ),
            ("FREQ=DAILY;INTERVAL=1", "FREQ=DAILY"),
            ("FREQ=DAILY;INTERVAL=007", "FREQ=DAILY;INTERVAL=7"),
            ("FREQ=YEARLY;BYMONTH=3,1,3", "FREQ=YEARLY;BYMONTH=1,3"),
            (
                " FREQ = WEEKLY ; BYDAY = MO , TU ",
                "FREQ=WEEKLY;BYDAY=MO,TU",
            ),
            (
                "UNTIL=20261231;BYDAY=TU;INTERVAL=2;FREQ=WEEKLY",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU;UNTIL=20261231",
            ),
            (
                "FREQ=DAILY;UNTIL=20260310T140000Z",
                "FREQ=DAILY;UNTIL=20260310T140000Z",
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "input {input}");
        }
    }

    #[test]
    fn limits_are_inclusive() {
        assert_eq!(
            canonical("FREQ=DAILY;INTERVAL=365"),
            "FREQ=DAILY;INTERVAL=365"
        );
        assert_eq!(canonical("FREQ=DAILY;COUNT=1000"), "FREQ=DAILY;COUNT=1000");
        assert_eq!(
            canonical("FREQ=MONTHLY;BYDAY=5SU,-4SU"),
            "FREQ=MONTHLY;BYDAY=5SU,-4SU"
        );
        assert_eq!(
            canonical("FREQ=YEARLY;BYDAY=53MO,-52MO"),
            "FREQ=YEARLY;BYDAY=53MO,-52MO"
        );
        assert_eq!(
            canonical("FREQ=YEARLY;BYDAY=53MO"),
            "FREQ=YEARLY;BYDAY=53MO"
        );
        assert_eq!(
            canonical("FREQ=MONTHLY;BYMONTHDAY=31,-31"),
            "FREQ=MONTHLY;BYMONTHDAY=31,-31"
        );
    }

    #[test]
    fn rejections_name_the_problem_and_list_supported_patterns() {
        let cases = [
            ("FREQ=HOURLY", "a task cannot recur more than daily"),
            ("FREQ=MINUTELY", "a task cannot recur more than daily"),
            ("FREQ=SECONDLY", "a task cannot recur more than daily"),
            ("FREQ=FORTNIGHTLY", "Unknown FREQ"),
            ("INTERVAL=2", "FREQ is required"),
            (
                "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=-1",
                "BYSETPOS is not supported",
            ),
            ("FREQ=DAILY;BYHOUR=9", "BYHOUR is not supported"),
            ("FREQ=WEEKLY;WKST=SU", "WKST is not supported"),
            ("FREQ=DAILY;FOO=1", "Unknown rule part 'FOO'"),
            ("FREQ=DAILY;FREQ=DAILY", "FREQ appears more than once"),
            (
                "FREQ=WEEKLY;BYDAY=MO;BYDAY=TU",
                "BYDAY appears more than once",
            ),
            (
                "FREQ=DAILY;COUNT=2;UNTIL=20260101",
                "COUNT and UNTIL cannot be combined",
            ),
            ("FREQ=DAILY;", "is not a KEY=VALUE rule part"),
            ("FREQ=DAILY;;COUNT=2", "is not a KEY=VALUE rule part"),
            ("FREQ=DAILY;INTERVAL=0", "INTERVAL must be"),
            ("FREQ=DAILY;INTERVAL=366", "INTERVAL must be"),
            ("FREQ=DAILY;INTERVAL=-1", "INTERVAL must be"),
            ("FREQ=DAILY;INTERVAL=", "INTERVAL must be"),
            (
                "FREQ=DAILY;INTERVAL=99999999999999999999",
                "INTERVAL must be",
            ),
            ("FREQ=DAILY;COUNT=0", "COUNT must be"),
            ("FREQ=DAILY;COUNT=1001", "COUNT must be"),
            ("FREQ=DAILY;COUNT=+3", "COUNT must be"),
            ("FREQ=YEARLY;BYMONTH=13", "BYMONTH value '13'"),
            ("FREQ=YEARLY;BYMONTH=0", "BYMONTH value '0'"),
            ("FREQ=MONTHLY;BYMONTHDAY=0", "BYMONTHDAY value '0'"),
            ("FREQ=MONTHLY;BYMONTHDAY=32", "BYMONTHDAY value '32'"),
            ("FREQ=MONTHLY;BYMONTHDAY=-32", "BYMONTHDAY value '-32'"),
            ("FREQ=MONTHLY;BYMONTHDAY=1,,2", "BYMONTHDAY value ''"),
            (
                "FREQ=WEEKLY;BYMONTHDAY=1",
                "BYMONTHDAY cannot be used with FREQ=WEEKLY",
            ),
            ("FREQ=WEEKLY;BYDAY=XX", "BYDAY value 'XX'"),
            ("FREQ=WEEKLY;BYDAY=M", "BYDAY value 'M'"),
            ("FREQ=WEEKLY;BYDAY=MONDAY", "BYDAY value 'MONDAY'"),
            ("FREQ=WEEKLY;BYDAY=1MO", "need FREQ=MONTHLY or FREQ=YEARLY"),
            ("FREQ=DAILY;BYDAY=-1FR", "need FREQ=MONTHLY or FREQ=YEARLY"),
            ("FREQ=MONTHLY;BYDAY=6MO", "must be 1 to 5 or -1 to -4"),
            ("FREQ=MONTHLY;BYDAY=-5MO", "must be 1 to 5 or -1 to -4"),
            ("FREQ=YEARLY;BYDAY=-53MO", "must be 1 to 53 or -1 to -52"),
            ("FREQ=MONTHLY;BYDAY=0MO", "must be 1 to 5"),
            ("FREQ=YEARLY;BYDAY=54MO", "must be 1 to 53"),
            ("FREQ=DAILY;UNTIL=2026-01-01", "UNTIL '2026-01-01'"),
            ("FREQ=DAILY;UNTIL=20260230", "UNTIL '20260230'"),
            (
                "FREQ=DAILY;UNTIL=20260101T250000Z",
                "UNTIL '20260101T250000Z'",
            ),
            (
                "FREQ=DAILY;UNTIL=20260101T090000",
                "UNTIL '20260101T090000'",
            ),
            (
                "FREQ=DAILY;UNTIL=20260101X090000Z",
                "UNTIL '20260101X090000Z'",
            ),
        ];
        for (input, expected) in cases {
            let message = reason(input);
            assert!(message.contains(expected), "{input}: {message}");
            assert!(
                message.ends_with(super::super::SUPPORTED),
                "{input}: {message}"
            );
        }
    }

    #[test]
    fn until_forms_are_kept() {
        let date = parse_rrule("FREQ=DAILY;UNTIL=20240229").map(|r| r.end);
        let expected = NaiveDate::from_ymd_opt(2024, 2, 29).map(|d| End::Until(Until::Date(d)));
        assert_eq!(date.ok(), expected);
        let instant = parse_rrule("FREQ=DAILY;UNTIL=20260310T235959Z").map(|r| r.end);
        let expected = NaiveDate::from_ymd_opt(2026, 3, 10)
            .and_then(|d| d.and_hms_opt(23, 59, 59))
            .map(|t| End::Until(Until::Instant(t.and_utc())));
        assert_eq!(instant.ok(), expected);
    }
}
