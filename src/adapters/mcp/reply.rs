//! What a tool answers, serialised once.
//!
//! A tool result carries its JSON twice: as `structuredContent` and as the text block agents
//! read. Building a `serde_json::Value` for the first and letting the SDK serialise it again
//! cost a page of 50 tasks about as much as the database work (callgrind: 0.54 M instructions
//! in the reply, 0.38 M in the SDK's final `to_vec`, 0.1 M dropping the `Value`, against 0.93 M
//! for the SQLite read). So the structured content is kept as the bytes it was serialised to:
//! the direct HTTP path (`direct.rs`) copies them into the response, and only the SDK's paths
//! (stdio, requests the direct path passes on) parse them back into a `Value`.

use rmcp::model::{CallToolResult, ContentBlock, RequestId};
use serde::Serialize;
use serde_json::value::RawValue;

use super::errors::ToolError;

/// A tool's answer: structured content, its text rendering, and whether it is an error.
pub(crate) struct Reply {
    structured: Box<RawValue>,
    text: Vec<String>,
    is_error: bool,
}

/// `{"result": [...], "next_cursor"?}`: the list wrappers' shape, written around items that are
/// already serialised.
#[derive(Serialize)]
struct Listed<'a> {
    result: &'a RawValue,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_cursor: Option<&'a str>,
}

impl Reply {
    /// An object result; the text content is the same JSON, in the type's field order (`status`
    /// first).
    pub fn object<T: Serialize>(v: &T) -> Self {
        let structured = raw(v);
        Self {
            text: vec![structured.get().to_owned()],
            structured,
            is_error: false,
        }
    }

    /// A list result: structured content `{"result": [...]}` (as the official Python SDK wraps
    /// lists, plus `next_cursor` when there is a next page), text content the bare JSON array
    /// the seed's agents read, plus an optional note.
    pub fn list<I: Serialize>(items: &I, next_cursor: Option<&str>, note: Option<String>) -> Self {
        let items = raw(items);
        let structured = raw(&Listed {
            result: &items,
            next_cursor,
        });
        let mut text = vec![String::from(Box::<str>::from(items))];
        text.extend(note);
        Self {
            structured,
            text,
            is_error: false,
        }
    }

    pub fn error(e: &ToolError) -> Self {
        Self::error_object(&e.view())
    }

    pub fn error_object<T: Serialize>(v: &T) -> Self {
        Self {
            is_error: true,
            ..Self::object(v)
        }
    }

    pub fn is_error(&self) -> bool {
        self.is_error
    }

    /// The SDK's result type, for the transports the SDK serves (stdio, HTTP requests the direct
    /// path does not take).
    pub fn into_result(self) -> CallToolResult {
        // Not `CallToolResult::structured`: it serialises the value into a text block of its
        // own, which this reply replaces with `text`.
        let structured =
            serde_json::from_str(self.structured.get()).expect("the reply is valid JSON");
        let content = self.text.into_iter().map(ContentBlock::text).collect();
        let mut r = if self.is_error {
            CallToolResult::error(content)
        } else {
            CallToolResult::success(content)
        };
        r.structured_content = Some(structured);
        r
    }

    /// The whole JSON-RPC response to request `id`, as the SDK writes it for a peer on a protocol
    /// version before 2026-07-28 (no `resultType`; the direct path takes no later version).
    pub fn into_json_rpc(self, id: &RequestId) -> Vec<u8> {
        #[derive(Serialize)]
        struct Response<'a> {
            jsonrpc: &'static str,
            id: &'a RequestId,
            result: Body<'a>,
        }
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Body<'a> {
            content: Vec<Text<'a>>,
            structured_content: &'a RawValue,
            is_error: bool,
        }
        #[derive(Serialize)]
        struct Text<'a> {
            r#type: &'static str,
            text: &'a str,
        }
        let response = Response {
            jsonrpc: "2.0",
            id,
            result: Body {
                content: self
                    .text
                    .iter()
                    .map(|t| Text {
                        r#type: "text",
                        text: t,
                    })
                    .collect(),
                structured_content: &self.structured,
                is_error: self.is_error,
            },
        };
        serde_json::to_vec(&response).expect("tool results serialise")
    }
}

