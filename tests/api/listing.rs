//! Listing: filters, sort orders, search ranking and cursor pagination.

use std::collections::HashSet;

use serde_json::{Value, json};

use crate::helpers::{User, ids, spawn_app};

/// Follows `next_cursor` from `first` to the end; returns every page's ids.
async fn walk(user: &User<'_>, first: &str) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut url = first.to_owned();
    loop {
        let r = user.get(&url).await;
        let body = r.ok(200).clone();
        pages.push(ids(body["items"].as_array().unwrap()));
        match body["next_cursor"].as_str() {
            Some(c) => {
                let sep = if first.contains('?') { '&' } else { '?' };
                url = format!("{first}{sep}cursor={c}");
            }
            None => break,
        }
        assert!(pages.len() < 100, "pagination does not end");
    }
    pages
}

#[tokio::test]
async fn pagination_visits_every_task_exactly_once_in_order() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let priorities = ["low", "medium", "high", "urgent"];
    let mut created = HashSet::new();
    for i in 0..23 {
        let mut body = json!({
            "title": format!("Task {:02}", (i * 7) % 23),
            "priority": priorities[i % 4],
        });
        if i % 3 != 0 {
            body["due_date"] = json!(format!("2031-01-{:02}T10:00:00Z", 1 + (i * 5) % 28));
        }
        created.insert(alice.create_task(body).await["id"].as_i64().unwrap());
    }
    for sort in [
        "",
        "?sort=created_at&order=asc",
        "?sort=due_date",
        "?sort=due&order=desc",
        "?sort=priority",
        "?sort=priority&order=asc",
        "?sort=title",
        "?sort=title&order=desc",
    ] {
        let sep = if sort.is_empty() { '?' } else { '&' };
        let full = alice
            .get(&format!("/api/v1/tasks{sort}{sep}limit=100"))
            .await;
        let full_ids = ids(full.ok(200)["items"].as_array().unwrap());
        assert_eq!(full.body["next_cursor"], json!(null));
        let pages = walk(&alice, &format!("/api/v1/tasks{sort}{sep}limit=5")).await;
        assert_eq!(pages.len(), 5, "{sort}: 23 tasks in pages of 5");
        assert!(pages[..4].iter().all(|p| p.len() == 5), "{sort}: {pages:?}");
        let flat: Vec<i64> = pages.concat();
        assert_eq!(flat, full_ids, "{sort}: pages agree with the full listing");
        let unique: HashSet<i64> = flat.iter().copied().collect();
        assert_eq!(unique, created, "{sort}: every task exactly once");
        assert_eq!(flat.len(), created.len(), "{sort}: no duplicates");
    }
}

fn field<'a>(items: &'a [Value], name: &str) -> Vec<&'a Value> {
    items.iter().map(|t| &t[name]).collect()
}

#[tokio::test]
async fn sort_orders() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let a = alice
        .create_task(
            json!({ "title": "banana", "priority": "low", "due_date": "2031-01-03T00:30:00Z" }),
        )
        .await;
    let b = alice
        .create_task(json!({ "title": "Apple", "priority": "urgent" }))
        .await;
    let c = alice
        .create_task(
            json!({ "title": "cherry", "priority": "high", "due_date": "2031-01-01T00:30:00Z" }),
        )
        .await;
    let (a, b, c) = (
        a["id"].as_i64().unwrap(),
        b["id"].as_i64().unwrap(),
        c["id"].as_i64().unwrap(),
    );
    let order = |q: &'static str| {
        let alice = &alice;
        async move {
            let r = alice.get(&format!("/api/v1/tasks?{q}")).await;
            ids(r.ok(200)["items"].as_array().unwrap())
        }
    };
    assert_eq!(order("").await, vec![c, b, a], "newest first by default");
    assert_eq!(order("sort=created&order=asc").await, vec![a, b, c]);
    assert_eq!(
        order("sort=title").await,
        vec![b, a, c],
        "A to Z, case-insensitive"
    );
    assert_eq!(order("sort=title&order=desc").await, vec![c, a, b]);
    assert_eq!(order("sort=priority").await, vec![b, c, a], "urgent first");
    assert_eq!(order("sort=priority&order=asc").await, vec![a, c, b]);
    assert_eq!(
        order("sort=due_date").await,
        vec![c, a, b],
        "no due date last"
    );
    assert_eq!(
        order("sort=due_date&order=desc").await,
        vec![a, c, b],
        "no due date last"
    );
    assert_eq!(order("sort_by=title").await, vec![b, a, c], "seed's name");
}

