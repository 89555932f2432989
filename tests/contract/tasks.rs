//! TaskRepository writes: round trips, events in the outbox, user isolation, label ownership,
//! failed writes leaving nothing behind, the one-successor rule, and the small lookups.

use tickler::domain::change;
use tickler::domain::event::{
    TASK_COMPLETED, TASK_CREATED, TASK_DELETED, TASK_UPDATED, TaskEventData, Topic,
};
use tickler::domain::label::LabelKind;
use tickler::domain::query::{SearchText, TaskQuery};
use tickler::domain::reminder::{PlannedReminder, ReminderSpec, ReminderStatus};
use tickler::domain::task::{NewTask, Patch, Priority, Task, TaskPatch, Title};
use tickler::domain::{CategoryId, TagId, TaskId, ValidationError};
use tickler::ports::RepoError;

use super::Stores;
use super::support::*;

macro_rules! task_repository_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            tasks,
            tasks,
            [
                create_then_get_round_trips_everything,
                create_records_one_created_event,
                update_round_trips_and_records_one_event,
                update_can_clear_fields_and_cancel_relative_reminders,
                update_inserts_new_reminders_and_keeps_existing_ones,
                no_op_mutation_writes_nothing,
                failed_mutation_writes_nothing,
                completing_a_recurring_task_also_goes_to_task_recurrence,
                delete_records_the_task_as_it_was,
                users_cannot_see_or_touch_each_others_tasks,
                labels_of_another_user_or_kind_are_refused_and_nothing_is_written,
                second_successor_of_a_recurring_task_is_a_duplicate,
                find_recent_duplicate_matches_title_rule_and_time,
                recent_lists_newest_first_and_can_skip_completed,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use task_repository_tests;

pub async fn create_then_get_round_trips_everything(s: Stores) {
    let alice = uid("alice");
    let work = category(&s, &alice, "Work").await;
    let urgent = tag(&s, &alice, "urgent").await;
    let home = tag(&s, &alice, "home").await;
    let now = base();
    let new = NewTask {
        title: Title::parse("Write report").unwrap(),
        description: Some("quarterly numbers".into()),
        priority: Priority::High,
        due_date: Some(at(24 * 60)),
        category_id: Some(work),
        // Not in id order: the stored order is the task's order.
        tag_ids: vec![home, urgent],
        recurrence: Some(recurring(None)),
        reminders: Some(vec![
            ReminderSpec::BeforeDue { minutes_before: 30 },
            ReminderSpec::At { remind_at: at(60) },
        ]),
    };
    let draft = draft(&alice, new, now);
    let created = s.tasks.create(draft.clone(), &ctx(now)).await.unwrap();

    assert!(created.id.0 > 0, "an id is assigned");
    assert_eq!(created.reminders.len(), 2);
    let mut expected = draft;
    expected.id = created.id;
    for (e, c) in expected.reminders.iter_mut().zip(&created.reminders) {
        assert!(c.id.0 > 0, "reminder ids are assigned");
        e.id = c.id;
        e.task_id = created.id;
    }
    assert_ne!(created.reminders[0].id, created.reminders[1].id);
    assert_eq!(created, expected, "create returns the draft as stored");
    assert_eq!(
        created.recurrence.as_ref().unwrap().series_start,
        Some(at(24 * 60)),
        "the series starts at the first due date"
    );
    assert_eq!(created.reminders[0].remind_at, at(24 * 60 - 30));
    assert_eq!(created.reminders[1].minutes_before, None);

    let got = s.tasks.get(&alice, created.id).await.unwrap();
    assert_eq!(
        got,
        Some(created.clone()),
        "get returns what create returned"
    );

    let second = create(&s, &alice, new_task("Second"), now).await;
    assert!(second.id.0 > created.id.0, "ids increase");
    assert_eq!(second.tag_ids, Vec::<TagId>::new());
    assert_eq!(second.reminders, vec![]);
    assert_eq!(second.description, None);
    assert_eq!(second.recurrence, None);
}

pub async fn create_records_one_created_event(s: Stores) {
    let alice = uid("alice");
    let created = create(&s, &alice, new_task("Buy milk"), base()).await;
    let events = drain(&s).await;
    assert_eq!(events.len(), 1, "exactly one record: {events:?}");
    let e = &events[0];
    assert_eq!(e.topic, Topic::TaskEvents);
    assert_eq!(e.key, created.id.to_string(), "keyed by task id");
    assert_eq!(e.event.event_type, TASK_CREATED);
    assert_eq!(e.event.subject, created.id.to_string());
    assert_eq!(e.event.time, base());
    assert_eq!(e.event.traceparent.as_deref(), Some(TRACEPARENT));
    let data: TaskEventData = e.task_data();
    assert_eq!(data.user_id, alice);
    assert_eq!(data.task, created, "the event carries the stored task");
    assert!(data.changed_fields.is_empty());
    assert_eq!(backlog(&s).await, 0);
}

pub async fn update_round_trips_and_records_one_event(s: Stores) {
    let alice = uid("alice");
    let t1 = tag(&s, &alice, "one").await;
    let t2 = tag(&s, &alice, "two").await;
    let cat = category(&s, &alice, "Errands").await;
    let mut new = new_task("Write report");
    new.due_date = Some(at(24 * 60));
    new.tag_ids = vec![t1];
    new.reminders = Some(vec![ReminderSpec::BeforeDue { minutes_before: 30 }]);
    let created = create(&s, &alice, new, base()).await;
    drain(&s).await;

    let later = at(10);
    let patch = TaskPatch {
        title: Some(Title::parse("Write the report").unwrap()),
        description: Patch::Set("with charts".into()),
        priority: Some(Priority::Urgent),
        due_date: Patch::Set(at(48 * 60)),
        category_id: Patch::Set(cat),
        tag_ids: Some(vec![t2, t1]),
        ..TaskPatch::default()
    };
    let fields = patch.changed_fields();
    let m = s
        .tasks
        .update(
            &alice,
            created.id,
            try_mutator(move |t| change::apply_patch(t, patch, later)),
            &ctx(later),
        )
        .await
        .unwrap();
    assert_eq!(m.event_type, Some(TASK_UPDATED));
    assert_eq!(m.changed_fields, fields);
    let t = &m.task;
    assert_eq!(t.id, created.id);
    assert_eq!(t.title.as_str(), "Write the report");
    assert_eq!(t.description.as_deref(), Some("with charts"));
    assert_eq!(t.priority, Priority::Urgent);
    assert_eq!(t.due_date, Some(at(48 * 60)));
    assert_eq!(t.category_id, Some(cat));
    assert_eq!(t.tag_ids, vec![t2, t1]);
    assert_eq!(t.created_at, base());
    assert_eq!(t.updated_at, later);
    assert_eq!(t.reminders.len(), 1);
    assert_eq!(
        t.reminders[0].id, created.reminders[0].id,
        "moved, not replaced"
    );
    assert_eq!(t.reminders[0].remind_at, at(48 * 60 - 30));
    assert_eq!(
        s.tasks.get(&alice, created.id).await.unwrap(),
        Some(m.task.clone())
    );

    let events = drain(&s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].topic, Topic::TaskEvents);
    assert_eq!(events[0].event.event_type, TASK_UPDATED);
    assert_eq!(events[0].event.time, later);
    let data = events[0].task_data();
    assert_eq!(data.task, m.task);
    assert_eq!(data.changed_fields, fields);
}

