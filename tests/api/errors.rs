//! Every error code reachable through REST, as `application/problem+json`; malformed requests;
//! nothing half-written.

use serde_json::{Value, json};

use crate::helpers::{Options, call, post_chunked, spawn_app, spawn_app_with};

#[tokio::test]
async fn task_validation_codes() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({ "title": "x", "priority": "critical" }),
            "INVALID_PRIORITY",
            "priority",
        ),
        (
            json!({ "title": "x", "tag_ids": (1..=11).collect::<Vec<i64>>() }),
            "TOO_MANY_TAGS",
            "tag_ids",
        ),
        (
            json!({ "title": "x", "recurrence_rule": "every blue moon" }),
            "INVALID_RECURRENCE_RULE",
            "recurrence_rule",
        ),
        (
            json!({ "title": "x", "due_date": "next friday" }),
            "INVALID_DUE_DATE",
            "due_date",
        ),
        (json!({ "title": "   " }), "VALIDATION_ERROR", "title"),
        (
            json!({ "title": "t".repeat(201) }),
            "VALIDATION_ERROR",
            "title",
        ),
        (
            json!({ "title": "x", "description": "d".repeat(10_001) }),
            "VALIDATION_ERROR",
            "description",
        ),
        (
            json!({ "title": "x", "reminders": [{ "minutes_before": 5 }] }),
            "INVALID_REMINDER",
            "reminders",
        ),
    ];
    for (body, code, field) in &cases {
        let r = alice.post("/api/v1/tasks", body.clone()).await;
        assert_eq!(r.problem(422, code)["field"], *field, "{body}");
    }

    // The same rules on update.
    let id = alice.task("ok").await["id"].as_i64().unwrap();
    let path = format!("/api/v1/tasks/{id}");
    alice
        .patch(&path, json!({ "priority": "meh" }))
        .await
        .problem(422, "INVALID_PRIORITY");
    alice
        .patch(&path, json!({ "due_date": "31/12/2030" }))
        .await
        .problem(422, "INVALID_DUE_DATE");
    alice
        .patch(&path, json!({ "recurrence_rule": "sometimes" }))
        .await
        .problem(422, "INVALID_RECURRENCE_RULE");
    alice
        .patch(&path, json!({ "tag_ids": (1..=11).collect::<Vec<i64>>() }))
        .await
        .problem(422, "TOO_MANY_TAGS");
    alice
        .patch(&path, json!({ "title": "" }))
        .await
        .problem(422, "VALIDATION_ERROR");
    alice
        .patch(&path, json!({}))
        .await
        .problem(400, "INVALID_REQUEST");

    // None of it wrote anything.
    let tasks = alice.all_tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "ok");
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn references_must_exist() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "x", "category_id": 4242 }),
        )
        .await
        .problem(404, "CATEGORY_NOT_FOUND");
    alice
        .post("/api/v1/tasks", json!({ "title": "x", "tag_ids": [4242] }))
        .await
        .problem(404, "TAG_NOT_FOUND");
    let id = alice.task("ok").await["id"].as_i64().unwrap();
    alice
        .patch(
            &format!("/api/v1/tasks/{id}"),
            json!({ "category_id": 4242 }),
        )
        .await
        .problem(404, "CATEGORY_NOT_FOUND");
    alice
        .patch(&format!("/api/v1/tasks/{id}"), json!({ "tag_ids": [4242] }))
        .await
        .problem(404, "TAG_NOT_FOUND");
    for path in [
        "/api/v1/tasks/4242",
        "/api/v1/categories/4242",
        "/api/v1/tags/4242",
    ] {
        let r = alice.get(path).await;
        assert_eq!(r.status, 404, "{path}");
        assert!(r.body["code"].as_str().unwrap().ends_with("_NOT_FOUND"));
    }
    for path in ["/api/v1/tasks/4242/complete", "/api/v1/tasks/4242/reopen"] {
        alice.post_empty(path).await.problem(404, "TASK_NOT_FOUND");
    }
    alice
        .patch("/api/v1/tasks/4242", json!({ "title": "x" }))
        .await
        .problem(404, "TASK_NOT_FOUND");
    // Half-written nothing: only the one good task and its event.
    assert_eq!(alice.all_tasks().await.len(), 1);
    assert_eq!(app.events().await.len(), 1);
}

#[tokio::test]
async fn list_parameters_are_checked() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for (query, status, code, field) in [
        ("status=done", 422, "VALIDATION_ERROR", "status"),
        ("priority=critical", 422, "INVALID_PRIORITY", "priority"),
        ("category_id=abc", 422, "VALIDATION_ERROR", "category_id"),
        ("tag_ids=1,two", 422, "VALIDATION_ERROR", "tag_ids"),
        ("due_before=tomorrow", 422, "VALIDATION_ERROR", "due_before"),
        ("due_after=2031-13-45", 422, "VALIDATION_ERROR", "due_after"),
        ("overdue=perhaps", 422, "VALIDATION_ERROR", "overdue"),
        ("sort=colour", 422, "VALIDATION_ERROR", "sort"),
        ("order=sideways", 422, "VALIDATION_ERROR", "order"),
        ("limit=0", 422, "VALIDATION_ERROR", "limit"),
        ("limit=101", 422, "VALIDATION_ERROR", "limit"),
        ("limit=ten", 422, "VALIDATION_ERROR", "limit"),
        ("q=%21%21%21", 422, "VALIDATION_ERROR", "q"),
        ("q=milk&sort=title", 422, "VALIDATION_ERROR", "sort"),
        ("cursor=not-a-cursor", 422, "INVALID_CURSOR", "cursor"),
        ("colour=red", 400, "INVALID_REQUEST", "colour"),
        ("status=all&status=pending", 400, "INVALID_REQUEST", ""),
    ] {
        let r = alice.get(&format!("/api/v1/tasks?{query}")).await;
        let p = r.problem(status, code);
        if !field.is_empty() {
            assert_eq!(p["field"], field, "{query}: {p}");
        }
    }
}

