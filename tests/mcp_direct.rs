//! The MCP direct path (`src/adapters/mcp/direct.rs`) against the SDK it stands in for: the same
//! tool calls sent so that the direct path takes them and so that it must leave them to the SDK
//! (a `params._meta` member, which the direct path never takes), on every protocol version it
//! serves, must get the same answers. And what it does not take must still reach the SDK.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use tickler::adapters::mcp;
use tickler::adapters::memory::{MemoryStateStore, MemoryStore, SystemClock};
use tickler::app::Services;
use tickler::auth::Auth;

struct Server {
    url: String,
    token: String,
    http: reqwest::Client,
}

async fn server() -> Server {
    let store = MemoryStore::new();
    let clock = Arc::new(SystemClock);
    let services = Services {
        tasks: Arc::new(store.clone()),
        labels: Arc::new(store.clone()),
        users: Arc::new(store),
        state: Arc::new(MemoryStateStore::new(clock.clone())),
        clock,
    };
    let auth = Arc::new(Auth::new(b"test-secret"));
    let token = auth.mint("alice", None, None, 600);
    let app = mcp::router(services, auth);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/mcp", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Server {
        url,
        token,
        http: reqwest::Client::new(),
    }
}

struct Answer {
    status: u16,
    content_type: String,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }

    /// Whether the direct path wrote this answer. The SDK's structured content went through a
    /// `serde_json::Value`, whose maps sort their keys; the direct path writes the result types'
    /// field order, and every result below has a field out of alphabetical order (`status`
    /// before `code`, `title` before `description`, `name` before `color`).
    fn written_directly(&self) -> bool {
        #[derive(Deserialize)]
        struct Envelope<'a> {
            #[serde(borrow)]
            result: Result<'a>,
        }
        #[derive(Deserialize)]
        struct Result<'a> {
            #[serde(borrow, rename = "structuredContent")]
            structured: &'a RawValue,
        }
        let e: Envelope = serde_json::from_str(&self.body).expect("a tool result");
        let raw = e.result.structured.get();
        let sorted = serde_json::to_string(&serde_json::from_str::<Value>(raw).unwrap()).unwrap();
        raw != sorted
    }
}

impl Server {
    async fn post_with(&self, body: &Value, version: Option<&str>, accept: &str) -> Answer {
        let mut req = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("accept", accept)
            .json(body);
        if let Some(v) = version {
            req = req.header("mcp-protocol-version", v);
        }
        let r = req.send().await.unwrap();
        Answer {
            status: r.status().as_u16(),
            content_type: r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default(),
            body: r.text().await.unwrap(),
        }
    }

    async fn post(&self, body: &Value, version: Option<&str>) -> Answer {
        self.post_with(body, version, "application/json, text/event-stream")
            .await
    }

    /// The same call, answered by the direct path and by the SDK.
    async fn both(
        &self,
        id: i64,
        tool: &str,
        args: Value,
        version: Option<&str>,
    ) -> (Answer, Answer) {
        self.pair(id, tool, args.clone(), args, version).await
    }

    /// A call to `tool` answered by the direct path (with `direct` arguments) and by the SDK
    /// (with `sdk` arguments).
    async fn pair(
        &self,
        id: i64,
        tool: &str,
        direct: Value,
        sdk: Value,
        version: Option<&str>,
    ) -> (Answer, Answer) {
        let call = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": direct}});
        let via_sdk = json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
            "params": {"name": tool, "arguments": sdk, "_meta": {}}});
        let direct = self.post(&call, version).await;
        let sdk = self.post(&via_sdk, version).await;
        assert!(
            direct.written_directly(),
            "{tool} {version:?}: {}",
            direct.body
        );
        assert!(!sdk.written_directly(), "{tool} {version:?}: {}", sdk.body);
        assert_eq!(direct.status, sdk.status, "{tool}");
        assert_eq!(direct.content_type, sdk.content_type, "{tool}");
        (direct, sdk)
    }

    async fn same(&self, id: i64, tool: &str, args: Value, version: Option<&str>) -> Value {
        let (direct, sdk) = self.both(id, tool, args, version).await;
        assert_eq!(direct.json(), sdk.json(), "{tool} {version:?}");
        direct.json()
    }
}

