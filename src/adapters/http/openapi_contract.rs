//! Tightens the generated OpenAPI document until it says exactly what the server enforces.
//!
//! The `#[utoipa::path]` annotations describe each operation's success and its specific errors;
//! what every operation shares (401, 400 framing, 413/415 for bodies, 500/503, the
//! `Idempotency-Key` header's format) and the body constraints that derive from domain constants
//! (lengths, patterns, ranges, enums) are added here, from the same constants the validators use,
//! so the document cannot drift from the server. Clients generate code from this document and
//! schemathesis (`tests/schemathesis/run.sh`) holds the server to it.

use serde_json::{Map, Value, json};

use super::idempotency::MAX_KEY_LEN;
use super::recurrence::MAX_COUNT;
use crate::domain::label::LabelKind;
use crate::domain::query::MAX_LIMIT;
use crate::domain::reminder::{MAX_MINUTES_BEFORE, MAX_REMINDERS_PER_TASK};
use crate::domain::task::{MAX_DESCRIPTION_CHARS, MAX_TAGS_PER_TASK, Title};

/// What `str::trim` removes (Unicode `White_Space`), as a regex class body. Fields are trimmed
/// before their rules apply, so the patterns allow this around the value.
pub const WS: &str =
    r"\t\n\u000B\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// The control characters refused in text (see `domain::text`).
const CONTROLS: &str = r"\u0000-\u001F\u007F-\u009F";

/// Single-line text without control characters and with something besides whitespace.
pub fn line_pattern() -> String {
    format!(r"^[^{CONTROLS}]*[^{CONTROLS}{WS}][^{CONTROLS}]*$")
}

/// Multi-line text: newline, tab and CRLF allowed, other control characters not.
fn multiline_pattern() -> String {
    r"^(?:[^\u0000-\u0008\u000B-\u001F\u007F-\u009F]|\r\n)*$".to_owned()
}

/// A case-insensitive choice among `words`, surrounded by optional whitespace (what the enum
/// parsers accept: they trim and lower-case).
fn words_pattern(words: &[&str]) -> String {
    let alts: Vec<String> = words
        .iter()
        .map(|w| {
            w.chars()
                .map(|c| match (c.to_ascii_lowercase(), c.to_ascii_uppercase()) {
                    (l, u) if l != u => format!("[{l}{u}]"),
                    _ => regex_escape(c),
                })
                .collect()
        })
        .collect();
    format!("^[{WS}]*(?:{})[{WS}]*$", alts.join("|"))
}

fn regex_escape(c: char) -> String {
    if c.is_ascii_alphanumeric() || c == '_' {
        c.to_string()
    } else {
        format!("\\{c}")
    }
}

fn problem_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": { "application/problem+json": {
            "schema": { "$ref": "#/components/schemas/ProblemDoc" } } }
    })
}

/// Adds `status` to `op`'s responses unless the annotation already declared it (its more
/// specific description wins).
fn declare(op: &mut Map<String, Value>, status: &str, description: &str) {
    let responses = op
        .entry("responses")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("responses is an object");
    responses
        .entry(status)
        .or_insert_with(|| problem_response(description));
}

/// The `Idempotency-Key` header exactly as `idempotency::validate_key` accepts it.
fn idempotency_key_schema() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_LEN,
        "pattern": r"^[\u0020-\u007E]+$",
        "description": format!(
            "1-{MAX_KEY_LEN} printable ASCII characters (U+0020-U+007E); \
             the same key with the same request within 24 h replays the first answer"
        ),
    })
}

