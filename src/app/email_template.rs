//! The reminder e-mail: subject `Reminder: <title>`, text and HTML parts, due time shown in the
//! recipient's time zone.

use crate::domain::event::ReminderDueData;
use crate::ports::Email;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn priority_colour(p: &str) -> &'static str {
    match p {
        "urgent" => "#dc2626",
        "high" => "#ea580c",
        "medium" => "#ca8a04",
        "low" => "#16a34a",
        _ => "#6b7280",
    }
}

/// The due time in the user's zone, labelled with the zone's abbreviation, e.g.
/// "Friday, January 16, 2026 at 9:00 AM CET".
pub fn due_text(data: &ReminderDueData) -> String {
    let tz: chrono_tz::Tz = data.time_zone.parse().unwrap_or(chrono_tz::UTC);
    match data.task_due_date {
        Some(d) => d
            .with_timezone(&tz)
            .format("%A, %B %-d, %Y at %-I:%M %p %Z")
            .to_string(),
        None => "no due date".to_owned(),
    }
}

pub fn render(data: &ReminderDueData, to: &str, message_id: &str) -> Email {
    let due = due_text(data);
    let late_note = if data.late {
        "\n(This reminder is late: Tickler was not running at its time.)"
    } else {
        ""
    };
    let description = data.task_description.as_deref().unwrap_or("");
    let text_description = if description.is_empty() {
        String::new()
    } else {
        format!("\n{description}\n")
    };
    let text = format!(
        "Task reminder\n\n{title}\n{text_description}\nDue: {due}\nPriority: {priority}{late_note}\n\n-- \nSent by Tickler\n",
        title = data.task_title,
        priority = data.task_priority.to_uppercase(),
    );
    let html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\">\
<h2>&#128276; Task reminder</h2><h3>{title}</h3>{desc}\
<table><tr><td><b>Due</b></td><td>{due}</td></tr>\
<tr><td><b>Priority</b></td><td><span style=\"color:{colour}\">{priority}</span></td></tr></table>{late}\
<p style=\"color:#6b7280\">Sent by Tickler</p></body></html>",
        title = escape(&data.task_title),
        desc = if description.is_empty() {
            String::new()
        } else {
            format!("<p>{}</p>", escape(description))
        },
        due = escape(&due),
        colour = priority_colour(&data.task_priority),
        priority = escape(&data.task_priority),
        late = if data.late {
            "<p><i>This reminder is late: Tickler was not running at its time.</i></p>"
        } else {
            ""
        },
    );
    Email {
        to: to.to_owned(),
        to_name: data.recipient_name.clone(),
        subject: format!("Reminder: {}", data.task_title),
        text,
        html,
        message_id: message_id.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn data() -> ReminderDueData {
        ReminderDueData {
            user_id: crate::domain::UserId::parse("u").unwrap(),
            reminder_id: crate::domain::ReminderId(1),
            task_id: crate::domain::TaskId(2),
            task_title: "Pay <rent>".into(),
            task_description: Some("before noon".into()),
            task_due_date: Some(chrono::Utc.with_ymd_and_hms(2026, 7, 1, 7, 0, 0).unwrap()),
            task_priority: "high".into(),
            remind_at: chrono::Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap(),
            fired_at: chrono::Utc.with_ymd_and_hms(2026, 7, 1, 6, 0, 0).unwrap(),
            late: false,
            recipient_email: Some("a@example.com".into()),
            recipient_name: None,
            time_zone: "Europe/Paris".into(),
        }
    }

    #[test]
    fn due_time_is_in_the_users_zone_and_html_is_escaped() {
        let e = render(&data(), "a@example.com", "m1");
        assert_eq!(e.subject, "Reminder: Pay <rent>");
        assert!(
            e.text.contains("Wednesday, July 1, 2026 at 9:00 AM CEST"),
            "{}",
            e.text
        );
        assert!(e.html.contains("Pay &lt;rent&gt;"));
        assert!(!e.html.contains("<rent>"));
    }
}
