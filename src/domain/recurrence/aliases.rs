//! Natural-language recurrence phrases ("every monday and friday") → rule model.
//!
//! Grammar (after lowercasing, treating `,` `&` `/` as spaces, collapsing whitespace):
//! - fixed phrases: daily, weekly, monthly, yearly, annually, biweekly, end of month, …
//! - `every|each <unit>`, `every other <unit>`, `every <n> <unit>s [on <weekdays>]`
//! - `[every|each|on] <weekdays>` where weekdays are names, plurals, abbreviations,
//!   `weekday(s)`, `weekend(s)`, joined by spaces, commas or "and"
//! - `every other <weekdays>`

use chrono::Weekday;

use super::RecurrenceError;
use super::rule::{DaySpec, Freq, MAX_INTERVAL, Rule, parse_bounded};

const END_OF_MONTH: [&str; 11] = [
    "end of month",
    "end of the month",
    "end of every month",
    "every end of month",
    "every end of the month",
    "last day of month",
    "last day of the month",
    "last day of every month",
    "every last day of the month",
    "every month on the last day",
    "monthly on the last day",
];

/// Parses a phrase; errors carry the "supported patterns" help text.
pub(super) fn parse_alias(input: &str) -> Result<Rule, RecurrenceError> {
    let lowered = input.to_lowercase().replace([',', '&', '/'], " ");
    let words: Vec<&str> = lowered.split_whitespace().collect();
    let phrase = words.join(" ");
    let rule = match fixed_phrase(&phrase) {
        Some(rule) => Some(rule),
        None => match words.as_slice() {
            ["every" | "each", rest @ ..] => every_phrase(rest)?,
            ["on", rest @ ..] => weekday_rule(rest, 1),
            all => weekday_rule(all, 1),
        },
    };
    rule.map(Rule::normalized)
        .ok_or_else(RecurrenceError::unsupported)
}

fn fixed_phrase(phrase: &str) -> Option<Rule> {
    let rule = match phrase {
        "daily" | "everyday" => Rule::new(Freq::Daily),
        "weekly" => Rule::new(Freq::Weekly),
        "monthly" => Rule::new(Freq::Monthly),
        "yearly" | "annually" => Rule::new(Freq::Yearly),
        "biweekly" | "fortnightly" | "every fortnight" => with_interval(Freq::Weekly, 2),
        p if END_OF_MONTH.contains(&p) => {
            let mut rule = Rule::new(Freq::Monthly);
            rule.by_month_day = vec![-1];
            rule
        }
        _ => return None,
    };
    Some(rule)
}

/// Everything after a leading "every"/"each". `Err` only for a recognised
/// shape with an unacceptable interval ("every 0 days").
fn every_phrase(rest: &[&str]) -> Result<Option<Rule>, RecurrenceError> {
    let (interval, tail) = match rest {
        ["other", tail @ ..] => (2, tail),
        [n, tail @ ..] if !tail.is_empty() && is_number(n) => (parse_interval(n)?, tail),
        tail => (1, tail),
    };
    let rule = match tail {
        [unit] if unit_freq(unit).is_some() => unit_freq(unit).map(|f| with_interval(f, interval)),
        [unit, "on", days @ ..] if unit_freq(unit) == Some(Freq::Weekly) => {
            weekday_rule(days, interval)
        }
        days => weekday_rule(days, interval),
    };
    Ok(rule)
}

fn with_interval(freq: Freq, interval: u16) -> Rule {
    let mut rule = Rule::new(freq);
    rule.interval = interval;
    rule
}

fn unit_freq(word: &str) -> Option<Freq> {
    match word {
        "day" | "days" => Some(Freq::Daily),
        "week" | "weeks" => Some(Freq::Weekly),
        "month" | "months" => Some(Freq::Monthly),
        "year" | "years" => Some(Freq::Yearly),
        _ => None,
    }
}

const NUMBER_WORDS: [&str; 12] = [
    "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
    "twelve",
];

fn is_number(word: &str) -> bool {
    NUMBER_WORDS.contains(&word) || word.bytes().all(|b| b.is_ascii_digit())
}

