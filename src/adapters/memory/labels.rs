//! `LabelRepository` for `MemoryStore`: categories and tags, numbered per kind from 1. Task counts
//! are computed from the tasks, never stored.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{Data, MemoryStore};
use crate::domain::UserId;
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::task::{Patch, Task};
use crate::ports::{LabelRepository, RepoError};

pub(super) struct StoredLabel {
    id: i64,
    kind: LabelKind,
    user_id: UserId,
    name: LabelName,
    color: Option<Color>,
    created_at: DateTime<Utc>,
}

fn uses(task: &Task, kind: LabelKind, id: i64) -> bool {
    match kind {
        LabelKind::Category => task.category_id.is_some_and(|c| c.0 == id),
        LabelKind::Tag => task.tag_ids.iter().any(|t| t.0 == id),
    }
}

impl Data {
    pub(super) fn owns_label(&self, user: &UserId, kind: LabelKind, id: i64) -> bool {
        self.label_of(user, kind, id).is_some()
    }

    fn label_of(&self, user: &UserId, kind: LabelKind, id: i64) -> Option<&StoredLabel> {
        self.labels.get(&(kind, id)).filter(|l| &l.user_id == user)
    }

    fn view(&self, l: &StoredLabel) -> Label {
        let task_count = self
            .tasks
            .values()
            .filter(|t| t.user_id == l.user_id && uses(t, l.kind, l.id))
            .count() as i64;
        Label {
            id: l.id,
            kind: l.kind,
            user_id: l.user_id.clone(),
            name: l.name.clone(),
            color: l.color.clone(),
            task_count,
            created_at: l.created_at,
        }
    }

    /// Whether another of the user's labels of this kind already has `name` (case-sensitive).
    fn name_taken(&self, user: &UserId, kind: LabelKind, name: &LabelName, except: i64) -> bool {
        self.labels
            .values()
            .any(|l| l.kind == kind && &l.user_id == user && l.id != except && &l.name == name)
    }
}

#[async_trait]
impl LabelRepository for MemoryStore {
    async fn create(
        &self,
        user: &UserId,
        kind: LabelKind,
        name: LabelName,
        color: Option<Color>,
        now: DateTime<Utc>,
    ) -> Result<Label, RepoError> {
        let mut data = self.lock();
        let owned = data
            .labels
            .values()
            .filter(|l| l.kind == kind && &l.user_id == user)
            .count();
        if owned >= kind.max_per_user() {
            return Err(RepoError::LimitExceeded);
        }
        if data.name_taken(user, kind, &name, 0) {
            return Err(RepoError::Duplicate);
        }
        let last = data.last_label_id.entry(kind).or_insert(0);
        *last += 1;
        let label = StoredLabel {
            id: *last,
            kind,
            user_id: user.clone(),
            name,
            color,
            created_at: now,
        };
        let view = data.view(&label);
        data.labels.insert((kind, label.id), label);
        Ok(view)
    }

    async fn list(&self, user: &UserId, kind: LabelKind) -> Result<Vec<Label>, RepoError> {
        let data = self.lock();
        let mut mine: Vec<&StoredLabel> = data
            .labels
            .values()
            .filter(|l| l.kind == kind && &l.user_id == user)
            .collect();
        mine.sort_by_key(|l| (l.created_at, l.id));
        Ok(mine.into_iter().map(|l| data.view(l)).collect())
    }