/// Serialises `v` once. Not `RawValue::from_string`: that parses the string again to check it,
/// which was a fifth of a page of 50's instructions (callgrind), for JSON serde_json just wrote.
fn raw<T: Serialize + ?Sized>(v: &T) -> Box<RawValue> {
    serde_json::value::to_raw_value(v).expect("tool results serialise")
}

#[cfg(test)]
mod tests {
    use rmcp::model::{JsonRpcResponse, JsonRpcVersion2_0, NumberOrString, ServerJsonRpcMessage};
    use serde_json::{Value, json};

    use super::*;

    /// What the SDK writes for the same reply (with `resultType` cleared, as it does for peers
    /// before 2026-07-28).
    fn sdk_bytes(reply: Reply, id: RequestId) -> Value {
        let mut result = reply.into_result();
        result.result_type = None;
        let message = ServerJsonRpcMessage::Response(JsonRpcResponse {
            jsonrpc: JsonRpcVersion2_0,
            id,
            result: result.into(),
        });
        serde_json::from_slice(&serde_json::to_vec(&message).unwrap()).unwrap()
    }

    fn direct(reply: Reply, id: &RequestId) -> Value {
        serde_json::from_slice(&reply.into_json_rpc(id)).unwrap()
    }

    #[derive(Serialize)]
    struct Thing {
        status: &'static str,
        name: &'static str,
        note: Option<&'static str>,
    }

    fn thing() -> Thing {
        Thing {
            status: "created",
            name: "quote \" and \u{e9}",
            note: None,
        }
    }

    #[test]
    fn an_object_reply_is_written_as_the_sdk_writes_it() {
        for id in [
            NumberOrString::Number(7),
            NumberOrString::String("a-1".into()),
        ] {
            assert_eq!(
                direct(Reply::object(&thing()), &id),
                sdk_bytes(Reply::object(&thing()), id)
            );
        }
    }

    #[test]
    fn a_list_reply_with_cursor_and_note_is_written_as_the_sdk_writes_it() {
        let items = [thing(), thing()];
        let make = || Reply::list(&items, Some("c2"), Some("more".into()));
        let id = NumberOrString::Number(3);
        let v = direct(make(), &id);
        assert_eq!(v, sdk_bytes(make(), id));
        assert_eq!(v["result"]["structuredContent"]["next_cursor"], "c2");
        assert_eq!(v["result"]["content"][1]["text"], "more");
        let text: Value =
            serde_json::from_str(v["result"]["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, v["result"]["structuredContent"]["result"]);
    }

    /// The SDK's paths parse the structured content back; without serde_json's
    /// `float_roundtrip` that parse is off by one unit in the last place for some values, and a
    /// search rank in `structuredContent` no longer equalled the one in the text (the Python MCP
    /// suite caught it).
    #[test]
    fn floats_survive_the_parse_back_exactly() {
        let rank = 12.177450395621573_f64;
        let r = Reply::list(&[json!({"search_rank": rank})], None, None).into_result();
        let structured = r.structured_content.unwrap();
        assert_eq!(structured["result"][0]["search_rank"].as_f64(), Some(rank));
        let text: Value = serde_json::from_str(&r.content[0].as_text().unwrap().text).unwrap();
        assert_eq!(text, structured["result"]);
    }

    #[test]
    fn an_error_reply_is_flagged() {
        let e = ToolError::new(crate::domain::ErrorCode::NotFound, "gone");
        let id = NumberOrString::Number(1);
        let v = direct(Reply::error(&e), &id);
        assert_eq!(v, sdk_bytes(Reply::error(&e), id));
        assert_eq!(v["result"]["isError"], true);
        assert_eq!(v["result"]["structuredContent"]["code"], "NOT_FOUND");
        assert_eq!(
            direct(Reply::list(&[1, 2], None, None), &NumberOrString::Number(2))["result"],
            json!({"content": [{"type": "text", "text": "[1,2]"}],
                   "structuredContent": {"result": [1, 2]}, "isError": false})
        );
    }
}
