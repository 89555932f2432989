//! The background roles' reminder methods: lookup, idempotent firing with its event, final status,
//! and the pending walk used at start-up.

use chrono::{DateTime, Utc};
use tickler::domain::change;
use tickler::domain::event::{CloudEvent, OutgoingEvent, REMINDER_DUE, Topic};
use tickler::domain::reminder::{Reminder, ReminderSpec, ReminderStatus};
use tickler::domain::task::{Patch, Task, TaskPatch};
use tickler::domain::{ReminderId, UserId};

use super::Stores;
use super::support::*;

macro_rules! reminder_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            reminders,
            reminders,
            [
                reminder_returns_it_with_its_task_for_any_user,
                reminders_reads_a_batch_with_their_tasks_and_leaves_out_the_missing,
                fire_reminder_fires_once_and_records_its_event,
                a_moved_or_cancelled_reminder_does_not_fire,
                finish_reminder_sets_the_final_status,
                pending_reminders_walk_by_id,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use reminder_tests;

/// A task due at +10 h with reminders 60 and 30 minutes before.
async fn task_with_reminders(s: &Stores, user: &UserId, title: &str) -> Task {
    let mut new = new_task(title);
    new.due_date = Some(at(600));
    new.reminders = Some(vec![
        ReminderSpec::BeforeDue { minutes_before: 60 },
        ReminderSpec::BeforeDue { minutes_before: 30 },
    ]);
    create(s, user, new, base()).await
}

fn due_event(r: &Reminder, now: DateTime<Utc>) -> OutgoingEvent {
    OutgoingEvent {
        topic: Topic::TaskReminders,
        user_id: uid("alice"),
        event: CloudEvent::new(
            REMINDER_DUE,
            r.task_id,
            now,
            serde_json::json!({ "reminder_id": r.id }),
            None,
        ),
    }
}

pub async fn reminder_returns_it_with_its_task_for_any_user(s: Stores) {
    let task = task_with_reminders(&s, &uid("alice"), "Dentist").await;
    let r = &task.reminders[1];
    let (got, owner) = s.tasks.reminder(r.id).await.unwrap().unwrap();
    assert_eq!(&got, r);
    assert_eq!(owner, task);
    assert!(
        s.tasks
            .reminder(ReminderId(987_654))
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn reminders_reads_a_batch_with_their_tasks_and_leaves_out_the_missing(s: Stores) {
    let a = task_with_reminders(&s, &uid("alice"), "Dentist").await;
    let b = task_with_reminders(&s, &uid("bob"), "Plumber").await;
    let gone = task_with_reminders(&s, &uid("carol"), "Cancelled").await;
    s.tasks
        .delete(&uid("carol"), gone.id, &ctx(base()))
        .await
        .unwrap();
    let ids = [
        b.reminders[1].id,
        ReminderId(987_654),
        a.reminders[0].id,
        gone.reminders[0].id,
        a.reminders[1].id,
        b.reminders[1].id, // asked twice, returned once
    ];
    let mut got = s.tasks.reminders(&ids).await.unwrap();
    got.sort_by_key(|(r, _)| r.id);
    let mut want = vec![
        (a.reminders[0].clone(), a.clone()),
        (a.reminders[1].clone(), a.clone()),
        (b.reminders[1].clone(), b.clone()),
    ];
    want.sort_by_key(|(r, _)| r.id);
    assert_eq!(got, want);
    assert!(s.tasks.reminders(&[]).await.unwrap().is_empty());
}

pub async fn fire_reminder_fires_once_and_records_its_event(s: Stores) {
    let task = task_with_reminders(&s, &uid("alice"), "Dentist").await;
    drain(&s).await;
    let r = task.reminders[0].clone();
    let fired_at = r.remind_at + chrono::Duration::seconds(90);
    let event = due_event(&r, fired_at);
    let fired = s
        .tasks
        .fire_reminder(r.id, r.remind_at, fired_at, true, event.clone())
        .await
        .unwrap();
    assert!(fired);
    let (after, _) = s.tasks.reminder(r.id).await.unwrap().unwrap();
    assert_eq!(after.fired_at, Some(fired_at));
    assert!(after.late);
    assert!(!after.is_pending());
    assert_eq!(after.remind_at, r.remind_at);

    let events = drain(&s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].topic, Topic::TaskReminders);
    assert_eq!(events[0].key, task.id.to_string());
    assert_eq!(events[0].event, event.event, "stored byte for byte");

    let again = s
        .tasks
        .fire_reminder(r.id, r.remind_at, fired_at, true, due_event(&r, fired_at))
        .await
        .unwrap();
    assert!(!again, "a reminder fires at most once");
    assert_eq!(backlog(&s).await, 0, "the second attempt recorded nothing");
    let (still, _) = s.tasks.reminder(r.id).await.unwrap().unwrap();
    assert_eq!(still, after);
    // The other reminder of the task is unaffected.
    let (other, _) = s
        .tasks
        .reminder(task.reminders[1].id)
        .await
        .unwrap()
        .unwrap();
    assert!(other.is_pending());
}

pub async fn a_moved_or_cancelled_reminder_does_not_fire(s: Stores) {
    let alice = uid("alice");
    let task = task_with_reminders(&s, &alice, "Dentist").await;
    let old = task.reminders[0].clone();
    let patch = TaskPatch {
        due_date: Patch::Set(at(900)),
        ..TaskPatch::default()
    };
    let moved = s
        .tasks
        .update(
            &alice,
            task.id,
            try_mutator(move |t| change::apply_patch(t, patch, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap()
        .task;
    drain(&s).await;
    let new_at = moved.reminders[0].remind_at;
    assert_eq!(new_at, at(840));
    let stale = s
        .tasks
        .fire_reminder(
            old.id,
            old.remind_at,
            at(540),
            false,
            due_event(&old, at(540)),
        )
        .await
        .unwrap();
    assert!(
        !stale,
        "the job for the old instant must not fire the moved reminder"
    );
    assert_eq!(backlog(&s).await, 0);
    assert!(
        s.tasks
            .fire_reminder(old.id, new_at, new_at, false, due_event(&old, new_at))
            .await
            .unwrap()
    );
    drain(&s).await;

    // Completing the task cancels its remaining reminder.
    s.tasks
        .update(
            &alice,
            task.id,
            mutator(|t| change::complete(t, at(2))),
            &ctx(at(2)),
        )
        .await
        .unwrap();
    drain(&s).await;
    let cancelled = moved.reminders[1].clone();
    let r = s
        .tasks
        .fire_reminder(
            cancelled.id,
            cancelled.remind_at,
            cancelled.remind_at,
            false,
            due_event(&cancelled, cancelled.remind_at),
        )
        .await
        .unwrap();
    assert!(!r, "cancelled reminders never fire");
    let unknown = ReminderId(987_654);
    let r = s
        .tasks
        .fire_reminder(unknown, at(0), at(0), false, due_event(&cancelled, at(0)))
        .await
        .unwrap();
    assert!(!r);
    assert_eq!(backlog(&s).await, 0);
}

pub async fn finish_reminder_sets_the_final_status(s: Stores) {
    let task = task_with_reminders(&s, &uid("alice"), "Dentist").await;
    let r = task.reminders[0].clone();
    assert!(
        s.tasks
            .fire_reminder(
                r.id,
                r.remind_at,
                r.remind_at,
                false,
                due_event(&r, r.remind_at)
            )
            .await
            .unwrap()
    );
    let delivered = r.remind_at + chrono::Duration::seconds(3);
    drain(&s).await;
    s.tasks
        .finish_reminder(r.id, ReminderStatus::Sent, &ctx(delivered))
        .await
        .unwrap();
    let (got, _) = s.tasks.reminder(r.id).await.unwrap().unwrap();
    assert_eq!(got.status, ReminderStatus::Sent);
    assert_eq!(got.delivered_at, Some(delivered));
    assert_eq!(got.fired_at, Some(r.remind_at));
    // The task's readers learn of it: task.updated with the task as it is now.
    let events = drain(&s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].topic, Topic::TaskEvents);
    assert_eq!(events[0].event.event_type, "task.updated");
    assert_eq!(events[0].event.traceparent.as_deref(), Some(TRACEPARENT));
    let data = events[0].task_data();
    assert_eq!(data.changed_fields, vec!["reminders".to_owned()]);
    assert_eq!(
        data.task,
        s.tasks.get(&uid("alice"), task.id).await.unwrap().unwrap()
    );
    assert_eq!(data.task.reminders[0].status, ReminderStatus::Sent);
    // The same outcome again changes nothing and records nothing.
    s.tasks
        .finish_reminder(r.id, ReminderStatus::Sent, &ctx(delivered))
        .await
        .unwrap();
    assert_eq!(backlog(&s).await, 0);

    let other = task.reminders[1].id;
    s.tasks
        .finish_reminder(other, ReminderStatus::Skipped, &ctx(delivered))
        .await
        .unwrap();
    let (got, _) = s.tasks.reminder(other).await.unwrap().unwrap();
    assert_eq!(got.status, ReminderStatus::Skipped);
    assert!(!got.is_pending());

    // A reminder whose task was deleted meanwhile: nothing to record, and not an error.
    drain(&s).await;
    s.tasks
        .finish_reminder(ReminderId(987_654), ReminderStatus::Failed, &ctx(delivered))
        .await
        .unwrap();
    assert!(
        s.tasks
            .reminder(ReminderId(987_654))
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(backlog(&s).await, 0);
}

pub async fn pending_reminders_walk_by_id(s: Stores) {
    let a = task_with_reminders(&s, &uid("alice"), "one").await;
    let b = task_with_reminders(&s, &uid("bob"), "two").await;
    let c = task_with_reminders(&s, &uid("carol"), "three").await;
    // Not pending any more: one fired, one finished without firing.
    let fired = &a.reminders[1];
    assert!(
        s.tasks
            .fire_reminder(
                fired.id,
                fired.remind_at,
                fired.remind_at,
                false,
                due_event(fired, fired.remind_at)
            )
            .await
            .unwrap()
    );
    s.tasks
        .finish_reminder(b.reminders[0].id, ReminderStatus::Skipped, &ctx(at(1)))
        .await
        .unwrap();
    let expected: Vec<ReminderId> = vec![
        a.reminders[0].id,
        b.reminders[1].id,
        c.reminders[0].id,
        c.reminders[1].id,
    ];
    let all = s.tasks.pending_reminders(ReminderId(0), 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.id).collect::<Vec<_>>(), expected);
    assert!(all.iter().all(Reminder::is_pending));
    assert_eq!(all[3], c.reminders[1], "whole reminders");

    let mut walked = Vec::new();
    let mut after = ReminderId(0);
    loop {
        let page = s.tasks.pending_reminders(after, 2).await.unwrap();
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        after = last.id;
        walked.extend(page.iter().map(|r| r.id));
    }
    assert_eq!(walked, expected);
}
