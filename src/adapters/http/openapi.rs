//! The OpenAPI 3.1 document, generated from the handlers' `#[utoipa::path]` annotations and the
//! input/view types, served at `/api/v1/openapi.json`.

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{health, labels, me, problem, recurrence, reminders, tasks, views};
use crate::app::input;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256 JWT signed with the shared secret; `sub` is your user id",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tickler API",
        description = "Tasks, categories, tags and reminders. Errors are `application/problem+json` \
                       documents with a stable `code`. Every resource is scoped to the token's user: \
                       another user's task, category or tag is a 404.",
    ),
    paths(
        tasks::create_task, tasks::list_tasks, tasks::get_task, tasks::update_task,
        tasks::delete_task, tasks::complete_task, tasks::reopen_task, tasks::add_tag,
        tasks::remove_tag,
        reminders::list_reminders, reminders::add_reminder, reminders::cancel_reminder,
        labels::list_categories, labels::create_category, labels::get_category,
        labels::update_category, labels::delete_category,
        labels::list_tags, labels::create_tag, labels::get_tag, labels::update_tag,
        labels::delete_tag,
        me::get_me, me::update_me,
        recurrence::preview_recurrence,
        health::healthz, health::readyz, health::metrics,
    ),
    components(schemas(
        input::CreateTaskInput, input::UpdateTaskInput, input::ReminderInput, input::LabelInput,
        input::UserPatchInput,
        views::TaskView, views::TaskPageView, views::ReminderView, views::ReminderListView,
        views::TagLinkView, views::LabelView, views::LabelListView, views::DeletedLabelView,
        views::UserView, problem::ProblemDoc,
        health::LiveView, health::ReadyView, health::CheckView,
        recurrence::PreviewView, recurrence::OccurrenceView,
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "tasks", description = "Tasks, their completion and their tags"),
        (name = "reminders", description = "Reminders of a task"),
        (name = "categories", description = "Your categories (a task has at most one)"),
        (name = "tags", description = "Your tags (a task has at most ten)"),
        (name = "me", description = "Your profile and preferences"),
        (name = "recurrence", description = "Previews of recurrence rules"),
        (name = "ops", description = "Probes and metrics (no authentication)"),
    )
)]
pub struct ApiDoc;

/// The document as JSON, built once: generated from the annotations, then tightened to what the
/// server enforces (see [`super::openapi_contract`]).
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        super::openapi_contract::tighten(&mut doc);
        serde_json::to_string(&doc).expect("the OpenAPI document serialises")
    })
}

pub async fn openapi_json() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], document())
}

#[cfg(test)]
mod tests {
    #[test]
    fn document_lists_every_route() {
        let doc: serde_json::Value = serde_json::from_str(super::document()).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        for p in [
            "/api/v1/tasks",
            "/api/v1/tasks/{id}",
            "/api/v1/tasks/{id}/complete",
            "/api/v1/tasks/{id}/tags/{tag_id}",
            "/api/v1/tasks/{id}/reminders/{reminder_id}",
            "/api/v1/categories/{id}",
            "/api/v1/tags/{id}",
            "/api/v1/me",
            "/api/v1/recurrence/preview",
            "/readyz",
        ] {
            assert!(paths.contains_key(p), "{p} missing");
        }
        assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    }

    fn doc() -> serde_json::Value {
        serde_json::from_str(super::document()).unwrap()
    }

