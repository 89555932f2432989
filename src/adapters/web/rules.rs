//! A canonical RRULE in words, for the task list ("every week on Mon, Fri"). Anything it does not
//! recognise is shown as the rule itself: this is a label, not a parser.

pub fn describe(rule: &str) -> String {
    let mut freq = "";
    let mut interval = 1u32;
    let mut by_day = "";
    let mut by_month_day = "";
    let mut by_month = "";
    let mut end = String::new();
    for part in rule.split(';') {
        match part.split_once('=') {
            Some(("FREQ", v)) => freq = v,
            Some(("INTERVAL", v)) => interval = v.parse().unwrap_or(1),
            Some(("BYDAY", v)) => by_day = v,
            Some(("BYMONTHDAY", v)) => by_month_day = v,
            Some(("BYMONTH", v)) => by_month = v,
            Some(("COUNT", v)) => end = format!(", {v} times"),
            Some(("UNTIL", v)) if v.len() >= 8 => {
                end = format!(", until {}-{}-{}", &v[..4], &v[4..6], &v[6..8])
            }
            _ => return rule.to_owned(),
        }
    }
    let unit = match freq {
        "DAILY" => "day",
        "WEEKLY" => "week",
        "MONTHLY" => "month",
        "YEARLY" => "year",
        _ => return rule.to_owned(),
    };
    let mut out = if interval == 1 {
        format!("every {unit}")
    } else {
        format!("every {interval} {unit}s")
    };
    if by_day == "MO,TU,WE,TH,FR" && freq == "WEEKLY" && interval == 1 {
        out = "every weekday".into();
    } else if by_day == "SA,SU" && freq == "WEEKLY" && interval == 1 {
        out = "every weekend day".into();
    } else if !by_day.is_empty() {
        let days: Vec<String> = by_day.split(',').map(day_name).collect();
        out.push_str(&format!(" on {}", days.join(", ")));
    }
    if by_month_day == "-1" {
        out.push_str(" on the last day");
    } else if !by_month_day.is_empty() {
        out.push_str(&format!(" on day {by_month_day}"));
    }
    if !by_month.is_empty() {
        let months: Vec<&str> = by_month.split(',').map(month_name).collect();
        out.push_str(&format!(" in {}", months.join(", ")));
    }
    out + &end
}

fn day_name(code: &str) -> String {
    let (ord, day) = code.split_at(code.len().saturating_sub(2));
    let name = match day {
        "MO" => "Mon",
        "TU" => "Tue",
        "WE" => "Wed",
        "TH" => "Thu",
        "FR" => "Fri",
        "SA" => "Sat",
        "SU" => "Sun",
        _ => return code.to_owned(),
    };
    match ord {
        "" => name.to_owned(),
        "-1" => format!("the last {name}"),
        "1" | "+1" => format!("the 1st {name}"),
        "2" | "+2" => format!("the 2nd {name}"),
        "3" | "+3" => format!("the 3rd {name}"),
        n => format!("the {}th {name}", n.trim_start_matches('+')),
    }
}

fn month_name(m: &str) -> &str {
    match m {
        "1" => "Jan",
        "2" => "Feb",
        "3" => "Mar",
        "4" => "Apr",
        "5" => "May",
        "6" => "Jun",
        "7" => "Jul",
        "8" => "Aug",
        "9" => "Sep",
        "10" => "Oct",
        "11" => "Nov",
        "12" => "Dec",
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::describe;

    #[test]
    fn common_rules_read_naturally() {
        assert_eq!(describe("FREQ=DAILY"), "every day");
        assert_eq!(
            describe("FREQ=WEEKLY;BYDAY=MO,FR"),
            "every week on Mon, Fri"
        );
        assert_eq!(
            describe("FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR"),
            "every weekday"
        );
        assert_eq!(describe("FREQ=WEEKLY;INTERVAL=2"), "every 2 weeks");
        assert_eq!(
            describe("FREQ=MONTHLY;BYMONTHDAY=-1"),
            "every month on the last day"
        );
        assert_eq!(
            describe("FREQ=YEARLY;BYMONTH=12;BYMONTHDAY=25;COUNT=3"),
            "every year on day 25 in Dec, 3 times"
        );
        assert_eq!(
            describe("FREQ=MONTHLY;BYDAY=-1FR"),
            "every month on the last Fri"
        );
        assert_eq!(describe("FREQ=HOURLY"), "FREQ=HOURLY");
    }
}
