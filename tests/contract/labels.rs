//! LabelRepository: categories and tags per user, unique names, caps, counts, and what deleting a
//! label does to the tasks that use it.

use tickler::domain::change;
use tickler::domain::label::{Color, Label, LabelKind, LabelName};
use tickler::domain::task::Patch;
use tickler::domain::{TagId, UserId};
use tickler::ports::RepoError;

use super::Stores;
use super::support::*;

macro_rules! label_repository_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            labels,
            labels,
            [
                create_get_and_list_oldest_first,
                names_are_unique_per_user_and_kind_case_sensitively,
                each_kind_is_capped_per_user,
                update_renames_and_recolours,
                task_counts_include_completed_tasks,
                deleting_a_label_unlinks_its_tasks,
                labels_are_private_to_their_user,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use label_repository_tests;

fn name(kind: LabelKind, raw: &str) -> LabelName {
    LabelName::parse(kind, raw).unwrap()
}

fn color(raw: &str) -> Color {
    Color::parse(raw).unwrap()
}

async fn make(
    s: &Stores,
    user: &UserId,
    kind: LabelKind,
    raw: &str,
    minutes: i64,
) -> Result<Label, RepoError> {
    s.labels
        .create(user, kind, name(kind, raw), None, at(minutes))
        .await
}

pub async fn create_get_and_list_oldest_first(s: Stores) {
    let alice = uid("alice");
    let work = s
        .labels
        .create(
            &alice,
            LabelKind::Category,
            name(LabelKind::Category, "Work"),
            Some(color("#3B82F6")),
            at(5),
        )
        .await
        .unwrap();
    assert!(work.id > 0);
    assert_eq!(work.kind, LabelKind::Category);
    assert_eq!(work.user_id, alice);
    assert_eq!(work.name.as_str(), "Work");
    assert_eq!(work.color, Some(color("#3B82F6")));
    assert_eq!(work.task_count, 0);
    assert_eq!(work.created_at, at(5));
    assert_eq!(
        s.labels
            .get(&alice, LabelKind::Category, work.id)
            .await
            .unwrap(),
        Some(work.clone())
    );
    let home = make(&s, &alice, LabelKind::Category, "Home", 1)
        .await
        .unwrap();
    let errands = make(&s, &alice, LabelKind::Category, "Errands", 5)
        .await
        .unwrap();
    let tag = make(&s, &alice, LabelKind::Tag, "urgent", 0).await.unwrap();
    let cats = s.labels.list(&alice, LabelKind::Category).await.unwrap();
    let names: Vec<&str> = cats.iter().map(|l| l.name.as_str()).collect();
    // Oldest first; equal instants in creation order.
    assert_eq!(names, vec!["Home", "Work", "Errands"]);
    assert_eq!(cats[1], work);
    assert_eq!(cats[0], home);
    assert_eq!(cats[2], errands);
    let tags = s.labels.list(&alice, LabelKind::Tag).await.unwrap();
    assert_eq!(tags, vec![tag.clone()]);
    // Kinds may number their ids separately: the same number may name a category too, but
    // asking for a category never returns the tag.
    let as_category = s
        .labels
        .get(&alice, LabelKind::Category, tag.id)
        .await
        .unwrap();
    assert!(
        as_category
            .as_ref()
            .is_none_or(|l| l.kind == LabelKind::Category && l.name.as_str() != "urgent"),
        "a tag is not a category: {as_category:?}"
    );
    assert_eq!(
        s.labels.get(&alice, LabelKind::Tag, tag.id).await.unwrap(),
        Some(tag.clone())
    );
    assert_eq!(
        s.labels.get(&alice, LabelKind::Tag, 987_654).await.unwrap(),
        None
    );
}

pub async fn names_are_unique_per_user_and_kind_case_sensitively(s: Stores) {
    let alice = uid("alice");
    let bob = uid("bob");
    make(&s, &alice, LabelKind::Category, "Work", 0)
        .await
        .unwrap();
    let dup = make(&s, &alice, LabelKind::Category, "Work", 1).await;
    assert!(matches!(dup, Err(RepoError::Duplicate)), "{dup:?}");
    make(&s, &alice, LabelKind::Category, "work", 1)
        .await
        .unwrap();
    make(&s, &alice, LabelKind::Tag, "Work", 1).await.unwrap();
    make(&s, &bob, LabelKind::Category, "Work", 1)
        .await
        .unwrap();
    let dup = make(&s, &alice, LabelKind::Tag, "Work", 2).await;
    assert!(matches!(dup, Err(RepoError::Duplicate)), "{dup:?}");
    assert_eq!(
        s.labels
            .list(&alice, LabelKind::Category)
            .await
            .unwrap()
            .len(),
        2
    );
}

pub async fn each_kind_is_capped_per_user(s: Stores) {
    let alice = uid("alice");
    for kind in [LabelKind::Category, LabelKind::Tag] {
        for i in 0..kind.max_per_user() {
            make(&s, &alice, kind, &format!("l{i}"), 0).await.unwrap();
        }
        let over = make(&s, &alice, kind, "one too many", 0).await;
        assert!(
            matches!(over, Err(RepoError::LimitExceeded)),
            "{kind:?}: {over:?}"
        );
        assert_eq!(
            s.labels.list(&alice, kind).await.unwrap().len(),
            kind.max_per_user()
        );
    }
    // Per user: someone else is not affected.
    make(&s, &uid("bob"), LabelKind::Category, "mine", 0)
        .await
        .unwrap();
    // Deleting one makes room again.
    let first = s.labels.list(&alice, LabelKind::Category).await.unwrap()[0].id;
    s.labels
        .delete(&alice, LabelKind::Category, first)
        .await
        .unwrap();
    make(&s, &alice, LabelKind::Category, "room again", 0)
        .await
        .unwrap();
}

pub async fn update_renames_and_recolours(s: Stores) {
    let alice = uid("alice");
    let cat = LabelKind::Category;
    let work = s
        .labels
        .create(
            &alice,
            cat,
            name(cat, "Work"),
            Some(color("#111111")),
            base(),
        )
        .await
        .unwrap();
    make(&s, &alice, cat, "Home", 0).await.unwrap();

    let renamed = s
        .labels
        .update(&alice, cat, work.id, Some(name(cat, "Office")), Patch::Keep)
        .await
        .unwrap();
    assert_eq!(renamed.name.as_str(), "Office");
    assert_eq!(
        renamed.color,
        Some(color("#111111")),
        "Keep keeps the colour"
    );
    assert_eq!(renamed.created_at, work.created_at);
    let recoloured = s
        .labels
        .update(&alice, cat, work.id, None, Patch::Set(color("#abcdef")))
        .await
        .unwrap();
    assert_eq!(recoloured.name.as_str(), "Office");
    assert_eq!(recoloured.color, Some(color("#abcdef")));
    let cleared = s
        .labels
        .update(&alice, cat, work.id, None, Patch::Clear)
        .await
        .unwrap();
    assert_eq!(cleared.color, None);
    assert_eq!(
        s.labels.get(&alice, cat, work.id).await.unwrap(),
        Some(cleared)
    );

    let clash = s
        .labels
        .update(&alice, cat, work.id, Some(name(cat, "Home")), Patch::Keep)
        .await;
    assert!(matches!(clash, Err(RepoError::Duplicate)), "{clash:?}");
    let same = s
        .labels
        .update(&alice, cat, work.id, Some(name(cat, "Office")), Patch::Keep)
        .await;
    assert!(same.is_ok(), "renaming to its own name is fine: {same:?}");
    let not_mine = s
        .labels
        .update(
            &uid("bob"),
            cat,
            work.id,
            Some(name(cat, "Bob's")),
            Patch::Keep,
        )
        .await;
    assert!(matches!(not_mine, Err(RepoError::NotFound)), "{not_mine:?}");
    let wrong_kind = s
        .labels
        .update(&alice, LabelKind::Tag, work.id, None, Patch::Clear)
        .await;
    assert!(
        matches!(wrong_kind, Err(RepoError::NotFound)),
        "{wrong_kind:?}"
    );
    let got = s.labels.get(&alice, cat, work.id).await.unwrap().unwrap();
    assert_eq!(got.name.as_str(), "Office");
}

pub async fn task_counts_include_completed_tasks(s: Stores) {
    let alice = uid("alice");
    let work = category(&s, &alice, "Work").await;
    let idle = category(&s, &alice, "Idle").await;
    let t1 = tag(&s, &alice, "t1").await;
    let t2 = tag(&s, &alice, "t2").await;
    for (title, cat, tags, done) in [
        ("a", Some(work), vec![t1, t2], false),
        ("b", Some(work), vec![t1], true),
        ("c", None, vec![t1], false),
    ] {
        let mut new = new_task(title);
        new.category_id = cat;
        new.tag_ids = tags;
        let task = create(&s, &alice, new, base()).await;
        if done {
            s.tasks
                .update(
                    &alice,
                    task.id,
                    mutator(|t| change::complete(t, at(1))),
                    &ctx(at(1)),
                )
                .await
                .unwrap();
        }
    }
    let count = |labels: &[Label], id: i64| labels.iter().find(|l| l.id == id).unwrap().task_count;
    let cats = s.labels.list(&alice, LabelKind::Category).await.unwrap();
    assert_eq!(count(&cats, work.0), 2);
    assert_eq!(count(&cats, idle.0), 0);
    let tags = s.labels.list(&alice, LabelKind::Tag).await.unwrap();
    assert_eq!(count(&tags, t1.0), 3);
    assert_eq!(count(&tags, t2.0), 1);
    let got = s
        .labels
        .get(&alice, LabelKind::Tag, t1.0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.task_count, 3);
}

pub async fn deleting_a_label_unlinks_its_tasks(s: Stores) {
    let alice = uid("alice");
    let work = category(&s, &alice, "Work").await;
    let keep = category(&s, &alice, "Keep").await;
    let t1 = tag(&s, &alice, "t1").await;
    let t2 = tag(&s, &alice, "t2").await;
    let t3 = tag(&s, &alice, "t3").await;
    let mut a = new_task("a");
    a.category_id = Some(work);
    a.tag_ids = vec![t1, t2, t3];
    let a = create(&s, &alice, a, base()).await;
    let mut b = new_task("b");
    b.category_id = Some(work);
    let b = create(&s, &alice, b, base()).await;
    let mut c = new_task("c");
    c.category_id = Some(keep);
    c.tag_ids = vec![t3];
    let c = create(&s, &alice, c, base()).await;

    let (label, affected) = s
        .labels
        .delete(&alice, LabelKind::Category, work.0)
        .await
        .unwrap();
    assert_eq!(label.name.as_str(), "Work");
    assert_eq!(affected, 2);
    assert_eq!(
        s.tasks
            .get(&alice, a.id)
            .await
            .unwrap()
            .unwrap()
            .category_id,
        None
    );
    assert_eq!(
        s.tasks
            .get(&alice, b.id)
            .await
            .unwrap()
            .unwrap()
            .category_id,
        None
    );
    assert_eq!(
        s.tasks
            .get(&alice, c.id)
            .await
            .unwrap()
            .unwrap()
            .category_id,
        Some(keep)
    );
    assert_eq!(
        s.labels
            .get(&alice, LabelKind::Category, work.0)
            .await
            .unwrap(),
        None
    );

    let (label, affected) = s.labels.delete(&alice, LabelKind::Tag, t2.0).await.unwrap();
    assert_eq!((label.name.as_str(), affected), ("t2", 1));
    let a_now = s.tasks.get(&alice, a.id).await.unwrap().unwrap();
    assert_eq!(a_now.tag_ids, vec![t1, t3], "the others stay, in order");
    assert_eq!(
        s.tasks.get(&alice, c.id).await.unwrap().unwrap().tag_ids,
        vec![t3]
    );
    let (_, unused) = s
        .labels
        .delete(&alice, LabelKind::Category, keep.0)
        .await
        .unwrap();
    assert_eq!(unused, 1);

    let again = s.labels.delete(&alice, LabelKind::Tag, t2.0).await;
    assert!(matches!(again, Err(RepoError::NotFound)), "{again:?}");
    let wrong_kind = s.labels.delete(&alice, LabelKind::Category, t1.0).await;
    assert!(
        matches!(wrong_kind, Err(RepoError::NotFound)),
        "{wrong_kind:?}"
    );
    let not_mine = s.labels.delete(&uid("bob"), LabelKind::Tag, t1.0).await;
    assert!(matches!(not_mine, Err(RepoError::NotFound)), "{not_mine:?}");
    assert!(
        s.labels
            .get(&alice, LabelKind::Tag, t1.0)
            .await
            .unwrap()
            .is_some()
    );
    // A deleted label can no longer be referenced.
    let mut d = new_task("d");
    d.tag_ids = vec![t2];
    let r = s.tasks.create(draft(&alice, d, base()), &ctx(base())).await;
    assert!(
        matches!(r, Err(RepoError::TagNotFound(TagId(id))) if id == t2.0),
        "{r:?}"
    );
}

pub async fn labels_are_private_to_their_user(s: Stores) {
    let alice = uid("alice");
    let bob = uid("bob");
    let mine = make(&s, &alice, LabelKind::Tag, "secret", 0).await.unwrap();
    assert!(
        s.labels
            .list(&bob, LabelKind::Tag)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.labels.get(&bob, LabelKind::Tag, mine.id).await.unwrap(),
        None
    );
    let theirs = make(&s, &bob, LabelKind::Tag, "secret", 0).await.unwrap();
    assert_ne!(theirs.id, mine.id);
    assert_eq!(
        s.labels.list(&alice, LabelKind::Tag).await.unwrap(),
        vec![mine]
    );
}