    async fn get(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<Option<Label>, RepoError> {
        let data = self.lock();
        Ok(data.label_of(user, kind, id).map(|l| data.view(l)))
    }

    async fn update(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
        name: Option<LabelName>,
        color: Patch<Color>,
    ) -> Result<Label, RepoError> {
        let mut data = self.lock();
        if data.label_of(user, kind, id).is_none() {
            return Err(RepoError::NotFound);
        }
        if let Some(n) = &name
            && data.name_taken(user, kind, n, id)
        {
            return Err(RepoError::Duplicate);
        }
        let label = data.labels.get_mut(&(kind, id)).expect("checked above");
        if let Some(n) = name {
            label.name = n;
        }
        label.color = color.apply(label.color.take());
        let data = &*data;
        Ok(data.view(&data.labels[&(kind, id)]))
    }

    async fn delete(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<(Label, i64), RepoError> {
        let mut data = self.lock();
        let label = match data.label_of(user, kind, id) {
            Some(l) => data.view(l),
            None => return Err(RepoError::NotFound),
        };
        data.labels.remove(&(kind, id));
        let mut affected = 0;
        for task in data.tasks.values_mut().filter(|t| &t.user_id == user) {
            if !uses(task, kind, id) {
                continue;
            }
            affected += 1;
            match kind {
                LabelKind::Category => task.category_id = None,
                LabelKind::Tag => task.tag_ids.retain(|t| t.0 != id),
            }
        }
        Ok((label, affected))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::testutil::*;
    use crate::domain::{CategoryId, TagId};
    use crate::ports::{Outbox, RepoError, TaskRepository};

    fn name(kind: LabelKind, n: &str) -> LabelName {
        LabelName::parse(kind, n).unwrap()
    }

    async fn make(
        s: &MemoryStore,
        u: &UserId,
        kind: LabelKind,
        n: &str,
    ) -> Result<Label, RepoError> {
        LabelRepository::create(s, u, kind, name(kind, n), None, t(0)).await
    }

    #[tokio::test]
    async fn ids_per_kind_names_unique_per_user_and_kind_case_sensitive() {
        let s = MemoryStore::new();
        let (alice, bob) = (user("alice"), user("bob"));
        assert_eq!(
            make(&s, &alice, LabelKind::Category, "Work")
                .await
                .unwrap()
                .id,
            1
        );
        assert_eq!(
            make(&s, &alice, LabelKind::Tag, "Work").await.unwrap().id,
            1
        );
        assert_eq!(
            make(&s, &alice, LabelKind::Category, "work")
                .await
                .unwrap()
                .id,
            2
        );
        assert_eq!(
            make(&s, &bob, LabelKind::Category, "Work")
                .await
                .unwrap()
                .id,
            3
        );
        assert!(matches!(
            make(&s, &alice, LabelKind::Category, "Work").await,
            Err(RepoError::Duplicate)
        ));
        let listed = LabelRepository::list(&s, &alice, LabelKind::Category)
            .await
            .unwrap();
        assert_eq!(listed.iter().map(|l| l.id).collect::<Vec<_>>(), vec![1, 2]);
        assert_eq!(
            LabelRepository::get(&s, &bob, LabelKind::Category, 1)
                .await
                .unwrap(),
            None
        );
        assert_eq!(
            LabelRepository::get(&s, &alice, LabelKind::Tag, 2)
                .await
                .unwrap(),
            None
        );
    }

    #[tokio::test]
    async fn cap_per_kind() {
        let s = MemoryStore::new();
        let alice = user("alice");
        for i in 0..LabelKind::Category.max_per_user() {
            make(&s, &alice, LabelKind::Category, &format!("c{i}"))
                .await
                .unwrap();
        }
        assert!(matches!(
            make(&s, &alice, LabelKind::Category, "one more").await,
            Err(RepoError::LimitExceeded)
        ));
        make(&s, &alice, LabelKind::Tag, "still fine")
            .await
            .unwrap();
        make(&s, &user("bob"), LabelKind::Category, "c0")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn update_renames_and_recolours() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let kind = LabelKind::Tag;
        make(&s, &alice, kind, "a").await.unwrap();
        let b = make(&s, &alice, kind, "b").await.unwrap();
        let red = Color::parse("#FF0000").unwrap();
        let u = LabelRepository::update(&s, &alice, kind, b.id, None, Patch::Set(red.clone()))
            .await
            .unwrap();
        assert_eq!((u.name.as_str(), u.color.as_ref()), ("b", Some(&red)));
        // Its own name is not a duplicate; another label's is.
        LabelRepository::update(&s, &alice, kind, b.id, Some(name(kind, "b")), Patch::Keep)
            .await
            .unwrap();
        assert!(matches!(
            LabelRepository::update(&s, &alice, kind, b.id, Some(name(kind, "a")), Patch::Keep)
                .await,
            Err(RepoError::Duplicate)
        ));
        let u =
            LabelRepository::update(&s, &alice, kind, b.id, Some(name(kind, "B")), Patch::Clear)
                .await
                .unwrap();
        assert_eq!((u.name.as_str(), u.color), ("B", None));
        assert!(matches!(
            LabelRepository::update(&s, &user("bob"), kind, b.id, None, Patch::Clear).await,
            Err(RepoError::NotFound)
        ));
    }

    #[tokio::test]
    async fn counts_and_delete_detach_tasks() {
        let s = MemoryStore::new();
        let alice = user("alice");
        let cat = make(&s, &alice, LabelKind::Category, "home")
            .await
            .unwrap()
            .id;
        let tag = make(&s, &alice, LabelKind::Tag, "x").await.unwrap().id;
        let other = make(&s, &alice, LabelKind::Tag, "y").await.unwrap().id;
        for i in 0..3 {
            let mut d = draft(&alice, new_task("t"), t(0));
            if i < 2 {
                d.category_id = Some(CategoryId(cat));
            }
            d.tag_ids = if i == 0 {
                vec![TagId(tag), TagId(other)]
            } else {
                vec![TagId(other)]
            };
            TaskRepository::create(&s, d, &ctx(t(0))).await.unwrap();
        }
        let backlog = s.backlog().await.unwrap();
        let cats = LabelRepository::list(&s, &alice, LabelKind::Category)
            .await
            .unwrap();
        assert_eq!(cats[0].task_count, 2);
        let tags = LabelRepository::list(&s, &alice, LabelKind::Tag)
            .await
            .unwrap();
        assert_eq!(
            tags.iter().map(|l| l.task_count).collect::<Vec<_>>(),
            vec![1, 3]
        );

        let (gone, affected) = LabelRepository::delete(&s, &alice, LabelKind::Category, cat)
            .await
            .unwrap();
        assert_eq!((gone.id, gone.task_count, affected), (cat, 2, 2));
        let (_, affected) = LabelRepository::delete(&s, &alice, LabelKind::Tag, tag)
            .await
            .unwrap();
        assert_eq!(affected, 1);
        let t1 = TaskRepository::get(&s, &alice, crate::domain::TaskId(1))
            .await
            .unwrap()
            .unwrap();
        assert_eq!((t1.category_id, t1.tag_ids), (None, vec![TagId(other)]));
        assert_eq!(
            s.backlog().await.unwrap(),
            backlog,
            "label deletes record no task events"
        );
        assert!(matches!(
            LabelRepository::delete(&s, &alice, LabelKind::Tag, tag).await,
            Err(RepoError::NotFound)
        ));
        assert!(matches!(
            LabelRepository::delete(&s, &user("bob"), LabelKind::Tag, other).await,
            Err(RepoError::NotFound)
        ));
    }
}
