//! The background roles on in-memory adapters with a manual clock: what happens at the edges
//! (late reminders, completed tasks, redeliveries, mail failures, the end of a series) without
//! waiting for real time.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tickler::adapters::memory::{
    ManualClock, MemoryMailer, MemoryScheduler, MemoryStateStore, MemoryStore,
};
use tickler::app::email_delivery::{EmailDelivery, MAX_ATTEMPTS};
use tickler::app::input::{CreateTaskInput, ReminderInput};
use tickler::app::notification::Notification;
use tickler::app::recurring::Recurring;
use tickler::app::relay::Relay;
use tickler::app::{Actor, Services};
use tickler::domain::event::{CloudEvent, ReminderDueData, Topic};
use tickler::domain::reminder::{ReminderStatus, job_name};
use tickler::domain::{TaskId, UserId};
use tickler::ports::{EventHandler, Job, JobHandler, MailError, Outbox, Outcome, TaskRepository};

struct World {
    store: Arc<MemoryStore>,
    state: Arc<MemoryStateStore>,
    clock: Arc<ManualClock>,
    services: Services,
    scheduler: Arc<MemoryScheduler>,
    mailer: Arc<MemoryMailer>,
    notification: Notification,
    delivery: EmailDelivery,
    recurring: Recurring,
    actor: Actor,
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 8, 0, 0).unwrap()
}

fn world() -> World {
    let store = Arc::new(MemoryStore::new());
    let clock = Arc::new(ManualClock::new(t0()));
    let state = Arc::new(MemoryStateStore::new(clock.clone()));
    let services = Services {
        tasks: store.clone(),
        labels: store.clone(),
        users: store.clone(),
        state: state.clone(),
        clock: clock.clone(),
    };
    let scheduler = Arc::new(MemoryScheduler::new());
    let mailer = Arc::new(MemoryMailer::new());
    World {
        notification: Notification::new(
            store.clone(),
            store.clone(),
            scheduler.clone(),
            clock.clone(),
        ),
        delivery: EmailDelivery::new(state.clone(), mailer.clone(), store.clone(), clock.clone()),
        state,
        recurring: Recurring::new(store.clone(), store.clone(), clock.clone()),
        actor: Actor {
            user_id: UserId::parse("alice").unwrap(),
            email: Some("alice@example.com".into()),
            name: None,
            traceparent: None,
        },
        store,
        clock,
        services,
        scheduler,
        mailer,
    }
}

impl World {
    async fn task_with_reminder_at(&self, title: &str, at: DateTime<Utc>) -> TaskId {
        let input = CreateTaskInput {
            title: title.into(),
            due_date: Some((at + Duration::hours(1)).to_rfc3339()),
            reminders: Some(vec![ReminderInput {
                minutes_before: None,
                remind_at: Some(at.to_rfc3339()),
            }]),
            ..Default::default()
        };
        self.services
            .create_task(&self.actor, input.into_new_task().unwrap())
            .await
            .unwrap()
            .id
    }

    /// Everything the outbox holds for a topic, oldest first (nothing is relayed in these tests).
    async fn events(&self, topic: Topic) -> Vec<CloudEvent> {
        self.store
            .unpublished()
            .into_iter()
            .filter(|r| r.topic == topic)
            .map(|r| CloudEvent::from_slice(&r.payload).unwrap())
            .collect()
    }

    async fn fire(&self, task: TaskId) -> Outcome {
        let t = self
            .services
            .get_task(&self.actor.user_id, task)
            .await
            .unwrap();
        let job = Job {
            name: job_name(t.reminders[0].id),
            due_at: t.reminders[0].remind_at,
            payload: vec![],
        };
        self.notification.fire(&job).await
    }
}

#[tokio::test]
async fn a_reminder_fired_long_after_its_time_is_marked_late_and_fires_once() {
    let w = world();
    let task = w
        .task_with_reminder_at("Late one", t0() + Duration::minutes(10))
        .await;
    w.clock.set(t0() + Duration::hours(3)); // the service was down meanwhile
    assert_eq!(w.fire(task).await, Outcome::Done);
    assert_eq!(
        w.fire(task).await,
        Outcome::Done,
        "an at-least-once second firing is harmless"
    );

    let due = w.events(Topic::TaskReminders).await;
    assert_eq!(due.len(), 1, "one reminder.due for two firings");
    let data: ReminderDueData = due[0].data_as().unwrap();
    assert!(data.late);
    assert_eq!(data.recipient_email.as_deref(), Some("alice@example.com"));
    let r = &w
        .services
        .get_task(&w.actor.user_id, task)
        .await
        .unwrap()
        .reminders[0];
    assert!(r.late && r.fired_at.is_some());
}

