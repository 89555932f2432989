//! Task happy paths: create, get, update (including clearing fields), delete, complete, reopen,
//! tag links — and the events each write records.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn create_returns_201_location_and_the_task() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let cat = alice.create_label("categories", "Home").await;
    let tag = alice.create_label("tags", "errand").await;
    let r = alice
        .post(
            "/api/v1/tasks",
            json!({
                "title": "  Buy milk ",
                "description": "2 litres",
                "priority": "HIGH",
                "due_date": "2031-03-01T17:00:00+01:00",
                "category_id": cat["id"],
                "tag_ids": [tag["id"]],
                "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO",
            }),
        )
        .await;
    let t = r.ok(201).clone();
    let id = t["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("/api/v1/tasks/{id}").as_str())
    );
    assert_eq!(t["title"], "Buy milk");
    assert_eq!(t["description"], "2 litres");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["due_date"], "2031-03-01T16:00:00Z");
    assert_eq!(t["category_id"], cat["id"]);
    assert_eq!(t["tag_ids"], json!([tag["id"]]));
    assert_eq!(t["completed"], false);
    assert_eq!(t["completed_at"], json!(null));
    assert_eq!(t["overdue"], false);
    assert!(t["created_at"].as_str().unwrap().ends_with('Z'));
    assert!(t.get("search_rank").is_none());
    // The default reminder: an hour before the due date.
    let reminders = t["reminders"].as_array().unwrap();
    assert_eq!(reminders.len(), 1);
    assert_eq!(reminders[0]["minutes_before"], 60);
    assert_eq!(reminders[0]["remind_at"], "2031-03-01T15:00:00.000Z");
    assert_eq!(reminders[0]["status"], "scheduled");

    // Stored as shown.
    let got = alice.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(got.ok(200), &t);

    let events = app.events_of("task.created", id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["task"]["title"], "Buy milk");
    assert_eq!(events[0].data["user_id"], "alice");
}

#[tokio::test]
async fn alias_recurrence_is_stored_canonical() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({ "title": "Stand-up", "recurrence_rule": "daily" }))
        .await;
    assert_eq!(t["recurrence_rule"], "FREQ=DAILY");
    let id = t["id"].as_i64().unwrap();
    let got = alice.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(got.body["recurrence_rule"], "FREQ=DAILY");
}

#[tokio::test]
async fn minimal_task_has_defaults() {
    let app = spawn_app().await;
    let t = app.user("alice").task("Just a title").await;
    assert_eq!(t["priority"], "medium");
    assert_eq!(t["description"], json!(null));
    assert_eq!(t["due_date"], json!(null));
    assert_eq!(t["category_id"], json!(null));
    assert_eq!(t["tag_ids"], json!([]));
    assert_eq!(t["recurrence_rule"], json!(null));
    assert_eq!(t["reminders"], json!([]));
}

#[tokio::test]
async fn update_sets_fields_and_records_an_event() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice.task("Draft").await;
    let id = t["id"].as_i64().unwrap();
    let tag = alice.create_label("tags", "work").await;
    let r = alice
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({
                "title": "Final",
                "priority": "urgent",
                "due_date": "2031-01-15",
                "tag_ids": [tag["id"]],
                "recurrence_rule": "FREQ=WEEKLY;BYDAY=MO",
            }),
        )
        .await;
    let u = r.ok(200);
    assert_eq!(u["title"], "Final");
    assert_eq!(u["priority"], "urgent");
    assert_eq!(u["due_date"], "2031-01-15T23:59:59Z");
    assert_eq!(u["tag_ids"], json!([tag["id"]]));
    assert_eq!(u["recurrence_rule"], "FREQ=WEEKLY;BYDAY=MO");
    assert_ne!(u["updated_at"], json!(null));

    let events = app.events_of("task.updated", id).await;
    assert_eq!(events.len(), 1);
    let changed = events[0].data["changed_fields"].as_array().unwrap();
    for f in [
        "title",
        "priority",
        "due_date",
        "tag_ids",
        "recurrence_rule",
    ] {
        assert!(changed.contains(&json!(f)), "{f} in {changed:?}");
    }
}

