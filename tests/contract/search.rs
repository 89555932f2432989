//! TaskRepository::list with `search`: prefix matching on every term, title hits ranked above
//! description hits, filters still applied, offset paging, user isolation, and user text that
//! can never act as query syntax.

use std::collections::HashSet;

use tickler::domain::change;
use tickler::domain::query::{
    Cursor, Page, Ranked, SEARCH_CANDIDATES, SearchText, SortKey, StatusFilter, TaskQuery,
};
use tickler::domain::task::{Patch, Task, TaskPatch, Title};
use tickler::domain::{ErrorCode, TaskId, UserId};

use super::Stores;
use super::support::*;

macro_rules! task_search_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            search,
            search,
            [
                title_matches_rank_above_description_matches,
                terms_match_as_prefixes_and_all_are_required,
                search_is_scoped_to_the_user_and_applies_filters,
                search_follows_updates_and_deletes,
                search_pages_by_offset_without_repeats,
                query_syntax_in_user_text_is_treated_as_words,
                only_the_users_newest_matches_are_ranked,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use task_search_tests;

fn search(text: &str) -> TaskQuery {
    TaskQuery {
        search: Some(SearchText::parse(text).unwrap()),
        ..TaskQuery::default()
    }
}

async fn find(s: &Stores, user: &UserId, text: &str) -> Page<Ranked<Task>> {
    list(s, user, &search(text)).await
}

async fn with_description(s: &Stores, user: &UserId, title: &str, desc: &str) -> Task {
    let mut new = new_task(title);
    new.description = Some(desc.into());
    create(s, user, new, base()).await
}

pub async fn title_matches_rank_above_description_matches(s: Stores) {
    let alice = uid("alice");
    // Created first, so an id tie-break or insertion order would put it first if rank were ignored.
    let in_desc = with_description(&s, &alice, "Groceries", "remember the milk and eggs").await;
    let in_title = create(&s, &alice, new_task("Buy milk"), base()).await;
    let unrelated = with_description(&s, &alice, "Call mom", "about the party").await;

    let page = find(&s, &alice, "milk").await;
    assert_eq!(ids(&page), vec![in_title.id, in_desc.id]);
    assert!(!ids(&page).contains(&unrelated.id));
    assert!(page.next_cursor.is_none());
    let (title_rank, desc_rank) = (page.items[0].rank, page.items[1].rank);
    assert!(desc_rank > 0.0, "ranks are positive: {desc_rank}");
    assert!(
        title_rank > desc_rank,
        "higher is better: {title_rank} > {desc_rank}"
    );
    assert_eq!(page.items[0].item, in_title, "hits are whole tasks");
}

pub async fn terms_match_as_prefixes_and_all_are_required(s: Stores) {
    let alice = uid("alice");
    let buy = create(&s, &alice, new_task("Buy milk"), base()).await;
    let shake = create(&s, &alice, new_task("Milkshake recipe"), base()).await;
    let eggs = with_description(&s, &alice, "Groceries", "remember the milk and eggs").await;
    let set = |p: &Page<Ranked<Task>>| ids(p).into_iter().collect::<HashSet<TaskId>>();

    let mil = find(&s, &alice, "mil").await;
    assert_eq!(set(&mil), HashSet::from([buy.id, shake.id, eggs.id]));
    assert_eq!(ids(&find(&s, &alice, "milks").await), vec![shake.id]);
    assert_eq!(
        ids(&find(&s, &alice, "MILKSHAKE").await),
        vec![shake.id],
        "case-insensitive"
    );
    assert_eq!(
        ids(&find(&s, &alice, "buy milk").await),
        vec![buy.id],
        "every term required"
    );
    assert_eq!(ids(&find(&s, &alice, "milk, eggs!").await), vec![eggs.id]);
    assert_eq!(
        ids(&find(&s, &alice, "ilk").await),
        Vec::<TaskId>::new(),
        "prefixes of words, not substrings"
    );
    let none = find(&s, &alice, "zebra").await;
    assert!(none.items.is_empty());
    assert!(none.next_cursor.is_none());
}

pub async fn search_is_scoped_to_the_user_and_applies_filters(s: Stores) {
    let alice = uid("alice");
    let bob = uid("bob");
    let a1 = create(&s, &alice, new_task("Quarterly report"), base()).await;
    let a2 = create(&s, &alice, new_task("Annual report"), base()).await;
    let b1 = create(&s, &bob, new_task("Report for Bob"), base()).await;

    let alices = ids(&find(&s, &alice, "report").await);
    assert_eq!(
        alices.iter().collect::<HashSet<_>>(),
        HashSet::from([&a1.id, &a2.id])
    );
    assert_eq!(ids(&find(&s, &bob, "report").await), vec![b1.id]);
    assert!(find(&s, &uid("carol"), "report").await.items.is_empty());

    s.tasks
        .update(
            &alice,
            a2.id,
            mutator(|t| change::complete(t, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap();
    let done = TaskQuery {
        status: StatusFilter::Completed,
        ..search("report")
    };
    assert_eq!(ids(&list(&s, &alice, &done).await), vec![a2.id]);
    let pending = TaskQuery {
        status: StatusFilter::Pending,
        // The sort key is ignored while searching: relevance decides.
        sort: SortKey::Title,
        ..search("report")
    };
    assert_eq!(ids(&list(&s, &alice, &pending).await), vec![a1.id]);
}

pub async fn search_follows_updates_and_deletes(s: Stores) {
    let alice = uid("alice");
    let task = with_description(&s, &alice, "Call mom", "about the party").await;
    assert_eq!(ids(&find(&s, &alice, "party").await), vec![task.id]);

    let patch = TaskPatch {
        title: Some(Title::parse("Buy oat milk").unwrap()),
        description: Patch::Clear,
        ..TaskPatch::default()
    };
    s.tasks
        .update(
            &alice,
            task.id,
            try_mutator(move |t| change::apply_patch(t, patch, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap();
    assert!(
        find(&s, &alice, "party").await.items.is_empty(),
        "old words are gone"
    );
    assert!(find(&s, &alice, "mom").await.items.is_empty());
    assert_eq!(ids(&find(&s, &alice, "oat").await), vec![task.id]);

    // Only the description changes: still indexed correctly.
    let patch = TaskPatch {
        description: Patch::Set("from the corner shop".into()),
        ..TaskPatch::default()
    };
    s.tasks
        .update(
            &alice,
            task.id,
            try_mutator(move |t| change::apply_patch(t, patch, at(2))),
            &ctx(at(2)),
        )
        .await
        .unwrap();
    assert_eq!(ids(&find(&s, &alice, "corner oat").await), vec![task.id]);

    s.tasks.delete(&alice, task.id, &ctx(at(3))).await.unwrap();
    assert!(find(&s, &alice, "oat").await.items.is_empty());
}

pub async fn search_pages_by_offset_without_repeats(s: Stores) {
    let alice = uid("alice");
    let mut all = HashSet::new();
    for i in 0..7 {
        let mut new = new_task(&format!("Report number {i}"));
        // Different lengths give different ranks; some ties remain.
        new.description = (i % 3 > 0).then(|| vec!["filler"; i % 3].join(" "));
        all.insert(create(&s, &alice, new, base()).await.id);
    }
    create(&s, &alice, new_task("Unrelated"), base()).await;
    let mut seen = Vec::new();
    let mut ranks = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let q = TaskQuery {
            limit: 3,
            cursor: cursor.take(),
            ..search("report")
        };
        let page = list(&s, &alice, &q).await;
        pages += 1;
        assert!(pages <= 5, "runaway pagination");
        seen.extend(ids(&page));
        ranks.extend(page.items.iter().map(|r| r.rank));
        match page.next_cursor {
            Some(c) => {
                let c = Cursor::decode(&c).unwrap();
                assert!(
                    matches!(c, Cursor::Offset { .. }),
                    "ranked pages use offsets"
                );
                cursor = Some(c);
            }
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 7);
    assert_eq!(seen.iter().copied().collect::<HashSet<_>>(), all);
    assert!(
        ranks.windows(2).all(|w| w[0] >= w[1]),
        "relevance never increases across pages: {ranks:?}"
    );
    let keyset = TaskQuery {
        cursor: Some(Cursor::After {
            v: tickler::domain::query::SortValue::Int(0),
            id: 1,
        }),
        ..search("report")
    };
    assert_eq!(
        invalid_code(s.tasks.list(&alice, &keyset, base()).await),
        ErrorCode::InvalidCursor
    );
}

pub async fn query_syntax_in_user_text_is_treated_as_words(s: Stores) {
    let alice = uid("alice");
    let milk = create(&s, &alice, new_task("Buy milk"), base()).await;
    with_description(&s, &alice, "Title", "description text").await;
    // Each of these would be an FTS5 syntax error or an operator if passed through.
    for text in [
        "\"milk",
        "milk\" OR \"x",
        "milk OR zebra",
        "milk*",
        "title:milk",
        "milk NEAR(",
        "-milk",
        "milk AND",
        "(milk",
        "^milk",
        "milk'; DROP TABLE tasks; --",
    ] {
        let page = s.tasks.list(&alice, &search(text), base()).await;
        let page = page.unwrap_or_else(|e| panic!("{text:?} failed: {e:?}"));
        let expected = match text {
            // Words other than "milk" must also match: "or", "zebra", "title", "near", "and",
            // "drop", "table", "tasks" are not in the task.
            "\"milk" | "milk*" | "-milk" | "(milk" | "^milk" => vec![milk.id],
            _ => vec![],
        };
        assert_eq!(ids(&page), expected, "{text:?}");
    }
    assert_eq!(list(&s, &alice, &TaskQuery::default()).await.items.len(), 2);
}

/// The bound that keeps a common word cheap, the same in every adapter: the user's newest
/// `SEARCH_CANDIDATES` matches are ranked (another user's matches take none of those places), so
/// an old title hit stays first until that many newer matches of the same user exist.
pub async fn only_the_users_newest_matches_are_ranked(s: Stores) {
    let (alice, bob) = (uid("alice"), uid("bob"));
    let old = create(&s, &alice, new_task("needle in the title"), base()).await;
    for i in 1..SEARCH_CANDIDATES {
        with_description(&s, &alice, &format!("item {i}"), "a needle here").await;
    }
    for i in 0..20 {
        create(&s, &bob, new_task(&format!("bob's needle {i}")), base()).await;
    }
    let page = find(&s, &alice, "needle").await;
    assert_eq!(
        page.items.first().map(|r| r.item.id),
        Some(old.id),
        "{SEARCH_CANDIDATES} matches: the title hit ranks first"
    );
    with_description(&s, &alice, "one more", "another needle").await;
    let page = find(&s, &alice, "needle").await;
    assert!(!page.items.is_empty());
    assert!(
        page.items.iter().all(|r| r.item.id != old.id),
        "the oldest match is now beyond the newest {SEARCH_CANDIDATES}"
    );
}