#[tokio::test]
async fn an_on_time_reminder_is_not_late_and_a_moved_one_waits() {
    let w = world();
    let task = w
        .task_with_reminder_at("On time", t0() + Duration::minutes(10))
        .await;
    w.clock
        .set(t0() + Duration::minutes(10) + Duration::seconds(2));
    w.fire(task).await;
    let data: ReminderDueData = w.events(Topic::TaskReminders).await[0].data_as().unwrap();
    assert!(!data.late);

    // A job that fires for a reminder moved later re-schedules itself instead of firing.
    let other = w
        .task_with_reminder_at("Moved", t0() + Duration::hours(5))
        .await;
    assert_eq!(w.fire(other).await, Outcome::Done);
    assert_eq!(w.events(Topic::TaskReminders).await.len(), 1);
    assert!(
        w.scheduler
            .jobs()
            .iter()
            .any(|j| j.due_at == t0() + Duration::hours(5))
    );
}

/// Every outcome of a batch by job, asserting each job was settled exactly once.
async fn fire_batch(handler: &dyn JobHandler, jobs: &[Job]) -> Vec<Outcome> {
    let slots = std::sync::Mutex::new(vec![Vec::new(); jobs.len()]);
    handler
        .fire_batch(jobs, &|i, o| slots.lock().unwrap()[i].push(o))
        .await;
    slots
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|mut got| {
            assert_eq!(got.len(), 1, "settled {} times", got.len());
            got.remove(0)
        })
        .collect()
}

#[tokio::test]
async fn a_batch_of_due_jobs_gets_one_outcome_per_job_in_order() {
    let w = world();
    let at = t0() + Duration::minutes(10);
    let one = w.task_with_reminder_at("One", at).await;
    let two = w.task_with_reminder_at("Two", at).await;
    let moved = w
        .task_with_reminder_at("Moved", t0() + Duration::hours(5))
        .await;
    let deleted = w.task_with_reminder_at("Deleted", at).await;
    let job_of = |task: TaskId| {
        let w = &w;
        async move {
            let t = w.services.get_task(&w.actor.user_id, task).await.unwrap();
            Job {
                name: job_name(t.reminders[0].id),
                due_at: at,
                payload: vec![],
            }
        }
    };
    let jobs = vec![
        job_of(one).await,
        Job {
            name: "not-a-reminder".into(),
            due_at: at,
            payload: vec![],
        },
        job_of(moved).await,
        job_of(deleted).await,
        job_of(two).await,
    ];
    w.services.delete_task(&w.actor, deleted).await.unwrap();
    w.clock.set(at + Duration::seconds(1));

    let outcomes = fire_batch(&w.notification, &jobs).await;
    assert_eq!(outcomes[0], Outcome::Done);
    assert!(matches!(&outcomes[1], Outcome::Reject(why) if why.contains("not-a-reminder")));
    assert_eq!(outcomes[2..], [Outcome::Done, Outcome::Done, Outcome::Done]);
    let fired: Vec<TaskId> = w
        .events(Topic::TaskReminders)
        .await
        .iter()
        .map(|e| e.data_as::<ReminderDueData>().unwrap().task_id)
        .collect();
    assert_eq!(fired.len(), 2, "{fired:?}");
    assert!(fired.contains(&one) && fired.contains(&two), "{fired:?}");
    // The moved reminder waits for its new instant.
    assert!(
        w.scheduler
            .jobs()
            .iter()
            .any(|j| j.due_at == t0() + Duration::hours(5))
    );
    // A second firing of the same batch (at least once) changes nothing.
    let again = fire_batch(&w.notification, &jobs).await;
    assert_eq!(again[0], Outcome::Done);
    assert_eq!(w.events(Topic::TaskReminders).await.len(), 2);
}

#[tokio::test]
async fn completing_the_task_cancels_its_reminder_and_a_stale_job_skips() {
    let w = world();
    let task = w
        .task_with_reminder_at("Done early", t0() + Duration::minutes(10))
        .await;
    let before = w.services.get_task(&w.actor.user_id, task).await.unwrap();
    w.services.complete_task(&w.actor, task).await.unwrap();
    let after = w.services.get_task(&w.actor.user_id, task).await.unwrap();
    assert_eq!(after.reminders[0].status, ReminderStatus::Cancelled);

    // The task events make the notification role cancel the job...
    for e in w.events(Topic::TaskEvents).await {
        assert_eq!(w.notification.handle(&e).await, Outcome::Done);
    }
    assert!(w.scheduler.jobs().is_empty(), "{:?}", w.scheduler.jobs());
    // ...and a job that fires anyway publishes nothing.
    w.clock.set(t0() + Duration::minutes(11));
    let job = Job {
        name: job_name(before.reminders[0].id),
        due_at: before.reminders[0].remind_at,
        payload: vec![],
    };
    assert_eq!(w.notification.fire(&job).await, Outcome::Done);
    assert!(w.events(Topic::TaskReminders).await.is_empty());
}

