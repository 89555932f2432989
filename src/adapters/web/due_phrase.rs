//! Due dates as people type them in the quick-add box, read in the user's time zone:
//! `today`, `tonight`, `yesterday 18:00`, `tomorrow 9am`, `friday 17:30`, `next monday at 8`, `in 2 hours`,
//! `in 10 minutes`, `2026-05-04`, `2026-05-04 09:00`, `9:30pm`.
//!
//! A day without a time means the end of that day (23:59:59 local), as a date alone does in the
//! REST API. A weekday means the next such day after today. A time alone means its next
//! occurrence (today, or tomorrow if it has passed).

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, SubsecRound, Utc, Weekday};
use chrono_tz::Tz;

use crate::adapters::http::recurrence::resolve_local;

pub const HELP: &str =
    "Try: today, tonight, tomorrow 9am, friday 17:30, in 2 hours, 2026-05-04 09:00";

/// Parses `input` for a user in `tz` at `now`; the error is a message for that user.
pub fn parse(input: &str, tz: Tz, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let text = input.trim().to_lowercase();
    let fail = || {
        format!(
            "Could not understand the due date “{}”. {HELP}",
            input.trim()
        )
    };
    if text.is_empty() {
        return Err(fail());
    }
    let now = now.trunc_subsecs(0);
    let today = now.with_timezone(&tz).date_naive();
    for fmt in ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"] {
        if let Ok(n) = chrono::NaiveDateTime::parse_from_str(input.trim(), fmt) {
            return Ok(resolve_local(n, tz));
        }
    }
    let words: Vec<&str> = text
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .collect();
    if let ["in", n, unit] = words.as_slice() {
        let n: i64 = n.parse().map_err(|_| fail())?;
        if !(0..=10_000).contains(&n) {
            return Err(fail());
        }
        let d = match *unit {
            "s" | "sec" | "secs" | "second" | "seconds" => Duration::seconds(n),
            "m" | "min" | "mins" | "minute" | "minutes" => Duration::minutes(n),
            "h" | "hr" | "hrs" | "hour" | "hours" => Duration::hours(n),
            "d" | "day" | "days" => Duration::days(n),
            "w" | "week" | "weeks" => Duration::weeks(n),
            _ => return Err(fail()),
        };
        return Ok(now + d);
    }
    if text == "now" {
        return Ok(now);
    }
    let (day, rest) = day_part(&words, today);
    let rest: Vec<&str> = rest.iter().copied().filter(|w| *w != "at").collect();
    let time = match rest.as_slice() {
        [] => None,
        [t] => Some(time_of(t).ok_or_else(fail)?),
        [t, ampm @ ("am" | "pm")] => Some(time_of(&format!("{t}{ampm}")).ok_or_else(fail)?),
        _ => return Err(fail()),
    };
    let (day, time) = match (day, time) {
        (None, None) => return Err(fail()),
        (Some(DayWord::Tonight(d)), None) => (d, NaiveTime::from_hms_opt(20, 0, 0)),
        (Some(d), t) => (d.date(), t),
        (None, Some(t)) => {
            let at = resolve_local(today.and_time(t), tz);
            let day = if at > now {
                today
            } else {
                today + Duration::days(1)
            };
            (day, Some(t))
        }
    };
    let time = time.unwrap_or_else(|| NaiveTime::from_hms_opt(23, 59, 59).expect("valid"));
    Ok(resolve_local(day.and_time(time), tz))
}

enum DayWord {
    Day(NaiveDate),
    Tonight(NaiveDate),
}

impl DayWord {
    fn date(self) -> NaiveDate {
        match self {
            Self::Day(d) | Self::Tonight(d) => d,
        }
    }
}

