//! The server enforces exactly what its OpenAPI document states (issue 10): limits read from the
//! served document are tried at their boundary over HTTP, and the shapes the document allows
//! (whole floats for integers) or forbids (`null` for fields it does not mark nullable) are
//! answered accordingly.

use serde_json::{Value, json};

use crate::helpers::spawn_app;

fn prop<'a>(doc: &'a Value, schema: &str, field: &str) -> &'a Value {
    &doc["components"]["schemas"][schema]["properties"][field]
}

#[tokio::test]
async fn documented_limits_hold_at_their_boundary() {
    let app = spawn_app().await;
    let doc = app.get_anon("/api/v1/openapi.json").await.body;
    let alice = app.user("alice");

    let max = prop(&doc, "CreateTaskInput", "title")["maxLength"]
        .as_u64()
        .unwrap() as usize;
    alice
        .post("/api/v1/tasks", json!({ "title": "t".repeat(max) }))
        .await
        .ok(201);
    let r = alice
        .post("/api/v1/tasks", json!({ "title": "t".repeat(max + 1) }))
        .await;
    assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "title");

    for (kind, schema) in [("categories", "NewCategoryInput"), ("tags", "NewTagInput")] {
        let max = prop(&doc, schema, "name")["maxLength"].as_u64().unwrap() as usize;
        let base = format!("/api/v1/{kind}");
        alice
            .post(&base, json!({ "name": "n".repeat(max) }))
            .await
            .ok(201);
        let r = alice
            .post(&base, json!({ "name": "m".repeat(max + 1) }))
            .await;
        assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "name");
    }

    let max_tags = prop(&doc, "CreateTaskInput", "tag_ids")["maxItems"]
        .as_u64()
        .unwrap() as usize;
    let tag = alice.create_label("tags", "t").await["id"].clone();
    // Entries count as sent, duplicates included.
    let r = alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "x", "tag_ids": vec![tag.clone(); max_tags + 1] }),
        )
        .await;
    r.problem(422, "TOO_MANY_TAGS");
    alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "x", "tag_ids": vec![tag; max_tags] }),
        )
        .await
        .ok(201);
}

#[tokio::test]
async fn integers_may_be_whole_floats_and_non_nullable_fields_refuse_null() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let cat = alice.create_label("categories", "c").await["id"]
        .as_i64()
        .unwrap();
    let t = alice
        .create_task(json!({ "title": "x", "category_id": cat as f64 }))
        .await;
    assert_eq!(t["category_id"], cat);
    let r = alice
        .post("/api/v1/tasks", json!({ "title": "x", "category_id": 1.5 }))
        .await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "category_id");
    let id = t["id"].as_i64().unwrap();
    for body in [
        json!({ "title": null }),
        json!({ "completed": null, "priority": "high" }),
    ] {
        let r = alice
            .patch(&format!("/api/v1/tasks/{id}"), body.clone())
            .await;
        r.problem(400, "INVALID_REQUEST");
    }
    let r = alice
        .patch(
            &format!("/api/v1/categories/{cat}"),
            json!({ "name": null, "color": "#000000" }),
        )
        .await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "name");
    // Nothing changed.
    assert_eq!(
        alice.get(&format!("/api/v1/tasks/{id}")).await.ok(200)["title"],
        "x"
    );
    let c = alice.get(&format!("/api/v1/categories/{cat}")).await;
    assert_eq!(c.ok(200)["color"], Value::Null);
}
