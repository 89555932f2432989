//! `Idempotency-Key` on POST: replay, conflict, in-flight duplicates, per-user keys.

use reqwest::Method;
use serde_json::{Value, json};
use tickler::adapters::http::idempotency::{CLAIM_TTL, in_flight_record, state_key};
use tickler::domain::UserId;
use tickler::ports::ETagCondition;

use crate::helpers::{Resp, User, call, spawn_app};

async fn post_with_key(user: &User<'_>, path: &str, key: &str, body: Value) -> Resp {
    call(
        user.request(Method::POST, path)
            .header("Idempotency-Key", key)
            .json(&body),
    )
    .await
}

#[tokio::test]
async fn retry_replays_the_first_answer() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let body = json!({ "title": "Pay invoice", "priority": "high" });
    let first = post_with_key(&alice, "/api/v1/tasks", "key-1", body.clone()).await;
    first.ok(201);
    assert_eq!(first.header("idempotent-replayed"), None);
    let second = post_with_key(&alice, "/api/v1/tasks", "key-1", body.clone()).await;
    assert_eq!(second.status, 201);
    assert_eq!(second.text, first.text, "same body");
    assert_eq!(second.header("location"), first.header("location"));
    assert_eq!(second.header("content-type"), Some("application/json"));
    assert_eq!(second.header("idempotent-replayed"), Some("true"));
    // One task, one event.
    assert_eq!(alice.all_tasks().await.len(), 1);
    assert_eq!(app.events().await.len(), 1);

    // A different key is a different request.
    post_with_key(&alice, "/api/v1/tasks", "key-2", body)
        .await
        .ok(201);
    assert_eq!(alice.all_tasks().await.len(), 2);
}

#[tokio::test]
async fn reusing_a_key_for_another_request_is_a_conflict() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    post_with_key(&alice, "/api/v1/tasks", "k", json!({ "title": "one" }))
        .await
        .ok(201);
    let r = post_with_key(&alice, "/api/v1/tasks", "k", json!({ "title": "two" })).await;
    r.problem(422, "IDEMPOTENCY_CONFLICT");
    let r = post_with_key(&alice, "/api/v1/tags", "k", json!({ "name": "one" })).await;
    r.problem(422, "IDEMPOTENCY_CONFLICT");
    assert_eq!(alice.all_tasks().await.len(), 1);
    assert_eq!(alice.get("/api/v1/tags").await.body["items"], json!([]));
}

#[tokio::test]
async fn a_duplicate_in_flight_is_409() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let body = json!({ "title": "slow" });
    // The first request has claimed the key and is still running.
    let bytes = serde_json::to_vec(&body).unwrap();
    app.backend
        .state
        .save(
            &state_key(&UserId::parse("alice").unwrap(), "busy"),
            &in_flight_record(&Method::POST, "/api/v1/tasks", &bytes),
            ETagCondition::Absent,
            Some(CLAIM_TTL),
        )
        .await
        .unwrap();
    let r = call(
        alice
            .request(Method::POST, "/api/v1/tasks")
            .header("Idempotency-Key", "busy")
            .header("content-type", "application/json")
            .body(bytes),
    )
    .await;
    r.problem(409, "IDEMPOTENCY_CONFLICT");
    assert!(alice.all_tasks().await.is_empty());
}

#[tokio::test]
async fn concurrent_duplicates_create_one_task() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let body = json!({ "title": "once" });
    let runs = (0..8).map(|_| post_with_key(&alice, "/api/v1/tasks", "race", body.clone()));
    let results = futures::future::join_all(runs).await;
    let mut created = None;
    for r in &results {
        match r.status {
            201 => {
                let id = r.body["id"].clone();
                assert_eq!(
                    *created.get_or_insert(id.clone()),
                    id,
                    "same task every time"
                );
            }
            409 => {
                r.problem(409, "IDEMPOTENCY_CONFLICT");
            }
            other => panic!("unexpected {other}: {}", r.text),
        }
    }
    assert!(created.is_some());
    assert_eq!(alice.all_tasks().await.len(), 1);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn keys_belong_to_their_user() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let bob = app.user("bob");
    let body = json!({ "title": "mine" });
    let a = post_with_key(&alice, "/api/v1/tasks", "shared", body.clone()).await;
    let b = post_with_key(&bob, "/api/v1/tasks", "shared", body).await;
    assert_eq!(b.status, 201);
    assert_eq!(b.header("idempotent-replayed"), None, "not alice's answer");
    assert_ne!(a.body["id"], b.body["id"]);
    assert_eq!(bob.all_tasks().await.len(), 1);
}