pub async fn update_can_clear_fields_and_cancel_relative_reminders(s: Stores) {
    let alice = uid("alice");
    let cat = category(&s, &alice, "Errands").await;
    let t1 = tag(&s, &alice, "one").await;
    let mut new = new_task("Call the bank");
    new.description = Some("about the loan".into());
    new.due_date = Some(at(120));
    new.category_id = Some(cat);
    new.tag_ids = vec![t1];
    new.recurrence = Some(recurring(None));
    new.reminders = Some(vec![ReminderSpec::BeforeDue { minutes_before: 15 }]);
    let created = create(&s, &alice, new, base()).await;

    let patch = TaskPatch {
        description: Patch::Clear,
        due_date: Patch::Clear,
        category_id: Patch::Clear,
        tag_ids: Some(vec![]),
        recurrence_rule: Patch::Clear,
        ..TaskPatch::default()
    };
    let m = s
        .tasks
        .update(
            &alice,
            created.id,
            try_mutator(move |t| change::apply_patch(t, patch, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap();
    let got = s.tasks.get(&alice, created.id).await.unwrap().unwrap();
    assert_eq!(got, m.task);
    assert_eq!(got.description, None);
    assert_eq!(got.due_date, None);
    assert_eq!(got.category_id, None);
    assert!(got.tag_ids.is_empty());
    assert_eq!(got.recurrence, None);
    assert_eq!(got.reminders.len(), 1, "cancelled reminders are kept");
    assert_eq!(got.reminders[0].status, ReminderStatus::Cancelled);
}

pub async fn update_inserts_new_reminders_and_keeps_existing_ones(s: Stores) {
    let alice = uid("alice");
    let mut new = new_task("Dentist");
    new.due_date = Some(at(600));
    new.reminders = Some(vec![ReminderSpec::BeforeDue { minutes_before: 60 }]);
    let created = create(&s, &alice, new, base()).await;
    let planned = [
        PlannedReminder {
            minutes_before: Some(10),
            remind_at: at(590),
        },
        PlannedReminder {
            minutes_before: None,
            remind_at: at(300),
        },
    ];
    let m = s
        .tasks
        .update(
            &alice,
            created.id,
            try_mutator(move |t| change::add_reminders(t, &planned, at(2))),
            &ctx(at(2)),
        )
        .await
        .unwrap();
    let r = &m.task.reminders;
    assert_eq!(r.len(), 3);
    assert_eq!(
        r[0], created.reminders[0],
        "the existing reminder is untouched"
    );
    assert!(r[1].id.0 > 0 && r[2].id.0 > 0 && r[1].id != r[2].id);
    assert!(r.iter().all(|x| x.task_id == created.id));
    assert_eq!((r[1].remind_at, r[1].minutes_before), (at(590), Some(10)));
    assert_eq!((r[2].remind_at, r[2].minutes_before), (at(300), None));
    assert_eq!(r[1].created_at, at(2));
    assert_eq!(
        s.tasks.get(&alice, created.id).await.unwrap(),
        Some(m.task.clone())
    );

    // Cancelling one by id persists that status only.
    let cancel_id = r[1].id;
    let m2 = s
        .tasks
        .update(
            &alice,
            created.id,
            Box::new(move |t| {
                change::cancel_reminder(t, cancel_id, at(3))
                    .ok_or_else(|| ValidationError::invalid("reminder", "not pending"))
            }),
            &ctx(at(3)),
        )
        .await
        .unwrap();
    let got = s.tasks.get(&alice, created.id).await.unwrap().unwrap();
    assert_eq!(got, m2.task);
    let statuses: Vec<ReminderStatus> = got.reminders.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        vec![
            ReminderStatus::Scheduled,
            ReminderStatus::Cancelled,
            ReminderStatus::Scheduled
        ]
    );
}

pub async fn no_op_mutation_writes_nothing(s: Stores) {
    let alice = uid("alice");
    let created = create(&s, &alice, new_task("Done already"), base()).await;
    let completed = s
        .tasks
        .update(
            &alice,
            created.id,
            mutator(|t| change::complete(t, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap();
    assert_eq!(completed.event_type, Some(TASK_COMPLETED));
    drain(&s).await;

    let again = s
        .tasks
        .update(
            &alice,
            created.id,
            mutator(|t| change::complete(t, at(5))),
            &ctx(at(5)),
        )
        .await
        .unwrap();
    assert_eq!(again.event_type, None);
    assert!(again.changed_fields.is_empty());
    assert_eq!(backlog(&s).await, 0, "no event for a no-op");
    let got = s.tasks.get(&alice, created.id).await.unwrap().unwrap();
    assert_eq!(got, completed.task, "nothing was written");
    assert_eq!(got.updated_at, at(1));
    assert_eq!(got.completed_at, Some(at(1)));
}

pub async fn failed_mutation_writes_nothing(s: Stores) {
    let alice = uid("alice");
    let created = create(&s, &alice, new_task("Keep me"), base()).await;
    drain(&s).await;
    let r = s
        .tasks
        .update(
            &alice,
            created.id,
            Box::new(|_| Err(ValidationError::invalid("title", "refused"))),
            &ctx(at(1)),
        )
        .await;
    match r {
        Err(RepoError::Invalid(e)) => assert_eq!(e.field, Some("title")),
        other => panic!("expected Invalid, got {other:?}"),
    }
    // An empty patch is refused by the domain the same way.
    let r = s
        .tasks
        .update(
            &alice,
            created.id,
            try_mutator(|t| change::apply_patch(t, TaskPatch::default(), at(1))),
            &ctx(at(1)),
        )
        .await;
    assert!(matches!(r, Err(RepoError::Invalid(_))), "{r:?}");
    assert_eq!(backlog(&s).await, 0);
    assert_eq!(
        s.tasks.get(&alice, created.id).await.unwrap(),
        Some(created)
    );
    let missing = s
        .tasks
        .update(
            &alice,
            TaskId(987_654),
            mutator(|t| change::complete(t, at(1))),
            &ctx(at(1)),
        )
        .await;
    assert!(matches!(missing, Err(RepoError::NotFound)), "{missing:?}");
    assert_eq!(backlog(&s).await, 0);
}

pub async fn completing_a_recurring_task_also_goes_to_task_recurrence(s: Stores) {
    let alice = uid("alice");
    let mut new = new_task("Water plants");
    new.due_date = Some(at(60));
    new.recurrence = Some(recurring(None));
    let series = create(&s, &alice, new, base()).await;
    let single = create(&s, &alice, new_task("Once"), base()).await;
    drain(&s).await;

    let m = s
        .tasks
        .update(
            &alice,
            series.id,
            mutator(|t| change::complete(t, at(30))),
            &ctx(at(30)),
        )
        .await
        .unwrap();
    assert!(m.task.completed);
    assert_eq!(m.task.completed_at, Some(at(30)));
    let events = drain(&s).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let topics: Vec<Topic> = events.iter().map(|e| e.topic).collect();
    assert!(topics.contains(&Topic::TaskEvents) && topics.contains(&Topic::TaskRecurrence));
    for e in &events {
        assert_eq!(e.event.event_type, TASK_COMPLETED);
        assert_eq!(e.event.subject, series.id.to_string());
        assert_eq!(e.key, series.id.to_string());
        assert_eq!(e.task_data().task, m.task);
    }
    assert_eq!(
        events[0].event.id, events[1].event.id,
        "one event, two topics"
    );

    s.tasks
        .update(
            &alice,
            single.id,
            mutator(|t| change::complete(t, at(31))),
            &ctx(at(31)),
        )
        .await
        .unwrap();
    let events = drain(&s).await;
    assert_eq!(
        events.len(),
        1,
        "a one-off task's completion is not a recurrence"
    );
    assert_eq!(events[0].topic, Topic::TaskEvents);
}

pub async fn delete_records_the_task_as_it_was(s: Stores) {
    let alice = uid("alice");
    let t1 = tag(&s, &alice, "one").await;
    let mut new = new_task("Short-lived");
    new.due_date = Some(at(600));
    new.tag_ids = vec![t1];
    new.reminders = Some(vec![ReminderSpec::BeforeDue { minutes_before: 5 }]);
    let created = create(&s, &alice, new, base()).await;
    drain(&s).await;

    let deleted = s
        .tasks
        .delete(&alice, created.id, &ctx(at(3)))
        .await
        .unwrap();
    assert_eq!(deleted, created, "returns the task as it was");
    assert_eq!(s.tasks.get(&alice, created.id).await.unwrap(), None);
    assert!(
        s.tasks
            .reminder(created.reminders[0].id)
            .await
            .unwrap()
            .is_none(),
        "reminders go with the task"
    );
    let tags = s.labels.list(&alice, LabelKind::Tag).await.unwrap();
    assert_eq!(tags[0].task_count, 0, "tag links go with the task");

    let events = drain(&s).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].topic, Topic::TaskEvents);
    assert_eq!(events[0].event.event_type, TASK_DELETED);
    assert_eq!(events[0].event.time, at(3));
    assert_eq!(events[0].task_data().task, created);

    let again = s.tasks.delete(&alice, created.id, &ctx(at(4))).await;
    assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
    assert_eq!(backlog(&s).await, 0);
}

pub async fn users_cannot_see_or_touch_each_others_tasks(s: Stores) {
    let alice = uid("alice");
    let bob = uid("bob");
    let mut new = new_task("Alice's secret plan");
    new.description = Some("surprise party".into());
    let task = create(&s, &alice, new, base()).await;
    drain(&s).await;

    assert_eq!(s.tasks.get(&bob, task.id).await.unwrap(), None);
    assert!(list(&s, &bob, &TaskQuery::default()).await.items.is_empty());
    let search = TaskQuery {
        search: Some(SearchText::parse("secret").unwrap()),
        ..TaskQuery::default()
    };
    assert!(list(&s, &bob, &search).await.items.is_empty());
    assert!(s.tasks.recent(&bob, false, 10).await.unwrap().is_empty());
    assert_eq!(
        s.tasks
            .find_recent_duplicate(&bob, "Alice's secret plan", None, at(-60))
            .await
            .unwrap(),
        None
    );
    let upd = s
        .tasks
        .update(
            &bob,
            task.id,
            mutator(|t| change::complete(t, at(1))),
            &ctx(at(1)),
        )
        .await;
    assert!(matches!(upd, Err(RepoError::NotFound)), "{upd:?}");
    let del = s.tasks.delete(&bob, task.id, &ctx(at(1))).await;
    assert!(matches!(del, Err(RepoError::NotFound)), "{del:?}");

    assert_eq!(backlog(&s).await, 0, "refused writes record nothing");
    assert_eq!(
        s.tasks.get(&alice, task.id).await.unwrap(),
        Some(task.clone())
    );
    assert_eq!(ids(&list(&s, &alice, &search).await), vec![task.id]);
}

pub async fn labels_of_another_user_or_kind_are_refused_and_nothing_is_written(s: Stores) {
    let alice = uid("alice");
    let bob = uid("bob");
    let bobs_cat = category(&s, &bob, "Bob's").await;
    let bobs_tag = tag(&s, &bob, "bob").await;
    category(&s, &alice, "Alice's").await;
    let alices_tag = tag(&s, &alice, "alice").await;

    let attempt = |cat: Option<CategoryId>, tags: Vec<TagId>| {
        let mut new = new_task("Should not exist");
        new.category_id = cat;
        new.tag_ids = tags;
        draft(&alice, new, base())
    };
    let r = s
        .tasks
        .create(attempt(Some(bobs_cat), vec![]), &ctx(base()))
        .await;
    assert!(
        matches!(r, Err(RepoError::CategoryNotFound(c)) if c == bobs_cat),
        "{r:?}"
    );
    let r = s
        .tasks
        .create(attempt(None, vec![alices_tag, bobs_tag]), &ctx(base()))
        .await;
    assert!(
        matches!(r, Err(RepoError::TagNotFound(t)) if t == bobs_tag),
        "{r:?}"
    );
    // A label of the other kind is not a substitute. Kinds may number their ids separately, so
    // use an id that alice has only as the other kind.
    let category_only = id_only_of(&s, &alice, LabelKind::Category).await;
    let r = s
        .tasks
        .create(attempt(None, vec![TagId(category_only)]), &ctx(base()))
        .await;
    assert!(matches!(r, Err(RepoError::TagNotFound(_))), "{r:?}");
    let tag_only = id_only_of(&s, &alice, LabelKind::Tag).await;
    let r = s
        .tasks
        .create(attempt(Some(CategoryId(tag_only)), vec![]), &ctx(base()))
        .await;
    assert!(matches!(r, Err(RepoError::CategoryNotFound(_))), "{r:?}");
    assert!(
        list(&s, &alice, &TaskQuery::default())
            .await
            .items
            .is_empty()
    );
    assert_eq!(backlog(&s).await, 0);

    let task = create(&s, &alice, new_task("Real"), base()).await;
    drain(&s).await;
    for (cat, tags) in [(Some(bobs_cat), vec![]), (None, vec![bobs_tag])] {
        let r = s
            .tasks
            .update(
                &alice,
                task.id,
                mutator(move |mut t: Task| {
                    t.category_id = cat;
                    t.tag_ids = tags;
                    change::TaskMutation {
                        task: t,
                        event_type: Some(TASK_UPDATED),
                        changed_fields: vec!["category_id", "tag_ids"],
                    }
                }),
                &ctx(at(1)),
            )
            .await;
        assert!(
            matches!(
                r,
                Err(RepoError::CategoryNotFound(_)) | Err(RepoError::TagNotFound(_))
            ),
            "{r:?}"
        );
    }
    assert_eq!(s.tasks.get(&alice, task.id).await.unwrap(), Some(task));
    assert_eq!(backlog(&s).await, 0);
}

/// An id the user has as a label of `kind` but not of the other kind, creating labels of `kind`
/// until one exists.
async fn id_only_of(s: &Stores, user: &tickler::domain::UserId, kind: LabelKind) -> i64 {
    let other = match kind {
        LabelKind::Category => LabelKind::Tag,
        LabelKind::Tag => LabelKind::Category,
    };
    for n in 0..20 {
        let mine = s.labels.list(user, kind).await.unwrap();
        let theirs = s.labels.list(user, other).await.unwrap();
        if let Some(l) = mine.iter().find(|l| theirs.iter().all(|o| o.id != l.id)) {
            return l.id;
        }
        let name = tickler::domain::label::LabelName::parse(kind, &format!("filler {n}")).unwrap();
        s.labels
            .create(user, kind, name, None, base())
            .await
            .unwrap();
    }
    panic!("no {kind:?} id distinct from every {other:?} id");
}

pub async fn second_successor_of_a_recurring_task_is_a_duplicate(s: Stores) {
    let alice = uid("alice");
    let mut first = new_task("Water plants");
    first.recurrence = Some(recurring(None));
    let first = create(&s, &alice, first, base()).await;
    let successor = |title: &str| {
        let mut n = new_task(title);
        n.recurrence = Some(recurring(Some(first.id)));
        draft(&alice, n, at(1))
    };
    let next = s
        .tasks
        .create(successor("Water plants"), &ctx(at(1)))
        .await
        .unwrap();
    assert_eq!(
        next.recurrence.as_ref().unwrap().previous_task_id,
        Some(first.id)
    );
    drain(&s).await;
    let dup = s
        .tasks
        .create(successor("Water plants (again)"), &ctx(at(2)))
        .await;
    assert!(matches!(dup, Err(RepoError::Duplicate)), "{dup:?}");
    assert_eq!(
        backlog(&s).await,
        0,
        "the refused successor recorded no event"
    );
    assert_eq!(list(&s, &alice, &TaskQuery::default()).await.items.len(), 2);
}

pub async fn find_recent_duplicate_matches_title_rule_and_time(s: Stores) {
    let alice = uid("alice");
    let plain = create(&s, &alice, new_task("Buy milk"), base()).await;
    let mut with_rule = new_task("Buy milk");
    with_rule.recurrence = Some(recurring(None));
    let with_rule = create(&s, &alice, with_rule, at(1)).await;
    create(&s, &alice, new_task("Other"), at(2)).await;

    let rule = daily();
    let rule = Some(rule.as_str());
    assert_eq!(dup(&s, "Buy milk", None, base()).await, Some(plain.id));
    assert_eq!(dup(&s, "Buy milk", rule, base()).await, Some(with_rule.id));
    assert_eq!(
        dup(&s, "Buy milk", None, at(1)).await,
        None,
        "created before `since`"
    );
    assert_eq!(dup(&s, "Buy bread", None, base()).await, None);
    assert_eq!(
        dup(&s, "Other", rule, base()).await,
        None,
        "rule must match"
    );
}

async fn dup(
    s: &Stores,
    title: &str,
    rule: Option<&str>,
    since: chrono::DateTime<chrono::Utc>,
) -> Option<TaskId> {
    s.tasks
        .find_recent_duplicate(&uid("alice"), title, rule, since)
        .await
        .unwrap()
        .map(|t| t.id)
}

pub async fn recent_lists_newest_first_and_can_skip_completed(s: Stores) {
    let alice = uid("alice");
    let a = create(&s, &alice, new_task("a"), base()).await;
    let b = create(&s, &alice, new_task("b"), at(1)).await;
    let c = create(&s, &alice, new_task("c"), at(2)).await;
    let idsof = |v: Vec<Task>| v.into_iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(
        idsof(s.tasks.recent(&alice, false, 10).await.unwrap()),
        vec![c.id, b.id, a.id]
    );
    assert_eq!(
        idsof(s.tasks.recent(&alice, false, 2).await.unwrap()),
        vec![c.id, b.id]
    );
    s.tasks
        .update(
            &alice,
            c.id,
            mutator(|t| change::complete(t, at(3))),
            &ctx(at(3)),
        )
        .await
        .unwrap();
    assert_eq!(
        idsof(s.tasks.recent(&alice, true, 10).await.unwrap()),
        vec![b.id, a.id]
    );
}
