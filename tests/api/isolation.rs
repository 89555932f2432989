//! Cross-user isolation: another user's task, category, tag or reminder is a 404 (never a 403,
//! never a leak), and nothing of theirs changes.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn another_users_resources_are_not_found_and_unchanged() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let bob = app.user("bob");

    let cat = alice.create_label("categories", "Private").await;
    let tag = alice.create_label("tags", "secret").await;
    let task = alice
        .create_task(json!({
            "title": "Alice's plan",
            "description": "top secret",
            "due_date": "2031-01-01T12:00:00Z",
            "category_id": cat["id"],
            "tag_ids": [tag["id"]],
        }))
        .await;
    let id = task["id"].as_i64().unwrap();
    let (cat_id, tag_id) = (cat["id"].as_i64().unwrap(), tag["id"].as_i64().unwrap());
    let reminder_id = task["reminders"][0]["id"].as_i64().unwrap();
    let bob_tag = bob.create_label("tags", "bobs").await["id"]
        .as_i64()
        .unwrap();
    let bob_task = bob.task("Bob's").await["id"].as_i64().unwrap();
    let events_before = app.events().await.len();

    let t = |p: &str| format!("/api/v1/tasks/{id}{p}");
    let not_found = [
        (bob.get(&t("")).await, "TASK_NOT_FOUND"),
        (
            bob.patch(&t(""), json!({ "title": "pwned" })).await,
            "TASK_NOT_FOUND",
        ),
        (
            bob.patch(&t(""), json!({ "due_date": null })).await,
            "TASK_NOT_FOUND",
        ),
        (bob.delete(&t("")).await, "TASK_NOT_FOUND"),
        (bob.post_empty(&t("/complete")).await, "TASK_NOT_FOUND"),
        (bob.post_empty(&t("/reopen")).await, "TASK_NOT_FOUND"),
        (
            bob.put(&t(&format!("/tags/{bob_tag}"))).await,
            "TASK_NOT_FOUND",
        ),
        (
            bob.delete(&t(&format!("/tags/{tag_id}"))).await,
            "TASK_NOT_FOUND",
        ),
        (bob.get(&t("/reminders")).await, "TASK_NOT_FOUND"),
        (
            bob.post(&t("/reminders"), json!({ "minutes_before": 5 }))
                .await,
            "TASK_NOT_FOUND",
        ),
        (
            bob.delete(&t(&format!("/reminders/{reminder_id}"))).await,
            "TASK_NOT_FOUND",
        ),
        (
            bob.get(&format!("/api/v1/categories/{cat_id}")).await,
            "CATEGORY_NOT_FOUND",
        ),
        (
            bob.patch(
                &format!("/api/v1/categories/{cat_id}"),
                json!({ "name": "mine" }),
            )
            .await,
            "CATEGORY_NOT_FOUND",
        ),
        (
            bob.delete(&format!("/api/v1/categories/{cat_id}")).await,
            "CATEGORY_NOT_FOUND",
        ),
        (
            bob.get(&format!("/api/v1/tags/{tag_id}")).await,
            "TAG_NOT_FOUND",
        ),
        (
            bob.patch(
                &format!("/api/v1/tags/{tag_id}"),
                json!({ "color": "#000000" }),
            )
            .await,
            "TAG_NOT_FOUND",
        ),
        (
            bob.delete(&format!("/api/v1/tags/{tag_id}")).await,
            "TAG_NOT_FOUND",
        ),
        // Alice's labels cannot be attached to Bob's tasks either.
        (
            bob.post(
                "/api/v1/tasks",
                json!({ "title": "x", "category_id": cat_id }),
            )
            .await,
            "CATEGORY_NOT_FOUND",
        ),
        (
            bob.post(
                "/api/v1/tasks",
                json!({ "title": "x", "tag_ids": [tag_id] }),
            )
            .await,
            "TAG_NOT_FOUND",
        ),
        (
            bob.patch(
                &format!("/api/v1/tasks/{bob_task}"),
                json!({ "category_id": cat_id }),
            )
            .await,
            "CATEGORY_NOT_FOUND",
        ),
        (
            bob.patch(
                &format!("/api/v1/tasks/{bob_task}"),
                json!({ "tag_ids": [tag_id] }),
            )
            .await,
            "TAG_NOT_FOUND",
        ),
        (
            bob.put(&format!("/api/v1/tasks/{bob_task}/tags/{tag_id}"))
                .await,
            "TAG_NOT_FOUND",
        ),
    ];
    for (i, (r, code)) in not_found.iter().enumerate() {
        let p = r.problem(404, code);
        let text = p.to_string();
        assert!(
            !text.contains("Alice") && !text.contains("secret") && !text.contains("alice"),
            "case {i} leaks: {text}"
        );
    }

    // Bob's listings show nothing of Alice's, even when filtering by her ids or searching.
    let r = bob.get("/api/v1/tasks?limit=100").await;
    assert_eq!(
        crate::helpers::ids(r.ok(200)["items"].as_array().unwrap()),
        vec![bob_task]
    );
    let r = bob
        .get(&format!("/api/v1/tasks?category_id={cat_id}"))
        .await;
    assert_eq!(r.ok(200)["items"], json!([]));
    let r = bob.get(&format!("/api/v1/tasks?tag_ids={tag_id}")).await;
    assert_eq!(r.ok(200)["items"], json!([]));
    let r = bob.get("/api/v1/tasks?q=secret").await;
    assert_eq!(r.ok(200)["items"], json!([]));
    let r = bob.get("/api/v1/categories").await;
    assert_eq!(r.ok(200)["items"], json!([]));
    let r = bob.get("/api/v1/tags").await;
    assert_eq!(r.ok(200)["items"].as_array().unwrap().len(), 1);
    assert_eq!(bob.get("/api/v1/me").await.ok(200)["id"], "bob");

    // Alice's data is exactly as it was, and no event was recorded for her task.
    assert_eq!(alice.get(&t("")).await.ok(200), &task);
    let r = alice.get(&format!("/api/v1/categories/{cat_id}")).await;
    assert_eq!(r.ok(200)["name"], "Private");
    let r = alice.get(&format!("/api/v1/tags/{tag_id}")).await;
    assert_eq!(r.ok(200)["color"], json!(null));
    assert_eq!(app.events().await.len(), events_before);
    assert_eq!(
        app.events_of("task.updated", id).await.len()
            + app.events_of("task.deleted", id).await.len()
            + app.events_of("task.completed", id).await.len(),
        0
    );
}

#[tokio::test]
async fn same_names_live_side_by_side() {
    let app = spawn_app().await;
    let a = app.user("alice").create_label("tags", "work").await;
    let b = app.user("bob").create_label("tags", "work").await;
    assert_ne!(a["id"], b["id"]);
}
