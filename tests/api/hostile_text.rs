//! Hostile text (issue 10's fuzzer findings): control characters are refused in every text field
//! with `VALIDATION_ERROR` naming the field, nothing is half-written, and names are compared in
//! NFC so that two names that look the same cannot coexist.

use serde_json::json;

use crate::helpers::{call, spawn_app};

/// One of each range: C0, DEL, C1, and the ANSI escape that recolours terminals.
const CONTROLS: [&str; 5] = ["\u{0}", "\u{1b}[31m", "\u{7f}", "\u{85}", "\u{9f}"];

#[tokio::test]
async fn control_characters_are_refused_in_every_text_field() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let task = alice.task("kept").await;
    let id = task["id"].as_i64().unwrap();
    let tag = alice.create_label("tags", "kept").await;
    let tag_id = tag["id"].as_i64().unwrap();

    for c in CONTROLS {
        let bad = format!("a{c}b");
        for (method, path, body, field) in [
            (
                "POST",
                "/api/v1/tasks".to_owned(),
                json!({ "title": bad }),
                "title",
            ),
            (
                "POST",
                "/api/v1/tasks".to_owned(),
                json!({ "title": "ok", "description": bad }),
                "description",
            ),
            (
                "PATCH",
                format!("/api/v1/tasks/{id}"),
                json!({ "title": bad }),
                "title",
            ),
            (
                "PATCH",
                format!("/api/v1/tasks/{id}"),
                json!({ "description": bad }),
                "description",
            ),
            (
                "POST",
                "/api/v1/categories".to_owned(),
                json!({ "name": bad }),
                "name",
            ),
            (
                "POST",
                "/api/v1/tags".to_owned(),
                json!({ "name": bad }),
                "name",
            ),
            (
                "PATCH",
                format!("/api/v1/tags/{tag_id}"),
                json!({ "name": bad }),
                "name",
            ),
            (
                "PATCH",
                "/api/v1/me".to_owned(),
                json!({ "name": bad }),
                "name",
            ),
        ] {
            let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            let r = call(alice.request(method.clone(), &path).json(&body)).await;
            let p = r.problem(422, "VALIDATION_ERROR");
            assert_eq!(p["field"], field, "{method} {path} {body}");
        }
        let r = alice
            .get(&format!("/api/v1/tasks?q={}", urlencode(&bad)))
            .await;
        assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "q");
    }

    // Nothing was written: one task and one tag, unchanged; no category.
    let tasks = alice.all_tasks().await;
    assert_eq!(tasks.len(), 1);
    assert_eq!(tasks[0]["title"], "kept");
    assert_eq!(tasks[0]["description"], serde_json::Value::Null);
    let tags = alice.get("/api/v1/tags").await;
    assert_eq!(tags.ok(200)["items"][0]["name"], "kept");
    let cats = alice.get("/api/v1/categories").await;
    assert_eq!(cats.ok(200)["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn descriptions_keep_newlines_and_tabs_but_nothing_else() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let t = alice
        .create_task(json!({ "title": "list", "description": "1. milk\n\t2. eggs\r\n" }))
        .await;
    assert_eq!(t["description"], "1. milk\n\t2. eggs");
    let r = alice
        .post(
            "/api/v1/tasks",
            json!({ "title": "x", "description": "carriage\rreturn" }),
        )
        .await;
    assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "description");
    let r = alice
        .post("/api/v1/tasks", json!({ "title": "two\nlines" }))
        .await;
    assert_eq!(r.problem(422, "VALIDATION_ERROR")["field"], "title");
}

#[tokio::test]
async fn names_that_look_the_same_cannot_coexist() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for kind in ["categories", "tags"] {
        let composed = alice.create_label(kind, "Caf\u{e9}").await;
        assert_eq!(composed["name"], "Caf\u{e9}");
        // The same word with a combining accent (NFD) is the same name.
        let r = alice
            .post(&format!("/api/v1/{kind}"), json!({ "name": "Cafe\u{301}" }))
            .await;
        r.problem(409, "DUPLICATE_NAME");
        // And a decomposed name is stored composed.
        let other = alice.create_label(kind, "Re\u{301}sume\u{301}").await;
        assert_eq!(other["name"], "R\u{e9}sum\u{e9}");
        let id = other["id"].as_i64().unwrap();
        let r = alice
            .patch(
                &format!("/api/v1/{kind}/{id}"),
                json!({ "name": "Cafe\u{301}" }),
            )
            .await;
        r.problem(409, "DUPLICATE_NAME");
    }
}

#[tokio::test]
async fn lone_surrogates_are_refused_as_malformed_json() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    for kind in ["tasks", "tags"] {
        let body = if kind == "tasks" {
            r#"{"title": "a\ud800b"}"#
        } else {
            r#"{"name": "a\udc00"}"#
        };
        let r = call(
            alice
                .request(reqwest::Method::POST, &format!("/api/v1/{kind}"))
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        r.problem(400, "INVALID_REQUEST");
    }
    assert!(alice.all_tasks().await.is_empty());
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