#[tokio::test]
async fn client_errors_are_replayed_too() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let body = json!({ "title": "x", "priority": "critical" });
    let first = post_with_key(&alice, "/api/v1/tasks", "bad", body.clone()).await;
    first.problem(422, "INVALID_PRIORITY");
    let again = post_with_key(&alice, "/api/v1/tasks", "bad", body).await;
    again.problem(422, "INVALID_PRIORITY");
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
}

#[tokio::test]
async fn every_post_route_is_idempotent() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let id = alice
        .create_task(json!({ "title": "t", "due_date": "2031-01-01T12:00:00Z", "reminders": [] }))
        .await["id"]
        .as_i64()
        .unwrap();
    for (path, body) in [
        ("/api/v1/categories".to_owned(), json!({ "name": "c" })),
        ("/api/v1/tags".to_owned(), json!({ "name": "t" })),
        (
            format!("/api/v1/tasks/{id}/reminders"),
            json!({ "minutes_before": 5 }),
        ),
        (format!("/api/v1/tasks/{id}/complete"), json!({})),
        (format!("/api/v1/tasks/{id}/reopen"), json!({})),
    ] {
        let key = format!("k-{path}");
        let first = post_with_key(&alice, &path, &key, body.clone()).await;
        assert!(first.status < 300, "{path}: {}", first.text);
        let again = post_with_key(&alice, &path, &key, body).await;
        assert_eq!(again.status, first.status, "{path}");
        assert_eq!(again.text, first.text, "{path}");
        assert_eq!(again.header("idempotent-replayed"), Some("true"), "{path}");
    }
    assert_eq!(
        alice.get("/api/v1/categories").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        alice.get("/api/v1/tags").await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    let r = alice.get(&format!("/api/v1/tasks/{id}/reminders")).await;
    assert_eq!(r.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn bad_keys_are_400() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let long = "k".repeat(256);
    let r = post_with_key(&alice, "/api/v1/tasks", &long, json!({ "title": "x" })).await;
    r.problem(400, "INVALID_REQUEST");
    let r = post_with_key(&alice, "/api/v1/tasks", "", json!({ "title": "x" })).await;
    r.problem(400, "INVALID_REQUEST");
    let ok = "k".repeat(255);
    post_with_key(&alice, "/api/v1/tasks", &ok, json!({ "title": "x" }))
        .await
        .ok(201);
    assert_eq!(alice.all_tasks().await.len(), 1);
}

#[tokio::test]
async fn unauthenticated_requests_with_a_key_are_401_and_store_nothing() {
    let app = spawn_app().await;
    let r = call(
        app.client
            .post(app.url("/api/v1/tasks"))
            .header("Idempotency-Key", "anon")
            .json(&json!({ "title": "x" })),
    )
    .await;
    r.problem(401, "UNAUTHORIZED");
    let alice = app.user("alice");
    let r = post_with_key(&alice, "/api/v1/tasks", "anon", json!({ "title": "x" })).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("idempotent-replayed"), None);
}

#[tokio::test]
async fn server_errors_are_not_stored_so_a_retry_runs_again() {
    let app = crate::helpers::spawn_app_with(crate::helpers::Options {
        failing_creates: 1,
        ..Default::default()
    })
    .await;
    let alice = app.user("alice");
    let body = json!({ "title": "retry me" });
    let first = post_with_key(&alice, "/api/v1/tasks", "k5", body.clone()).await;
    first.problem(500, "INTERNAL_ERROR");
    let second = post_with_key(&alice, "/api/v1/tasks", "k5", body.clone()).await;
    second.ok(201);
    assert_eq!(second.header("idempotent-replayed"), None, "ran again");
    let third = post_with_key(&alice, "/api/v1/tasks", "k5", body).await;
    assert_eq!(third.text, second.text);
    assert_eq!(third.header("idempotent-replayed"), Some("true"));
    assert_eq!(alice.all_tasks().await.len(), 1);
}
