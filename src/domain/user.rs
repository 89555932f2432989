//! Users as Tickler knows them: identity from the token, preferences stored here.

use serde::{Deserialize, Serialize};

use super::reminder::{DEFAULT_MINUTES_BEFORE, MAX_MINUTES_BEFORE};
use super::text::{Lines, clean};
use super::{ErrorCode, UserId, ValidationError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub email: Option<String>,
    pub name: Option<String>,
    /// IANA zone used to show due times and to expand recurrences (DST-correct).
    pub time_zone: chrono_tz::Tz,
    /// Minutes before the due date for the reminder a new task gets; `None` disables it.
    pub default_reminder_minutes: Option<u32>,
}

impl User {
    /// A user first seen through a token: UTC, one-hour default reminder.
    pub fn from_claims(id: UserId, email: Option<String>, name: Option<String>) -> Self {
        Self {
            id,
            email,
            name,
            time_zone: chrono_tz::UTC,
            default_reminder_minutes: Some(DEFAULT_MINUTES_BEFORE),
        }
    }
}

pub fn parse_time_zone(raw: &str) -> Result<chrono_tz::Tz, ValidationError> {
    raw.trim().parse::<chrono_tz::Tz>().map_err(|_| {
        ValidationError::new(
            ErrorCode::InvalidTimeZone,
            "time_zone",
            format!("Unknown IANA time zone '{raw}' (e.g. Europe/Paris, America/New_York, UTC)"),
        )
    })
}

/// A deliberately loose check: one `@`, something on both sides, no spaces. Deliverability is the
/// SMTP server's business.
pub fn parse_email(raw: &str) -> Result<String, ValidationError> {
    // 254 characters as sent, like every other text limit.
    let valid = raw.chars().count() <= 254;
    let raw = raw.trim();
    let valid = valid
        && !raw.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(raw.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
    if valid {
        Ok(raw.to_owned())
    } else {
        Err(ValidationError::invalid(
            "email",
            "email must look like name@example.com",
        ))
    }
}

pub fn parse_display_name(raw: &str) -> Result<String, ValidationError> {
    let name = clean("name", raw, Lines::Single)?;
    if name.is_empty() || raw.chars().count() > 100 {
        return Err(ValidationError::invalid(
            "name",
            "name must be 1-100 printable characters",
        ));
    }
    Ok(name)
}

pub fn parse_default_reminder(minutes: Option<i64>) -> Result<Option<u32>, ValidationError> {
    minutes
        .map(|m| {
            u32::try_from(m)
                .ok()
                .filter(|m| *m <= MAX_MINUTES_BEFORE)
                .ok_or_else(|| {
                    ValidationError::new(
                        ErrorCode::InvalidReminder,
                        "default_reminder_minutes",
                        "default_reminder_minutes must be between 0 and 525600, or null for none",
                    )
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_zone_and_email_rules() {
        assert_eq!(
            parse_time_zone("Europe/Paris").unwrap(),
            chrono_tz::Europe::Paris
        );
        assert_eq!(
            parse_time_zone("Mars/Base").unwrap_err().code,
            ErrorCode::InvalidTimeZone
        );
        assert!(parse_email("a@b.co").is_ok());
        for bad in ["", "a", "a@b", "@b.co", "a b@c.d", "a@b@c.d"] {
            assert!(parse_email(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_default_reminder(Some(-5)).unwrap_err().code,
            ErrorCode::InvalidReminder
        );
        assert_eq!(parse_default_reminder(None).unwrap(), None);
    }
}
