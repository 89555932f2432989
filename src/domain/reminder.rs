//! Reminders: when a task should nudge its owner, and what became of each nudge.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::{ErrorCode, ReminderId, TaskId, ValidationError};

/// The default reminder when a user has not chosen one: an hour before the due date, as in the seed.
pub const DEFAULT_MINUTES_BEFORE: u32 = 60;
/// A year: anything further ahead is almost certainly a unit mistake.
pub const MAX_MINUTES_BEFORE: u32 = 525_600;
/// Caps storage per task; "any number" in practice means a handful.
pub const MAX_REMINDERS_PER_TASK: usize = 20;
/// A reminder delivered this long after its instant is reported as late (it was due while the
/// service was down, or the queue was backed up).
pub const LATE_AFTER: Duration = Duration::seconds(60);

/// What the user asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReminderSpec {
    BeforeDue { minutes_before: u32 },
    At { remind_at: DateTime<Utc> },
}

impl ReminderSpec {
    pub fn before(minutes: i64) -> Result<Self, ValidationError> {
        u32::try_from(minutes)
            .ok()
            .filter(|m| *m <= MAX_MINUTES_BEFORE)
            .map(|minutes_before| Self::BeforeDue { minutes_before })
            .ok_or_else(|| {
                ValidationError::new(
                    ErrorCode::InvalidReminder,
                    "minutes_before",
                    "minutes_before must be between 0 and 525600 (one year)",
                )
            })
    }

    /// The instant this reminder is for, before clamping to "now".
    pub fn instant(&self, due: Option<DateTime<Utc>>) -> Result<DateTime<Utc>, ValidationError> {
        match *self {
            Self::At { remind_at } => Ok(remind_at),
            Self::BeforeDue { minutes_before } => due
                .map(|d| d - Duration::minutes(i64::from(minutes_before)))
                .ok_or_else(|| {
                    ValidationError::new(
                        ErrorCode::InvalidReminder,
                        "reminders",
                        "Task must have a due_date to set a reminder relative to it",
                    )
                }),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReminderStatus {
    Scheduled,
    Sent,
    Failed,
    Cancelled,
    Skipped,
}

impl ReminderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Scheduled => "scheduled",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Skipped => "skipped",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        [
            Self::Scheduled,
            Self::Sent,
            Self::Failed,
            Self::Cancelled,
            Self::Skipped,
        ]
        .into_iter()
        .find(|s| s.as_str() == raw)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reminder {
    pub id: ReminderId,
    pub task_id: TaskId,
    /// Set for reminders relative to the due date; they move when the task is re-dated.
    pub minutes_before: Option<u32>,
    /// When the reminder fires (UTC).
    pub remind_at: DateTime<Utc>,
    pub status: ReminderStatus,
    /// When the notification role fired it (published `reminder.due`); fires at most once.
    pub fired_at: Option<DateTime<Utc>>,
    /// When the e-mail went out (status `sent`) or the attempt was given up (`failed`).
    pub delivered_at: Option<DateTime<Utc>>,
    /// Delivered more than a minute after `remind_at`.
    pub late: bool,
    pub created_at: DateTime<Utc>,
}

impl Reminder {
    /// A reminder still waiting for its instant.
    pub fn is_pending(&self) -> bool {
        self.status == ReminderStatus::Scheduled && self.fired_at.is_none()
    }

    /// A new, unsaved reminder (id 0 until the repository stores it).
    pub fn planned(task_id: TaskId, p: PlannedReminder, now: DateTime<Utc>) -> Self {
        Self {
            id: ReminderId(0),
            task_id,
            minutes_before: p.minutes_before,
            remind_at: p.remind_at,
            status: ReminderStatus::Scheduled,
            fired_at: None,
            delivered_at: None,
            late: false,
            created_at: now,
        }
    }

    /// The scheduler job that fires this reminder. Stable, so rescheduling replaces the job.
    pub fn job_name(&self) -> String {
        job_name(self.id)
    }
}

pub fn job_name(id: ReminderId) -> String {
    format!("reminder-{}", id.0)
}

/// Parses a job name back into the reminder it fires.
pub fn reminder_id_from_job(name: &str) -> Option<ReminderId> {
    name.strip_prefix("reminder-")?.parse().ok().map(ReminderId)
}

/// A reminder ready to be stored: its spec and the instant it fires.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannedReminder {
    pub minutes_before: Option<u32>,
    pub remind_at: DateTime<Utc>,
}

/// Turns what the user asked for into reminders to store.
///
/// `requested` is `None` when the request did not mention reminders: a task with a due date then
/// gets the user's default (if any). `Some(vec![])` means "no reminders". A relative reminder whose
/// instant has already passed fires at once (as the seed's 60-minute window did); an explicit
/// absolute time in the past is refused because it is almost certainly a mistake.
pub fn plan(
    requested: Option<&[ReminderSpec]>,
    due: Option<DateTime<Utc>>,
    user_default_minutes: Option<u32>,
    now: DateTime<Utc>,
) -> Result<Vec<PlannedReminder>, ValidationError> {
    let defaults;
    let specs: &[ReminderSpec] = match requested {
        Some(specs) => specs,
        None => {
            defaults = match (due, user_default_minutes) {
                (Some(_), Some(m)) => vec![ReminderSpec::BeforeDue { minutes_before: m }],
                _ => Vec::new(),
            };
            &defaults
        }
    };
    if specs.len() > MAX_REMINDERS_PER_TASK {
        return Err(ValidationError::new(
            ErrorCode::TooManyReminders,
            "reminders",
            format!("Maximum {MAX_REMINDERS_PER_TASK} reminders per task"),
        ));
    }
    let mut out: Vec<PlannedReminder> = Vec::with_capacity(specs.len());
    for spec in specs {
        let instant = spec.instant(due)?;
        let planned = match *spec {
            ReminderSpec::At { .. } if instant < now - Duration::minutes(1) => {
                return Err(ValidationError::new(
                    ErrorCode::InvalidReminder,
                    "remind_at",
                    "Reminder time is in the past",
                ));
            }
            ReminderSpec::At { .. } => PlannedReminder {
                minutes_before: None,
                remind_at: instant.max(now),
            },
            ReminderSpec::BeforeDue { minutes_before } => PlannedReminder {
                minutes_before: Some(minutes_before),
                remind_at: instant.max(now),
            },
        };
        if !out.contains(&planned) {
            out.push(planned);
        }
    }
    Ok(out)
}

/// What re-dating a task does to one of its pending reminders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redate {
    Keep,
    MoveTo(DateTime<Utc>),
    Cancel,
}

/// Relative reminders follow the due date; absolute ones stay; clearing the due date cancels the
/// relative ones because they have nothing left to be relative to.
pub fn redate(reminder: &Reminder, new_due: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Redate {
    if !reminder.is_pending() {
        return Redate::Keep;
    }
    match (reminder.minutes_before, new_due) {
        (None, _) => Redate::Keep,
        (Some(_), None) => Redate::Cancel,
        (Some(m), Some(due)) => Redate::MoveTo((due - Duration::minutes(i64::from(m))).max(now)),
    }
}

/// Whether a delivery at `delivered` counts as late for a reminder due at `remind_at`.
pub fn is_late(remind_at: DateTime<Utc>, delivered: DateTime<Utc>) -> bool {
    delivered - remind_at > LATE_AFTER
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 5, 1, h, m, 0).unwrap()
    }