#[tokio::test]
async fn the_same_reminder_event_sends_one_mail_and_marks_it_sent() {
    let w = world();
    let task = w
        .task_with_reminder_at("Once", t0() + Duration::minutes(1))
        .await;
    w.clock.set(t0() + Duration::minutes(1));
    w.fire(task).await;
    let event = w.events(Topic::TaskReminders).await.remove(0);
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    assert_eq!(w.mailer.sent().len(), 1);
    assert_eq!(w.mailer.sent()[0].subject, "Reminder: Once");
    let r = &w
        .services
        .get_task(&w.actor.user_id, task)
        .await
        .unwrap()
        .reminders[0];
    assert_eq!(r.status, ReminderStatus::Sent);
}

/// The state store failing right after the SMTP server accepted the mail (a database or sidecar
/// restart) is ridden out in place: no Retry, so no second mail once the claim expires.
#[tokio::test]
async fn a_store_outage_after_the_mail_went_out_is_retried_in_place_not_resent() {
    let w = world();
    let task = w
        .task_with_reminder_at("Outage", t0() + Duration::minutes(1))
        .await;
    w.clock.set(t0() + Duration::minutes(1));
    w.fire(task).await;
    let event = w.events(Topic::TaskReminders).await.remove(0);
    w.state.fail_next_saves_of(b"sent", 3);
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    assert_eq!(w.mailer.sent().len(), 1);
    let r = &w
        .services
        .get_task(&w.actor.user_id, task)
        .await
        .unwrap()
        .reminders[0];
    assert_eq!(r.status, ReminderStatus::Sent);
}

/// The database failing between the SMTP server's acceptance and the reminder's update must
/// neither send a second mail nor leave the reminder unmarked: the redelivery marks it.
#[tokio::test]
async fn a_redelivery_marks_a_reminder_whose_mail_went_out_before_the_database_failed() {
    let w = world();
    let task = w
        .task_with_reminder_at("Marked later", t0() + Duration::minutes(1))
        .await;
    w.clock.set(t0() + Duration::minutes(1));
    w.fire(task).await;
    let event = w.events(Topic::TaskReminders).await.remove(0);
    w.store.fail_next_finishes(1);
    assert!(matches!(w.delivery.handle(&event).await, Outcome::Retry(_)));
    assert_eq!(w.mailer.sent().len(), 1);
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    assert_eq!(w.mailer.sent().len(), 1, "one mail for two deliveries");
    let r = &w
        .services
        .get_task(&w.actor.user_id, task)
        .await
        .unwrap()
        .reminders[0];
    assert_eq!(r.status, ReminderStatus::Sent);
}

#[tokio::test]
async fn transient_mail_failures_retry_then_give_up_and_permanent_ones_fail_at_once() {
    let w = world();
    let task = w
        .task_with_reminder_at("Flaky", t0() + Duration::minutes(1))
        .await;
    w.clock.set(t0() + Duration::minutes(1));
    w.fire(task).await;
    let event = w.events(Topic::TaskReminders).await.remove(0);
    w.mailer.fail_next(
        MAX_ATTEMPTS as usize,
        MailError::Transient("421 try later".into()),
    );
    for _ in 1..MAX_ATTEMPTS {
        assert!(matches!(w.delivery.handle(&event).await, Outcome::Retry(_)));
    }
    assert!(
        matches!(w.delivery.handle(&event).await, Outcome::Reject(_)),
        "dead-lettered after {MAX_ATTEMPTS} attempts"
    );
    assert!(w.mailer.sent().is_empty());
    let r = &w
        .services
        .get_task(&w.actor.user_id, task)
        .await
        .unwrap()
        .reminders[0];
    assert_eq!(r.status, ReminderStatus::Failed);

    let other = w
        .task_with_reminder_at("Refused", t0() + Duration::minutes(1))
        .await;
    w.fire(other).await;
    let event = w.events(Topic::TaskReminders).await.pop().unwrap();
    w.mailer
        .fail_next(1, MailError::Permanent("550 no such user".into()));
    assert_eq!(w.delivery.handle(&event).await, Outcome::Done);
    let r = &w
        .services
        .get_task(&w.actor.user_id, other)
        .await
        .unwrap()
        .reminders[0];
    assert_eq!(r.status, ReminderStatus::Failed);
}