/// Every integer the server reads into an `i64` (ids), bounded as such: larger numbers are a 400.
fn bound_int64(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if map.get("format").and_then(Value::as_str) == Some("int64") {
                map.entry("minimum").or_insert(json!(i64::MIN));
                map.entry("maximum").or_insert(json!(i64::MAX));
            }
            for v in map.values_mut() {
                bound_int64(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(bound_int64),
        _ => {}
    }
}

fn operation_responses(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            let authenticated = op.contains_key("security");
            let has_body = op.contains_key("requestBody");
            let params: Vec<(String, String)> = op
                .get("parameters")
                .and_then(Value::as_array)
                .map(|ps| {
                    ps.iter()
                        .map(|p| {
                            (
                                p["name"].as_str().unwrap_or("").to_owned(),
                                p["in"].as_str().unwrap_or("").to_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let idempotent = params.iter().any(|(n, _)| n == "Idempotency-Key");
            if let Some(ps) = op.get_mut("parameters").and_then(Value::as_array_mut) {
                for p in ps.iter_mut() {
                    if p["name"] == "Idempotency-Key" {
                        p["schema"] = idempotency_key_schema();
                        p["required"] = json!(false);
                    }
                }
            }
            if !authenticated {
                continue;
            }
            declare(
                op,
                "401",
                "UNAUTHORIZED: missing, malformed, forged or expired token",
            );
            if !params.is_empty() || has_body {
                declare(
                    op,
                    "400",
                    "INVALID_REQUEST: malformed path, query, header or JSON, or an unknown field",
                );
            }
            if has_body {
                declare(op, "413", "PAYLOAD_TOO_LARGE: body over the limit (64 KiB)");
                declare(op, "415", "INVALID_REQUEST: the body is not JSON");
                declare(
                    op,
                    "422",
                    "Validation failed (VALIDATION_ERROR and the specific codes)",
                );
            }
            if params.iter().any(|(_, at)| at == "query") {
                declare(
                    op,
                    "422",
                    "A query parameter's value is invalid (VALIDATION_ERROR, …)",
                );
            }
            if idempotent {
                declare(
                    op,
                    "409",
                    "IDEMPOTENCY_CONFLICT: a request with this key is still in flight",
                );
                declare(
                    op,
                    "422",
                    "IDEMPOTENCY_CONFLICT: this key was used with a different request",
                );
            }
            declare(op, "500", "INTERNAL_ERROR");
            let unavailable = problem_response("UNAVAILABLE: a dependency is down; retry later");
            op["responses"]
                .as_object_mut()
                .expect("responses")
                .entry("503")
                .or_insert(unavailable);
            op["responses"]["503"]["headers"] = json!({
                "Retry-After": {
                    "description": "Seconds to wait before retrying",
                    "schema": { "type": "integer", "minimum": 0 } }
            });
            let _ = (path, method);
        }
    }
}

fn set(schema: &mut Value, prop: &str, constraints: Value) {
    let target = &mut schema["properties"][prop];
    if let (Some(t), Some(c)) = (target.as_object_mut(), constraints.as_object()) {
        for (k, v) in c {
            t.insert(k.clone(), v.clone());
        }
    }
}

fn title_constraints() -> Value {
    json!({ "minLength": 1, "maxLength": Title::MAX_CHARS, "pattern": line_pattern() })
}

fn priority_constraints() -> Value {
    json!({ "pattern": words_pattern(&["low", "medium", "high", "urgent"]) })
}

fn body_schemas(doc: &mut Value) {
    let schemas = &mut doc["components"]["schemas"];
    let description = json!({
        "maxLength": MAX_DESCRIPTION_CHARS,
        "pattern": multiline_pattern(),
    });
    let ids = json!({ "maxItems": MAX_TAGS_PER_TASK });
    for name in ["CreateTaskInput", "UpdateTaskInput"] {
        let s = &mut schemas[name];
        set(s, "title", title_constraints());
        set(s, "description", description.clone());
        set(s, "priority", priority_constraints());
        set(
            s,
            "reminders",
            json!({ "maxItems": MAX_REMINDERS_PER_TASK }),
        );
        set(s, "tag_ids", ids.clone());
    }
    // A patch's fields that `null` would not clear are refused as `null` (`input::present`).
    let update = &mut schemas["UpdateTaskInput"];
    update["minProperties"] = json!(1);
    for (field, ty) in [
        ("title", "string"),
        ("priority", "string"),
        ("tag_ids", "array"),
        ("completed", "boolean"),
        ("reminders", "array"),
    ] {
        set(update, field, json!({ "type": ty }));
    }
    let reminder = &mut schemas["ReminderInput"];
    set(
        reminder,
        "minutes_before",
        json!({ "minimum": 0, "maximum": MAX_MINUTES_BEFORE }),
    );
    // Exactly one of the two, `null` counting as absent (`ReminderInput::into_spec`).
    reminder["oneOf"] = json!([
        { "required": ["minutes_before"],
          "properties": { "minutes_before": { "type": "integer" }, "remind_at": { "type": "null" } } },
        { "required": ["remind_at"],
          "properties": { "remind_at": { "type": "string" }, "minutes_before": { "type": "null" } } },
    ]);

    // One label body per kind and use: creating needs a name; names have per-kind limits.
    let base = schemas["LabelInput"].clone();
    let color = json!({ "pattern": format!("^[{WS}]*(?:#[0-9A-Fa-f]{{6}})?[{WS}]*$") });
    for kind in [LabelKind::Category, LabelKind::Tag] {
        let name = json!({
            "type": "string",
            "minLength": 1,
            "maxLength": kind.max_name_chars(),
            "pattern": line_pattern(),
        });
        let mut create = base.clone();
        create["properties"]["name"] = name.clone();
        create["required"] = json!(["name"]);
        set(&mut create, "color", color.clone());
        let mut patch = base.clone();
        patch["properties"]["name"] = name;
        set(&mut patch, "color", color.clone());
        patch["minProperties"] = json!(1);
        schemas[format!("New{}Input", kind.noun())] = create;
        schemas[format!("{}PatchInput", kind.noun())] = patch;
    }

    let me = &mut schemas["UserPatchInput"];
    set(
        me,
        "name",
        json!({ "type": "string", "minLength": 1, "maxLength": 100, "pattern": line_pattern() }),
    );
    // `domain::user::parse_email`: one `@`, a dot after it, no whitespace or control character.
    let not = format!("@{CONTROLS}{WS}");
    set(
        me,
        "email",
        json!({
            "type": "string",
            "maxLength": 254,
            "pattern": format!("^[{WS}]*[^{not}]+@[^{not}]*\\.[^{not}]*[{WS}]*$"),
        }),
    );
    let zones: Vec<&str> = chrono_tz::TZ_VARIANTS.iter().map(|z| z.name()).collect();
    set(me, "time_zone", json!({ "type": "string", "enum": zones }));
    set(
        me,
        "default_reminder_minutes",
        json!({ "minimum": 0, "maximum": MAX_MINUTES_BEFORE }),
    );
    me["minProperties"] = json!(1);
}

/// Points each label operation at its kind's body schema.
fn label_bodies(doc: &mut Value) {
    for (path, kind) in [
        ("/api/v1/categories", LabelKind::Category),
        ("/api/v1/tags", LabelKind::Tag),
    ] {
        let noun = kind.noun();
        for (p, method, schema) in [
            (path.to_owned(), "post", format!("New{noun}Input")),
            (
                format!("{path}/{{id}}"),
                "patch",
                format!("{noun}PatchInput"),
            ),
        ] {
            let content =
                &mut doc["paths"][&p][method]["requestBody"]["content"]["application/json"];
            if content.is_object() {
                content["schema"] = json!({ "$ref": format!("#/components/schemas/{schema}") });
            }
        }
    }
}

fn query_params(doc: &mut Value) {
    let Some(ps) = doc["paths"]["/api/v1/tasks"]["get"]["parameters"].as_array_mut() else {
        return;
    };
    for p in ps.iter_mut() {
        let extra = match p["name"].as_str().unwrap_or("") {
            "status" => json!({ "pattern": words_pattern(&["all", "pending", "completed", ""]) }),
            "priority" => priority_constraints(),
            "sort" | "sort_by" => json!({ "pattern": words_pattern(&[
                "created", "created_at", "due", "due_date", "priority", "title", "",
            ]) }),
            "order" => json!({ "pattern": words_pattern(&["asc", "desc"]) }),
            // At least one letter or digit (`[^\W_]`), no control character.
            "q" => json!({
                "minLength": 1,
                "maxLength": 200,
                "pattern": format!(r"^[^{CONTROLS}]*[^\W_][^{CONTROLS}]*$"),
            }),
            "tag_ids" => {
                let id = format!(r"[{WS}]*[+-]?[0-9]{{1,18}}[{WS}]*");
                json!({ "pattern": format!("^{id}(?:,{id}){{0,{}}}$", MAX_LIMIT - 1) })
            }
            "limit" => json!({ "minimum": 1, "maximum": MAX_LIMIT }),
            _ => continue,
        };
        if let (Some(s), Some(e)) = (p["schema"].as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                s.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(ps) = doc["paths"]["/api/v1/recurrence/preview"]["get"]["parameters"].as_array_mut()
    {
        for p in ps.iter_mut() {
            if p["name"] == "count" {
                p["schema"]["maximum"] = json!(MAX_COUNT);
            }
            // Optional in the Rust type only so that its absence gets a helpful 422.
            if p["name"] == "rule" {
                p["required"] = json!(true);
                p["schema"]["minLength"] = json!(1);
                p["schema"]["pattern"] = json!(line_pattern());
            }
        }
    }
}

/// OpenAPI links from each creation to the operations on what it created, so that clients (and
/// the stateful phase of schemathesis) know where the new id goes.
fn links(doc: &mut Value) {
    let id = json!({ "id": "$response.body#/id" });
    let targets = |base: &str, ops: &[(&str, &str)]| -> Value {
        let mut links = Map::new();
        for (suffix, method) in ops {
            let path = format!("{base}/{{id}}{suffix}");
            let name = format!("{method}{}", suffix.replace('/', "_"));
            links.insert(
                name,
                json!({ "operationRef": format!("#/paths/{}/{method}", path.replace('/', "~1")),
                        "parameters": id.clone() }),
            );
        }
        Value::Object(links)
    };
    let label_ops = [("", "get"), ("", "patch"), ("", "delete")];
    for (base, ops) in [
        (
            "/api/v1/tasks",
            &[
                ("", "get"),
                ("", "patch"),
                ("", "delete"),
                ("/complete", "post"),
                ("/reopen", "post"),
                ("/reminders", "get"),
                ("/reminders", "post"),
            ][..],
        ),
        ("/api/v1/categories", &label_ops[..]),
        ("/api/v1/tags", &label_ops[..]),
    ] {
        let created = &mut doc["paths"][base]["post"]["responses"]["201"];
        if created.is_object() {
            created["links"] = targets(base, ops);
        }
    }
}

/// Applies every rule above to the generated document.
pub fn tighten(doc: &mut Value) {
    links(doc);
    operation_responses(doc);
    body_schemas(doc);
    label_bodies(doc);
    query_params(doc);
    bound_int64(doc);
}
