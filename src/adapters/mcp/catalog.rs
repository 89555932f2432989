//! The 18 tools as clients list them: the seed's names, descriptions written for a language
//! model, input and output JSON Schemas generated from the argument and result types, and
//! annotations. Built once per process.

use std::sync::{Arc, LazyLock};

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use rmcp::schemars::JsonSchema;
use rmcp::schemars::generate::SchemaSettings;
use serde_json::{Value, json};

use super::labels::{
    CategoryIdParams, CreateLabelParams, NoParams, TagIdParams, TaskTagParams,
    UpdateCategoryParams, UpdateTagParams,
};
use super::reminders::SetReminderParams;
use super::tasks::{
    AddTaskParams, ListTasksParams, SearchTasksParams, TaskIdParams, UpdateTaskParams,
};
use super::views::{
    CategoryCreated, CategoryDeleted, CategoryUpdated, ErrorView, LabelList, ReminderError,
    ReminderSet, SearchResult, TagCreated, TagDeleted, TagLinked, TagUnlinked, TagUpdated,
    TaskCompleted, TaskCreated, TaskDeleted, TaskFound, TaskList, TaskUpdated,
};

/// The tool names, in the seed's order.
pub const NAMES: [&str; 18] = [
    "add_task",
    "list_tasks",
    "complete_task",
    "get_task",
    "delete_task",
    "update_task",
    "create_category",
    "list_categories",
    "update_category",
    "delete_category",
    "create_tag",
    "list_tags",
    "update_tag",
    "delete_tag",
    "add_tag_to_task",
    "remove_tag_from_task",
    "search_tasks",
    "set_reminder",
];

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true)
}

