//! The `notification` role: keeps one scheduled job per pending reminder (from `task-events`),
//! and when a job fires, re-checks the task and publishes `reminder.due` through the outbox.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::OnceCell;

use crate::domain::event::{
    CloudEvent, OutgoingEvent, REMINDER_DUE, ReminderDueData, TASK_DELETED, TaskEventData, Topic,
    carries,
};
use crate::domain::reminder::Reminder;
use crate::domain::reminder::{self, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::user::User;
use crate::domain::{ReminderId, UserId};
use crate::ports::error::chain;
use crate::ports::{
    Clock, EventHandler, Job, JobHandler, Outcome, Scheduler, Settled, TaskRepository,
    UserRepository, WriteContext,
};
use crate::telemetry::metrics;

/// A job that fires a little early (clock skew between replicas) still counts as due.
const EARLY_TOLERANCE: chrono::Duration = chrono::Duration::milliseconds(500);

pub struct Notification {
    tasks: Arc<dyn TaskRepository>,
    users: Arc<dyn UserRepository>,
    scheduler: Arc<dyn Scheduler>,
    clock: Arc<dyn Clock>,
}

impl Notification {
    pub fn new(
        tasks: Arc<dyn TaskRepository>,
        users: Arc<dyn UserRepository>,
        scheduler: Arc<dyn Scheduler>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            tasks,
            users,
            scheduler,
            clock,
        }
    }

    /// Schedules a job for every pending reminder in the database. Jobs are upserts, so this is
    /// safe to repeat; it covers a scheduler that lost its state (a new Dapr scheduler, say).
    pub async fn reconcile(&self) -> Result<u64, crate::ports::InfraError> {
        let mut after = ReminderId(0);
        let mut count = 0;
        loop {
            let page = self
                .tasks
                .pending_reminders(after, 500)
                .await
                .map_err(repo_infra)?;
            let Some(last) = page.last() else {
                return Ok(count);
            };
            after = last.id;
            for r in &page {
                self.scheduler.schedule(job(r.id, r.remind_at)).await?;
                count += 1;
            }
        }
    }

    async fn sync_jobs(&self, event: &CloudEvent) -> Result<(), crate::ports::InfraError> {
        let data: TaskEventData = match event.data_as() {
            Ok(d) => d,
            Err(e) => return Err(crate::ports::InfraError::msg(e)),
        };
        let deleted = event.event_type == TASK_DELETED;
        for r in &data.task.reminders {
            if r.is_pending() && !data.task.completed && !deleted {
                self.scheduler.schedule(job(r.id, r.remind_at)).await?;
            } else if r.fired_at.is_none() {
                self.scheduler.cancel(&r.job_name()).await?;
            }
        }
        Ok(())
    }

    /// Fires the reminders of `ids` that are still due, after one read of them all, and reports
    /// each one's result to `done(index into ids, result)` as soon as it has one: one that cannot
    /// be written is retried alone, and a slow one holds up nothing else.
    async fn fire_reminders(
        &self,
        ids: &[ReminderId],
        done: impl Fn(usize, Result<(), crate::ports::InfraError>),
    ) {
        let found = match self.tasks.reminders(ids).await {
            Ok(found) => found,
            Err(e) => {
                let e = repo_infra(e);
                for i in 0..ids.len() {
                    done(i, Err(crate::ports::InfraError::msg(chain(&e))));
                }
                return;
            }
        };
        let users = BatchUsers::new(self.users.as_ref(), found.iter().map(|(_, t)| &t.user_id));
        let mut found: HashMap<ReminderId, (Reminder, Task)> =
            found.into_iter().map(|(r, t)| (r.id, (r, t))).collect();
        let (users, done) = (&users, &done);
        let firings = ids.iter().enumerate().map(|(i, id)| {
            let loaded = found.remove(id);
            async move {
                let result = match loaded {
                    Some((rem, task)) => self.fire_loaded(rem, task, users).await,
                    None => Ok(()), // the task was deleted: nothing to remind about
                };
                done(i, result);
            }
        });
        futures::future::join_all(firings).await;
    }

    async fn fire_loaded(
        &self,
        rem: Reminder,
        task: Task,
        users: &BatchUsers<'_>,
    ) -> Result<(), crate::ports::InfraError> {
        let id = rem.id;
        if !rem.is_pending() {
            return Ok(());
        }
        let now = self.clock.now();
        if task.completed {
            let ctx = WriteContext {
                now,
                traceparent: None,
            };
            return self
                .tasks
                .finish_reminder(id, ReminderStatus::Skipped, &ctx)
                .await
                .map_err(repo_infra);
        }
        if rem.remind_at > now + EARLY_TOLERANCE {
            // Moved later after this job was queued: wait for the new instant.
            return self.scheduler.schedule(job(id, rem.remind_at)).await;
        }
        let user = users.get(&task.user_id).await.map_err(repo_infra)?;
        let late = reminder::is_late(rem.remind_at, now);
        let data = ReminderDueData {
            user_id: task.user_id.clone(),
            reminder_id: id,
            task_id: task.id,
            task_title: task.title.as_str().to_owned(),
            task_description: task.description.clone(),
            task_due_date: task.due_date,
            task_priority: task.priority.as_str().to_owned(),
            remind_at: rem.remind_at,
            fired_at: now,
            late,
            recipient_email: user.as_ref().and_then(|u| u.email.clone()),
            recipient_name: user.as_ref().and_then(|u| u.name.clone()),
            time_zone: user.map_or_else(|| "UTC".to_owned(), |u| u.time_zone.name().to_owned()),
        };
        let event = CloudEvent::new(
            REMINDER_DUE,
            task.id,
            now,
            serde_json::to_value(&data).expect("reminder data serialises"),
            None,
        );
        let fired = self
            .tasks
            .fire_reminder(
                id,
                rem.remind_at,
                now,
                late,
                OutgoingEvent {
                    topic: Topic::TaskReminders,
                    user_id: task.user_id.clone(),
                    event,
                },
            )
            .await
            .map_err(repo_infra)?;
        if fired {
            metrics::REMINDERS_FIRED.inc();
            if late {
                metrics::REMINDERS_LATE.inc();
                tracing::info!(reminder_id = id.0, task_id = task.id.0, remind_at = %rem.remind_at, "late reminder fired");
            }
        }
        Ok(())
    }
}

