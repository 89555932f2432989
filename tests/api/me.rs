//! `/api/v1/me`: the profile from the token, and its preferences.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn profile_starts_from_the_token_and_can_be_edited() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let r = alice.get("/api/v1/me").await;
    assert_eq!(
        r.ok(200),
        &json!({
            "id": "alice",
            "email": "alice@example.com",
            "name": "alice",
            "time_zone": "UTC",
            "default_reminder_minutes": 60,
        })
    );
    let r = alice
        .patch(
            "/api/v1/me",
            json!({
                "email": "alice@work.example",
                "name": "Alice Liddell",
                "time_zone": "Europe/Paris",
                "default_reminder_minutes": 15,
            }),
        )
        .await;
    let expected = json!({
        "id": "alice",
        "email": "alice@work.example",
        "name": "Alice Liddell",
        "time_zone": "Europe/Paris",
        "default_reminder_minutes": 15,
    });
    assert_eq!(r.ok(200), &expected);
    // Kept, and the token's claims do not overwrite what the user set.
    assert_eq!(alice.get("/api/v1/me").await.ok(200), &expected);

    // The default reminder applies to new tasks with a due date.
    let t = alice
        .create_task(json!({ "title": "x", "due_date": "2031-01-01T12:00:00Z" }))
        .await;
    assert_eq!(t["reminders"][0]["minutes_before"], 15);

    // null: no default reminder.
    let r = alice
        .patch("/api/v1/me", json!({ "default_reminder_minutes": null }))
        .await;
    assert_eq!(r.ok(200)["default_reminder_minutes"], json!(null));
    let t = alice
        .create_task(json!({ "title": "y", "due_date": "2031-01-01T12:00:00Z" }))
        .await;
    assert_eq!(t["reminders"], json!([]));
}

#[tokio::test]
async fn bad_profile_values_change_nothing() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let before = alice.get("/api/v1/me").await.body;
    alice
        .patch("/api/v1/me", json!({ "time_zone": "Mars/Olympus_Mons" }))
        .await
        .problem(422, "INVALID_TIME_ZONE");
    alice
        .patch("/api/v1/me", json!({ "default_reminder_minutes": -1 }))
        .await
        .problem(422, "INVALID_REMINDER");
    let p = alice
        .patch(
            "/api/v1/me",
            json!({ "name": "Valid Name", "email": "not-an-email" }),
        )
        .await;
    assert_eq!(p.problem(422, "VALIDATION_ERROR")["field"], "email");
    alice
        .patch("/api/v1/me", json!({}))
        .await
        .problem(400, "INVALID_REQUEST");
    alice
        .patch("/api/v1/me", json!({ "id": "bob" }))
        .await
        .problem(400, "INVALID_REQUEST");
    assert_eq!(alice.get("/api/v1/me").await.body, before);
}