    /// Every authenticated operation declares 401, 500 and 503 (with `Retry-After`), as problem
    /// documents; those with a body 400, 413, 415 and 422; those with an `Idempotency-Key` 409.
    #[test]
    fn every_operation_declares_the_statuses_it_can_return() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                if op.get("security").is_none() {
                    continue;
                }
                let r = &op["responses"];
                let mut want = vec!["401", "500", "503"];
                if op.get("requestBody").is_some() {
                    want.extend(["400", "413", "415", "422"]);
                }
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                if !params.is_empty() {
                    want.push("400");
                }
                if params.iter().any(|p| p["name"] == "Idempotency-Key") {
                    want.extend(["409", "422"]);
                }
                for status in want {
                    let content = &r[status]["content"]["application/problem+json"];
                    assert!(content.is_object(), "{method} {path}: {status}");
                }
                assert!(
                    r["503"]["headers"]["Retry-After"].is_object(),
                    "{method} {path}"
                );
            }
        }
        let created = &doc["paths"]["/api/v1/tasks"]["post"]["responses"]["201"];
        assert!(created["headers"]["Location"].is_object());
    }

    /// The limits in the document are the ones the validators apply: checked by running the
    /// validators at each boundary the document states.
    #[test]
    fn body_limits_are_the_servers() {
        use crate::domain::label::{LabelKind, LabelName};
        use crate::domain::task::{Title, parse_description};
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        let max = |schema: &str, field: &str| {
            schemas[schema]["properties"][field]["maxLength"]
                .as_u64()
                .unwrap_or_else(|| panic!("{schema}.{field} has no maxLength")) as usize
        };
        let n = max("CreateTaskInput", "title");
        assert!(Title::parse(&"t".repeat(n)).is_ok());
        assert!(Title::parse(&"t".repeat(n + 1)).is_err());
        let n = max("CreateTaskInput", "description");
        assert!(parse_description(Some(&"d".repeat(n))).is_ok());
        assert!(parse_description(Some(&"d".repeat(n + 1))).is_err());
        for kind in [LabelKind::Category, LabelKind::Tag] {
            for schema in [
                format!("New{}Input", kind.noun()),
                format!("{}PatchInput", kind.noun()),
            ] {
                let n = max(&schema, "name");
                assert!(LabelName::parse(kind, &"n".repeat(n)).is_ok(), "{schema}");
                assert!(
                    LabelName::parse(kind, &"n".repeat(n + 1)).is_err(),
                    "{schema}"
                );
            }
            let create = &schemas[format!("New{}Input", kind.noun())];
            assert_eq!(create["required"], serde_json::json!(["name"]));
        }
        let tags = schemas["CreateTaskInput"]["properties"]["tag_ids"]["maxItems"]
            .as_u64()
            .unwrap() as i64;
        let ids: Vec<i64> = (1..=tags).collect();
        assert!(crate::domain::task::parse_tag_ids(&ids).is_ok());
        let ids: Vec<i64> = (1..=tags + 1).collect();
        assert!(crate::domain::task::parse_tag_ids(&ids).is_err());
        let minutes = &schemas["ReminderInput"]["properties"]["minutes_before"];
        let top = minutes["maximum"].as_i64().unwrap();
        assert!(crate::domain::reminder::ReminderSpec::before(top).is_ok());
        assert!(crate::domain::reminder::ReminderSpec::before(top + 1).is_err());
        assert_eq!(minutes["minimum"], 0);
        assert!(crate::domain::reminder::ReminderSpec::before(-1).is_err());
    }

    /// The `Idempotency-Key` header is described exactly as `validate_key` enforces it.
    #[test]
    fn idempotency_key_is_described_as_enforced() {
        let doc = doc();
        let op = &doc["paths"]["/api/v1/tasks"]["post"];
        let param = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "Idempotency-Key")
            .unwrap();
        let schema = &param["schema"];
        assert_eq!(schema["type"], "string");
        assert_eq!(schema["minLength"], 1);
        assert_eq!(
            schema["maxLength"],
            super::super::idempotency::MAX_KEY_LEN as u64
        );
        assert_eq!(schema["pattern"], r"^[\u0020-\u007E]+$");
    }

    /// The text patterns refuse exactly what `domain::text` refuses (checked on every control
    /// character and its neighbours with a tiny matcher for the pattern's character class).
    #[test]
    fn text_patterns_match_the_control_rule() {
        use crate::domain::text::{Lines, is_forbidden};
        let pattern = super::super::openapi_contract::line_pattern();
        assert!(pattern.contains(r"\u0000-\u001F\u007F-\u009F"), "{pattern}");
        for cp in 0u32..=0xa0 {
            let c = char::from_u32(cp).unwrap();
            let in_class = (0..=0x1f).contains(&cp) || (0x7f..=0x9f).contains(&cp);
            assert_eq!(is_forbidden(c, Lines::Single), in_class, "U+{cp:04X}");
        }
    }
}