/// Doc comments wrap lines; a description reads better to a model as one paragraph.
fn unwrap_lines(v: &mut Value) {
    match v {
        Value::Object(o) => {
            for (k, v) in o.iter_mut() {
                match v {
                    Value::String(s) if k == "description" => *s = s.replace('\n', " "),
                    other => unwrap_lines(other),
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(unwrap_lines),
        _ => {}
    }
}

fn strip(mut v: Value) -> JsonObject {
    unwrap_lines(&mut v);
    let Value::Object(ref mut o) = v else {
        panic!("a tool schema is an object")
    };
    o.remove("$schema");
    o.remove("title");
    o.remove("description");
    std::mem::take(o)
}

fn input<T: JsonSchema>() -> Arc<JsonObject> {
    let schema = settings()
        .for_deserialize()
        .into_generator()
        .into_root_schema_for::<T>();
    let mut o = strip(serde_json::to_value(schema).expect("schema serialises"));
    // Tools without arguments still declare an (empty) object of properties.
    o.entry("properties").or_insert_with(|| json!({}));
    Arc::new(o)
}

fn serialized<T: JsonSchema>() -> Value {
    let schema = settings()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>();
    Value::Object(strip(
        serde_json::to_value(schema).expect("schema serialises"),
    ))
}

/// The success shape, or the error object the tool returns with `isError: true`.
fn output<T: JsonSchema, E: JsonSchema>() -> Arc<JsonObject> {
    let Value::Object(o) = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "anyOf": [serialized::<T>(), serialized::<E>()],
    }) else {
        unreachable!()
    };
    Arc::new(o)
}

#[derive(Clone, Copy)]
enum Kind {
    Read,
    /// Adds without overwriting; `idempotent` as given.
    Add(bool),
    /// Overwrites or removes; `idempotent` as given.
    Change(bool),
}

fn tool(
    name: &'static str,
    title: &str,
    description: impl Into<std::borrow::Cow<'static, str>>,
    input: Arc<JsonObject>,
    output: Arc<JsonObject>,
    kind: Kind,
) -> Tool {
    let base = ToolAnnotations::with_title(title).open_world(false);
    let annotations = match kind {
        Kind::Read => base.read_only(true),
        Kind::Add(idem) => base.read_only(false).destructive(false).idempotent(idem),
        Kind::Change(idem) => base.read_only(false).destructive(true).idempotent(idem),
    };
    let mut t = Tool::new(name, description, input);
    t.title = Some(title.to_owned());
    t.output_schema = Some(output);
    t.annotations = Some(annotations);
    t
}

const DATES: &str = "Dates are ISO 8601: \"2026-03-15T17:00:00Z\", \"2026-03-15T09:00:00-05:00\" \
(converted to UTC; without an offset the time is UTC), or a date alone \"2026-03-15\". For a due \
date, a date alone or a time of exactly 00:00 means the END of that day (23:59:59), so \"due \
Friday\" is not overdue on Friday morning. Results show instants in UTC with a Z.";

const RECURRENCE: &str = "Recurrence: a phrase such as \"daily\", \"every day\", \"weekly\", \
\"every monday\", \"every monday and friday\", \"weekdays\", \"weekends\", \"every 2 weeks\", \
\"biweekly\", \"every other day\", \"monthly\", \"every 3 months\", \"yearly\" — or an RFC 5545 \
RRULE such as \"FREQ=WEEKLY;BYDAY=MO,WE,FR\", \"FREQ=MONTHLY;BYMONTHDAY=15\", \
\"FREQ=DAILY;COUNT=5\". Phrases are stored as the equivalent RRULE. When a recurring task is \
completed, its next occurrence is created (same title, details, category and tags, next due \
date).";

const ERRORS: &str = "On failure the result is {\"status\":\"error\",\"code\":...,\"message\":...} \
with isError set; read the message and fix the arguments rather than retrying blindly.";

pub static TOOLS: LazyLock<Vec<Tool>> = LazyLock::new(build);

/// The tool named `name`, if there is one.
pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

fn build() -> Vec<Tool> {
    let add_task_desc = format!(
        "Create a task for the signed-in user and return it with status \"created\" and its \
task_id. Only title is required. Priority: low | medium | high | urgent (default medium). \
category_id and tag_ids must be ids of YOUR categories and tags (list_categories, list_tags; \
create_category / create_tag make new ones); at most 10 tags. {DATES} {RECURRENCE} A task with a \
due date gets a reminder e-mail 60 minutes before it; use set_reminder for other times. Calling \
add_task again with the same title and recurrence within 60 seconds returns the task already \
created (deduplicated: true) instead of a duplicate. {ERRORS}"
    );
    let update_desc = format!(
        "Change fields of a task; only the fields you pass change. To REMOVE the description, \
due date, category or recurrence, pass null or \"\" for that field; to leave a field unchanged, \
omit it (do not send null for fields you do not want to clear). completed: true completes the \
task (a recurring task then gets its next occurrence), false reopens it. Tags are changed with \
add_tag_to_task / remove_tag_from_task. {DATES} {RECURRENCE} Returns status \"updated\" and the \
task. An unknown task_id gives TASK_NOT_FOUND with details.suggestions (your recent tasks). \
{ERRORS}"
    );
    let list_desc = format!(
        "List the signed-in user's tasks, filtered and sorted. Filters combine with AND: \
status (all | pending | completed), priority, category_id, tag_ids (tasks with ANY of them), \
due_before / due_after (strict bounds; tasks without a due date are left out). sort_by: \
created_at (newest first, default), due_date (soonest first, undated last), priority (urgent \
first), title. Returns a JSON array of tasks ({{id, title, description, completed, priority, \
due_date, category, tags, recurrence_rule, created_at, updated_at}}); at most `limit` (default \
50, max 100) — when more match, a note gives the cursor for the next page. {DATES} Invalid \
filters give an error object, never a silently empty list. {ERRORS}"
    );
    let reminder_desc = "Add a reminder e-mail to a task. Give exactly one of remind_before_minutes (minutes \
before the task's due date: 30, 60, 1440 = one day, 10080 = one week; the task must have a due \
date; the reminder follows the due date if it changes) or remind_at (an ISO 8601 instant in the \
future, e.g. \"2026-03-15T08:30:00Z\"). The reminder is stored and sent at its time, once \
(a relative reminder whose time has already passed is sent right away). Returns \
{\"success\": true, \"task_id\", \"reminder_id\", \"remind_at\", \"reminders\"}; on failure \
{\"success\": false, \"status\": \"error\", \"code\", \"message\"} with isError set. Tasks with \
a due date already get a reminder 60 minutes before it.";
    vec![
        tool(
            "add_task",
            "Add task",
            add_task_desc,
            input::<AddTaskParams>(),
            output::<TaskCreated, ErrorView>(),
            Kind::Add(false),
        ),
        tool(
            "list_tasks",
            "List tasks",
            list_desc,
            input::<ListTasksParams>(),
            output::<TaskList, ErrorView>(),
            Kind::Read,
        ),
        tool(
            "complete_task",
            "Complete task",
            "Mark a task as completed and return status \"completed\". Completing a task that is \
already completed changes nothing. If the task recurs, its next occurrence is created \
automatically. An unknown task_id gives TASK_NOT_FOUND with details.suggestions (your pending \
tasks, newest first) — pick the right id from them.",
            input::<TaskIdParams>(),
            output::<TaskCompleted, ErrorView>(),
            Kind::Add(true),
        ),
        tool(
            "get_task",
            "Get task",
            "Get one task by id, with status \"success\", its category and tags (with names), \
recurrence rule, completion time and pending reminders. An unknown id gives NOT_FOUND with \
details.suggestions (your recent tasks).",
            input::<TaskIdParams>(),
            output::<TaskFound, ErrorView>(),
            Kind::Read,
        ),
        tool(
            "delete_task",
            "Delete task",
            "Delete a task permanently (its tags links and reminders go with it) and return status \
\"deleted\" with its id and title. This cannot be undone; confirm with the user when unsure. An \
unknown task_id gives TASK_NOT_FOUND with details.suggestions (your recent tasks).",
            input::<TaskIdParams>(),
            output::<TaskDeleted, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "update_task",
            "Update task",
            update_desc,
            input::<UpdateTaskParams>(),
            output::<TaskUpdated, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "create_category",
            "Create category",
            "Create a category (a task has at most one) and return status \"created\" with its \
category_id. name: 1-50 characters, unique among your categories (case-sensitive); color: \
optional \"#RRGGBB\". At most 50 categories per user. Errors: DUPLICATE_NAME, LIMIT_EXCEEDED, \
INVALID_COLOR, VALIDATION_ERROR.",
            input::<CreateLabelParams>(),
            output::<CategoryCreated, ErrorView>(),
            Kind::Add(false),
        ),
        tool(
            "list_categories",
            "List categories",
            "List your categories, oldest first, as a JSON array of {id, name, color, task_count, \
created_at} (task_count counts completed tasks too).",
            input::<NoParams>(),
            output::<LabelList, ErrorView>(),
            Kind::Read,
        ),
        tool(
            "update_category",
            "Update category",
            "Rename a category and/or change its color (\"#RRGGBB\"; null or \"\" removes the \
color). Give at least one of name and color. Returns status \"updated\". Errors: \
CATEGORY_NOT_FOUND, DUPLICATE_NAME, INVALID_COLOR, INVALID_REQUEST.",
            input::<UpdateCategoryParams>(),
            output::<CategoryUpdated, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "delete_category",
            "Delete category",
            "Delete a category. Its tasks are kept and lose the category; tasks_affected says how \
many. Returns status \"deleted\". Error: CATEGORY_NOT_FOUND.",
            input::<CategoryIdParams>(),
            output::<CategoryDeleted, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "create_tag",
            "Create tag",
            "Create a tag (a task can carry up to 10) and return status \"created\" with its \
tag_id. name: 1-30 characters, unique among your tags (case-sensitive); color: optional \
\"#RRGGBB\". At most 100 tags per user. Errors: DUPLICATE_NAME, LIMIT_EXCEEDED, INVALID_COLOR, \
VALIDATION_ERROR.",
            input::<CreateLabelParams>(),
            output::<TagCreated, ErrorView>(),
            Kind::Add(false),
        ),
        tool(
            "list_tags",
            "List tags",
            "List your tags, oldest first, as a JSON array of {id, name, color, task_count, \
created_at}.",
            input::<NoParams>(),
            output::<LabelList, ErrorView>(),
            Kind::Read,
        ),
        tool(
            "update_tag",
            "Update tag",
            "Rename a tag and/or change its color (\"#RRGGBB\"; null or \"\" removes the color). \
Give at least one of name and color. Returns status \"updated\". Errors: TAG_NOT_FOUND, \
DUPLICATE_NAME, INVALID_COLOR, INVALID_REQUEST.",
            input::<UpdateTagParams>(),
            output::<TagUpdated, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "delete_tag",
            "Delete tag",
            "Delete a tag; it is removed from every task (the tasks are kept). tasks_affected says \
how many tasks carried it. Returns status \"deleted\". Error: TAG_NOT_FOUND.",
            input::<TagIdParams>(),
            output::<TagDeleted, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "add_tag_to_task",
            "Tag a task",
            "Put one of your tags on a task. Returns status \"added\", or \"already_assigned\" if \
the task already had it (nothing changes). Errors: TASK_NOT_FOUND (with suggestions), \
TAG_NOT_FOUND, TOO_MANY_TAGS (a task carries at most 10 tags).",
            input::<TaskTagParams>(),
            output::<TagLinked, ErrorView>(),
            Kind::Add(true),
        ),
        tool(
            "remove_tag_from_task",
            "Untag a task",
            "Take a tag off a task (the tag itself is kept). Returns status \"removed\", or \
\"not_assigned\" if the task did not have it. Errors: TASK_NOT_FOUND (with suggestions), \
TAG_NOT_FOUND.",
            input::<TaskTagParams>(),
            output::<TagUnlinked, ErrorView>(),
            Kind::Change(true),
        ),
        tool(
            "search_tasks",
            "Search tasks",
            "Full-text search in the titles and descriptions of your tasks. Every word of the \
query must match a word (or the start of one: \"meet\" finds \"meeting\"); case does not \
matter. Returns a JSON array of tasks, best match first (title matches rank above description \
matches), each with a search_rank. query: 1-200 characters with at least one letter or digit; \
limit: 1-100 (default 50). An invalid query gives an error object, never a silently empty list.",
            input::<SearchTasksParams>(),
            output::<SearchResult, ErrorView>(),
            Kind::Read,
        ),
        tool(
            "set_reminder",
            "Set reminder",
            reminder_desc,
            input::<SetReminderParams>(),
            output::<ReminderSet, ReminderError>(),
            Kind::Add(false),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_key(v: &Value, key: &str) -> bool {
        match v {
            Value::Object(o) => o.iter().any(|(k, v)| k == key || has_key(v, key)),
            Value::Array(a) => a.iter().any(|v| has_key(v, key)),
            _ => false,
        }
    }

    #[test]
    fn eighteen_tools_in_the_seed_order_without_user_id() {
        let names: Vec<&str> = TOOLS.iter().map(|t| t.name.as_ref()).collect();
        assert_eq!(names, NAMES);
        for t in TOOLS.iter() {
            let input = Value::Object((*t.input_schema).clone());
            assert_eq!(input["type"], "object", "{}", t.name);
            assert_eq!(input["additionalProperties"], false, "{}", t.name);
            assert!(!has_key(&input, "user_id"), "{}", t.name);
            assert!(!has_key(&input, "$ref"), "{}: schemas are inlined", t.name);
            let output = Value::Object((*t.output_schema.clone().unwrap()).clone());
            assert_eq!(output["type"], "object", "{}", t.name);
            assert!(!has_key(&output, "user_id"), "{}", t.name);
            assert!(!has_key(&output, "$ref"), "{}", t.name);
            let a = t.annotations.as_ref().unwrap();
            assert!(
                a.read_only_hint.is_some() && a.title.is_some(),
                "{}",
                t.name
            );
        }
    }

    #[test]
    fn annotations_tell_reads_from_destructive_writes() {
        let hint = |n: &str| find(n).unwrap().annotations.clone().unwrap();
        assert_eq!(hint("list_tasks").read_only_hint, Some(true));
        assert_eq!(hint("delete_task").destructive_hint, Some(true));
        assert_eq!(hint("add_task").destructive_hint, Some(false));
        assert_eq!(hint("add_task").idempotent_hint, Some(false));
        assert_eq!(hint("add_tag_to_task").idempotent_hint, Some(true));
    }

    #[test]
    fn update_task_fields_accept_null() {
        let t = find("update_task").unwrap();
        let props = &t.input_schema["properties"];
        assert_eq!(props["due_date"]["type"], json!(["string", "null"]));
        assert_eq!(props["category_id"]["type"], json!(["integer", "null"]));
        assert_eq!(t.input_schema["required"], json!(["task_id"]));
    }
}
