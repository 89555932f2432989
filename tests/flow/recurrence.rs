use std::time::Duration;

use chrono::{Datelike, Timelike, Utc};
use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::App;

async fn wait_for_tasks(app: &App, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let (_, page) = app
            .call(Method::GET, "/api/v1/tasks?status=all&sort=due_date", None)
            .await;
        let items = page["items"].as_array().cloned().unwrap_or_default();
        if items.len() >= n || tokio::time::Instant::now() > deadline {
            return items;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn completing_a_daily_task_creates_tomorrows_once() {
    let dir = tempfile::tempdir().unwrap();
    let app = App::start(dir.path()).await;
    let (_, tag) = app
        .call(Method::POST, "/api/v1/tags", Some(json!({"name": "home"})))
        .await;
    let due = (Utc::now() + chrono::Duration::days(1))
        .with_hour(9)
        .unwrap()
        .with_minute(0)
        .unwrap()
        .with_second(0)
        .unwrap()
        .with_nanosecond(0)
        .unwrap();
    let (status, task) = app
        .call(
            Method::POST,
            "/api/v1/tasks",
            Some(json!({"title": "Water plants", "due_date": due.to_rfc3339(), "recurrence_rule": "daily", "tag_ids": [tag["id"]], "priority": "high"})),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(
        task["recurrence_rule"], "FREQ=DAILY",
        "the alias is stored as a canonical RRULE"
    );
    let id = task["id"].as_i64().unwrap();
    let (status, _) = app
        .call(Method::POST, &format!("/api/v1/tasks/{id}/complete"), None)
        .await;
    assert_eq!(status, 200);

    let tasks = wait_for_tasks(&app, 2).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    let next = tasks.iter().find(|t| t["id"].as_i64() != Some(id)).unwrap();
    let next_due: chrono::DateTime<Utc> = next["due_date"].as_str().unwrap().parse().unwrap();
    assert_eq!(next_due, due + chrono::Duration::days(1));
    assert_eq!(next_due.day(), (due + chrono::Duration::days(1)).day());
    assert_eq!(next["completed"], false);
    assert_eq!(next["priority"], "high");
    assert_eq!(next["tag_ids"], json!([tag["id"]]), "tags are copied");
    assert_eq!(next["recurrence_rule"], "FREQ=DAILY");

    // Redelivering the completion, or completing again, creates nothing more.
    assert!(app.redeliver("task.completed").await >= 1);
    app.call(Method::POST, &format!("/api/v1/tasks/{id}/complete"), None)
        .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let (_, page) = app
        .call(Method::GET, "/api/v1/tasks?status=all", None)
        .await;
    assert_eq!(
        page["items"].as_array().unwrap().len(),
        2,
        "no second occurrence"
    );
}