fn parse_interval(word: &str) -> Result<u16, RecurrenceError> {
    let n = match NUMBER_WORDS.iter().position(|w| *w == word) {
        Some(index) => index as u32 + 1,
        None => parse_bounded("INTERVAL", word, MAX_INTERVAL)?,
    };
    // `parse_bounded` caps n at MAX_INTERVAL, which fits in u16.
    Ok(n as u16)
}

/// A weekly rule on the listed days, or `None` if any word is not a weekday.
fn weekday_rule(words: &[&str], interval: u16) -> Option<Rule> {
    let mut days = Vec::new();
    for (i, word) in words.iter().enumerate() {
        if *word == "and" && i > 0 && i + 1 < words.len() && words[i - 1] != "and" {
            continue;
        }
        days.extend_from_slice(weekday_set(word)?);
    }
    if days.is_empty() {
        return None;
    }
    let mut rule = with_interval(Freq::Weekly, interval);
    rule.by_day = days.into_iter().map(DaySpec::every).collect();
    Some(rule)
}

fn weekday_set(word: &str) -> Option<&'static [Weekday]> {
    const NAMES: [&[&str]; 7] = [
        &["monday", "mondays", "mon"],
        &["tuesday", "tuesdays", "tue", "tues"],
        &["wednesday", "wednesdays", "wed"],
        &["thursday", "thursdays", "thu", "thur", "thurs"],
        &["friday", "fridays", "fri"],
        &["saturday", "saturdays", "sat"],
        &["sunday", "sundays", "sun"],
    ];
    const WEEK: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];
    match word {
        "weekday" | "weekdays" => Some(&WEEK[..5]),
        "weekend" | "weekends" => Some(&WEEK[5..]),
        _ => NAMES
            .iter()
            .position(|names| names.contains(&word))
            .map(|i| &WEEK[i..=i]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canonical(input: &str) -> String {
        match parse_alias(input) {
            Ok(rule) => rule.to_canonical(),
            Err(e) => panic!("{input:?} rejected: {}", e.message),
        }
    }

    #[test]
    fn alias_table() {
        let cases = [
            ("daily", "FREQ=DAILY"),
            ("everyday", "FREQ=DAILY"),
            ("every day", "FREQ=DAILY"),
            ("each day", "FREQ=DAILY"),
            ("weekly", "FREQ=WEEKLY"),
            ("every week", "FREQ=WEEKLY"),
            ("monthly", "FREQ=MONTHLY"),
            ("every month", "FREQ=MONTHLY"),
            ("yearly", "FREQ=YEARLY"),
            ("annually", "FREQ=YEARLY"),
            ("every year", "FREQ=YEARLY"),
            ("every other day", "FREQ=DAILY;INTERVAL=2"),
            ("every other week", "FREQ=WEEKLY;INTERVAL=2"),
            ("every other month", "FREQ=MONTHLY;INTERVAL=2"),
            ("every other year", "FREQ=YEARLY;INTERVAL=2"),
            ("biweekly", "FREQ=WEEKLY;INTERVAL=2"),
            ("fortnightly", "FREQ=WEEKLY;INTERVAL=2"),
            ("every 3 days", "FREQ=DAILY;INTERVAL=3"),
            ("every 2 weeks", "FREQ=WEEKLY;INTERVAL=2"),
            ("every 6 months", "FREQ=MONTHLY;INTERVAL=6"),
            ("every 10 years", "FREQ=YEARLY;INTERVAL=10"),
            ("every 1 week", "FREQ=WEEKLY"),
            ("every 365 days", "FREQ=DAILY;INTERVAL=365"),
            ("every two weeks", "FREQ=WEEKLY;INTERVAL=2"),
            ("every three months", "FREQ=MONTHLY;INTERVAL=3"),
            ("every twelve months", "FREQ=MONTHLY;INTERVAL=12"),
            ("every seven days", "FREQ=DAILY;INTERVAL=7"),
            ("every monday", "FREQ=WEEKLY;BYDAY=MO"),
            ("every tuesday", "FREQ=WEEKLY;BYDAY=TU"),
            ("every wednesday", "FREQ=WEEKLY;BYDAY=WE"),
            ("every thursday", "FREQ=WEEKLY;BYDAY=TH"),
            ("every friday", "FREQ=WEEKLY;BYDAY=FR"),
            ("every saturday", "FREQ=WEEKLY;BYDAY=SA"),
            ("every sunday", "FREQ=WEEKLY;BYDAY=SU"),
            ("every mon", "FREQ=WEEKLY;BYDAY=MO"),
            ("every thu", "FREQ=WEEKLY;BYDAY=TH"),
            ("every sun", "FREQ=WEEKLY;BYDAY=SU"),
            ("mondays", "FREQ=WEEKLY;BYDAY=MO"),
            ("on fridays", "FREQ=WEEKLY;BYDAY=FR"),
            ("weekdays", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
            ("every weekday", "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
            ("weekends", "FREQ=WEEKLY;BYDAY=SA,SU"),
            ("every weekend", "FREQ=WEEKLY;BYDAY=SA,SU"),
            ("every monday and friday", "FREQ=WEEKLY;BYDAY=MO,FR"),
            ("every friday and monday", "FREQ=WEEKLY;BYDAY=MO,FR"),
            (
                "every monday, wednesday and friday",
                "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            ),
            (
                "every monday, wednesday, and friday",
                "FREQ=WEEKLY;BYDAY=MO,WE,FR",
            ),
            ("monday wednesday friday", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
            ("mon wed fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
            ("mon/wed/fri", "FREQ=WEEKLY;BYDAY=MO,WE,FR"),
            ("tuesday and thursday", "FREQ=WEEKLY;BYDAY=TU,TH"),
            ("tues & thurs", "FREQ=WEEKLY;BYDAY=TU,TH"),
            ("sunday saturday sunday", "FREQ=WEEKLY;BYDAY=SA,SU"),
            ("every other monday", "FREQ=WEEKLY;INTERVAL=2;BYDAY=MO"),
            (
                "every 2 weeks on tuesday and thursday",
                "FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,TH",
            ),
            ("end of month", "FREQ=MONTHLY;BYMONTHDAY=-1"),
            ("end of the month", "FREQ=MONTHLY;BYMONTHDAY=-1"),
            ("last day of the month", "FREQ=MONTHLY;BYMONTHDAY=-1"),
            ("every month on the last day", "FREQ=MONTHLY;BYMONTHDAY=-1"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "alias {input:?}");
        }
    }

    #[test]
    fn aliases_ignore_case_and_spacing() {
        assert_eq!(canonical("  Every   MONDAY  "), "FREQ=WEEKLY;BYDAY=MO");
        assert_eq!(canonical("End Of\tThe Month"), "FREQ=MONTHLY;BYMONTHDAY=-1");
        assert_eq!(canonical("EVERY Other\nWeek"), "FREQ=WEEKLY;INTERVAL=2");
    }

    #[test]
    fn unrecognised_phrases_get_the_help_text() {
        for input in [
            "every",
            "sometimes",
            "every 2",
            "every blue moon",
            "every monday and",
            "and monday",
            "monday and and friday",
            "every 2 days on monday",
            "every thirteen days",
            "hourly",
            "every hour",
            "mondayz",
        ] {
            let err = parse_alias(input).err();
            let message = err.map(|e| e.message);
            assert_eq!(
                message.as_deref(),
                Some(super::super::SUPPORTED),
                "{input:?}"
            );
        }
    }

    #[test]
    fn out_of_range_intervals_say_why() {
        for input in ["every 0 days", "every 366 days", "every 99999999999 weeks"] {
            let message = parse_alias(input)
                .err()
                .map(|e| e.message)
                .unwrap_or_default();
            assert!(
                message.starts_with("INTERVAL must be a whole number from 1 to 365."),
                "{input}: {message}"
            );
            assert!(
                message.ends_with(super::super::SUPPORTED),
                "{input}: {message}"
            );
        }
    }
}
