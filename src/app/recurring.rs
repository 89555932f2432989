//! The `recurring` role: when a recurring task is completed, create its next occurrence — once.
//!
//! Idempotency comes from the repository: a task can have only one successor
//! (`previous_task_id` is unique), so a redelivered or repeated completion creates nothing new.

use std::sync::Arc;

use async_trait::async_trait;

use crate::domain::TaskId;
use crate::domain::event::{CloudEvent, TaskEventData, Topic, carries};
use crate::domain::reminder::{PlannedReminder, Reminder};
use crate::domain::task::{Recurrence, Task};
use crate::ports::error::chain;
use crate::ports::{
    Clock, EventHandler, Outcome, RepoError, TaskRepository, UserRepository, WriteContext,
};
use crate::telemetry::metrics;

pub struct Recurring {
    tasks: Arc<dyn TaskRepository>,
    users: Arc<dyn UserRepository>,
    clock: Arc<dyn Clock>,
}

impl Recurring {
    pub fn new(
        tasks: Arc<dyn TaskRepository>,
        users: Arc<dyn UserRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            tasks,
            users,
            clock,
        }
    }

    /// The next occurrence's draft, or `None` when the series has ended.
    pub fn next_occurrence(
        task: &Task,
        tz: chrono_tz::Tz,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<Task> {
        let rec = task.recurrence.as_ref()?;
        let base = task.due_date.or(task.completed_at).unwrap_or(now);
        let series_start = rec.series_start.unwrap_or(base);
        // Follow the due date; if that is already past (completed late), skip to the first
        // occurrence still ahead rather than creating an overdue task.
        let mut next = rec.rule.next_after(series_start, base, tz)?;
        if next <= now {
            next = rec.rule.next_after(series_start, now, tz)?;
        }
        let mut offsets: Vec<u32> = task
            .reminders
            .iter()
            .filter_map(|r| r.minutes_before)
            .collect();
        offsets.sort_unstable();
        offsets.dedup();
        let reminders = offsets
            .into_iter()
            .map(|m| {
                let at = (next - chrono::Duration::minutes(i64::from(m))).max(now);
                Reminder::planned(
                    TaskId(0),
                    PlannedReminder {
                        minutes_before: Some(m),
                        remind_at: at,
                    },
                    now,
                )
            })
            .collect();
        Some(Task {
            id: TaskId(0),
            user_id: task.user_id.clone(),
            title: task.title.clone(),
            description: task.description.clone(),
            priority: task.priority,
            due_date: Some(next),
            category_id: task.category_id,
            tag_ids: task.tag_ids.clone(),
            recurrence: Some(Recurrence {
                rule: rec.rule.clone(),
                series_start: Some(series_start),
                previous_task_id: Some(task.id),
            }),
            completed: false,
            completed_at: None,
            created_at: now,
            updated_at: now,
            reminders,
        })
    }

    async fn create_next(&self, event: &CloudEvent, task: &Task) -> Result<(), String> {
        let tz = match self.users.get(&task.user_id).await {
            Ok(u) => u.map_or(chrono_tz::UTC, |u| u.time_zone),
            Err(e) => return Err(e.to_string()),
        };
        let now = self.clock.now();
        let Some(mut draft) = Self::next_occurrence(task, tz, now) else {
            tracing::info!(task_id = task.id.0, "recurrence series ended");
            return Ok(());
        };
        let ctx = WriteContext {
            now,
            traceparent: event.traceparent.clone(),
        };
        // A label deleted since completion is dropped from the copy rather than blocking it.
        for _ in 0..=crate::domain::task::MAX_TAGS_PER_TASK + 1 {
            match self.tasks.create(draft.clone(), &ctx).await {
                Ok(t) => {
                    metrics::OCCURRENCES_CREATED.inc();
                    tracing::info!(task_id = task.id.0, next_task_id = t.id.0, due = %draft.due_date.unwrap_or(now), "next occurrence created");
                    return Ok(());
                }
                Err(RepoError::Duplicate) => return Ok(()),
                Err(RepoError::CategoryNotFound(_)) => draft.category_id = None,
                Err(RepoError::TagNotFound(t)) => draft.tag_ids.retain(|x| *x != t),
                Err(RepoError::Infra(e)) => return Err(chain(&e)),
                Err(other) => return Err(other.to_string()),
            }
        }
        Err("could not create the next occurrence".into())
    }
}

#[async_trait]
impl EventHandler for Recurring {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        if !carries(Topic::TaskRecurrence, &event.event_type) {
            return Outcome::Reject(format!("unknown event type {:?}", event.event_type));
        }
        let data: TaskEventData = match event.data_as() {
            Ok(d) => d,
            Err(e) => return Outcome::Reject(e),
        };
        if data.task.recurrence.is_none() {
            return Outcome::Done;
        }
        match self.create_next(event, &data.task).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e),
        }
    }
}
