//! TaskRepository::list without search: every filter, every sort in both directions, and keyset
//! pagination. Expected results are spelled out by hand and also checked against the domain's own
//! definition (`TaskQuery::matches`, `sort_value`), so the suite and the domain cannot disagree.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use tickler::domain::change;
use tickler::domain::query::{
    Cursor, DEFAULT_LIMIT, MAX_LIMIT, SortKey, SortOrder, SortValue, StatusFilter, TaskQuery,
    sort_value,
};
use tickler::domain::task::{Priority, Task};
use tickler::domain::{CategoryId, ErrorCode, TagId, TaskId, UserId};

use super::Stores;
use super::support::*;

macro_rules! task_list_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            task_list,
            task_list,
            [
                each_filter_selects_exactly_the_matching_tasks,
                each_sort_orders_both_ways_with_missing_due_dates_last,
                default_order_depends_on_the_sort_key,
                pages_visit_every_task_exactly_once_despite_ties,
                pagination_is_stable_when_tasks_are_added,
                limit_defaults_and_caps,
                cursors_of_the_wrong_kind_are_refused,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use task_list_tests;

/// title, priority, due (minutes), category, tags, completed, created (minutes).
type Row = (
    &'static str,
    Priority,
    Option<i64>,
    Option<CategoryId>,
    Vec<TagId>,
    bool,
    i64,
);

struct Fixture {
    alice: UserId,
    /// Task ids by the row number of the table below.
    ids: Vec<TaskId>,
    c1: CategoryId,
    t1: TagId,
    t2: TagId,
    t3: TagId,
}

/// | # | title   | priority | due  | category | tags   | done | created |
/// |---|---------|----------|------|----------|--------|------|---------|
/// | 0 | alpha   | low      | +60  | c1       | t1     |      | +0      |
/// | 1 | Bravo   | high     | -60  |          | t2     |      | +0      |
/// | 2 | charlie | urgent   |      | c1       |        |      | +1      |
/// | 3 | delta   | medium   | +120 | c2       | t1, t2 | yes  | +1      |
/// | 4 | Echo    | high     | -30  |          |        | yes  | +2      |
/// | 5 | Éclair  | medium   | +60  |          | t3     |      | +2      |
/// | 6 | écho    | low      |      | c2       | t3     |      | +3      |
/// | 7 | alpha   | urgent   | +240 |          |        |      | +3      |
///
/// (minutes from `base()`). Bob owns look-alike tasks that must never show up. "Éclair" and
/// "écho" order differently under Unicode lower-casing (`str::to_lowercase`, what `sort_value`
/// uses: "écho" < "éclair") than under ASCII-only folding like SQLite's `lower()` ("Éclair" <
/// "écho"), so the title sort tells the two apart.
async fn fixture(s: &Stores) -> Fixture {
    let alice = uid("alice");
    let c1 = category(s, &alice, "c1").await;
    let c2 = category(s, &alice, "c2").await;
    let t1 = tag(s, &alice, "t1").await;
    let t2 = tag(s, &alice, "t2").await;
    let t3 = tag(s, &alice, "t3").await;
    use Priority::*;
    let rows: [Row; 8] = [
        ("alpha", Low, Some(60), Some(c1), vec![t1], false, 0),
        ("Bravo", High, Some(-60), None, vec![t2], false, 0),
        ("charlie", Urgent, None, Some(c1), vec![], false, 1),
        ("delta", Medium, Some(120), Some(c2), vec![t1, t2], true, 1),
        ("Echo", High, Some(-30), None, vec![], true, 2),
        ("Éclair", Medium, Some(60), None, vec![t3], false, 2),
        ("écho", Low, None, Some(c2), vec![t3], false, 3),
        ("alpha", Urgent, Some(240), None, vec![], false, 3),
    ];
    let mut ids = Vec::new();
    for (title, priority, due, cat, tags, done, created) in rows {
        let mut new = new_task(title);
        new.priority = priority;
        new.due_date = due.map(at);
        new.category_id = cat;
        new.tag_ids = tags;
        let task = create(s, &alice, new, at(created)).await;
        if done {
            s.tasks
                .update(
                    &alice,
                    task.id,
                    mutator(|t| change::complete(t, at(5))),
                    &ctx(at(5)),
                )
                .await
                .unwrap();
        }
        ids.push(task.id);
    }
    let bob = uid("bob");
    let mut b = new_task("alpha");
    b.priority = Urgent;
    b.due_date = Some(at(-60));
    create(s, &bob, b, base()).await;
    create(s, &bob, new_task("zulu"), at(3)).await;
    Fixture {
        alice,
        ids,
        c1,
        t1,
        t2,
        t3,
    }
}

fn query(f: impl FnOnce(&mut TaskQuery)) -> TaskQuery {
    let mut q = TaskQuery {
        sort: SortKey::CreatedAt,
        order: Some(SortOrder::Asc),
        limit: MAX_LIMIT,
        ..TaskQuery::default()
    };
    f(&mut q);
    q
}

async fn all_tasks(s: &Stores, user: &UserId) -> Vec<Task> {
    let page = s.tasks.list(user, &query(|_| {}), base()).await.unwrap();
    assert!(page.next_cursor.is_none());
    page.items.into_iter().map(|r| r.item).collect()
}

/// The domain's answer: filter with `matches`, order by (`sort_value`, id).
fn oracle(tasks: &[Task], q: &TaskQuery, now: DateTime<Utc>) -> Vec<TaskId> {
    let order = q.effective_order();
    let mut v: Vec<&Task> = tasks.iter().filter(|t| q.matches(t, now)).collect();
    v.sort_by(|a, b| {
        let ka = (sort_value(a, q.sort, order), a.id);
        let kb = (sort_value(b, q.sort, order), b.id);
        match order {
            SortOrder::Asc => ka.cmp(&kb),
            SortOrder::Desc => kb.cmp(&ka),
        }
    });
    v.into_iter().map(|t| t.id).collect()
}

pub async fn each_filter_selects_exactly_the_matching_tasks(s: Stores) {
    let f = fixture(&s).await;
    let everything = all_tasks(&s, &f.alice).await;
    assert_eq!(everything.len(), 8, "bob's tasks are not alice's");
    let (c1, t1, t2, t3) = (f.c1, f.t1, f.t2, f.t3);
    let three_hours = at(180);
    let cases: Vec<(&str, TaskQuery, DateTime<Utc>, Vec<usize>)> = vec![
        ("all", query(|_| {}), base(), vec![0, 1, 2, 3, 4, 5, 6, 7]),
        (
            "pending",
            query(|q| q.status = StatusFilter::Pending),
            base(),
            vec![0, 1, 2, 5, 6, 7],
        ),
        (
            "completed",
            query(|q| q.status = StatusFilter::Completed),
            base(),
            vec![3, 4],
        ),
        (
            "priority high",
            query(|q| q.priority = Some(Priority::High)),
            base(),
            vec![1, 4],
        ),
        (
            "category c1",
            query(|q| q.category_id = Some(c1)),
            base(),
            vec![0, 2],
        ),
        (
            "tag t1",
            query(|q| q.tag_ids = vec![t1]),
            base(),
            vec![0, 3],
        ),
        (
            "tag t2",
            query(|q| q.tag_ids = vec![t2]),
            base(),
            vec![1, 3],
        ),
        (
            "any of t1, t3",
            query(|q| q.tag_ids = vec![t1, t3]),
            base(),
            vec![0, 3, 5, 6],
        ),
        // Strict bounds; tasks due exactly at the bound and tasks without a due date drop out.
        (
            "due before +60",
            query(|q| q.due_before = Some(at(60))),
            base(),
            vec![1, 4],
        ),
        (
            "due after +60",
            query(|q| q.due_after = Some(at(60))),
            base(),
            vec![3, 7],
        ),
        (
            "due between -60 and +120",
            query(|q| {
                q.due_after = Some(at(-60));
                q.due_before = Some(at(120));
            }),
            base(),
            vec![0, 4, 5],
        ),
        ("overdue now", query(|q| q.overdue = true), base(), vec![1]),
        (
            "overdue in three hours",
            query(|q| q.overdue = true),
            three_hours,
            vec![0, 1, 5],
        ),
        (
            "pending with t3",
            query(|q| {
                q.status = StatusFilter::Pending;
                q.tag_ids = vec![t3];
            }),
            base(),
            vec![5, 6],
        ),
        (
            "completed and high",
            query(|q| {
                q.status = StatusFilter::Completed;
                q.priority = Some(Priority::High);
            }),
            base(),
            vec![4],
        ),
        (
            "unknown tag",
            query(|q| q.tag_ids = vec![TagId(999_999)]),
            base(),
            vec![],
        ),
    ];
    for (name, q, now, rows) in cases {
        let expected: Vec<TaskId> = rows.iter().map(|&i| f.ids[i]).collect();
        assert_eq!(
            oracle(&everything, &q, now),
            expected,
            "suite vs domain: {name}"
        );
        let page = s.tasks.list(&f.alice, &q, now).await.unwrap();
        assert_eq!(ids(&page), expected, "filter {name}");
        assert!(page.next_cursor.is_none(), "{name}");
        assert!(
            page.items.iter().all(|r| r.rank == 0.0),
            "no rank without search"
        );
    }
}

pub async fn each_sort_orders_both_ways_with_missing_due_dates_last(s: Stores) {
    let f = fixture(&s).await;
    let everything = all_tasks(&s, &f.alice).await;
    use SortKey::*;
    use SortOrder::*;
    let cases = [
        (CreatedAt, Asc, vec![0, 1, 2, 3, 4, 5, 6, 7]),
        (CreatedAt, Desc, vec![7, 6, 5, 4, 3, 2, 1, 0]),
        (DueDate, Asc, vec![1, 4, 0, 5, 3, 7, 2, 6]),
        (DueDate, Desc, vec![7, 3, 5, 0, 4, 1, 6, 2]),
        // Importance: urgent first when descending.
        (Priority, Desc, vec![7, 2, 4, 1, 5, 3, 6, 0]),
        (Priority, Asc, vec![0, 6, 3, 5, 1, 4, 2, 7]),
        // Case-insensitive, Unicode-aware: "alpha" twice (id breaks the tie), then by code point,
        // so the accented titles come last and "écho" precedes "Éclair".
        (Title, Asc, vec![0, 7, 1, 2, 3, 4, 6, 5]),
        (Title, Desc, vec![5, 6, 4, 3, 2, 1, 7, 0]),
    ];
    for (key, order, rows) in cases {
        let q = query(|q| {
            q.sort = key;
            q.order = Some(order);
        });
        let expected: Vec<TaskId> = rows.iter().map(|&i| f.ids[i]).collect();
        assert_eq!(
            oracle(&everything, &q, base()),
            expected,
            "suite vs domain: {key:?} {order:?}"
        );
        let page = s.tasks.list(&f.alice, &q, base()).await.unwrap();
        assert_eq!(ids(&page), expected, "sort {key:?} {order:?}");
    }
}

pub async fn default_order_depends_on_the_sort_key(s: Stores) {
    let f = fixture(&s).await;
    for key in [
        SortKey::CreatedAt,
        SortKey::DueDate,
        SortKey::Priority,
        SortKey::Title,
    ] {
        let implicit = query(|q| {
            q.sort = key;
            q.order = None;
        });
        let explicit = query(|q| {
            q.sort = key;
            q.order = Some(key.default_order());
        });
        assert_eq!(
            ids(&list(&s, &f.alice, &implicit).await),
            ids(&list(&s, &f.alice, &explicit).await),
            "{key:?}"
        );
    }
    let newest_first = list(&s, &f.alice, &TaskQuery::default()).await;
    assert_eq!(ids(&newest_first)[0], f.ids[7]);
}

/// 23 tasks with many equal sort values (same creation instant, four spellings of one title,
/// repeated priorities and due dates, missing due dates), walked with several page sizes.
pub async fn pages_visit_every_task_exactly_once_despite_ties(s: Stores) {
    let alice = uid("alice");
    let titles = ["Task", "task", "TASK", "tAsk", "Zeta"];
    for i in 0..23_usize {
        let mut new = new_task(titles[i % 5]);
        new.priority = Priority::ALL[i % 4];
        new.due_date = match i % 3 {
            0 => Some(at(60)),
            1 => None,
            _ => Some(at(-10)),
        };
        let created = if i < 12 { base() } else { at(1) };
        let task = create(&s, &alice, new, created).await;
        if i % 7 == 0 {
            s.tasks
                .update(
                    &alice,
                    task.id,
                    mutator(|t| change::complete(t, at(2))),
                    &ctx(at(2)),
                )
                .await
                .unwrap();
        }
    }
    create(&s, &uid("bob"), new_task("task"), base()).await;
    let everything = all_tasks(&s, &alice).await;
    for key in [
        SortKey::CreatedAt,
        SortKey::DueDate,
        SortKey::Priority,
        SortKey::Title,
    ] {
        for order in [SortOrder::Asc, SortOrder::Desc] {
            for status in [StatusFilter::All, StatusFilter::Pending] {
                let full_q = query(|q| {
                    q.sort = key;
                    q.order = Some(order);
                    q.status = status;
                });
                let full = ids(&list(&s, &alice, &full_q).await);
                assert_eq!(
                    full,
                    oracle(&everything, &full_q, base()),
                    "{key:?} {order:?}"
                );
                for limit in [1_u32, 4, 5] {
                    let what = format!("{key:?} {order:?} {status:?} limit {limit}");
                    let mut seen = Vec::new();
                    let mut cursor = None;
                    let mut pages = 0;
                    loop {
                        let q = TaskQuery {
                            limit,
                            cursor: cursor.take(),
                            ..full_q.clone()
                        };
                        let page = list(&s, &alice, &q).await;
                        pages += 1;
                        assert!(pages <= 30, "{what}: runaway pagination");
                        seen.extend(ids(&page));
                        match page.next_cursor {
                            Some(c) => {
                                assert_eq!(page.items.len(), limit as usize, "{what}: full page");
                                cursor = Some(Cursor::decode(&c).unwrap());
                            }
                            None => break,
                        }
                    }
                    assert_eq!(seen, full, "{what}: pages concatenate to the full list");
                    let distinct: HashSet<_> = seen.iter().collect();
                    assert_eq!(distinct.len(), seen.len(), "{what}: no task twice");
                    assert_eq!(
                        pages,
                        full.len().div_ceil(limit as usize).max(1),
                        "{what}: no empty trailing page"
                    );
                }
            }
        }
    }
}

pub async fn pagination_is_stable_when_tasks_are_added(s: Stores) {
    let alice = uid("alice");
    let mut original = Vec::new();
    for i in 0..7 {
        original.push(
            create(&s, &alice, new_task(&format!("t{i}")), at(i))
                .await
                .id,
        );
    }
    let q = |cursor| TaskQuery {
        limit: 3,
        cursor,
        ..TaskQuery::default()
    };
    let first = list(&s, &alice, &q(None)).await;
    // A newer task appears between two page requests: it sorts before the cursor.
    let newcomer = create(&s, &alice, new_task("new"), at(100)).await.id;
    let mut seen = ids(&first);
    let mut cursor = first.next_cursor;
    while let Some(c) = cursor {
        let page = list(&s, &alice, &q(Some(Cursor::decode(&c).unwrap()))).await;
        seen.extend(ids(&page));
        cursor = page.next_cursor;
    }
    let mut expected = original.clone();
    expected.reverse();
    assert_eq!(seen, expected, "each original task once, newest first");
    assert!(!seen.contains(&newcomer));
}

pub async fn limit_defaults_and_caps(s: Stores) {
    let alice = uid("alice");
    for i in 0..(MAX_LIMIT + 1) {
        create(&s, &alice, new_task(&format!("task {i:03}")), base()).await;
    }
    let default = list(&s, &alice, &TaskQuery::default()).await;
    assert_eq!(default.items.len(), DEFAULT_LIMIT as usize);
    assert!(default.next_cursor.is_some());
    let capped = list(
        &s,
        &alice,
        &TaskQuery {
            limit: 1000,
            ..TaskQuery::default()
        },
    )
    .await;
    assert_eq!(capped.items.len(), MAX_LIMIT as usize);
    let rest = list(
        &s,
        &alice,
        &TaskQuery {
            limit: 1000,
            cursor: Some(Cursor::decode(capped.next_cursor.as_deref().unwrap()).unwrap()),
            ..TaskQuery::default()
        },
    )
    .await;
    assert_eq!(rest.items.len(), 1);
    assert_eq!(rest.next_cursor, None);
}

pub async fn cursors_of_the_wrong_kind_are_refused(s: Stores) {
    let f = fixture(&s).await;
    let offset = query(|q| q.cursor = Some(Cursor::Offset { o: 2 }));
    assert_eq!(
        invalid_code(s.tasks.list(&f.alice, &offset, base()).await),
        ErrorCode::InvalidCursor
    );
    let text_for_number = query(|q| {
        q.sort = SortKey::CreatedAt;
        q.cursor = Some(Cursor::After {
            v: SortValue::Text("x".into()),
            id: 1,
        });
    });
    assert_eq!(
        invalid_code(s.tasks.list(&f.alice, &text_for_number, base()).await),
        ErrorCode::InvalidCursor
    );
    let number_for_text = query(|q| {
        q.sort = SortKey::Title;
        q.cursor = Some(Cursor::After {
            v: SortValue::Int(5),
            id: 1,
        });
    });
    assert_eq!(
        invalid_code(s.tasks.list(&f.alice, &number_for_text, base()).await),
        ErrorCode::InvalidCursor
    );
}
