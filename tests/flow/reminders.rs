use std::time::Duration;

use chrono::Utc;
use reqwest::Method;
use serde_json::json;

use crate::harness::{App, iso};

#[tokio::test]
async fn reminder_mail_is_written_once_at_its_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::start(dir.path()).await;
    let remind_at = Utc::now() + chrono::Duration::seconds(2);
    let (status, task) = app
        .call(
            Method::POST,
            "/api/v1/tasks",
            Some(json!({"title": "Call the plumber", "due_date": iso(remind_at + chrono::Duration::minutes(2)), "reminders": [{"remind_at": iso(remind_at)}]})),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert!(app.mails().is_empty(), "no mail before its time");

    let mails = app.wait_for_mails(1, Duration::from_secs(6)).await;
    let arrived = Utc::now();
    assert_eq!(mails.len(), 1, "exactly one mail");
    let lateness = arrived - remind_at;
    assert!(
        lateness >= chrono::Duration::zero(),
        "mail written {lateness} before its time"
    );
    assert!(
        lateness < chrono::Duration::seconds(1),
        "mail late by {lateness}"
    );
    let (_, body) = &mails[0];
    assert!(
        body.contains("Subject: Reminder: Call the plumber"),
        "{body}"
    );
    assert!(body.contains("alice@example.com"));
    assert!(body.contains("text/html") && body.contains("text/plain"));

    // Nothing more arrives, and the API shows the reminder as sent.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(app.mails().len(), 1);
    let id = task["id"].as_i64().unwrap();
    let (_, task) = app
        .call(Method::GET, &format!("/api/v1/tasks/{id}"), None)
        .await;
    assert_eq!(task["reminders"][0]["status"], "sent", "{task}");
    assert_eq!(task["reminders"][0]["late"], false);
    app.stop().await;
}

#[tokio::test]
async fn a_restart_between_scheduling_and_firing_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::start(dir.path()).await;
    let remind_at = Utc::now() + chrono::Duration::seconds(2);
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/tasks",
            Some(json!({"title": "Survive a restart", "due_date": iso(remind_at + chrono::Duration::hours(1)), "reminders": [{"remind_at": iso(remind_at)}]})),
        )
        .await;
    assert_eq!(status, 201);
    app.stop().await;

    // Down across the reminder's instant.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(app.mails().is_empty());
    let app = App::start(dir.path()).await;
    let mails = app.wait_for_mails(1, Duration::from_secs(5)).await;
    assert_eq!(
        mails.len(),
        1,
        "the reminder that fell due while down is sent on start"
    );
    assert!(mails[0].1.contains("Reminder: Survive a restart"));
}

#[tokio::test]
async fn a_redelivered_reminder_sends_no_second_mail() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(dir.path()).await;
    let remind_at = Utc::now() + chrono::Duration::milliseconds(500);
    app.call(
        Method::POST,
        "/api/v1/tasks",
        Some(json!({"title": "Only once", "due_date": iso(remind_at + chrono::Duration::hours(1)), "reminders": [{"remind_at": iso(remind_at)}]})),
    )
    .await;
    assert_eq!(app.wait_for_mails(1, Duration::from_secs(5)).await.len(), 1);
    assert_eq!(
        app.redeliver("reminder.due").await,
        1,
        "the reminder.due event is re-queued"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        app.mails().len(),
        1,
        "the same event id sends no second mail"
    );
}
