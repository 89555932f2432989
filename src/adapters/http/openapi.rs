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

/// The document as JSON, built once.
pub fn document() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises")
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
}