#[tokio::test]
async fn update_clears_fields_with_null() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let cat = alice.create_label("categories", "Work").await;
    let t = alice
        .create_task(json!({
            "title": "Report",
            "description": "Quarterly",
            "due_date": "2031-06-01T10:00:00Z",
            "category_id": cat["id"],
            "recurrence_rule": "daily",
        }))
        .await;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["reminders"][0]["status"], "scheduled");

    // Absent fields are left alone.
    let r = alice
        .patch(&format!("/api/v1/tasks/{id}"), json!({ "priority": "low" }))
        .await;
    let kept = r.ok(200);
    assert_eq!(kept["description"], "Quarterly");
    assert_eq!(kept["due_date"], "2031-06-01T10:00:00Z");
    assert_eq!(kept["category_id"], cat["id"]);
    assert_eq!(kept["recurrence_rule"], "FREQ=DAILY");

    // null clears.
    let r = alice
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({
                "description": null,
                "due_date": null,
                "category_id": null,
                "recurrence_rule": null,
            }),
        )
        .await;
    let cleared = r.ok(200).clone();
    assert_eq!(cleared["description"], json!(null));
    assert_eq!(cleared["due_date"], json!(null));
    assert_eq!(cleared["category_id"], json!(null));
    assert_eq!(cleared["recurrence_rule"], json!(null));
    assert_eq!(cleared["priority"], "low");
    // The relative reminder had nothing left to be relative to.
    assert_eq!(cleared["reminders"][0]["status"], "cancelled");
    let got = alice.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(got.ok(200), &cleared);
}

#[tokio::test]
async fn update_clears_text_fields_with_empty_strings() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({
            "title": "x", "description": "d", "due_date": "2031-06-01", "recurrence_rule": "daily"
        }))
        .await;
    let id = t["id"].as_i64().unwrap();
    let r = alice
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({ "description": "", "due_date": "", "recurrence_rule": "" }),
        )
        .await;
    let u = r.ok(200);
    assert_eq!(u["description"], json!(null));
    assert_eq!(u["due_date"], json!(null));
    assert_eq!(u["recurrence_rule"], json!(null));
}

#[tokio::test]
async fn delete_answers_the_deleted_task_and_records_an_event() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice.task("Temp").await;
    let id = t["id"].as_i64().unwrap();
    let r = alice.delete(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(r.ok(200)["id"], id);
    assert_eq!(r.body["title"], "Temp");
    alice
        .get(&format!("/api/v1/tasks/{id}"))
        .await
        .problem(404, "TASK_NOT_FOUND");
    alice
        .delete(&format!("/api/v1/tasks/{id}"))
        .await
        .problem(404, "TASK_NOT_FOUND");
    let events = app.events_of("task.deleted", id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data["task"]["title"], "Temp");
}

#[tokio::test]
async fn complete_and_reopen() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({ "title": "Pay rent", "due_date": "2031-01-01T09:00:00Z" }))
        .await;
    let id = t["id"].as_i64().unwrap();

    let r = alice
        .post_empty(&format!("/api/v1/tasks/{id}/complete"))
        .await;
    let done = r.ok(200).clone();
    assert_eq!(done["completed"], true);
    assert!(done["completed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(done["reminders"][0]["status"], "cancelled");
    assert_eq!(app.events_of("task.completed", id).await.len(), 1);

    // Completing again changes nothing and records nothing.
    let again = alice
        .post_empty(&format!("/api/v1/tasks/{id}/complete"))
        .await;
    assert_eq!(again.ok(200)["completed_at"], done["completed_at"]);
    assert_eq!(app.events_of("task.completed", id).await.len(), 1);

    let r = alice
        .post_empty(&format!("/api/v1/tasks/{id}/reopen"))
        .await;
    let open = r.ok(200);
    assert_eq!(open["completed"], false);
    assert_eq!(open["completed_at"], json!(null));
    assert_eq!(open["reminders"][0]["status"], "scheduled");
    assert_eq!(app.events_of("task.updated", id).await.len(), 1);

    // Completing through PATCH works too.
    let r = alice
        .patch(&format!("/api/v1/tasks/{id}"), json!({ "completed": true }))
        .await;
    assert_eq!(r.ok(200)["completed"], true);
    assert_eq!(app.events_of("task.completed", id).await.len(), 2);
}

#[tokio::test]
async fn completed_recurring_task_goes_to_the_recurrence_topic_too() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({ "title": "Water plants", "due_date": "2031-01-01", "recurrence_rule": "daily" }))
        .await;
    let id = t["id"].as_i64().unwrap();
    alice
        .post_empty(&format!("/api/v1/tasks/{id}/complete"))
        .await
        .ok(200);
    let ev = app.events_of("task.completed", id).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].data["task"]["recurrence"]["rule"], "FREQ=DAILY");
}