#[tokio::test]
async fn malformed_requests_are_400() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let post_raw = |body: &'static str, content_type: &'static str| {
        call(
            alice
                .request(reqwest::Method::POST, "/api/v1/tasks")
                .header("content-type", content_type)
                .body(body),
        )
    };
    let r = post_raw("{\"title\": \"x\"", "application/json").await;
    assert!(
        r.problem(400, "INVALID_REQUEST")["detail"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );
    post_raw("", "application/json")
        .await
        .problem(400, "INVALID_REQUEST");
    post_raw("[1, 2]", "application/json")
        .await
        .problem(400, "INVALID_REQUEST");
    let r = post_raw(
        "{\"title\": \"x\", \"user_id\": \"bob\"}",
        "application/json",
    )
    .await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "user_id");
    let r = post_raw("{\"title\": 5}", "application/json").await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "title");
    let r = post_raw("{}", "application/json").await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "title");
    post_raw("{\"title\": \"x\"}", "application/merge-patch+json")
        .await
        .ok(201);
    post_raw("{\"title\": \"x\"}", "text/plain")
        .await
        .problem(415, "INVALID_REQUEST");
    // Unknown fields on every body type.
    let id = alice.task("t").await["id"].as_i64().unwrap();
    for (path, body) in [
        (
            format!("/api/v1/tasks/{id}"),
            json!({ "title": "x", "done": true }),
        ),
        ("/api/v1/me".to_owned(), json!({ "tz": "UTC" })),
        (
            "/api/v1/tags/1".to_owned(),
            json!({ "name": "x", "colour": "#000000" }),
        ),
    ] {
        let r = alice.patch(&path, body).await;
        assert!(
            r.problem(400, "INVALID_REQUEST")["field"].is_string(),
            "{path}"
        );
    }
    alice
        .get("/api/v1/tasks/not-a-number")
        .await
        .problem(400, "INVALID_REQUEST");
    alice.get("/api/v1/nowhere").await.problem(404, "NOT_FOUND");
    let r = call(alice.request(reqwest::Method::PUT, "/api/v1/tasks")).await;
    r.problem(405, "INVALID_REQUEST");
    // One task from the valid merge-patch+json request, one from `task`.
    assert_eq!(alice.all_tasks().await.len(), 2);
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let app = spawn_app_with(Options {
        body_limit: 4 * 1024,
        ..Options::default()
    })
    .await;
    let alice = app.user("alice");
    let big = json!({ "title": "x", "description": "d".repeat(5000) });
    alice
        .post("/api/v1/tasks", big.clone())
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
    // Also when the length is not declared up front (chunked), with or without the
    // idempotency path (which reads the body itself).
    let bytes = serde_json::to_vec(&big).unwrap();
    for headers in [&[][..], &[("Idempotency-Key", "big-1")][..]] {
        let (status, body) =
            post_chunked(&app, "/api/v1/tasks", &alice.token, headers, &bytes).await;
        assert_eq!(status, 413, "{body}");
        assert!(body.contains("PAYLOAD_TOO_LARGE"), "{body}");
    }
    // A small chunked body goes through.
    let (status, body) = post_chunked(
        &app,
        "/api/v1/tasks",
        &alice.token,
        &[],
        br#"{"title":"chunked"}"#,
    )
    .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(alice.all_tasks().await.len(), 1);
    // Under the limit is fine.
    alice
        .create_task(json!({ "title": "x", "description": "d".repeat(3000) }))
        .await;
}

#[tokio::test]
async fn default_limit_is_64_kib() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "x", "description": "d".repeat(70 * 1024) }),
        )
        .await
        .problem(413, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn server_errors_are_problems_without_internals() {
    let app = spawn_app_with(Options {
        failing_creates: 1,
        ..Options::default()
    })
    .await;
    let alice = app.user("alice");
    let r = alice.post("/api/v1/tasks", json!({ "title": "x" })).await;
    r.problem(500, "INTERNAL_ERROR");
    assert!(
        !r.text.contains("secret-db") && !r.text.contains("insert task"),
        "{}",
        r.text
    );
    assert!(alice.all_tasks().await.is_empty());
    assert!(app.events().await.is_empty());
    let metrics = app.get_anon("/metrics").await.text;
    let errors: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tickler_http_server_errors_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(errors >= 1);

    let app = spawn_app_with(Options {
        failing_creates: 1,
        transient_failures: true,
        ..Options::default()
    })
    .await;
    let r = app
        .user("alice")
        .post("/api/v1/tasks", json!({ "title": "x" }))
        .await;
    r.problem(503, "UNAVAILABLE");
    assert!(r.header("retry-after").is_some());
    assert!(!r.text.contains("secret-db"), "{}", r.text);
}