    #[test]
    fn default_applies_only_with_due_date_and_unspecified() {
        let now = t(8, 0);
        let p = plan(None, Some(t(12, 0)), Some(60), now).unwrap();
        assert_eq!(
            p,
            vec![PlannedReminder {
                minutes_before: Some(60),
                remind_at: t(11, 0)
            }]
        );
        assert!(plan(None, None, Some(60), now).unwrap().is_empty());
        assert!(
            plan(Some(&[]), Some(t(12, 0)), Some(60), now)
                .unwrap()
                .is_empty()
        );
        assert!(plan(None, Some(t(12, 0)), None, now).unwrap().is_empty());
    }

    #[test]
    fn past_relative_reminder_fires_now_but_past_absolute_is_refused() {
        let now = t(11, 30);
        let p = plan(None, Some(t(12, 0)), Some(60), now).unwrap();
        assert_eq!(p[0].remind_at, now);
        let e = plan(
            Some(&[ReminderSpec::At { remind_at: t(9, 0) }]),
            None,
            None,
            now,
        )
        .unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidReminder);
    }

    #[test]
    fn relative_reminder_needs_a_due_date() {
        let spec = [ReminderSpec::BeforeDue { minutes_before: 5 }];
        assert_eq!(
            plan(Some(&spec), None, None, t(1, 0)).unwrap_err().code,
            ErrorCode::InvalidReminder
        );
    }

    #[test]
    fn too_many_reminders() {
        let specs = vec![ReminderSpec::BeforeDue { minutes_before: 1 }; 21];
        assert_eq!(
            plan(Some(&specs), Some(t(12, 0)), None, t(1, 0))
                .unwrap_err()
                .code,
            ErrorCode::TooManyReminders
        );
    }

    #[test]
    fn redating_moves_relative_and_keeps_absolute() {
        let base = Reminder {
            id: ReminderId(1),
            task_id: TaskId(1),
            minutes_before: Some(30),
            remind_at: t(11, 30),
            status: ReminderStatus::Scheduled,
            fired_at: None,
            delivered_at: None,
            late: false,
            created_at: t(1, 0),
        };
        assert_eq!(
            redate(&base, Some(t(15, 0)), t(1, 0)),
            Redate::MoveTo(t(14, 30))
        );
        assert_eq!(redate(&base, None, t(1, 0)), Redate::Cancel);
        let abs = Reminder {
            minutes_before: None,
            ..base.clone()
        };
        assert_eq!(redate(&abs, Some(t(15, 0)), t(1, 0)), Redate::Keep);
        let sent = Reminder {
            status: ReminderStatus::Sent,
            ..base
        };
        assert_eq!(redate(&sent, Some(t(15, 0)), t(1, 0)), Redate::Keep);
    }

    #[test]
    fn job_names_round_trip() {
        assert_eq!(
            reminder_id_from_job(&job_name(ReminderId(42))),
            Some(ReminderId(42))
        );
        assert_eq!(reminder_id_from_job("other-42"), None);
    }

    #[test]
    fn minutes_bounds() {
        assert!(ReminderSpec::before(-1).is_err());
        assert!(ReminderSpec::before(525_601).is_err());
        assert!(ReminderSpec::before(0).is_ok());
    }
}
