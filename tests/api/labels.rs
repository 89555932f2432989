//! Categories and tags: the same CRUD on both, with their own limits and codes.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn category_and_tag_crud() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for (kind, not_found) in [
        ("categories", "CATEGORY_NOT_FOUND"),
        ("tags", "TAG_NOT_FOUND"),
    ] {
        let base = format!("/api/v1/{kind}");
        let r = alice
            .post(&base, json!({ "name": " Work ", "color": "#3B82F6" }))
            .await;
        let created = r.ok(201).clone();
        let id = created["id"].as_i64().unwrap();
        assert_eq!(r.header("location"), Some(format!("{base}/{id}").as_str()));
        assert_eq!(created["name"], "Work");
        assert_eq!(created["color"], "#3B82F6");
        assert_eq!(created["task_count"], 0);
        assert!(created["created_at"].as_str().unwrap().ends_with('Z'));

        let second = alice.create_label(kind, "Home").await;
        let list = alice.get(&base).await;
        let names: Vec<&str> = list.ok(200)["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["Work", "Home"], "oldest first");

        assert_eq!(alice.get(&format!("{base}/{id}")).await.ok(200), &created);

        let r = alice
            .patch(&format!("{base}/{id}"), json!({ "name": "Office" }))
            .await;
        assert_eq!(r.ok(200)["name"], "Office");
        assert_eq!(r.body["color"], "#3B82F6", "colour kept");
        let r = alice
            .patch(&format!("{base}/{id}"), json!({ "color": null }))
            .await;
        assert_eq!(r.ok(200)["color"], json!(null), "null clears the colour");
        assert_eq!(r.body["name"], "Office");

        let r = alice.delete(&format!("{base}/{id}")).await;
        assert_eq!(r.ok(200)["id"], id);
        assert_eq!(r.body["name"], "Office");
        assert_eq!(r.body["tasks_affected"], 0);
        alice
            .get(&format!("{base}/{id}"))
            .await
            .problem(404, not_found);
        alice
            .delete(&format!("{base}/{id}"))
            .await
            .problem(404, not_found);
        alice
            .patch(&format!("{base}/{id}"), json!({ "name": "x" }))
            .await
            .problem(404, not_found);
        let list = alice.get(&base).await;
        assert_eq!(list.ok(200)["items"].as_array().unwrap().len(), 1);
        assert_eq!(list.body["items"][0]["id"], second["id"]);
    }
}

#[tokio::test]
async fn deleting_labels_detaches_them_from_tasks() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let cat = alice.create_label("categories", "Errands").await;
    let tag = alice.create_label("tags", "quick").await;
    let keep = alice.create_label("tags", "keep").await;
    let mut ids = Vec::new();
    for title in ["a", "b"] {
        let t = alice
            .create_task(json!({
                "title": title, "category_id": cat["id"], "tag_ids": [tag["id"], keep["id"]]
            }))
            .await;
        ids.push(t["id"].as_i64().unwrap());
    }
    let r = alice
        .get(&format!("/api/v1/categories/{}", cat["id"]))
        .await;
    assert_eq!(r.ok(200)["task_count"], 2);

    let r = alice
        .delete(&format!("/api/v1/categories/{}", cat["id"]))
        .await;
    assert_eq!(r.ok(200)["tasks_affected"], 2);
    let r = alice.delete(&format!("/api/v1/tags/{}", tag["id"])).await;
    assert_eq!(r.ok(200)["tasks_affected"], 2);
    for id in ids {
        let t = alice.get(&format!("/api/v1/tasks/{id}")).await;
        assert_eq!(t.ok(200)["category_id"], json!(null), "tasks survive");
        assert_eq!(t.body["tag_ids"], json!([keep["id"]]));
    }
}

#[tokio::test]
async fn label_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice.create_label("tags", "dup").await;
    alice
        .post("/api/v1/tags", json!({ "name": "dup" }))
        .await
        .problem(409, "DUPLICATE_NAME");
    alice
        .post(
            "/api/v1/tags",
            json!({ "name": "colourful", "color": "blue" }),
        )
        .await
        .problem(422, "INVALID_COLOR");
    alice
        .post("/api/v1/categories", json!({ "name": "   " }))
        .await
        .problem(422, "VALIDATION_ERROR");
    alice
        .post("/api/v1/tags", json!({ "name": "t".repeat(31) }))
        .await
        .problem(422, "VALIDATION_ERROR");
    let other = alice.create_label("tags", "other").await;
    alice
        .patch(
            &format!("/api/v1/tags/{}", other["id"]),
            json!({ "name": "dup" }),
        )
        .await
        .problem(409, "DUPLICATE_NAME");
    alice
        .patch(&format!("/api/v1/tags/{}", other["id"]), json!({}))
        .await
        .problem(400, "INVALID_REQUEST");
    alice
        .patch(
            &format!("/api/v1/tags/{}", other["id"]),
            json!({ "color": "#12345" }),
        )
        .await
        .problem(422, "INVALID_COLOR");
    // Nothing changed by the refused updates.
    let r = alice.get(&format!("/api/v1/tags/{}", other["id"])).await;
    assert_eq!(r.ok(200), &other);
}

#[tokio::test]
async fn category_limit_is_limit_exceeded() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for i in 0..50 {
        alice.create_label("categories", &format!("c{i}")).await;
    }
    let r = alice
        .post("/api/v1/categories", json!({ "name": "one too many" }))
        .await;
    let p = r.problem(409, "LIMIT_EXCEEDED");
    assert!(p["detail"].as_str().unwrap().contains("50"), "{p}");
    // Another user is not affected by alice's count.
    app.user("bob").create_label("categories", "c0").await;
}
