//! `GET /api/v1/recurrence/preview`: the domain's own expansion, in the caller's time zone.

use serde_json::json;

use crate::helpers::spawn_app;

const PREVIEW: &str = "/api/v1/recurrence/preview";

#[tokio::test]
async fn preview_lists_occurrences_in_the_users_zone_across_dst() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice
        .patch("/api/v1/me", json!({ "time_zone": "Europe/Paris" }))
        .await
        .ok(200);
    // A wall-clock start (no offset) is read in the user's zone; Paris moves to summer time on
    // 2026-03-29, and 09:00 stays 09:00.
    let r = alice
        .get(&format!(
            "{PREVIEW}?rule=every%20monday&start=2026-03-23T09:00&count=3"
        ))
        .await;
    let body = r.ok(200);
    assert_eq!(body["rule"], "FREQ=WEEKLY;BYDAY=MO");
    assert_eq!(body["time_zone"], "Europe/Paris");
    assert_eq!(body["ends"], false);
    assert_eq!(
        body["occurrences"],
        json!([
            { "at": "2026-03-23T08:00:00Z", "local": "2026-03-23T09:00:00+01:00" },
            { "at": "2026-03-30T07:00:00Z", "local": "2026-03-30T09:00:00+02:00" },
            { "at": "2026-04-06T07:00:00Z", "local": "2026-04-06T09:00:00+02:00" },
        ])
    );
    // An instant with an offset is taken as it is; the default count is five.
    let r = alice
        .get(&format!(
            "{PREVIEW}?rule=FREQ%3DDAILY&start=2026-01-01T10:00:00Z"
        ))
        .await;
    let occ = r.ok(200)["occurrences"].as_array().unwrap().clone();
    assert_eq!(occ.len(), 5);
    assert_eq!(occ[4]["at"], "2026-01-05T10:00:00Z");
    // COUNT ends the series early; the start is its first occurrence.
    let r = alice
        .get(&format!(
            "{PREVIEW}?rule=FREQ%3DDAILY%3BCOUNT%3D2&start=2026-01-01T10:00:00Z&count=5"
        ))
        .await;
    assert_eq!(r.ok(200)["occurrences"].as_array().unwrap().len(), 2);
    assert_eq!(r.body["ends"], true);
    // Without a start: from now, to the minute.
    let r = alice.get(&format!("{PREVIEW}?rule=daily")).await;
    let first = r.ok(200)["occurrences"][0]["at"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(first.ends_with(":00Z"), "{first}");
}

#[tokio::test]
async fn preview_errors_are_problem_documents_with_the_existing_codes() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let r = alice
        .get(&format!("{PREVIEW}?rule=every%20blue%20moon"))
        .await;
    let p = r.problem(422, "INVALID_RECURRENCE_RULE");
    assert_eq!(p["field"], "rule");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("Supported natural language")
    );
    alice
        .get(PREVIEW)
        .await
        .problem(422, "INVALID_RECURRENCE_RULE");
    for (query, field) in [
        ("rule=daily&count=0", "count"),
        ("rule=daily&count=51", "count"),
        ("rule=daily&count=many", "count"),
        ("rule=daily&start=yesterday", "start"),
    ] {
        let r = alice.get(&format!("{PREVIEW}?{query}")).await;
        assert_eq!(
            r.problem(422, "VALIDATION_ERROR")["field"],
            field,
            "{query}"
        );
    }
    alice
        .get(&format!("{PREVIEW}?rule=daily&tz=UTC"))
        .await
        .problem(400, "INVALID_REQUEST");
    app.get_anon(&format!("{PREVIEW}?rule=daily"))
        .await
        .problem(401, "UNAUTHORIZED");
}

#[tokio::test]
async fn preview_is_in_the_openapi_document() {
    let app = spawn_app().await;
    let doc = app.get_anon("/api/v1/openapi.json").await;
    let op = &doc.ok(200)["paths"]["/api/v1/recurrence/preview"]["get"];
    assert!(op.is_object(), "path documented");
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["rule", "start", "count"]);
    assert!(op["responses"]["422"].is_object());
}
