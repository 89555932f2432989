//! Probes, metrics, the OpenAPI document and request ids.

use std::sync::Arc;

use serde_json::json;

use crate::helpers::{Options, StaticCheck, spawn_app, spawn_app_with};

#[tokio::test]
async fn healthz_and_readyz() {
    let app = spawn_app().await;
    let r = app.get_anon("/healthz").await;
    assert_eq!(r.ok(200), &json!({ "status": "ok" }));
    let r = app.get_anon("/readyz").await;
    assert_eq!(r.ok(200)["status"], "ready");
    let checks = r.body["checks"].as_object().unwrap();
    assert!(!checks.is_empty());
    assert!(checks.values().all(|c| c["status"] == "ok"), "{checks:?}");
}

#[tokio::test]
async fn readyz_is_503_when_a_dependency_fails_without_leaking_details() {
    let app = spawn_app_with(Options {
        health: vec![
            Arc::new(StaticCheck {
                name: "database",
                ok: true,
            }),
            Arc::new(StaticCheck {
                name: "transport",
                ok: false,
            }),
        ],
        ..Options::default()
    })
    .await;
    let r = app.get_anon("/readyz").await;
    assert_eq!(r.status, 503, "{}", r.text);
    assert_eq!(r.body["status"], "unavailable");
    assert_eq!(r.body["checks"]["database"]["status"], "ok");
    assert_eq!(r.body["checks"]["transport"]["status"], "error");
    assert!(!r.text.contains("secret-host"), "{}", r.text);
    // Liveness does not depend on dependencies.
    assert_eq!(app.get_anon("/healthz").await.status, 200);
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice.task("one").await;
    alice.task("two").await;
    let r = app.get_anon("/metrics").await;
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert!(
        r.text
            .contains("# TYPE tickler_http_requests_total counter")
    );
    let requests: u64 = r
        .text
        .lines()
        .find_map(|l| l.strip_prefix("tickler_http_requests_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("request counter");
    assert!(requests >= 2, "{requests}");
    assert!(
        r.text
            .contains("# TYPE tickler_http_server_errors_total counter")
    );
    // Two task.created events wait in this app's outbox.
    assert!(r.text.contains("# TYPE tickler_outbox_backlog gauge"));
    assert!(
        r.text.contains("\ntickler_outbox_backlog 2\n"),
        "{}",
        r.text
    );
}

#[tokio::test]
async fn openapi_document_lists_the_api() {
    let app = spawn_app().await;
    let r = app.get_anon("/api/v1/openapi.json").await;
    let doc = r.ok(200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths = doc["paths"].as_object().unwrap();
    let expected = [
        ("/api/v1/tasks", vec!["get", "post"]),
        ("/api/v1/tasks/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/tasks/{id}/complete", vec!["post"]),
        ("/api/v1/tasks/{id}/reopen", vec!["post"]),
        ("/api/v1/tasks/{id}/tags/{tag_id}", vec!["put", "delete"]),
        ("/api/v1/tasks/{id}/reminders", vec!["get", "post"]),
        ("/api/v1/tasks/{id}/reminders/{reminder_id}", vec!["delete"]),
        ("/api/v1/categories", vec!["get", "post"]),
        ("/api/v1/categories/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/tags", vec!["get", "post"]),
        ("/api/v1/tags/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/me", vec!["get", "patch"]),
        ("/healthz", vec!["get"]),
        ("/readyz", vec!["get"]),
        ("/metrics", vec!["get"]),
    ];
    for (path, methods) in expected {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
        for m in methods {
            assert!(item.get(m).is_some(), "{m} {path} missing");
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    for s in [
        "TaskView",
        "CreateTaskInput",
        "UpdateTaskInput",
        "ProblemDoc",
    ] {
        assert!(schemas.contains_key(s), "schema {s} missing");
    }
    // The list parameters are documented.
    let params: Vec<&str> = paths["/api/v1/tasks"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for p in [
        "status", "priority", "q", "sort", "order", "limit", "cursor", "tag_ids",
    ] {
        assert!(params.contains(&p), "{p} in {params:?}");
    }
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let app = spawn_app().await;
    let r = app.get_anon("/healthz").await;
    let id = r.header("x-request-id").expect("generated request id");
    assert!(!id.is_empty());
    let r = crate::helpers::call(
        app.client
            .get(app.url("/healthz"))
            .header("x-request-id", "abc-123"),
    )
    .await;
    assert_eq!(r.header("x-request-id"), Some("abc-123"), "propagated");
}
