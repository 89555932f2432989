//! Helpers shared by the suites: fixed instants, task drafts, labels, and reading the outbox back.

use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use tickler::domain::change;
use tickler::domain::event::{CloudEvent, TaskEventData, Topic};
use tickler::domain::label::{LabelKind, LabelName};
use tickler::domain::query::{Page, Ranked, TaskQuery};
use tickler::domain::recurrence::RecurrenceRule;
use tickler::domain::task::{NewTask, Priority, Recurrence, Task, Title};
use tickler::domain::{CategoryId, TagId, TaskId, UserId, ValidationError};
use tickler::ports::repository::Mutator;
use tickler::ports::{RepoError, WriteContext};

use super::Stores;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// The instant every repository case starts from (whole seconds: exact in every store).
pub fn base() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
}

/// `base()` plus some minutes (negative for the past).
pub fn at(minutes: i64) -> DateTime<Utc> {
    base() + chrono::Duration::minutes(minutes)
}

/// Later than anything a case writes: records are claimable, leases from `base()` have lapsed.
pub fn far() -> DateTime<Utc> {
    base() + chrono::Duration::days(365)
}

pub fn ctx(now: DateTime<Utc>) -> WriteContext {
    WriteContext {
        now,
        traceparent: Some(TRACEPARENT.to_owned()),
    }
}

pub fn uid(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

pub fn daily() -> RecurrenceRule {
    RecurrenceRule::parse("FREQ=DAILY").unwrap()
}

pub fn recurring(previous: Option<TaskId>) -> Recurrence {
    Recurrence {
        rule: daily(),
        series_start: None,
        previous_task_id: previous,
    }
}

/// A minimal request: medium priority, nothing else, and explicitly no reminders.
pub fn new_task(title: &str) -> NewTask {
    NewTask {
        title: Title::parse(title).unwrap(),
        description: None,
        priority: Priority::Medium,
        due_date: None,
        category_id: None,
        tag_ids: Vec::new(),
        recurrence: None,
        reminders: Some(Vec::new()),
    }
}

/// The draft the application would hand the repository.
pub fn draft(user: &UserId, new: NewTask, now: DateTime<Utc>) -> Task {
    change::create(user, new, None, now).unwrap()
}

pub async fn create(s: &Stores, user: &UserId, new: NewTask, now: DateTime<Utc>) -> Task {
    s.tasks
        .create(draft(user, new, now), &ctx(now))
        .await
        .unwrap()
}

pub async fn category(s: &Stores, user: &UserId, name: &str) -> CategoryId {
    let label = s
        .labels
        .create(
            user,
            LabelKind::Category,
            LabelName::parse(LabelKind::Category, name).unwrap(),
            None,
            base(),
        )
        .await
        .unwrap();
    CategoryId(label.id)
}

pub async fn tag(s: &Stores, user: &UserId, name: &str) -> TagId {
    let label = s
        .labels
        .create(
            user,
            LabelKind::Tag,
            LabelName::parse(LabelKind::Tag, name).unwrap(),
            None,
            base(),
        )
        .await
        .unwrap();
    TagId(label.id)
}

/// A mutator from an infallible domain function.
pub fn mutator(f: impl FnOnce(Task) -> change::TaskMutation + Send + 'static) -> Mutator {
    Box::new(move |t| Ok(f(t)))
}

/// A mutator from a fallible domain function.
pub fn try_mutator(
    f: impl FnOnce(Task) -> Result<change::TaskMutation, ValidationError> + Send + 'static,
) -> Mutator {
    Box::new(f)
}

/// A published record as the relay would see it.
#[derive(Debug, Clone)]
pub struct Published {
    pub topic: Topic,
    pub key: String,
    pub event: CloudEvent,
}

impl Published {
    pub fn task_data(&self) -> TaskEventData {
        self.event.data_as().unwrap()
    }
}

/// Claims and publishes everything waiting, returning it in outbox order.
pub async fn drain(s: &Stores) -> Vec<Published> {
    let records = s
        .outbox
        .claim(1000, Duration::from_secs(60), far())
        .await
        .unwrap();
    let seqs: Vec<i64> = records.iter().map(|r| r.seq).collect();
    s.outbox.mark_published(&seqs, far()).await.unwrap();
    records
        .into_iter()
        .map(|r| {
            let event = CloudEvent::from_slice(&r.payload).unwrap();
            assert_eq!(r.event_id, event.id, "record's event id is the payload's");
            Published {
                topic: r.topic,
                key: r.key,
                event,
            }
        })
        .collect()
}

pub async fn backlog(s: &Stores) -> u64 {
    s.outbox.backlog().await.unwrap()
}

pub async fn list(s: &Stores, user: &UserId, q: &TaskQuery) -> Page<Ranked<Task>> {
    s.tasks.list(user, q, base()).await.unwrap()
}

pub fn ids(page: &Page<Ranked<Task>>) -> Vec<TaskId> {
    page.items.iter().map(|r| r.item.id).collect()
}

/// The error code of an `Invalid` repository error (panics on any other result).
pub fn invalid_code<T: std::fmt::Debug>(r: Result<T, RepoError>) -> tickler::domain::ErrorCode {
    match r {
        Err(RepoError::Invalid(e)) => e.code,
        other => panic!("expected Invalid, got {other:?}"),
    }
}
