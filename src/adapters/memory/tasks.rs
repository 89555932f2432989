//! `TaskRepository` for `MemoryStore`. Every write runs under one lock acquisition: check the
//! references, build the new state, then store it and append its events, so nothing is left behind
//! when a check fails.
//!
//! The `Mutator` of `update` runs under that lock: it is a pure domain function and must not call
//! back into the store.

use std::cmp::Ordering;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Data, MemoryStore};
use crate::domain::change::TaskMutation;
use crate::domain::event::{OutgoingEvent, TASK_CREATED, TASK_DELETED, TASK_UPDATED, task_events};
use crate::domain::label::LabelKind;
use crate::domain::query::{
    Cursor, Page, Ranked, SEARCH_CANDIDATES, SortKey, SortOrder, SortValue, TaskQuery,
    search_score, sort_value,
};
use crate::domain::reminder::{Reminder, ReminderStatus};
use crate::domain::task::Task;
use crate::domain::{ErrorCode, ReminderId, TaskId, UserId, ValidationError};
use crate::ports::repository::Mutator;
use crate::ports::{InfraError, RepoError, TaskRepository, WriteContext};

impl Data {
    fn task_of(&self, user: &UserId, id: TaskId) -> Option<&Task> {
        self.tasks.get(&id).filter(|t| &t.user_id == user)
    }

    /// The category and tags a task refers to must be its owner's.
    fn check_refs(&self, task: &Task) -> Result<(), RepoError> {
        if let Some(c) = task.category_id
            && !self.owns_label(&task.user_id, LabelKind::Category, c.0)
        {
            return Err(RepoError::CategoryNotFound(c));
        }
        match task
            .tag_ids
            .iter()
            .find(|t| !self.owns_label(&task.user_id, LabelKind::Tag, t.0))
        {
            Some(t) => Err(RepoError::TagNotFound(*t)),
            None => Ok(()),
        }
    }

    /// A recurring task is generated once per completion: `previous_task_id` is unique.
    fn check_successor(&self, task: &Task) -> Result<(), RepoError> {
        let Some(prev) = task.recurrence.as_ref().and_then(|r| r.previous_task_id) else {
            return Ok(());
        };
        let taken = self.tasks.values().any(|t| {
            t.id != task.id
                && t.recurrence
                    .as_ref()
                    .is_some_and(|r| r.previous_task_id == Some(prev))
        });
        if taken {
            Err(RepoError::Duplicate)
        } else {
            Ok(())
        }
    }

    /// Numbers the reminders that have no id yet and points every reminder at its task.
    fn number_reminders(&mut self, task: &mut Task) {
        for r in &mut task.reminders {
            if r.id.0 == 0 {
                self.last_reminder_id += 1;
                r.id = ReminderId(self.last_reminder_id);
            }
            r.task_id = task.id;
        }
        task.reminders.sort_by_key(|r| r.id);
    }

    fn reminder_mut(&mut self, id: ReminderId) -> Option<&mut Reminder> {
        self.tasks
            .values_mut()
            .flat_map(|t| t.reminders.iter_mut())
            .find(|r| r.id == id)
    }
}

fn invalid_cursor() -> RepoError {
    RepoError::Invalid(ValidationError::new(
        ErrorCode::InvalidCursor,
        "cursor",
        "cursor does not fit this query",
    ))
}

