//! The MCP tool layer on the in-memory adapters: tool handlers called directly (results, error
//! codes, outbox events, isolation), and the streamable HTTP router's bearer-token gate. The
//! official Python SDK drives the real binary in `tests/mcp/`.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use tickler::adapters::mcp::{self, TOOL_NAMES, TicklerMcp};
use tickler::adapters::memory::{ManualClock, MemoryStateStore, MemoryStore};
use tickler::app::{Actor, Services};
use tickler::auth::Auth;
use tickler::domain::UserId;
use tickler::domain::event::CloudEvent;

struct World {
    store: MemoryStore,
    clock: Arc<ManualClock>,
    services: Services,
}

fn world() -> World {
    let store = MemoryStore::new();
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let services = Services {
        tasks: Arc::new(store.clone()),
        labels: Arc::new(store.clone()),
        users: Arc::new(store.clone()),
        state: Arc::new(MemoryStateStore::new(clock.clone())),
        clock: clock.clone(),
    };
    World {
        store,
        clock,
        services,
    }
}

fn actor(sub: &str) -> Actor {
    Actor {
        user_id: UserId::parse(sub).unwrap(),
        email: Some(format!("{sub}@example.com")),
        name: None,
        traceparent: None,
    }
}

impl World {
    /// Calls a tool; returns (is_error, structured content), checking the text content agrees.
    async fn call(&self, who: &Actor, tool: &str, args: Value) -> (bool, Value) {
        let Value::Object(args) = args else { panic!() };
        let r = TicklerMcp::call(&self.services, who, tool, Some(args))
            .await
            .expect("known tool");
        let body = r.structured_content.clone().expect("structured content");
        let text = r.content[0].as_text().expect("text").text.clone();
        let shown: Value = serde_json::from_str(&text).unwrap();
        match body.get("result") {
            Some(list) => assert_eq!(&shown, list, "text is the bare array"),
            None => assert_eq!(shown, body),
        }
        (r.is_error == Some(true), body)
    }

    async fn ok(&self, who: &Actor, tool: &str, args: Value) -> Value {
        let (is_error, body) = self.call(who, tool, args).await;
        assert!(!is_error, "{tool}: {body}");
        body
    }

    async fn err(&self, who: &Actor, tool: &str, args: Value, code: &str) -> Value {
        let (is_error, body) = self.call(who, tool, args).await;
        assert!(is_error, "{tool}: expected {code}, got {body}");
        assert_eq!(body["code"], code, "{tool}: {body}");
        body
    }

    fn events(&self) -> Vec<(String, CloudEvent)> {
        self.store
            .unpublished()
            .into_iter()
            .map(|r| {
                (
                    r.topic.as_str().to_owned(),
                    CloudEvent::from_slice(&r.payload).unwrap(),
                )
            })
            .collect()
    }
}

#[test]
fn the_seeds_eighteen_tools() {
    let names: Vec<&str> = TicklerMcp::tools()
        .iter()
        .map(|t| t.name.as_ref())
        .collect();
    assert_eq!(names, TOOL_NAMES);
    let all = serde_json::to_string(TicklerMcp::tools()).unwrap();
    assert!(!all.contains("user_id"));
}