/// The day named at the start of `words`, and the words after it.
fn day_part<'a>(words: &'a [&'a str], today: NaiveDate) -> (Option<DayWord>, &'a [&'a str]) {
    let next_weekday = |wd: Weekday| {
        let ahead = (7 + wd.num_days_from_monday() as i64
            - today.weekday().num_days_from_monday() as i64)
            % 7;
        today + Duration::days(if ahead == 0 { 7 } else { ahead })
    };
    match words {
        ["today", rest @ ..] => (Some(DayWord::Day(today)), rest),
        ["tonight", rest @ ..] => (Some(DayWord::Tonight(today)), rest),
        ["yesterday", rest @ ..] => (Some(DayWord::Day(today - Duration::days(1))), rest),
        ["tomorrow" | "tmr" | "tmrw", rest @ ..] => {
            (Some(DayWord::Day(today + Duration::days(1))), rest)
        }
        ["next", "week", rest @ ..] => (Some(DayWord::Day(next_weekday(Weekday::Mon))), rest),
        ["next" | "on" | "this", w, rest @ ..] if weekday(w).is_some() => {
            (weekday(w).map(|wd| DayWord::Day(next_weekday(wd))), rest)
        }
        [w, rest @ ..] if weekday(w).is_some() => {
            (weekday(w).map(|wd| DayWord::Day(next_weekday(wd))), rest)
        }
        [d, rest @ ..] => match NaiveDate::parse_from_str(d, "%Y-%m-%d") {
            Ok(date) => (Some(DayWord::Day(date)), rest),
            Err(_) => (None, words),
        },
        [] => (None, words),
    }
}

fn weekday(w: &str) -> Option<Weekday> {
    Some(match w {
        "mon" | "monday" => Weekday::Mon,
        "tue" | "tues" | "tuesday" => Weekday::Tue,
        "wed" | "wednesday" => Weekday::Wed,
        "thu" | "thur" | "thurs" | "thursday" => Weekday::Thu,
        "fri" | "friday" => Weekday::Fri,
        "sat" | "saturday" => Weekday::Sat,
        "sun" | "sunday" => Weekday::Sun,
        _ => return None,
    })
}

/// `9`, `9am`, `9:30`, `9:30pm`, `17:00`, `17h`, `noon`, `midnight`.
fn time_of(raw: &str) -> Option<NaiveTime> {
    match raw {
        "noon" => return NaiveTime::from_hms_opt(12, 0, 0),
        "midnight" => return NaiveTime::from_hms_opt(0, 0, 0),
        _ => {}
    }
    let (body, shift) = if let Some(b) = raw.strip_suffix("am") {
        (b, Some(0))
    } else if let Some(b) = raw.strip_suffix("pm") {
        (b, Some(12))
    } else {
        (raw.strip_suffix('h').unwrap_or(raw), None)
    };
    let (h, m) = match body.split_once(':') {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (body.parse::<u32>().ok()?, 0),
    };
    let h = match shift {
        Some(s) if (1..=12).contains(&h) => h % 12 + s,
        Some(_) => return None,
        None => h,
    };
    NaiveTime::from_hms_opt(h, m, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn local(input: &str) -> String {
        // Wednesday 2026-05-06, 14:10 in Paris (UTC+2).
        let tz: Tz = "Europe/Paris".parse().unwrap();
        parse(input, tz, at("2026-05-06T12:10:30Z"))
            .map(|t| {
                t.with_timezone(&tz)
                    .format("%a %Y-%m-%d %H:%M:%S")
                    .to_string()
            })
            .unwrap_or_else(|e| e)
    }

    #[test]
    fn days_and_times() {
        assert_eq!(local("today"), "Wed 2026-05-06 23:59:59");
        assert_eq!(local("tonight"), "Wed 2026-05-06 20:00:00");
        assert_eq!(local("yesterday 18:00"), "Tue 2026-05-05 18:00:00");
        assert_eq!(local("tomorrow 9am"), "Thu 2026-05-07 09:00:00");
        assert_eq!(local("Tomorrow at 9:30 pm"), "Thu 2026-05-07 21:30:00");
        assert_eq!(local("friday 17:30"), "Fri 2026-05-08 17:30:00");
        assert_eq!(local("wednesday"), "Wed 2026-05-13 23:59:59");
        assert_eq!(local("next monday at 8"), "Mon 2026-05-11 08:00:00");
        assert_eq!(local("next week"), "Mon 2026-05-11 23:59:59");
        assert_eq!(local("2026-06-01"), "Mon 2026-06-01 23:59:59");
        assert_eq!(local("2026-06-01 07:15"), "Mon 2026-06-01 07:15:00");
        assert_eq!(local("2026-06-01T07:15"), "Mon 2026-06-01 07:15:00");
        assert_eq!(local("noon"), "Thu 2026-05-07 12:00:00");
        assert_eq!(local("15:00"), "Wed 2026-05-06 15:00:00");
    }

    #[test]
    fn relative() {
        assert_eq!(local("in 2 hours"), "Wed 2026-05-06 16:10:30");
        assert_eq!(local("in 10 seconds"), "Wed 2026-05-06 14:10:40");
        assert_eq!(local("in 3 days"), "Sat 2026-05-09 14:10:30");
    }

    #[test]
    fn nonsense_is_refused_with_help() {
        for bad in [
            "",
            "someday",
            "in x hours",
            "friday 25:00",
            "13pm",
            "in 2 fortnights",
        ] {
            assert!(local(bad).starts_with("Could not understand"), "{bad}");
        }
    }
}
