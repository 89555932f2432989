//! Reminders of a task: list, add (relative or absolute), cancel.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn add_list_and_cancel_reminders() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({
            "title": "Dentist", "due_date": "2031-05-05T09:00:00Z", "reminders": []
        }))
        .await;
    let id = t["id"].as_i64().unwrap();
    assert_eq!(t["reminders"], json!([]), "[] means no reminders");
    let base = format!("/api/v1/tasks/{id}/reminders");

    let r = alice.post(&base, json!({ "minutes_before": 30 })).await;
    let rel = r.ok(201).clone();
    let rel_id = rel["id"].as_i64().unwrap();
    assert_eq!(
        r.header("location"),
        Some(format!("{base}/{rel_id}").as_str())
    );
    assert_eq!(rel["minutes_before"], 30);
    assert_eq!(rel["remind_at"], "2031-05-05T08:30:00.000Z");
    assert_eq!(rel["status"], "scheduled");
    assert_eq!(rel["fired_at"], json!(null));
    assert_eq!(rel["delivered_at"], json!(null));
    assert_eq!(rel["late"], false);

    let r = alice
        .post(&base, json!({ "remind_at": "2031-05-01T07:00:00+02:00" }))
        .await;
    let abs = r.ok(201).clone();
    assert_eq!(abs["minutes_before"], json!(null));
    assert_eq!(abs["remind_at"], "2031-05-01T05:00:00.000Z");
    assert_ne!(abs["id"], rel["id"]);

    let r = alice.get(&base).await;
    assert_eq!(r.ok(200)["items"], json!([rel, abs]));

    // Re-dating the task moves the relative reminder only.
    let r = alice
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({ "due_date": "2031-05-06T09:00:00Z" }),
        )
        .await;
    let rs = r.ok(200)["reminders"].as_array().unwrap().clone();
    assert_eq!(rs[0]["remind_at"], "2031-05-06T08:30:00.000Z");
    assert_eq!(rs[1]["remind_at"], "2031-05-01T05:00:00.000Z");

    let r = alice.delete(&format!("{base}/{rel_id}")).await;
    assert_eq!(r.ok(200)["id"], rel_id);
    assert_eq!(r.body["status"], "cancelled");
    alice
        .delete(&format!("{base}/{rel_id}"))
        .await
        .problem(404, "REMINDER_NOT_FOUND");
    alice
        .delete(&format!("{base}/987654"))
        .await
        .problem(404, "REMINDER_NOT_FOUND");
    let r = alice.get(&base).await;
    assert_eq!(r.ok(200)["items"][0]["status"], "cancelled");
    assert_eq!(r.body["items"][1]["status"], "scheduled");

    // Each change is a task.updated event.
    assert_eq!(app.events_of("task.updated", id).await.len(), 4);
}

#[tokio::test]
async fn reminder_errors() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let undated = alice.task("No date").await["id"].as_i64().unwrap();
    let dated = alice
        .create_task(json!({ "title": "Dated", "due_date": "2031-01-01T12:00:00Z" }))
        .await["id"]
        .as_i64()
        .unwrap();
    let before = alice.get(&format!("/api/v1/tasks/{dated}")).await.body;
    alice
        .post(
            &format!("/api/v1/tasks/{undated}/reminders"),
            json!({ "minutes_before": 10 }),
        )
        .await
        .problem(422, "INVALID_REMINDER");
    alice
        .post(
            &format!("/api/v1/tasks/{dated}/reminders"),
            json!({ "minutes_before": 10, "remind_at": "2031-01-01T00:00:00Z" }),
        )
        .await
        .problem(422, "INVALID_REMINDER");
    alice
        .post(&format!("/api/v1/tasks/{dated}/reminders"), json!({}))
        .await
        .problem(422, "INVALID_REMINDER");
    alice
        .post(
            &format!("/api/v1/tasks/{dated}/reminders"),
            json!({ "minutes_before": -5 }),
        )
        .await
        .problem(422, "INVALID_REMINDER");
    alice
        .post(
            &format!("/api/v1/tasks/{dated}/reminders"),
            json!({ "remind_at": "2001-01-01T00:00:00Z" }),
        )
        .await
        .problem(422, "INVALID_REMINDER");
    alice
        .post(
            &format!("/api/v1/tasks/{dated}/reminders"),
            json!({ "remind_at": "soon" }),
        )
        .await
        .problem(422, "VALIDATION_ERROR");
    alice
        .post(
            "/api/v1/tasks/424242/reminders",
            json!({ "minutes_before": 5 }),
        )
        .await
        .problem(404, "TASK_NOT_FOUND");
    alice
        .get("/api/v1/tasks/424242/reminders")
        .await
        .problem(404, "TASK_NOT_FOUND");
    assert_eq!(
        alice.get(&format!("/api/v1/tasks/{dated}")).await.body,
        before,
        "refused reminders change nothing"
    );

    // Twenty pending reminders at most.
    let many: Vec<_> = (1..=21).map(|m| json!({ "minutes_before": m })).collect();
    alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "t", "due_date": "2031-01-01T12:00:00Z", "reminders": many }),
        )
        .await
        .problem(422, "TOO_MANY_REMINDERS");
    let twenty: Vec<_> = (1..=20).map(|m| json!({ "minutes_before": m })).collect();
    let full = alice
        .create_task(
            json!({ "title": "full", "due_date": "2031-01-01T12:00:00Z", "reminders": twenty }),
        )
        .await["id"]
        .as_i64()
        .unwrap();
    alice
        .post(
            &format!("/api/v1/tasks/{full}/reminders"),
            json!({ "minutes_before": 99 }),
        )
        .await
        .problem(422, "TOO_MANY_REMINDERS");
}