#[tokio::test]
async fn tasks_through_the_tools() {
    let w = world();
    let alice = actor("alice");
    let t = w
        .ok(
            &alice,
            "add_task",
            json!({"title": "Pay rent", "due_date": "2026-03-05", "recurrence_rule": "monthly", "priority": "High"}),
        )
        .await;
    assert_eq!(t["status"], "created");
    assert_eq!(t["due_date"], "2026-03-05T23:59:59Z");
    assert_eq!(t["recurrence_rule"], "FREQ=MONTHLY");
    assert_eq!(t["priority"], "high");
    assert_eq!(t["reminders"][0]["remind_at"], "2026-03-05T22:59:59Z");
    let id = t["task_id"].as_i64().unwrap();

    // The 60-second duplicate guard, then a new task once the window has passed.
    let again = w
        .ok(
            &alice,
            "add_task",
            json!({"title": "Pay rent", "recurrence_rule": "monthly"}),
        )
        .await;
    assert_eq!(
        (again["task_id"].as_i64(), again["deduplicated"].as_bool()),
        (Some(id), Some(true))
    );
    w.clock.advance(Duration::seconds(61));
    let later = w
        .ok(
            &alice,
            "add_task",
            json!({"title": "Pay rent", "recurrence_rule": "monthly"}),
        )
        .await;
    assert_ne!(later["task_id"].as_i64(), Some(id));

    let u = w
        .ok(
            &alice,
            "update_task",
            json!({"task_id": id, "due_date": null, "recurrence_rule": "", "title": "Pay the rent"}),
        )
        .await;
    assert_eq!(u["due_date"], Value::Null);
    assert_eq!(u["recurrence_rule"], Value::Null);
    assert_eq!(u["reminders"], json!([]));

    let done = w.ok(&alice, "complete_task", json!({"task_id": id})).await;
    assert_eq!(done["status"], "completed");
    let missing = w
        .err(
            &alice,
            "complete_task",
            json!({"task_id": 999}),
            "TASK_NOT_FOUND",
        )
        .await;
    let suggestions = &missing["details"]["suggestions"];
    assert_eq!(
        suggestions,
        &json!([{"id": later["task_id"], "title": "Pay rent"}])
    );

    let hits = w.ok(&alice, "search_tasks", json!({"query": "rent"})).await;
    assert_eq!(hits["result"].as_array().unwrap().len(), 2);
    w.err(
        &alice,
        "search_tasks",
        json!({"query": "!!"}),
        "VALIDATION_ERROR",
    )
    .await;
    w.err(
        &alice,
        "list_tasks",
        json!({"status": "done"}),
        "VALIDATION_ERROR",
    )
    .await;
    let gone = w.ok(&alice, "delete_task", json!({"task_id": id})).await;
    assert_eq!(
        gone,
        json!({"status": "deleted", "task_id": id, "title": "Pay the rent"})
    );

    let types: Vec<(String, String)> = w
        .events()
        .into_iter()
        .filter(|(_, e)| e.subject == id.to_string())
        .map(|(topic, e)| (topic, e.event_type))
        .collect();
    let want = [
        ("task-events", "task.created"),
        ("task-events", "task.updated"),
        ("task-events", "task.completed"),
        ("task-events", "task.deleted"),
    ];
    assert_eq!(
        types,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
}

#[tokio::test]
async fn labels_reminders_and_isolation() {
    let w = world();
    let (alice, bob) = (actor("alice"), actor("bob"));
    let cat = w
        .ok(
            &alice,
            "create_category",
            json!({"name": "Work", "color": "#112233"}),
        )
        .await;
    let tag = w.ok(&alice, "create_tag", json!({"name": "deep"})).await;
    let t = w
        .ok(
            &alice,
            "add_task",
            json!({"title": "Plan", "category_id": cat["category_id"], "tag_ids": [tag["tag_id"]], "due_date": "2026-03-03T10:00:00Z"}),
        )
        .await;
    assert_eq!(
        t["category"],
        json!({"id": cat["category_id"], "name": "Work", "color": "#112233"})
    );
    let id = t["task_id"].clone();

    let r = w
        .ok(
            &alice,
            "set_reminder",
            json!({"task_id": id, "remind_before_minutes": 30}),
        )
        .await;
    assert_eq!(r["success"], true);
    assert_eq!(r["remind_at"], "2026-03-03T09:30:00Z");
    let bad = w
        .err(
            &alice,
            "set_reminder",
            json!({"task_id": id}),
            "INVALID_REMINDER",
        )
        .await;
    assert_eq!(bad["success"], false);

    // Bob: nothing of Alice's is visible or usable.
    let listed = w.ok(&bob, "list_tasks", json!({})).await;
    assert_eq!(listed["result"], json!([]));
    w.err(&bob, "get_task", json!({"task_id": id}), "NOT_FOUND")
        .await;
    w.err(
        &bob,
        "delete_task",
        json!({"task_id": id}),
        "TASK_NOT_FOUND",
    )
    .await;
    w.err(
        &bob,
        "add_task",
        json!({"title": "x", "category_id": cat["category_id"]}),
        "CATEGORY_NOT_FOUND",
    )
    .await;
    w.err(
        &bob,
        "add_task",
        json!({"title": "x", "tag_ids": [tag["tag_id"]]}),
        "TAG_NOT_FOUND",
    )
    .await;
    let mine = w.ok(&bob, "add_task", json!({"title": "Bob's"})).await;
    w.err(
        &bob,
        "add_tag_to_task",
        json!({"task_id": mine["task_id"], "tag_id": tag["tag_id"]}),
        "TAG_NOT_FOUND",
    )
    .await;
    w.err(
        &bob,
        "delete_tag",
        json!({"tag_id": tag["tag_id"]}),
        "TAG_NOT_FOUND",
    )
    .await;
    w.err(
        &bob,
        "add_task",
        json!({"title": "x", "user_id": "alice"}),
        "VALIDATION_ERROR",
    )
    .await;
    assert_eq!(
        w.ok(&bob, "list_categories", json!({})).await["result"],
        json!([])
    );

    let kept = w.ok(&alice, "get_task", json!({"task_id": id})).await;
    assert_eq!(kept["tags"][0]["name"], "deep");
    assert_eq!(kept["reminders"].as_array().unwrap().len(), 2);
    let linked = w
        .ok(
            &alice,
            "add_tag_to_task",
            json!({"task_id": id, "tag_id": tag["tag_id"]}),
        )
        .await;
    assert_eq!(linked["status"], "already_assigned");
    let deleted = w
        .ok(
            &alice,
            "delete_category",
            json!({"category_id": cat["category_id"]}),
        )
        .await;
    assert_eq!(deleted["tasks_affected"], 1);
}

#[tokio::test]
async fn http_transport_requires_a_valid_bearer_token() {
    let w = world();
    let auth = Arc::new(Auth::new(b"test-secret"));
    let app = mcp::router(w.services.clone(), auth.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let call = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": {"name": "add_task", "arguments": {"title": "over http"}}});
    let post = |token: Option<String>| {
        let mut req = http
            .post(&url)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-protocol-version", "2025-06-18")
            .json(&call);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };

    let forged = Auth::new(b"other-secret").mint("alice", None, None, 600);
    for token in [None, Some("garbage".to_owned()), Some(forged)] {
        let r = post(token).await.unwrap();
        assert_eq!(r.status(), 401);
        assert!(
            r.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
    assert!(w.store.unpublished().is_empty(), "nothing was written");

    let r = post(Some(auth.mint("alice", None, None, 600)))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["result"]["structuredContent"]["status"], "created",
        "{body}"
    );
    let events = w.events();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].1.data["user_id"], "alice");
}

/// Issue 10: hostile arguments to every tool are tool errors with a stable code (the REST API's
/// codes), never a protocol error or a panic, and write nothing.
#[tokio::test]
async fn hostile_arguments_are_tool_errors_with_stable_codes() {
    let w = world();
    let alice = actor("alice");
    let task = w.ok(&alice, "add_task", json!({ "title": "kept" })).await;
    let task_id = task["task_id"].clone();
    let known: Vec<&str> = [
        "VALIDATION_ERROR",
        "INVALID_PRIORITY",
        "TOO_MANY_TAGS",
        "TOO_MANY_REMINDERS",
        "INVALID_RECURRENCE_RULE",
        "INVALID_DUE_DATE",
        "INVALID_COLOR",
        "INVALID_TIME_ZONE",
        "INVALID_REMINDER",
        "INVALID_REQUEST",
        "INVALID_CURSOR",
        "TASK_NOT_FOUND",
        "CATEGORY_NOT_FOUND",
        "TAG_NOT_FOUND",
        "REMINDER_NOT_FOUND",
        "DUPLICATE_NAME",
        "LIMIT_EXCEEDED",
    ]
    .to_vec();
    let hostile = [
        json!({ "title": "a\u{0}b", "name": "a\u{1b}[31m", "description": "x\u{7f}" }),
        json!({ "task_id": "not-a-number", "tag_id": [], "category_id": {} }),
        json!({ "task_id": 1e300, "tag_id": -1, "category_id": 9_223_372_036_854_775_807_i64 }),
        json!({ "task_id": task_id, "title": null, "priority": 5, "due_date": "yesterday-ish" }),
        json!({ "task_id": task_id, "recurrence_rule": "FREQ=SECONDLY;INTERVAL=0" }),
        json!({ "task_id": task_id, "tag_ids": (0..50).collect::<Vec<i64>>() }),
        json!({ "task_id": task_id, "remind_before_minutes": -5, "remind_at": "2000-01-01" }),
        json!({ "query": "\u{85}", "limit": -1, "status": "\u{0}", "sort_by": 7 }),
        json!({ "name": "n".repeat(10_000), "color": "#zzzzzz" }),
        json!({ "user_id": "bob" }),
    ];
    for tool in TOOL_NAMES {
        for args in &hostile {
            let (is_error, body) = w.call(&alice, tool, args.clone()).await;
            if is_error {
                let code = body["code"].as_str().unwrap_or_default();
                assert!(known.contains(&code), "{tool} {args}: {body}");
                assert!(body["message"].is_string(), "{tool} {args}: {body}");
            }
        }
    }
    // The hostile text never got in: the one task is unchanged, no label was made.
    let got = w
        .ok(&alice, "get_task", json!({ "task_id": task_id }))
        .await;
    assert!(!got.to_string().contains("\\u0000"), "{got}");
    for tool in ["list_categories", "list_tags"] {
        let labels = w.ok(&alice, tool, json!({})).await;
        assert!(!labels.to_string().contains("\\u001b"), "{labels}");
    }
}