#[tokio::test]
async fn overdue_is_shown() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let late = alice
        .create_task(json!({ "title": "Late", "due_date": "2020-01-01T10:00:00Z" }))
        .await;
    assert_eq!(late["overdue"], true);
    let id = late["id"].as_i64().unwrap();
    let done = alice
        .post_empty(&format!("/api/v1/tasks/{id}/complete"))
        .await;
    assert_eq!(done.ok(200)["overdue"], false);
}

#[tokio::test]
async fn tag_links_answer_what_happened() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice.task("Tagged").await;
    let id = t["id"].as_i64().unwrap();
    let tag = alice.create_label("tags", "urgent").await;
    let tag_id = tag["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{id}/tags/{tag_id}");

    let r = alice.put(&path).await;
    let body = r.ok(200);
    assert_eq!(body["status"], "added");
    assert_eq!(body["task_id"], id);
    assert_eq!(body["tag_id"], tag_id);
    assert_eq!(body["task"]["tag_ids"], json!([tag_id]));
    assert_eq!(alice.put(&path).await.ok(200)["status"], "already_assigned");

    let r = alice.delete(&path).await;
    assert_eq!(r.ok(200)["status"], "removed");
    assert_eq!(r.body["task"]["tag_ids"], json!([]));
    assert_eq!(alice.delete(&path).await.ok(200)["status"], "not_assigned");

    // One event per actual change.
    assert_eq!(app.events_of("task.updated", id).await.len(), 2);

    alice
        .put(&format!("/api/v1/tasks/{id}/tags/999999"))
        .await
        .problem(404, "TAG_NOT_FOUND");
    alice
        .put(&format!("/api/v1/tasks/999999/tags/{tag_id}"))
        .await
        .problem(404, "TASK_NOT_FOUND");
}

#[tokio::test]
async fn traceparent_travels_into_the_event() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let r = crate::helpers::call(
        alice
            .request(reqwest::Method::POST, "/api/v1/tasks")
            .header("traceparent", incoming)
            .json(&json!({ "title": "traced" })),
    )
    .await;
    let id = r.ok(201)["id"].as_i64().unwrap();
    let ev = &app.events_of("task.created", id).await[0];
    let tp = ev.traceparent.as_deref().expect("traceparent on the event");
    assert!(
        tp.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp}"
    );

    // Without one, a fresh trace is started.
    let id2 = alice.task("untraced").await["id"].as_i64().unwrap();
    let ev2 = &app.events_of("task.created", id2).await[0];
    let tp2 = ev2.traceparent.as_deref().expect("traceparent generated");
    assert_eq!(tp2.len(), 55);
    assert!(!tp2.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
}

#[tokio::test]
async fn an_eleventh_tag_is_too_many() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let mut tags = Vec::new();
    for i in 0..11 {
        tags.push(
            alice.create_label("tags", &format!("t{i}")).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    let t = alice
        .create_task(json!({ "title": "busy", "tag_ids": &tags[..10] }))
        .await;
    let id = t["id"].as_i64().unwrap();
    let r = alice
        .put(&format!("/api/v1/tasks/{id}/tags/{}", tags[10]))
        .await;
    assert_eq!(r.problem(422, "TOO_MANY_TAGS")["field"], "tag_id");
    // Re-adding one it already has is still fine.
    let r = alice
        .put(&format!("/api/v1/tasks/{id}/tags/{}", tags[0]))
        .await;
    assert_eq!(r.ok(200)["status"], "already_assigned");
    let r = alice.get(&format!("/api/v1/tasks/{id}")).await;
    assert_eq!(r.ok(200)["tag_ids"], json!(&tags[..10]));
}
