//! Raw inputs shared by the REST API and the MCP tools, and their conversion into validated domain
//! values. Keeping the conversion here means both interfaces accept exactly the same things.

use serde::{Deserialize, Deserializer};

use crate::domain::recurrence::RecurrenceRule;
use crate::domain::reminder::ReminderSpec;
use crate::domain::task::{
    NewTask, Patch, Priority, Recurrence, TaskPatch, Title, parse_description, parse_due_date,
    parse_instant, parse_tag_ids,
};
use crate::domain::{CategoryId, ErrorCode, ValidationError};

/// Absent → `None`; `null` → `Some(None)`; a value → `Some(Some(v))`. This is how "clear this
/// field" is told apart from "leave it alone".
pub fn tri_state<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Absent → `None` (with `#[serde(default)]`); a value → `Some(v)`; `null` → an error. For the
/// optional fields of a patch where `null` would mean nothing: refusing it keeps "leave alone"
/// spelt one way only, as the OpenAPI document says (those fields are not nullable there).
pub fn present<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

/// An integer as JSON Schema counts them: `3` and `3.0` alike (clients and generators that
/// only have floating-point numbers send the latter). Fractions and out-of-range numbers are
/// refused.
struct WholeNumber(i64);

impl<'de> Deserialize<'de> for WholeNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = WholeNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<WholeNumber, E> {
                Ok(WholeNumber(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<WholeNumber, E> {
                i64::try_from(v)
                    .map(WholeNumber)
                    .map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<WholeNumber, E> {
                // The range check is on the float: `as` would saturate silently.
                if v.fract() == 0.0
                    && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&v)
                {
                    Ok(WholeNumber(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not an integer in range")))
                }
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `Option<i64>` accepting whole floats (see [`WholeNumber`]).
pub fn opt_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(Option::<WholeNumber>::deserialize(d)?.map(|n| n.0))
}

/// The tri-state of [`tri_state`] for integers accepting whole floats.
pub fn tri_int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Ok(Some(opt_int(d)?))
}

/// A list of integers accepting whole floats; `null` is `None`.
pub fn opt_int_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    Ok(Option::<Vec<WholeNumber>>::deserialize(d)?.map(|v| v.into_iter().map(|n| n.0).collect()))
}

/// [`present`] for a list of integers accepting whole floats.
pub fn present_int_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<i64>>, D::Error> {
    Ok(Some(
        Vec::<WholeNumber>::deserialize(d)?
            .into_iter()
            .map(|n| n.0)
            .collect(),
    ))
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReminderInput {
    /// Minutes before the task's due date (0-525600).
    #[serde(default, deserialize_with = "opt_int")]
    pub minutes_before: Option<i64>,
    /// An absolute ISO 8601 instant, e.g. `2026-01-15T08:30:00Z`.
    pub remind_at: Option<String>,
}

impl ReminderInput {
    pub fn into_spec(self) -> Result<ReminderSpec, ValidationError> {
        match (self.minutes_before, self.remind_at) {
            (Some(m), None) => ReminderSpec::before(m),
            (None, Some(at)) => Ok(ReminderSpec::At {
                remind_at: parse_instant(&at, "remind_at")?,
            }),
            _ => Err(ValidationError::new(
                ErrorCode::InvalidReminder,
                "reminders",
                "Each reminder needs exactly one of minutes_before or remind_at",
            )),
        }
    }
}

pub fn reminder_specs(
    input: Option<Vec<ReminderInput>>,
) -> Result<Option<Vec<ReminderSpec>>, ValidationError> {
    input
        .map(|v| v.into_iter().map(ReminderInput::into_spec).collect())
        .transpose()
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTaskInput {
    /// 1-200 characters.
    pub title: String,
    pub description: Option<String>,
    /// low | medium | high | urgent (default medium).
    pub priority: Option<String>,
    /// ISO 8601; a date alone (or midnight) means the end of that day.
    pub due_date: Option<String>,
    #[serde(default, deserialize_with = "opt_int")]
    pub category_id: Option<i64>,
    /// Up to 10 of your tag ids.
    #[serde(default, deserialize_with = "opt_int_list")]
    pub tag_ids: Option<Vec<i64>>,
    /// RFC 5545 RRULE (`FREQ=WEEKLY;BYDAY=MO`) or a phrase (`daily`, `every monday`, `weekdays`).
    pub recurrence_rule: Option<String>,
    /// Omit for your default reminder (60 minutes before the due date unless changed in /me); `[]`
    /// for none.
    pub reminders: Option<Vec<ReminderInput>>,
}

pub fn parse_priority(raw: Option<&str>) -> Result<Priority, ValidationError> {
    raw.map(Priority::parse)
        .transpose()
        .map(Option::unwrap_or_default)
}

pub fn parse_rule(raw: &str) -> Result<RecurrenceRule, ValidationError> {
    RecurrenceRule::parse(raw).map_err(|e| {
        ValidationError::new(
            ErrorCode::InvalidRecurrenceRule,
            "recurrence_rule",
            e.message,
        )
    })
}

impl CreateTaskInput {
    pub fn into_new_task(self) -> Result<NewTask, ValidationError> {
        let rule = self
            .recurrence_rule
            .as_deref()
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(parse_rule)
            .transpose()?;
        Ok(NewTask {
            title: Title::parse(&self.title)?,
            description: parse_description(self.description.as_deref())?,
            priority: parse_priority(self.priority.as_deref())?,
            due_date: self
                .due_date
                .as_deref()
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(parse_due_date)
                .transpose()?,
            category_id: self.category_id.map(CategoryId),
            tag_ids: parse_tag_ids(self.tag_ids.as_deref().unwrap_or_default())?,
            recurrence: rule.map(|rule| Recurrence {
                rule,
                series_start: None,
                previous_task_id: None,
            }),
            reminders: reminder_specs(self.reminders)?,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTaskInput {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<String>,
    /// `null` or `""` clears it.
    #[serde(default, deserialize_with = "tri_state")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub priority: Option<String>,
    /// `null` or `""` clears it (relative reminders are then cancelled).
    #[serde(default, deserialize_with = "tri_state")]
    #[schema(value_type = Option<String>)]
    pub due_date: Option<Option<String>>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "tri_int")]
    #[schema(value_type = Option<i64>)]
    pub category_id: Option<Option<i64>>,
    /// Replaces the task's tags.
    #[serde(default, deserialize_with = "present_int_list")]
    pub tag_ids: Option<Vec<i64>>,
    /// `null` or `""` stops the recurrence.
    #[serde(default, deserialize_with = "tri_state")]
    #[schema(value_type = Option<String>)]
    pub recurrence_rule: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub completed: Option<bool>,
    /// Replaces the pending reminders.
    #[serde(default, deserialize_with = "present")]
    pub reminders: Option<Vec<ReminderInput>>,
}

/// Treats `""` like `null`: the seed's tools cleared fields with empty strings.
fn text_patch<T>(
    v: Option<Option<String>>,
    parse: impl FnOnce(&str) -> Result<T, ValidationError>,
) -> Result<Patch<T>, ValidationError> {
    match v {
        None => Ok(Patch::Keep),
        Some(None) => Ok(Patch::Clear),
        Some(Some(s)) if s.trim().is_empty() => Ok(Patch::Clear),
        Some(Some(s)) => parse(&s).map(Patch::Set),
    }
}

impl UpdateTaskInput {
    pub fn into_patch(self) -> Result<TaskPatch, ValidationError> {
        Ok(TaskPatch {
            title: self.title.as_deref().map(Title::parse).transpose()?,
            description: text_patch(self.description, |s| Ok(s.trim().to_owned())).and_then(
                |p| match p {
                    Patch::Set(d) => {
                        parse_description(Some(&d)).map(|d| d.map_or(Patch::Clear, Patch::Set))
                    }
                    other => Ok(other),
                },
            )?,
            priority: self.priority.as_deref().map(Priority::parse).transpose()?,
            due_date: text_patch(self.due_date, parse_due_date)?,
            category_id: match self.category_id {
                None => Patch::Keep,
                Some(None) => Patch::Clear,
                Some(Some(id)) => Patch::Set(CategoryId(id)),
            },
            tag_ids: self.tag_ids.as_deref().map(parse_tag_ids).transpose()?,
            recurrence_rule: text_patch(self.recurrence_rule, parse_rule)?,
            completed: self.completed,
            reminders: reminder_specs(self.reminders)?,
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelInput {
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    /// `#RRGGBB`; `null` clears it on update.
    #[serde(default, deserialize_with = "tri_state")]
    #[schema(value_type = Option<String>)]
    pub color: Option<Option<String>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatchInput {
    #[serde(default, deserialize_with = "present")]
    pub email: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub name: Option<String>,
    /// IANA zone, e.g. `Europe/Paris`.
    #[serde(default, deserialize_with = "present")]
    pub time_zone: Option<String>,
    /// Minutes before the due date for new tasks' reminder; `null` for none.
    #[serde(default, deserialize_with = "tri_int")]
    #[schema(value_type = Option<i64>)]
    pub default_reminder_minutes: Option<Option<i64>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_distinguishes_absent_null_and_value() {
        let p: UpdateTaskInput =
            serde_json::from_str(r#"{"due_date": null, "category_id": 3}"#).unwrap();
        let patch = p.into_patch().unwrap();
        assert_eq!(patch.due_date, Patch::Clear);
        assert_eq!(patch.category_id, Patch::Set(CategoryId(3)));
        assert_eq!(patch.description, Patch::Keep);
        let p: UpdateTaskInput = serde_json::from_str(r#"{"recurrence_rule": ""}"#).unwrap();
        assert_eq!(p.into_patch().unwrap().recurrence_rule, Patch::Clear);
    }

    #[test]
    fn integers_may_be_whole_floats_and_patch_fields_may_not_be_null() {
        let p: CreateTaskInput =
            serde_json::from_str(r#"{"title":"x","category_id":3.0,"tag_ids":[1,2.0]}"#).unwrap();
        assert_eq!(p.category_id, Some(3));
        assert_eq!(p.tag_ids, Some(vec![1, 2]));
        for bad in [
            r#"{"title":"x","category_id":3.5}"#,
            r#"{"title":"x","category_id":1e300}"#,
            r#"{"title":"x","category_id":9223372036854775808}"#,
        ] {
            assert!(
                serde_json::from_str::<CreateTaskInput>(bad).is_err(),
                "{bad}"
            );
        }
        let r: ReminderInput = serde_json::from_str(r#"{"minutes_before": -235.0}"#).unwrap();
        assert_eq!(r.minutes_before, Some(-235));
        for bad in [
            r#"{"title":null}"#,
            r#"{"priority":null}"#,
            r#"{"tag_ids":null}"#,
        ] {
            assert!(
                serde_json::from_str::<UpdateTaskInput>(bad).is_err(),
                "{bad}"
            );
        }
        assert!(serde_json::from_str::<LabelInput>(r#"{"name":null}"#).is_err());
        let l: LabelInput = serde_json::from_str(r#"{"color":null}"#).unwrap();
        assert_eq!((l.name, l.color), (None, Some(None)));
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(
            serde_json::from_str::<CreateTaskInput>(r#"{"title":"x","user_id":"bob"}"#).is_err()
        );
    }

    #[test]
    fn reminder_input_needs_exactly_one_form() {
        assert!(
            ReminderInput {
                minutes_before: Some(5),
                remind_at: Some("2026-01-01T00:00:00Z".into())
            }
            .into_spec()
            .is_err()
        );
        assert!(ReminderInput::default().into_spec().is_err());
    }
}