/// One page in keyset order: by sort value, then id, both in `order`.
fn keyset_page(rows: Vec<&Task>, query: &TaskQuery) -> Result<Page<Ranked<Task>>, RepoError> {
    let order = query.effective_order();
    let limit = query.effective_limit() as usize;
    let after = match &query.cursor {
        None => None,
        Some(Cursor::After { v, id }) => {
            let text_key = query.sort == SortKey::Title;
            if text_key != matches!(v, SortValue::Text(_)) {
                return Err(invalid_cursor());
            }
            Some((v.clone(), *id))
        }
        Some(Cursor::Offset { .. }) => return Err(invalid_cursor()),
    };
    let directed = |o: Ordering| match order {
        SortOrder::Asc => o,
        SortOrder::Desc => o.reverse(),
    };
    let mut keyed: Vec<(SortValue, &Task)> = rows
        .into_iter()
        .map(|t| (sort_value(t, query.sort, order), t))
        .filter(|(v, t)| match &after {
            None => true,
            Some((cv, cid)) => directed((v, t.id.0).cmp(&(cv, *cid))) == Ordering::Greater,
        })
        .collect();
    keyed.sort_by(|a, b| directed((&a.0, a.1.id).cmp(&(&b.0, b.1.id))));
    keyed.truncate(limit + 1);
    let mut next_cursor = None;
    if keyed.len() > limit {
        keyed.truncate(limit);
        let (v, t) = keyed.last().expect("limit is at least 1");
        next_cursor = Some(
            Cursor::After {
                v: v.clone(),
                id: t.id.0,
            }
            .encode(),
        );
    }
    let items = keyed
        .into_iter()
        .map(|(_, t)| Ranked {
            item: t.clone(),
            rank: 0.0,
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// One page of search hits: best score first, then newest id, paged by offset.
fn search_page(
    rows: Vec<&Task>,
    terms: &[String],
    query: &TaskQuery,
) -> Result<Page<Ranked<Task>>, RepoError> {
    let limit = query.effective_limit() as usize;
    let offset = match &query.cursor {
        None => 0,
        Some(Cursor::Offset { o }) => *o,
        Some(Cursor::After { .. }) => return Err(invalid_cursor()),
    };
    let mut hits: Vec<(f64, &Task)> = rows
        .into_iter()
        .filter_map(|t| search_score(t, terms).map(|s| (s, t)))
        .collect();
    // The newest matches only, as every adapter ranks them.
    hits.sort_by_key(|h| std::cmp::Reverse(h.1.id));
    hits.truncate(SEARCH_CANDIDATES);
    hits.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.id.cmp(&a.1.id)));
    let mut items: Vec<Ranked<Task>> = hits
        .into_iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(limit + 1)
        .map(|(rank, t)| Ranked {
            item: t.clone(),
            rank,
        })
        .collect();
    let mut next_cursor = None;
    if items.len() > limit {
        items.truncate(limit);
        next_cursor = Some(
            Cursor::Offset {
                o: offset + limit as u64,
            }
            .encode(),
        );
    }
    Ok(Page { items, next_cursor })
}

#[async_trait]
impl TaskRepository for MemoryStore {
    async fn create(&self, mut draft: Task, ctx: &WriteContext) -> Result<Task, RepoError> {
        let mut data = self.lock();
        data.check_refs(&draft)?;
        data.check_successor(&draft)?;
        data.last_task_id += 1;
        draft.id = TaskId(data.last_task_id);
        for r in &mut draft.reminders {
            r.id = ReminderId(0);
        }
        data.number_reminders(&mut draft);
        let events = task_events(
            TASK_CREATED,
            &draft,
            &[],
            ctx.now,
            ctx.traceparent.as_deref(),
        );
        data.tasks.insert(draft.id, draft.clone());
        data.append_events(events);
        drop(data);
        self.signal_work();
        Ok(draft)
    }

    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        Ok(self.lock().task_of(user, id).cloned())
    }

    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError> {
        let data = self.lock();
        let rows: Vec<&Task> = data
            .tasks
            .values()
            .filter(|t| &t.user_id == user && query.matches(t, now))
            .collect();
        match &query.search {
            Some(search) => search_page(rows, &search.terms(), query),
            None => keyset_page(rows, query),
        }
    }

    async fn update(
        &self,
        user: &UserId,
        id: TaskId,
        mutate: Mutator,
        ctx: &WriteContext,
    ) -> Result<TaskMutation, RepoError> {
        let mut data = self.lock();
        let current = data.task_of(user, id).cloned().ok_or(RepoError::NotFound)?;
        let mutation = mutate(current.clone())?;
        let Some(event_type) = mutation.event_type else {
            return Ok(mutation);
        };
        let mut task = mutation.task;
        // Identity is not the mutation's to change.
        task.id = current.id;
        task.user_id = current.user_id.clone();
        data.check_refs(&task)?;
        data.check_successor(&task)?;
        if let Some(r) = task
            .reminders
            .iter()
            .find(|r| r.id.0 != 0 && !current.reminders.iter().any(|c| c.id == r.id))
        {
            return Err(InfraError::msg(format!(
                "mutation of task {id} refers to reminder {} of another task",
                r.id
            ))
            .into());
        }
        // Like the SQL adapters, which insert and update reminders but never delete them here.
        for old in &current.reminders {
            if !task.reminders.iter().any(|r| r.id == old.id) {
                task.reminders.push(old.clone());
            }
        }
        data.number_reminders(&mut task);
        let events = task_events(
            event_type,
            &task,
            &mutation.changed_fields,
            ctx.now,
            ctx.traceparent.as_deref(),
        );
        data.tasks.insert(id, task.clone());
        data.append_events(events);
        drop(data);
        self.signal_work();
        Ok(TaskMutation {
            task,
            event_type: Some(event_type),
            changed_fields: mutation.changed_fields,
        })
    }

    async fn delete(
        &self,
        user: &UserId,
        id: TaskId,
        ctx: &WriteContext,
    ) -> Result<Task, RepoError> {
        let mut data = self.lock();
        if data.task_of(user, id).is_none() {
            return Err(RepoError::NotFound);
        }
        let task = data.tasks.remove(&id).expect("checked above");
        let events = task_events(
            TASK_DELETED,
            &task,
            &[],
            ctx.now,
            ctx.traceparent.as_deref(),
        );
        data.append_events(events);
        drop(data);
        self.signal_work();
        Ok(task)
    }

    async fn find_recent_duplicate(
        &self,
        user: &UserId,
        title: &str,
        rule: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<Task>, RepoError> {
        let data = self.lock();
        Ok(data
            .tasks
            .values()
            .filter(|t| {
                &t.user_id == user
                    && t.title.as_str() == title
                    && t.recurrence.as_ref().map(|r| r.rule.as_str()) == rule
                    && t.created_at >= since
            })
            .max_by_key(|t| (t.created_at, t.id))
            .cloned())
    }

    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        let data = self.lock();
        let mut tasks: Vec<&Task> = data
            .tasks
            .values()
            .filter(|t| &t.user_id == user && !(pending_only && t.completed))
            .collect();
        tasks.sort_by_key(|t| std::cmp::Reverse((t.created_at, t.id)));
        Ok(tasks.into_iter().take(limit as usize).cloned().collect())
    }

    async fn reminders(&self, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError> {
        let data = self.lock();
        Ok(data
            .tasks
            .values()
            .flat_map(|t| {
                t.reminders
                    .iter()
                    .filter(|r| ids.contains(&r.id))
                    .map(move |r| (r.clone(), t.clone()))
            })
            .collect())
    }

    async fn fire_reminder(
        &self,
        id: ReminderId,
        expected_remind_at: DateTime<Utc>,
        fired_at: DateTime<Utc>,
        late: bool,
        event: OutgoingEvent,
    ) -> Result<bool, RepoError> {
        let mut data = self.lock();
        let Some(r) = data
            .reminder_mut(id)
            .filter(|r| r.is_pending() && r.remind_at == expected_remind_at)
        else {
            return Ok(false);
        };
        r.fired_at = Some(fired_at);
        r.late = late;
        data.append_events(vec![event]);
        drop(data);
        self.signal_work();
        Ok(true)
    }

    /// A reminder that is gone (its task was deleted after it fired) is not an error: there is
    /// nothing left to finish, and e-mail delivery would otherwise retry forever.
    async fn finish_reminder(
        &self,
        id: ReminderId,
        status: ReminderStatus,
        ctx: &WriteContext,
    ) -> Result<(), RepoError> {
        let mut data = self.lock();
        if data.failing_finishes > 0 {
            data.failing_finishes -= 1;
            return Err(RepoError::Infra(InfraError::transient(
                "finishing a reminder",
                "injected failure",
            )));
        }
        let Some(task) = data
            .tasks
            .values_mut()
            .find(|t| t.reminders.iter().any(|r| r.id == id))
        else {
            return Ok(());
        };
        let r = task
            .reminders
            .iter_mut()
            .find(|r| r.id == id)
            .expect("the task was found by this reminder");
        if r.status == status {
            return Ok(());
        }
        r.status = status;
        r.delivered_at = Some(ctx.now);
        let events = task_events(
            TASK_UPDATED,
            task,
            &["reminders"],
            ctx.now,
            ctx.traceparent.as_deref(),
        );
        data.append_events(events);
        drop(data);
        self.signal_work();
        Ok(())
    }

    async fn pending_reminders(
        &self,
        after: ReminderId,
        limit: u32,
    ) -> Result<Vec<Reminder>, RepoError> {
        let data = self.lock();
        let mut out: Vec<Reminder> = data
            .tasks
            .values()
            .flat_map(|t| t.reminders.iter())
            .filter(|r| r.id > after && r.is_pending())
            .cloned()
            .collect();
        out.sort_by_key(|r| r.id);
        out.truncate(limit as usize);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::testutil::*;
    use crate::domain::change;
    use crate::domain::event::{CloudEvent, TASK_COMPLETED, TASK_UPDATED, TaskEventData, Topic};
    use crate::domain::label::LabelName;
    use crate::domain::query::SearchText;
    use crate::domain::recurrence::RecurrenceRule;
    use crate::domain::task::{Priority, Recurrence, TaskPatch, Title};
    use crate::domain::{CategoryId, TagId};
    use crate::ports::Outbox;

    async fn label(s: &MemoryStore, u: &UserId, kind: LabelKind, name: &str) -> i64 {
        crate::ports::LabelRepository::create(
            s,
            u,
            kind,
            LabelName::parse(kind, name).unwrap(),
            None,
            t(0),
        )
        .await
        .unwrap()
        .id
    }

    fn events(s: &MemoryStore) -> Vec<(Topic, CloudEvent)> {
        s.unpublished()
            .into_iter()
            .map(|r| (r.topic, CloudEvent::from_slice(&r.payload).unwrap()))
            .collect()
    }

    fn patch(p: TaskPatch) -> Mutator {
        Box::new(move |task| change::apply_patch(task, p, t(5)))
    }

    #[tokio::test]
    async fn create_numbers_from_one_and_records_task_created() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let a = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let b = s
            .create(draft(&alice, with_reminders("b"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        assert_eq!((a.id, b.id), (TaskId(1), TaskId(2)));
        let ids: Vec<i64> = [&a, &b]
            .iter()
            .flat_map(|t| t.reminders.iter().map(|r| r.id.0))
            .collect();
        assert_eq!(ids, vec![1, 2, 3, 4]);
        assert!(b.reminders.iter().all(|r| r.task_id == b.id));
        assert_eq!(
            TaskRepository::get(&s, &alice, a.id).await.unwrap(),
            Some(a.clone())
        );
        assert_eq!(
            TaskRepository::get(&s, &user("bob"), a.id).await.unwrap(),
            None
        );

        let evs = events(&s);
        assert_eq!(evs.len(), 2);
        let (topic, ev) = &evs[0];
        assert_eq!(
            (*topic, ev.event_type.as_str()),
            (Topic::TaskEvents, TASK_CREATED)
        );
        assert_eq!(ev.subject, "1");
        assert!(ev.traceparent.is_some());
        assert_eq!(ev.data_as::<TaskEventData>().unwrap().task, a);
        let rec = &s.unpublished()[0];
        assert_eq!(
            (rec.seq, rec.key.as_str(), rec.event_id.as_str()),
            (1, "1", ev.id.as_str())
        );
    }

    #[tokio::test]
    async fn create_with_a_foreign_reference_writes_nothing() {
        let s = MemoryStore::new();
        let (alice, bob) = (user("alice"), user("bob"));
        let bobs_cat = label(&s, &bob, LabelKind::Category, "work").await;
        let bobs_tag = label(&s, &bob, LabelKind::Tag, "x").await;
        let alices_tag = label(&s, &alice, LabelKind::Tag, "y").await;

        let mut d = draft(&alice, with_reminders("a"), t(0));
        d.category_id = Some(CategoryId(bobs_cat));
        let err = s.create(d, &ctx(t(0))).await.unwrap_err();
        assert!(matches!(err, RepoError::CategoryNotFound(CategoryId(id)) if id == bobs_cat));

        let mut d = draft(&alice, with_reminders("a"), t(0));
        d.tag_ids = vec![TagId(alices_tag), TagId(bobs_tag)];
        let err = s.create(d, &ctx(t(0))).await.unwrap_err();
        assert!(matches!(err, RepoError::TagNotFound(TagId(id)) if id == bobs_tag));

        assert!(s.unpublished().is_empty());
        assert_eq!(s.backlog().await.unwrap(), 0);
        // No id was used up either.
        let ok = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        assert_eq!(ok.id, TaskId(1));
        assert_eq!(ok.reminders[0].id, ReminderId(1));
    }

    #[tokio::test]
    async fn update_with_a_foreign_reference_leaves_task_and_outbox_untouched() {
        let s = MemoryStore::new();
        let (alice, bob) = (user("alice"), user("bob"));
        let bobs_tag = label(&s, &bob, LabelKind::Tag, "x").await;
        let task = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let before = s.unpublished();
        let err = s
            .update(
                &alice,
                task.id,
                patch(TaskPatch {
                    title: Some(Title::parse("renamed").unwrap()),
                    tag_ids: Some(vec![TagId(bobs_tag)]),
                    reminders: Some(vec![]),
                    ..Default::default()
                }),
                &ctx(t(5)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::TagNotFound(_)));
        assert_eq!(
            TaskRepository::get(&s, &alice, task.id).await.unwrap(),
            Some(task)
        );
        assert_eq!(s.unpublished(), before);
    }

    #[tokio::test]
    async fn update_applies_mutation_numbers_new_reminders_and_records_event() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let task = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let m = s
            .update(
                &alice,
                task.id,
                patch(TaskPatch {
                    reminders: Some(vec![crate::domain::reminder::ReminderSpec::BeforeDue {
                        minutes_before: 5,
                    }]),
                    ..Default::default()
                }),
                &ctx(t(5)),
            )
            .await
            .unwrap();
        assert_eq!(m.event_type, Some(TASK_UPDATED));
        let ids: Vec<(i64, bool)> = m
            .task
            .reminders
            .iter()
            .map(|r| (r.id.0, r.is_pending()))
            .collect();
        assert_eq!(ids, vec![(1, false), (2, false), (3, true)]);
        assert_eq!(
            TaskRepository::get(&s, &alice, task.id).await.unwrap(),
            Some(m.task.clone())
        );
        let evs = events(&s);
        assert_eq!(evs.len(), 2);
        let data: TaskEventData = evs[1].1.data_as().unwrap();
        assert_eq!(data.task, m.task);
        assert_eq!(data.changed_fields, vec!["reminders"]);
    }

    #[tokio::test]
    async fn update_without_event_type_writes_nothing() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let task = s
            .create(draft(&alice, new_task("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let m = s
            .update(
                &alice,
                task.id,
                Box::new(|mut t| {
                    t.title = Title::parse("sneaky").unwrap();
                    Ok(TaskMutation {
                        task: t,
                        event_type: None,
                        changed_fields: vec![],
                    })
                }),
                &ctx(t(5)),
            )
            .await
            .unwrap();
        assert_eq!(m.event_type, None);
        assert_eq!(
            TaskRepository::get(&s, &alice, task.id)
                .await
                .unwrap()
                .unwrap()
                .title
                .as_str(),
            "a"
        );
        assert_eq!(s.backlog().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn update_and_delete_are_scoped_by_user() {
        let s = MemoryStore::new();
        let (alice, bob) = (user("alice"), user("bob"));
        let task = s
            .create(draft(&alice, new_task("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let err = s
            .update(
                &bob,
                task.id,
                Box::new(|t| Ok(change::complete(t, t0()))),
                &ctx(t(1)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::NotFound));
        assert!(matches!(
            s.delete(&bob, task.id, &ctx(t(1))).await.unwrap_err(),
            RepoError::NotFound
        ));
        assert!(matches!(
            s.delete(&alice, TaskId(99), &ctx(t(1))).await.unwrap_err(),
            RepoError::NotFound
        ));
        assert_eq!(s.backlog().await.unwrap(), 1);
    }

    fn t0() -> DateTime<Utc> {
        t(0)
    }

    #[tokio::test]
    async fn mutation_errors_are_invalid_and_write_nothing() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let task = s
            .create(draft(&alice, new_task("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let err = s
            .update(&alice, task.id, patch(TaskPatch::default()), &ctx(t(1)))
            .await
            .unwrap_err();
        assert!(matches!(err, RepoError::Invalid(e) if e.code == ErrorCode::InvalidRequest));
        assert_eq!(s.backlog().await.unwrap(), 1);
    }

    #[tokio::test]
    async fn completing_a_recurring_task_also_goes_to_task_recurrence() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let mut new = new_task("water plants");
        new.recurrence = Some(Recurrence {
            rule: RecurrenceRule::parse("daily").unwrap(),
            series_start: None,
            previous_task_id: None,
        });
        let task = s
            .create(draft(&alice, new, t(0)), &ctx(t(0)))
            .await
            .unwrap();
        s.update(
            &alice,
            task.id,
            Box::new(|t| Ok(change::complete(t, t0()))),
            &ctx(t(1)),
        )
        .await
        .unwrap();
        let evs = events(&s);
        let kinds: Vec<(Topic, &str)> = evs
            .iter()
            .map(|(tp, e)| (*tp, e.event_type.as_str()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (Topic::TaskEvents, TASK_CREATED),
                (Topic::TaskEvents, TASK_COMPLETED),
                (Topic::TaskRecurrence, TASK_COMPLETED)
            ]
        );
        assert_eq!(evs[1].1.id, evs[2].1.id);
    }

    #[tokio::test]
    async fn a_task_has_at_most_one_successor() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let next = || {
            let mut new = new_task("next");
            new.recurrence = Some(Recurrence {
                rule: RecurrenceRule::parse("daily").unwrap(),
                series_start: None,
                previous_task_id: Some(TaskId(1)),
            });
            draft(&alice, new, t(0))
        };
        s.create(draft(&alice, new_task("first"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        s.create(next(), &ctx(t(0))).await.unwrap();
        assert!(matches!(
            s.create(next(), &ctx(t(0))).await.unwrap_err(),
            RepoError::Duplicate
        ));
        assert_eq!(s.backlog().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn delete_records_the_task_as_it_was() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let task = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let gone = s.delete(&alice, task.id, &ctx(t(3))).await.unwrap();
        assert_eq!(gone, task);
        assert_eq!(
            TaskRepository::get(&s, &alice, task.id).await.unwrap(),
            None
        );
        assert_eq!(s.reminder(task.reminders[0].id).await.unwrap(), None);
        let (_, ev) = events(&s).pop().unwrap();
        assert_eq!(ev.event_type, TASK_DELETED);
        assert_eq!(ev.time, t(3));
        assert_eq!(ev.data_as::<TaskEventData>().unwrap().task, task);
    }

    /// Creates tasks titled by `specs` (title, priority, due in minutes, created at minute).
    async fn seed(s: &MemoryStore, u: &UserId, specs: &[(&str, Priority, Option<i64>, i64)]) {
        for (title, priority, due, created) in specs {
            let mut new = new_task(title);
            new.priority = *priority;
            new.due_date = due.map(t);
            s.create(draft(u, new, t(*created)), &ctx(t(*created)))
                .await
                .unwrap();
        }
    }

    async fn all_pages(s: &MemoryStore, u: &UserId, mut q: TaskQuery) -> Vec<Vec<i64>> {
        let mut pages = Vec::new();
        loop {
            let page = s.list(u, &q, t(0)).await.unwrap();
            pages.push(page.items.iter().map(|r| r.item.id.0).collect());
            match page.next_cursor {
                Some(c) => q.cursor = Some(Cursor::decode(&c).unwrap()),
                None => return pages,
            }
        }
    }

    #[tokio::test]
    async fn keyset_pages_break_ties_by_id_in_the_same_direction() {
        let s = MemoryStore::new();
        let alice = user("alice");
        use Priority::*;
        seed(
            &s,
            &alice,
            &[
                ("e", Low, Some(60), 0),
                ("d", Urgent, None, 0),
                ("c", Urgent, Some(30), 1),
                ("b", Low, None, 1),
                ("a", Medium, Some(30), 1),
            ],
        )
        .await;
        seed(&s, &user("bob"), &[("z", Urgent, None, 9)]).await;
        let q = |sort, order| TaskQuery {
            sort,
            order,
            limit: 2,
            ..Default::default()
        };
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::CreatedAt, None)).await,
            vec![vec![5, 4], vec![3, 2], vec![1]]
        );
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::CreatedAt, Some(SortOrder::Asc))).await,
            vec![vec![1, 2], vec![3, 4], vec![5]]
        );
        // Tasks without a due date come last in both directions.
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::DueDate, None)).await,
            vec![vec![3, 5], vec![1, 2], vec![4]]
        );
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::DueDate, Some(SortOrder::Desc))).await,
            vec![vec![1, 5], vec![3, 4], vec![2]]
        );
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::Priority, None)).await,
            vec![vec![3, 2], vec![5, 4], vec![1]]
        );
        assert_eq!(
            all_pages(&s, &alice, q(SortKey::Title, None)).await,
            vec![vec![5, 4], vec![3, 2], vec![1]]
        );
        let page = s
            .list(&alice, &q(SortKey::Title, None), t(0))
            .await
            .unwrap();
        assert!(page.items.iter().all(|r| r.rank == 0.0));
        // Exactly a page: no next cursor.
        let exact = TaskQuery {
            limit: 5,
            ..Default::default()
        };
        assert_eq!(
            s.list(&alice, &exact, t(0)).await.unwrap().next_cursor,
            None
        );
    }

    #[tokio::test]
    async fn filters_use_the_domain_rules() {
        let s = MemoryStore::new();
        let alice = user("alice");
        seed(
            &s,
            &alice,
            &[
                ("a", Priority::High, Some(-10), 0),
                ("b", Priority::Low, Some(10), 0),
            ],
        )
        .await;
        let q = TaskQuery {
            overdue: true,
            ..Default::default()
        };
        let page = s.list(&alice, &q, t(0)).await.unwrap();
        assert_eq!(
            page.items.iter().map(|r| r.item.id.0).collect::<Vec<_>>(),
            vec![1]
        );
        let q = TaskQuery {
            priority: Some(Priority::Low),
            ..Default::default()
        };
        let page = s.list(&alice, &q, t(0)).await.unwrap();
        assert_eq!(
            page.items.iter().map(|r| r.item.id.0).collect::<Vec<_>>(),
            vec![2]
        );
    }

    #[tokio::test]
    async fn search_ranks_title_hits_first_and_pages_by_offset() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let mut described = new_task("call mom");
        described.description = Some("buy milk on the way".into());
        s.create(draft(&alice, described, t(0)), &ctx(t(0)))
            .await
            .unwrap();
        seed(
            &s,
            &alice,
            &[
                ("buy milk", Priority::Low, None, 0),
                ("milkshake", Priority::Low, None, 0),
                ("bread", Priority::Low, None, 0),
            ],
        )
        .await;
        let q = TaskQuery {
            search: Some(SearchText::parse("milk").unwrap()),
            limit: 2,
            ..Default::default()
        };
        let page = s.list(&alice, &q, t(0)).await.unwrap();
        let got: Vec<(i64, f64)> = page.items.iter().map(|r| (r.item.id.0, r.rank)).collect();
        assert_eq!(got, vec![(3, 10.0), (2, 10.0)]);
        let cursor = Cursor::decode(page.next_cursor.as_deref().unwrap()).unwrap();
        assert_eq!(cursor, Cursor::Offset { o: 2 });
        let page = s
            .list(
                &alice,
                &TaskQuery {
                    cursor: Some(cursor),
                    ..q.clone()
                },
                t(0),
            )
            .await
            .unwrap();
        let got: Vec<(i64, f64)> = page.items.iter().map(|r| (r.item.id.0, r.rank)).collect();
        assert_eq!(got, vec![(1, 1.0)]);
        assert_eq!(page.next_cursor, None);
        // A keyset cursor does not fit a search, nor an offset a sorted listing.
        let bad = TaskQuery {
            cursor: Some(Cursor::After {
                v: SortValue::Int(1),
                id: 1,
            }),
            ..q
        };
        assert!(
            matches!(s.list(&alice, &bad, t(0)).await, Err(RepoError::Invalid(e)) if e.code == ErrorCode::InvalidCursor)
        );
        let bad = TaskQuery {
            cursor: Some(Cursor::Offset { o: 1 }),
            ..Default::default()
        };
        assert!(s.list(&alice, &bad, t(0)).await.is_err());
        let bad = TaskQuery {
            sort: SortKey::Title,
            cursor: Some(Cursor::After {
                v: SortValue::Int(1),
                id: 1,
            }),
            ..Default::default()
        };
        assert!(s.list(&alice, &bad, t(0)).await.is_err());
    }

    #[tokio::test]
    async fn recent_and_recent_duplicate() {
        let s = MemoryStore::new();
        let alice = user("alice");
        seed(
            &s,
            &alice,
            &[
                ("a", Priority::Low, None, 0),
                ("b", Priority::Low, None, 1),
                ("a", Priority::Low, None, 2),
            ],
        )
        .await;
        s.update(
            &alice,
            TaskId(2),
            Box::new(|t| Ok(change::complete(t, t0()))),
            &ctx(t(3)),
        )
        .await
        .unwrap();
        let ids = |v: Vec<Task>| v.into_iter().map(|t| t.id.0).collect::<Vec<_>>();
        assert_eq!(
            ids(s.recent(&alice, false, 10).await.unwrap()),
            vec![3, 2, 1]
        );
        assert_eq!(ids(s.recent(&alice, true, 1).await.unwrap()), vec![3]);
        assert!(s.recent(&user("bob"), false, 10).await.unwrap().is_empty());
        let dup = s
            .find_recent_duplicate(&alice, "a", None, t(1))
            .await
            .unwrap();
        assert_eq!(dup.map(|t| t.id.0), Some(3));
        assert_eq!(
            s.find_recent_duplicate(&alice, "a", None, t(3))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.find_recent_duplicate(&alice, "a", Some("FREQ=DAILY"), t(0))
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            s.find_recent_duplicate(&user("bob"), "a", None, t(0))
                .await
                .unwrap(),
            None
        );
    }

    fn due_event(task: &Task) -> OutgoingEvent {
        OutgoingEvent {
            topic: Topic::TaskReminders,
            user_id: task.user_id.clone(),
            event: CloudEvent::new(
                crate::domain::event::REMINDER_DUE,
                task.id,
                t(90),
                serde_json::json!({}),
                None,
            ),
        }
    }

    #[tokio::test]
    async fn firing_is_conditional_and_idempotent() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let task = s
            .create(draft(&alice, with_reminders("a"), t(0)), &ctx(t(0)))
            .await
            .unwrap();
        let r = task.reminders[0].clone();
        assert_eq!(r.remind_at, t(90));
        let pending = s.pending_reminders(ReminderId(0), 10).await.unwrap();
        assert_eq!(
            pending.iter().map(|r| r.id.0).collect::<Vec<_>>(),
            vec![1, 2]
        );
        assert_eq!(
            s.pending_reminders(ReminderId(1), 10).await.unwrap().len(),
            1
        );
        assert_eq!(
            s.pending_reminders(ReminderId(0), 1).await.unwrap().len(),
            1
        );

        // Moved meanwhile: refused, nothing written.
        assert!(
            !s.fire_reminder(r.id, t(80), t(90), false, due_event(&task))
                .await
                .unwrap()
        );
        assert!(
            !s.fire_reminder(ReminderId(99), t(90), t(90), false, due_event(&task))
                .await
                .unwrap()
        );
        assert_eq!(s.backlog().await.unwrap(), 1);

        assert!(
            s.fire_reminder(r.id, t(90), t(92), true, due_event(&task))
                .await
                .unwrap()
        );
        assert!(
            !s.fire_reminder(r.id, t(90), t(93), false, due_event(&task))
                .await
                .unwrap()
        );
        assert_eq!(s.backlog().await.unwrap(), 2);
        assert_eq!(s.unpublished()[1].topic, Topic::TaskReminders);
        let (fired, owner) = s.reminder(r.id).await.unwrap().unwrap();
        assert_eq!(owner.id, task.id);
        assert_eq!(
            (fired.fired_at, fired.late, fired.status),
            (Some(t(92)), true, ReminderStatus::Scheduled)
        );
        assert_eq!(
            s.pending_reminders(ReminderId(0), 10).await.unwrap().len(),
            1
        );

        s.finish_reminder(r.id, ReminderStatus::Sent, &ctx(t(93)))
            .await
            .unwrap();
        let (done, _) = s.reminder(r.id).await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.delivered_at),
            (ReminderStatus::Sent, Some(t(93)))
        );
        assert_eq!(s.backlog().await.unwrap(), 3, "task.updated recorded");
        // Gone with its task, or finished already: nothing to do, not an error.
        s.finish_reminder(ReminderId(99), ReminderStatus::Sent, &ctx(t(93)))
            .await
            .unwrap();
        s.finish_reminder(r.id, ReminderStatus::Sent, &ctx(t(94)))
            .await
            .unwrap();
        assert_eq!(s.backlog().await.unwrap(), 3);
    }
}