/// A created task's answer without what differs between two creations.
fn masked(mut v: Value) -> Value {
    let s = &mut v["result"]["structuredContent"];
    for key in ["task_id", "title", "created_at"] {
        s[key] = Value::Null;
    }
    v["result"]["content"] = Value::Null;
    v
}

#[tokio::test]
async fn the_direct_path_answers_as_the_sdk_does() {
    let s = server().await;
    let versions = [
        None,
        Some("2025-03-26"),
        Some("2025-06-18"),
        Some("2025-11-25"),
    ];
    let setup = json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call",
        "params": {"name": "create_tag", "arguments": {"name": "home", "color": "#00ff00"}}});
    let tag = s.post(&setup, None).await.json()["result"]["structuredContent"]["tag_id"].clone();
    for n in 0..3 {
        let add = json!({"jsonrpc": "2.0", "id": 0, "method": "tools/call", "params": {
            "name": "add_task", "arguments": {"title": format!("task {n}"),
            "description": "with \"quotes\" and \u{e9}", "tag_ids": [tag]}}});
        assert_eq!(s.post(&add, None).await.status, 200);
    }
    for (i, version) in versions.into_iter().enumerate() {
        let id = i as i64 * 10;
        let page = s.same(id, "list_tasks", json!({"limit": 2}), version).await;
        let r = &page["result"];
        assert_eq!(r["isError"], false);
        assert_eq!(
            r["structuredContent"]["result"].as_array().unwrap().len(),
            2
        );
        assert!(r["structuredContent"]["next_cursor"].is_string(), "{page}");
        assert!(r["content"][1]["text"].as_str().unwrap().contains("cursor"));
        assert_eq!(page["id"], id);

        let found = s
            .same(id + 1, "get_task", json!({"task_id": 1}), version)
            .await;
        assert_eq!(found["result"]["structuredContent"]["status"], "success");
        let missing = s
            .same(id + 2, "get_task", json!({"task_id": 999}), version)
            .await;
        assert_eq!(missing["result"]["isError"], true);
        assert_eq!(missing["result"]["structuredContent"]["code"], "NOT_FOUND");
        let bad = s
            .same(id + 3, "add_task", json!({"title": 5}), version)
            .await;
        assert_eq!(
            bad["result"]["structuredContent"]["code"],
            "VALIDATION_ERROR"
        );
        s.same(id + 4, "list_tags", json!({}), version).await;
        s.same(id + 5, "search_tasks", json!({"query": "task"}), version)
            .await;
        // Neither a time nor an offset: the same error both ways (a reminder that is set would
        // differ by its id).
        let reminder = s
            .same(id + 6, "set_reminder", json!({"task_id": 1}), version)
            .await;
        assert_eq!(reminder["result"]["isError"], true);

        // A write: two creations (different titles, or the duplicate guard would answer the
        // second with the first) answer alike but for what identifies them.
        let new = |who: &str| json!({"title": format!("new {i} {who}"), "priority": "high"});
        let (direct, sdk) = s
            .pair(id + 7, "add_task", new("direct"), new("sdk"), version)
            .await;
        let (direct, sdk) = (direct.json(), sdk.json());
        assert_eq!(direct["result"]["structuredContent"]["status"], "created");
        assert_ne!(
            direct["result"]["structuredContent"]["task_id"],
            sdk["result"]["structuredContent"]["task_id"]
        );
        assert_eq!(masked(direct), masked(sdk));
    }
}

#[tokio::test]
async fn what_the_direct_path_does_not_take_still_reaches_the_sdk() {
    let s = server().await;
    let list = s
        .post(
            &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
            None,
        )
        .await;
    assert_eq!(list.status, 200);
    assert_eq!(list.json()["result"]["tools"].as_array().unwrap().len(), 18);

    let unknown = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
        "params": {"name": "no_such_tool", "arguments": {}}});
    let r = s.post(&unknown, None).await;
    assert_eq!(r.json()["error"]["code"], -32602, "{}", r.body);

    let call = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
        "params": {"name": "list_tasks", "arguments": {}}});
    let r = s.post(&call, Some("1999-01-01")).await;
    assert_eq!(r.status, 400, "{}", r.body);
    let r = s.post_with(&call, None, "application/json").await;
    assert_eq!(r.status, 406, "{}", r.body);

    let note = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
    assert_eq!(s.post(&note, None).await.status, 202);
}
