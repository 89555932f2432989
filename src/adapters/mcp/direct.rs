//! The direct path: a plain stateless `tools/call` over streamable HTTP, answered without the
//! SDK's per-request machinery.
//!
//! For every POST the SDK parses the body into its message enum, re-serialises it to check the
//! standard headers, spawns a one-shot service and a task for it, and serialises the result
//! through a `serde_json::Value`. For the call agents make most (a tool call, no session, JSON
//! response) that work is the protocol's, not the tool's; this middleware answers such a call
//! itself, with the same bytes the SDK would write (`tests/mcp_direct.rs` compares the two).
//!
//! It takes a request only when it is sure the SDK would run the tool: every header and every
//! body shape it does not recognise goes to the SDK untouched, which keeps the SDK the one
//! authority on errors, negotiation and the protocol versions it knows and this file does not.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rmcp::model::{JsonObject, JsonRpcVersion2_0, ProtocolVersion, RequestId};
use serde::Deserialize;

use super::{catalog, log_call, run_tool};
use crate::app::{Actor, Services};

/// What the middleware needs: the use cases, and the SDK's body limit (a bigger body goes to the
/// SDK, which answers it).
#[derive(Clone)]
pub(super) struct Direct {
    pub services: Services,
    pub max_body: usize,
}

/// Answers a plain `tools/call` itself; passes everything else to `next` (the SDK).
pub(super) async fn tools_call(State(d): State<Direct>, req: Request, next: Next) -> Response {
    let Some(len) = eligible(req.method(), req.headers()).filter(|n| *n <= d.max_body) else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let bytes = match axum::body::to_bytes(body, len).await {
        Ok(b) => b,
        // The client stopped sending or sent more than it declared; there is no request to
        // answer, only a broken one.
        Err(_) => return (StatusCode::BAD_REQUEST, "Bad Request: unreadable body").into_response(),
    };
    let call = parse(&bytes);
    let actor = parts.extensions.get::<Actor>().cloned();
    let (Some(call), Some(actor)) = (call, actor) else {
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    let started = Instant::now();
    let name = call.params.name;
    let Some(reply) = run_tool(&d.services, &actor, &name, call.params.arguments).await else {
        // `parse` checked the name against the catalog, which `run_tool` serves in full; were
        // they ever to disagree, the SDK answers (an unknown tool) rather than a panic here.
        return next
            .run(Request::from_parts(parts, Body::from(bytes)))
            .await;
    };
    log_call(&name, &actor, reply.is_error(), started);
    (
        [(header::CONTENT_TYPE, "application/json")],
        reply.into_json_rpc(&call.id),
    )
        .into_response()
}

/// The declared body length, when the request's method and headers are those of a stateless
/// JSON `tools/call` the SDK would serve with a JSON response.
fn eligible(method: &Method, headers: &HeaderMap) -> Option<usize> {
    if method != Method::POST {
        return None;
    }
    // The SDK refuses a missing or malformed Host (400), even with its host list disabled.
    let host = headers.get(header::HOST)?.to_str().ok()?;
    axum::http::uri::Authority::try_from(host).ok()?;
    let content_type = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let essence = content_type.split(';').next()?.trim();
    if !essence.eq_ignore_ascii_case("application/json") {
        return None;
    }
    if !accepts_json_and_sse(headers) {
        return None;
    }
    for name in headers.keys() {
        let name = name.as_str();
        // Session ids, standard `Mcp-Method`/`Mcp-Name` headers and resumption belong to the SDK.
        if (name.starts_with("mcp-") && name != "mcp-protocol-version") || name == "last-event-id" {
            return None;
        }
    }
    let mut versions = headers.get_all("mcp-protocol-version").iter();
    if let Some(v) = versions.next() {
        let v = v.to_str().ok()?;
        let known = ProtocolVersion::KNOWN_VERSIONS
            .iter()
            .any(|k| k.as_str() == v);
        // From 2026-07-28 on, results carry `resultType` and headers are checked against the
        // body: the SDK's work.
        if !known || v >= ProtocolVersion::STANDARD_HEADERS.as_str() || versions.next().is_some() {
            return None;
        }
    }
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// One `Accept` header that names both media types plainly. Weights, parameters and quoting are
/// rare from MCP clients and the SDK's to judge.
fn accepts_json_and_sse(headers: &HeaderMap) -> bool {
    let mut all = headers.get_all(header::ACCEPT).iter();
    let (Some(accept), None) = (all.next(), all.next()) else {
        return false;
    };
    let Ok(accept) = accept.to_str() else {
        return false;
    };
    if accept.contains([';', '"']) {
        return false;
    }
    let mut json = false;
    let mut sse = false;
    for range in accept.split(',').map(str::trim) {
        json |= range.eq_ignore_ascii_case("application/json");
        sse |= range.eq_ignore_ascii_case("text/event-stream");
    }
    json && sse
}

/// A JSON-RPC request for `tools/call`, exactly: any other member (`_meta` included) makes it
/// the SDK's.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ToolsCall {
    #[allow(dead_code, reason = "checked by deserialising")]
    jsonrpc: JsonRpcVersion2_0,
    id: RequestId,
    method: String,
    params: Params,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    name: String,
    #[serde(default)]
    arguments: Option<JsonObject>,
}

fn parse(body: &[u8]) -> Option<ToolsCall> {
    let call: ToolsCall = serde_json::from_slice(body).ok()?;
    (call.method == "tools/call" && catalog::find(&call.params.name).is_some()).then_some(call)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn plain() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8080"));
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("120"));
        h
    }

    fn with(mut h: HeaderMap, name: &'static str, value: &'static str) -> HeaderMap {
        h.append(name, HeaderValue::from_static(value));
        h
    }

    fn without(mut h: HeaderMap, name: header::HeaderName) -> HeaderMap {
        h.remove(name);
        h
    }

    #[test]
    fn a_plain_post_is_taken() {
        assert_eq!(eligible(&Method::POST, &plain()), Some(120));
        let h = with(plain(), "mcp-protocol-version", "2025-06-18");
        assert_eq!(eligible(&Method::POST, &h), Some(120));
        let mut h = plain();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert_eq!(eligible(&Method::POST, &h), Some(120));
        let h = without(plain(), header::CONTENT_TYPE);
        assert_eq!(eligible(&Method::POST, &h), None, "no content type");
    }

    #[test]
    fn anything_unusual_goes_to_the_sdk() {
        let post = |h: &HeaderMap| eligible(&Method::POST, h);
        assert_eq!(eligible(&Method::GET, &plain()), None);
        assert_eq!(post(&without(plain(), header::HOST)), None);
        assert_eq!(post(&without(plain(), header::CONTENT_LENGTH)), None);
        assert_eq!(post(&with(plain(), "mcp-session-id", "s1")), None);
        assert_eq!(post(&with(plain(), "mcp-method", "tools/call")), None);
        assert_eq!(post(&with(plain(), "last-event-id", "3")), None);
        assert_eq!(
            post(&with(plain(), "mcp-protocol-version", "2026-07-28")),
            None
        );
        assert_eq!(
            post(&with(plain(), "mcp-protocol-version", "1999-01-01")),
            None
        );
        let two = with(plain(), "mcp-protocol-version", "2025-06-18");
        assert_eq!(post(&with(two, "mcp-protocol-version", "2025-06-18")), None);
        let accept = |v: &'static str| with(without(plain(), header::ACCEPT), "accept", v);
        assert_eq!(post(&accept("application/json")), None);
        assert_eq!(
            post(&accept("application/json, text/event-stream;q=0")),
            None
        );
        assert_eq!(
            post(&with(plain(), "accept", "*/*")),
            None,
            "two Accept headers"
        );
        let ct = with(
            without(plain(), header::CONTENT_TYPE),
            "content-type",
            "text/plain",
        );
        assert_eq!(post(&ct), None);
    }

    #[test]
    fn only_a_known_tools_call_is_parsed() {
        let call = parse(br#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_tasks","arguments":{"limit":2}}}"#).unwrap();
        assert_eq!(call.id, RequestId::Number(4));
        assert_eq!(call.params.arguments.unwrap()["limit"], 2);
        assert!(
            parse(
                br#"{"jsonrpc":"2.0","id":"x","method":"tools/call","params":{"name":"get_task"}}"#
            )
            .is_some()
        );
        for body in [
            r#"{"jsonrpc":"2.0","id":4,"method":"tools/list"}"#,
            r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"list_tasks"}}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"list_tasks"}}"#,
            r#"{"jsonrpc":"1.0","id":1,"method":"tools/call","params":{"name":"list_tasks"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"no_such_tool"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","_meta":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks"},"extra":1}"#,
            r#"{"jsonrpc":"2.0","id":1,"id":2,"method":"tools/call","params":{"name":"list_tasks"}}"#,
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks"}}]"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"list_tasks","arguments":[1]}}"#,
            "not json",
        ] {
            assert!(parse(body.as_bytes()).is_none(), "{body}");
        }
    }
}