#[tokio::test]
async fn malformed_events_are_rejected_not_retried() {
    let w = world();
    let mut bogus = CloudEvent::new(
        "reminder.due",
        TaskId(1),
        t0(),
        serde_json::json!({"nope": 1}),
        None,
    );
    assert!(matches!(
        w.delivery.handle(&bogus).await,
        Outcome::Reject(_)
    ));
    bogus.event_type = "task.completed".into();
    assert!(matches!(
        w.recurring.handle(&bogus).await,
        Outcome::Reject(_)
    ));
    assert!(matches!(
        w.notification.handle(&bogus).await,
        Outcome::Reject(_)
    ));
    // A type that is not part of the topic's contract is dead-lettered by every consumer, even
    // with data that would parse.
    let task = w.task_with_reminder_at("t", t0()).await;
    let created = w
        .events(Topic::TaskEvents)
        .await
        .into_iter()
        .next()
        .unwrap();
    assert_eq!(created.subject, task.to_string());
    let mut unknown = created.clone();
    unknown.event_type = "task.archived".into();
    for outcome in [
        w.notification.handle(&unknown).await,
        w.delivery.handle(&unknown).await,
        w.recurring.handle(&unknown).await,
    ] {
        assert!(
            matches!(outcome, Outcome::Reject(ref r) if r.contains("task.archived")),
            "{outcome:?}"
        );
    }
    // task-recurrence carries completions only.
    assert!(matches!(
        w.recurring.handle(&created).await,
        Outcome::Reject(_)
    ));
}

#[tokio::test]
async fn count_ends_the_series_across_occurrences() {
    let w = world();
    let input = CreateTaskInput {
        title: "Twice".into(),
        due_date: Some((t0() + Duration::hours(1)).to_rfc3339()),
        recurrence_rule: Some("FREQ=DAILY;COUNT=2".into()),
        reminders: Some(vec![ReminderInput {
            minutes_before: Some(30),
            remind_at: None,
        }]),
        ..Default::default()
    };
    let first = w
        .services
        .create_task(&w.actor, input.into_new_task().unwrap())
        .await
        .unwrap();
    w.services.complete_task(&w.actor, first.id).await.unwrap();
    let completion = w.events(Topic::TaskRecurrence).await.remove(0);
    assert_eq!(w.recurring.handle(&completion).await, Outcome::Done);
    assert_eq!(
        w.recurring.handle(&completion).await,
        Outcome::Done,
        "redelivery"
    );
    let tasks = w.store.recent(&w.actor.user_id, false, 10).await.unwrap();
    assert_eq!(tasks.len(), 2, "one occurrence for two deliveries");
    let second = tasks.iter().find(|t| t.id != first.id).unwrap();
    assert_eq!(
        second.due_date,
        Some(t0() + Duration::days(1) + Duration::hours(1))
    );
    assert_eq!(
        second.reminders.len(),
        1,
        "relative reminders are carried over"
    );
    assert_eq!(second.reminders[0].minutes_before, Some(30));

    w.services.complete_task(&w.actor, second.id).await.unwrap();
    let completion = w.events(Topic::TaskRecurrence).await.pop().unwrap();
    assert_eq!(w.recurring.handle(&completion).await, Outcome::Done);
    assert_eq!(
        w.store
            .recent(&w.actor.user_id, false, 10)
            .await
            .unwrap()
            .len(),
        2,
        "COUNT=2 ends the series"
    );
}

#[tokio::test]
async fn the_relay_keeps_events_until_the_transport_accepts_them() {
    use tickler::adapters::memory::MemoryBus;
    use tickler::ports::EventIntake;

    struct Flaky(std::sync::atomic::AtomicU32);
    #[async_trait::async_trait]
    impl EventHandler for Flaky {
        async fn handle(&self, _: &CloudEvent) -> Outcome {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Outcome::Retry("consumer down".into())
            } else {
                Outcome::Done
            }
        }
    }
    let w = world();
    let bus = Arc::new(MemoryBus::new());
    bus.subscribe(
        Topic::TaskEvents,
        "flaky",
        Arc::new(Flaky(Default::default())),
    )
    .await
    .unwrap();
    w.task_with_reminder_at("Relayed", t0() + Duration::hours(1))
        .await;
    let relay = Relay::new(w.store.clone(), bus.clone(), w.clock.clone());
    relay.drain().await.unwrap();
    assert_eq!(
        w.store.backlog().await.unwrap(),
        1,
        "a refused event stays in the outbox"
    );
    w.clock.advance(Duration::seconds(5));
    relay.drain().await.unwrap();
    assert_eq!(w.store.backlog().await.unwrap(), 0);
    assert_eq!(bus.published(Topic::TaskEvents).len(), 1);
}
