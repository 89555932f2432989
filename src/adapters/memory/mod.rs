//! In-memory adapters of every port: used by unit tests and, for the event bus, by the embedded
//! default (one process, no broker).
//!
//! `MemoryStore` implements the task, label and user repositories and the outbox on one piece of
//! state, because a task write and its events must commit together: each write takes the lock
//! once, validates, applies and appends its events, so a failed write leaves nothing behind. No
//! lock in this module is ever held across an `.await`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::domain::label::LabelKind;
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::domain::{TaskId, UserId};
use crate::ports::{HealthCheck, InfraError};

pub mod bus;
pub mod clock;
pub mod dead_letters;
pub mod labels;
pub mod mailer;
pub mod outbox;
pub mod scheduler;
pub mod state;
pub mod tasks;
pub mod users;

pub use bus::{DeadLetter, MemoryBus};
pub use clock::{ManualClock, SystemClock};
pub use dead_letters::MemoryDeadLetters;
pub use mailer::MemoryMailer;
pub use scheduler::MemoryScheduler;
pub use state::MemoryStateStore;

/// Tasks, labels, users and the outbox, behind one lock. Cloning shares the same data.
#[derive(Clone, Default)]
pub struct MemoryStore {
    shared: Arc<Shared>,
}

#[derive(Default)]
struct Shared {
    data: Mutex<Data>,
    /// Notified after every write that appended outbox records (`Outbox::wait_for_work`).
    work: Notify,
}

#[derive(Default)]
struct Data {
    /// Stored tasks with their tag ids and reminders (ids assigned).
    tasks: BTreeMap<TaskId, Task>,
    labels: HashMap<(LabelKind, i64), labels::StoredLabel>,
    users: HashMap<UserId, User>,
    outbox: BTreeMap<i64, outbox::Row>,
    /// The latest records, published or not, for `Outbox::user_events` (bounded: the memory
    /// store keeps no history beyond what a live page needs to catch up).
    feed: std::collections::VecDeque<outbox::FeedRow>,
    last_task_id: i64,
    last_reminder_id: i64,
    /// Per kind, as categories and tags are numbered independently.
    last_label_id: HashMap<LabelKind, i64>,
    last_seq: i64,
    /// `finish_reminder` calls still to fail (failure injection for the roles' tests).
    failing_finishes: u32,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// The next `n` `finish_reminder` calls fail transiently, changing nothing, as they would
    /// while a database restarts.
    pub fn fail_next_finishes(&self, n: u32) {
        self.lock().failing_finishes = n;
    }

    /// The data, for one whole operation. A panic elsewhere cannot leave a half-applied write
    /// (writes validate before changing anything), so a poisoned lock is safe to reuse.
    fn lock(&self) -> MutexGuard<'_, Data> {
        self.shared.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the outbox relay; called after the lock is released.
    fn signal_work(&self) {
        // `notify_one` stores a permit when no relay is waiting yet, so a write that lands between
        // the relay's `claim` and its next `wait_for_work` is not missed.
        self.shared.work.notify_one();
    }
}

/// Memory is always there: the store is ready as soon as it exists.
#[async_trait]
impl HealthCheck for MemoryStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), InfraError> {
        Ok(())
    }
}

#[cfg(test)]
mod testutil {
    use chrono::{DateTime, Duration, TimeZone, Utc};

    use crate::domain::UserId;
    use crate::domain::change;
    use crate::domain::reminder::ReminderSpec;
    use crate::domain::task::{NewTask, Priority, Task, Title};
    use crate::ports::WriteContext;

    /// `minutes` after a fixed instant.
    pub fn t(minutes: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap() + Duration::minutes(minutes)
    }

    pub fn user(id: &str) -> UserId {
        UserId::parse(id).unwrap()
    }

    pub fn ctx(now: DateTime<Utc>) -> WriteContext {
        WriteContext {
            now,
            traceparent: Some("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into()),
        }
    }

    pub fn new_task(title: &str) -> NewTask {
        NewTask {
            title: Title::parse(title).unwrap(),
            description: None,
            priority: Priority::Medium,
            due_date: None,
            category_id: None,
            tag_ids: Vec::new(),
            recurrence: None,
            reminders: None,
        }
    }

    /// A draft due at `t(120)` with reminders 30 and 10 minutes before.
    pub fn with_reminders(title: &str) -> NewTask {
        NewTask {
            due_date: Some(t(120)),
            reminders: Some(vec![
                ReminderSpec::BeforeDue { minutes_before: 30 },
                ReminderSpec::BeforeDue { minutes_before: 10 },
            ]),
            ..new_task(title)
        }
    }

    pub fn draft(user: &UserId, new: NewTask, now: DateTime<Utc>) -> Task {
        change::create(user, new, None, now).unwrap()
    }
}
