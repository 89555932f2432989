//! Bare JSON-RPC calls to the MCP endpoint (streamable HTTP, stateless JSON answers): no SDK and
//! no schema validation on the client side, so the figures are the server's, not a client's.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

pub struct Mcp {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Mcp {
    pub fn new(client: &reqwest::Client, base: &str, token: &str) -> Arc<Self> {
        Arc::new(Self {
            client: client.clone(),
            url: format!("{base}/mcp"),
            token: token.to_owned(),
        })
    }

    /// One JSON-RPC request; panics on anything but a successful, non-error result, since a
    /// benchmark of failing calls would measure the wrong path.
    pub async fn call(&self, id: usize, method: &str, params: Value) -> Value {
        let body = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        let resp = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .header("Accept", "application/json, text/event-stream")
            .header("MCP-Protocol-Version", "2025-06-18")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{method}");
        let v: Value = resp.json().await.unwrap();
        let result = v
            .get("result")
            .cloned()
            .unwrap_or_else(|| panic!("{method}: {v}"));
        assert_ne!(result["isError"], json!(true), "{method}: {result}");
        result
    }
}

/// `total` calls from `clients` concurrent clients; `call(c, i)` is client `c`'s `i`-th call as
/// (method, params). Returns the sorted latencies in ms and the wall time in s.
pub async fn run(
    mcp: &Arc<Mcp>,
    clients: usize,
    total: usize,
    call: impl Fn(usize, usize) -> (&'static str, Value) + Send + Sync + 'static,
) -> (Vec<f64>, f64) {
    let call = Arc::new(call);
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let (mcp, call) = (mcp.clone(), call.clone());
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            for i in 0..total / clients {
                let (method, params) = call(c, i);
                let t = Instant::now();
                mcp.call(i, method, params).await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(total);
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let wall = started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (all, wall)
}

/// An `add_task` call as a REST creation's twin: same fields, no reminders.
pub fn add_task(c: usize, i: usize) -> (&'static str, Value) {
    (
        "tools/call",
        json!({"name": "add_task", "arguments": {"title": format!("mcp task {c}-{i}"), "priority": "high", "description": "load test"}}),
    )
}