#[tokio::test]
async fn filters() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let home = alice.create_label("categories", "Home").await;
    let t1 = alice.create_label("tags", "one").await;
    let t2 = alice.create_label("tags", "two").await;
    let t3 = alice.create_label("tags", "three").await;
    let mk = |body: Value| {
        let alice = &alice;
        async move { alice.create_task(body).await["id"].as_i64().unwrap() }
    };
    let past =
        mk(json!({ "title": "past", "due_date": "2020-06-01T12:00:00Z", "priority": "high" }))
            .await;
    let soon = mk(json!({
        "title": "soon", "due_date": "2031-01-10T12:00:00Z", "category_id": home["id"],
        "tag_ids": [t1["id"]]
    }))
    .await;
    let later = mk(json!({
        "title": "later", "due_date": "2032-01-10T12:00:00Z", "tag_ids": [t2["id"], t3["id"]],
        "priority": "high"
    }))
    .await;
    let undated = mk(json!({ "title": "undated", "category_id": home["id"] })).await;
    let done = mk(json!({ "title": "done", "due_date": "2020-01-01T00:30:00Z" })).await;
    alice
        .post_empty(&format!("/api/v1/tasks/{done}/complete"))
        .await
        .ok(200);

    let q = |query: String| {
        let alice = &alice;
        async move {
            let r = alice.get(&format!("/api/v1/tasks?{query}")).await;
            let mut v = ids(r.ok(200)["items"].as_array().unwrap());
            v.sort();
            v
        }
    };
    let sorted = |mut v: Vec<i64>| {
        v.sort();
        v
    };
    assert_eq!(
        q("status=all".into()).await,
        sorted(vec![past, soon, later, undated, done])
    );
    assert_eq!(
        q("status=pending".into()).await,
        sorted(vec![past, soon, later, undated])
    );
    assert_eq!(q("status=completed".into()).await, vec![done]);
    assert_eq!(q("priority=high".into()).await, sorted(vec![past, later]));
    assert_eq!(
        q(format!("category_id={}", home["id"])).await,
        sorted(vec![soon, undated])
    );
    assert_eq!(q(format!("tag_ids={}", t1["id"])).await, vec![soon]);
    assert_eq!(
        q(format!("tag_ids={},{}", t1["id"], t3["id"])).await,
        sorted(vec![soon, later]),
        "any of the tags"
    );
    assert_eq!(
        q("due_before=2031-06-01T00:00:00Z".into()).await,
        sorted(vec![past, soon, done])
    );
    assert_eq!(
        q("due_after=2031-06-01T00:00:00Z".into()).await,
        vec![later]
    );
    assert_eq!(
        q("due_after=2021-01-01T00:00:00Z&due_before=2031-06-01T00:00:00Z".into()).await,
        vec![soon]
    );
    assert_eq!(
        q("overdue=true".into()).await,
        vec![past],
        "pending and past due"
    );
    assert_eq!(q("overdue=false".into()).await.len(), 5);
    assert_eq!(
        q("status=pending&priority=high&overdue=true".into()).await,
        vec![past],
        "filters combine with AND"
    );
}

#[tokio::test]
async fn search_ranks_title_matches_first() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let in_desc = alice
        .create_task(json!({ "title": "Groceries", "description": "remember the milk" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let in_title = alice
        .create_task(json!({ "title": "Buy milk", "description": "semi-skimmed" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let _other = alice.task("Call mum").await;

    let r = alice.get("/api/v1/tasks?q=milk").await;
    let items = r.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(ids(&items), vec![in_title, in_desc]);
    let ranks: Vec<f64> = field(&items, "search_rank")
        .iter()
        .map(|v| v.as_f64().expect("search_rank present"))
        .collect();
    assert!(ranks[0] > ranks[1], "{ranks:?}");

    // Prefix match, case-insensitive.
    let r = alice.get("/api/v1/tasks?q=MIL").await;
    assert_eq!(
        ids(r.ok(200)["items"].as_array().unwrap()),
        vec![in_title, in_desc]
    );

    // No search: no rank.
    let r = alice.get("/api/v1/tasks").await;
    assert!(r.ok(200)["items"][0].get("search_rank").is_none());

    // Search combines with filters.
    alice
        .post_empty(&format!("/api/v1/tasks/{in_title}/complete"))
        .await
        .ok(200);
    let r = alice.get("/api/v1/tasks?q=milk&status=pending").await;
    assert_eq!(ids(r.ok(200)["items"].as_array().unwrap()), vec![in_desc]);
}

#[tokio::test]
async fn search_results_page_too() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let mut created = HashSet::new();
    for i in 0..7 {
        let body = if i % 2 == 0 {
            json!({ "title": format!("report {i}") })
        } else {
            json!({ "title": format!("note {i}"), "description": "for the report" })
        };
        created.insert(alice.create_task(body).await["id"].as_i64().unwrap());
    }
    alice.task("unrelated").await;
    let pages = walk(&alice, "/api/v1/tasks?q=report&limit=3").await;
    let flat = pages.concat();
    assert_eq!(flat.len(), 7);
    assert_eq!(flat.iter().copied().collect::<HashSet<_>>(), created);
    // Title hits (even i) come before description hits.
    let full = alice.get("/api/v1/tasks?q=report&limit=100").await;
    let items = full.ok(200)["items"].as_array().unwrap().clone();
    assert_eq!(ids(&items), flat);
    let titles: Vec<&str> = items.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert!(
        titles[..4].iter().all(|t| t.starts_with("report")),
        "{titles:?}"
    );
}

#[tokio::test]
async fn empty_list_and_limits() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let r = alice.get("/api/v1/tasks").await;
    assert_eq!(r.ok(200), &json!({ "items": [], "next_cursor": null }));
    for _ in 0..3 {
        alice.task("t").await;
    }
    let r = alice.get("/api/v1/tasks?limit=1").await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 1);
    assert!(r.body["next_cursor"].is_string());
    let r = alice.get("/api/v1/tasks?limit=100").await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn cursors_must_fit_their_query() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for i in 0..3 {
        alice.task(&format!("milk {i}")).await;
    }
    let cursor_of = |q: &'static str| {
        let alice = &alice;
        async move {
            let r = alice.get(&format!("/api/v1/tasks?{q}&limit=1")).await;
            r.ok(200)["next_cursor"].as_str().unwrap().to_owned()
        }
    };
    let search = cursor_of("q=milk").await;
    let by_title = cursor_of("sort=title").await;
    let by_created = cursor_of("sort=created_at").await;
    for url in [
        format!("/api/v1/tasks?cursor={search}"),
        format!("/api/v1/tasks?q=milk&cursor={by_created}"),
        format!("/api/v1/tasks?sort=created_at&cursor={by_title}"),
        format!("/api/v1/tasks?sort=title&cursor={by_created}"),
    ] {
        alice.get(&url).await.problem(422, "INVALID_CURSOR");
    }
}
