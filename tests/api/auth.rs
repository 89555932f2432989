//! Authentication: every `/api/v1` route needs a valid bearer token; probes and the OpenAPI
//! document do not.

use reqwest::Method;

use crate::helpers::{TestApp, call, spawn_app};

const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/api/v1/tasks"),
    ("POST", "/api/v1/tasks"),
    ("GET", "/api/v1/tasks/1"),
    ("PATCH", "/api/v1/tasks/1"),
    ("DELETE", "/api/v1/tasks/1"),
    ("POST", "/api/v1/tasks/1/complete"),
    ("POST", "/api/v1/tasks/1/reopen"),
    ("PUT", "/api/v1/tasks/1/tags/1"),
    ("DELETE", "/api/v1/tasks/1/tags/1"),
    ("GET", "/api/v1/tasks/1/reminders"),
    ("POST", "/api/v1/tasks/1/reminders"),
    ("DELETE", "/api/v1/tasks/1/reminders/1"),
    ("GET", "/api/v1/categories"),
    ("POST", "/api/v1/categories"),
    ("GET", "/api/v1/categories/1"),
    ("PATCH", "/api/v1/categories/1"),
    ("DELETE", "/api/v1/categories/1"),
    ("GET", "/api/v1/tags"),
    ("POST", "/api/v1/tags"),
    ("GET", "/api/v1/tags/1"),
    ("PATCH", "/api/v1/tags/1"),
    ("DELETE", "/api/v1/tags/1"),
    ("GET", "/api/v1/me"),
    ("PATCH", "/api/v1/me"),
];

async fn send(app: &TestApp, method: &str, path: &str, auth: Option<&str>) -> crate::helpers::Resp {
    let mut rb = app.client.request(
        Method::from_bytes(method.as_bytes()).unwrap(),
        app.url(path),
    );
    if let Some(a) = auth {
        rb = rb.header("authorization", a);
    }
    if matches!(method, "POST" | "PATCH") {
        rb = rb.json(&serde_json::json!({ "title": "x", "name": "x" }));
    }
    call(rb).await
}

#[tokio::test]
async fn every_route_refuses_missing_forged_and_expired_tokens() {
    let app = spawn_app().await;
    let forged = tickler::auth::Auth::new(b"not-the-secret").mint("alice", None, None, 3600);
    let expired = app.expired_token("alice", 3600);
    let valid = app.token("alice");
    let cases = [
        None,
        Some(format!("Bearer {forged}")),
        Some(format!("Bearer {expired}")),
        Some("Bearer not.a.jwt".to_owned()),
        Some(format!("Basic {valid}")),
        Some(valid.clone()),
    ];
    for (method, path) in PROTECTED {
        for auth in &cases {
            let r = send(&app, method, path, auth.as_deref()).await;
            r.problem(401, "UNAUTHORIZED");
            assert!(
                r.header("www-authenticate")
                    .is_some_and(|h| h.starts_with("Bearer")),
                "{method} {path}: WWW-Authenticate"
            );
        }
    }
    // Nothing was written by any of them.
    assert!(app.events().await.is_empty());
    let r = send(
        &app,
        "GET",
        "/api/v1/tasks",
        Some(&format!("Bearer {valid}")),
    )
    .await;
    assert_eq!(r.ok(200)["items"], serde_json::json!([]));
}

#[tokio::test]
async fn probes_and_openapi_need_no_token() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz", "/metrics", "/api/v1/openapi.json"] {
        assert_eq!(app.get_anon(path).await.status, 200, "{path}");
    }
}

#[tokio::test]
async fn token_problems_do_not_echo_the_token() {
    let app = spawn_app().await;
    let expired = app.expired_token("alice", 3600);
    let r = send(
        &app,
        "GET",
        "/api/v1/me",
        Some(&format!("Bearer {expired}")),
    )
    .await;
    r.problem(401, "UNAUTHORIZED");
    assert!(!r.text.contains(&expired));
}

/// Issue 10: a request without a valid token is 401 whatever else is wrong with it, and only an
/// authenticated request learns about framing (400/415) and then content (422) problems.
#[tokio::test]
async fn authentication_comes_before_any_other_check() {
    let app = spawn_app().await;
    let forged = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln";
    let hostile = |rb: reqwest::RequestBuilder| {
        rb.header("Idempotency-Key", "k".repeat(300))
            .header("content-type", "text/plain")
            .body("{not json")
    };
    for auth in [None, Some(forged), Some("Basic YTpi")] {
        for (method, path) in PROTECTED
            .iter()
            .copied()
            .chain([
                ("GET", "/api/v1/tasks/not-a-number"),
                ("GET", "/api/v1/tasks?colour=red"),
            ])
            .chain([
                ("GET", "/api/v1/tasks?limit=0"),
                ("POST", "/api/v1/tasks/x/complete"),
            ])
        {
            let mut rb = app.client.request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                app.url(path),
            );
            if let Some(a) = auth {
                rb = rb.header("authorization", a);
            }
            let r = call(hostile(rb)).await;
            r.problem(401, "UNAUTHORIZED");
            assert!(r.header("www-authenticate").is_some(), "{method} {path}");
        }
    }

    let alice = app.user("alice");
    // Authenticated: the malformed key (framing) is reported before the body's content type.
    let r = call(hostile(alice.request(Method::POST, "/api/v1/tasks"))).await;
    assert_eq!(
        r.problem(400, "INVALID_REQUEST")["field"],
        "Idempotency-Key"
    );
    // Then the content type, then the JSON's shape, then its content.
    let r = call(
        alice
            .request(Method::POST, "/api/v1/tasks")
            .header("content-type", "text/plain")
            .body(r#"{"title": ""}"#),
    )
    .await;
    r.problem(415, "INVALID_REQUEST");
    let r = alice
        .post(
            "/api/v1/tasks",
            serde_json::json!({ "title": "", "colour": 1 }),
        )
        .await;
    assert_eq!(r.problem(400, "INVALID_REQUEST")["field"], "colour");
    let r = alice
        .post("/api/v1/tasks", serde_json::json!({ "title": "" }))
        .await;
    assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "title");
    assert!(alice.all_tasks().await.is_empty());
}