fn job(id: ReminderId, at: chrono::DateTime<chrono::Utc>) -> Job {
    Job {
        name: reminder::job_name(id),
        due_at: at,
        payload: Vec::new(),
    }
}

fn repo_infra(e: crate::ports::RepoError) -> crate::ports::InfraError {
    match e {
        crate::ports::RepoError::Infra(i) => i,
        other => crate::ports::InfraError::msg(other.to_string()),
    }
}

#[async_trait]
impl EventHandler for Notification {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        if !carries(Topic::TaskEvents, &event.event_type) {
            return Outcome::Reject(format!("unknown event type {:?}", event.event_type));
        }
        if event.data_as::<TaskEventData>().is_err() {
            return Outcome::Reject(format!("{} is not a task event", event.event_type));
        }
        match self.sync_jobs(event).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(chain(&e)),
        }
    }
}

#[async_trait]
impl JobHandler for Notification {
    async fn fire(&self, job: &Job) -> Outcome {
        let outcome = std::sync::Mutex::new(None);
        self.fire_batch(std::slice::from_ref(job), &|_, o| {
            *outcome.lock().unwrap_or_else(|p| p.into_inner()) = Some(o);
        })
        .await;
        let outcome = outcome.into_inner().unwrap_or_else(|p| p.into_inner());
        outcome.unwrap_or_else(|| Outcome::Retry("no outcome".into()))
    }

    /// One read for the whole batch; the writes still go one per reminder (the SQLite writer
    /// commits concurrent ones together), so one that fails is retried alone.
    async fn fire_batch(&self, jobs: &[Job], settled: &Settled<'_>) {
        let mut known = Vec::with_capacity(jobs.len());
        // Position in `known` → position in `jobs`.
        let mut index = Vec::with_capacity(jobs.len());
        for (i, job) in jobs.iter().enumerate() {
            match reminder::reminder_id_from_job(&job.name) {
                Some(id) => {
                    known.push(id);
                    index.push(i);
                }
                None => settled(i, Outcome::Reject(format!("unknown job {}", job.name))),
            }
        }
        self.fire_reminders(&known, |k, result| {
            let i = index[k];
            settled(i, outcome(&jobs[i], result));
        })
        .await;
    }
}

fn outcome(job: &Job, result: Result<(), crate::ports::InfraError>) -> Outcome {
    match result {
        Ok(()) => Outcome::Done,
        Err(e) => {
            tracing::warn!(job = %job.name, error = %chain(&e), "reminder fire failed; will retry");
            Outcome::Retry(chain(&e))
        }
    }
}

/// The users of one batch's tasks, each read at most once however many of its reminders fire
/// together (a burst's reminders belong to few users). A user outside the batch is read directly.
struct BatchUsers<'a> {
    repo: &'a dyn UserRepository,
    cells: HashMap<UserId, OnceCell<Option<User>>>,
}

impl<'a> BatchUsers<'a> {
    fn new<'u>(repo: &'a dyn UserRepository, ids: impl Iterator<Item = &'u UserId>) -> Self {
        Self {
            repo,
            cells: ids.map(|id| (id.clone(), OnceCell::new())).collect(),
        }
    }

    async fn get(&self, id: &UserId) -> Result<Option<User>, crate::ports::RepoError> {
        match self.cells.get(id) {
            Some(cell) => cell.get_or_try_init(|| self.repo.get(id)).await.cloned(),
            None => self.repo.get(id).await,
        }
    }
}
