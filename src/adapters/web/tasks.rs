//! The task list: filters, sort, search and pagination (the REST API's own query rules), quick-add,
//! complete and reopen (deleting with undo is in `undo`, the script's preview in `preview`).

use axum::extract::{Query, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::format::{self, DueState};
use super::layout::{self, Nav, dot};
use super::{
    Ctx, Fields, Session, WebApp, WebError, due_phrase, local_path, rules, see_other, urlencode,
    with_param,
};
use crate::adapters::http::tasks::ListParams;
use crate::app::input::parse_rule;
use crate::domain::TaskId;
use crate::domain::label::{Label, LabelKind};
use crate::domain::reminder::{Reminder, ReminderSpec, ReminderStatus};
use crate::domain::task::{NewTask, Priority, Recurrence, Task, Title};

/// The list page's query string: the REST API's filters plus the page's own messages.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub priority: Option<String>,
    pub category_id: Option<String>,
    pub tag_id: Option<String>,
    pub overdue: Option<String>,
    pub q: Option<String>,
    pub sort: Option<String>,
    pub order: Option<String>,
    pub cursor: Option<String>,
    pub flash: Option<String>,
    pub undo: Option<String>,
}

fn some(v: &Option<String>) -> Option<String> {
    v.as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl ListQuery {
    /// Pending tasks, soonest due first, unless asked otherwise.
    fn status(&self) -> String {
        some(&self.status).unwrap_or_else(|| "pending".into())
    }

    fn searching(&self) -> bool {
        some(&self.q).is_some()
    }

    fn sort(&self) -> String {
        some(&self.sort).unwrap_or_else(|| "due_date".into())
    }

    fn params(&self) -> ListParams {
        let searching = self.searching();
        ListParams {
            status: Some(self.status()),
            priority: some(&self.priority),
            category_id: some(&self.category_id),
            tag_ids: some(&self.tag_id),
            overdue: some(&self.overdue).map(|_| "true".into()),
            q: some(&self.q),
            // Search results come by relevance; the API refuses sort with q.
            sort: (!searching).then(|| self.sort()),
            order: if searching { None } else { some(&self.order) },
            limit: Some("50".into()),
            cursor: some(&self.cursor),
            ..ListParams::default()
        }
    }

    /// This view's URL (filters and page), without the one-off messages.
    pub fn url(&self, cursor: Option<&str>) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={}", urlencode(&v)));
            }
        };
        push("status", some(&self.status));
        push("priority", some(&self.priority));
        push("category_id", some(&self.category_id));
        push("tag_id", some(&self.tag_id));
        push("overdue", some(&self.overdue));
        push("q", some(&self.q));
        push("sort", some(&self.sort));
        push("order", some(&self.order));
        push("cursor", cursor.map(str::to_owned));
        if parts.is_empty() {
            "/".into()
        } else {
            format!("/?{}", parts.join("&"))
        }
    }
}

/// What the quick-add form holds, to show it again with its errors.
#[derive(Debug, Default, Clone)]
pub struct QuickAdd {
    pub title: String,
    pub due: String,
    pub repeat: String,
    pub remind: String,
    pub errors: Vec<String>,
}

pub async fn list_page(
    State(state): State<WebApp>,
    session: Session,
    Query(q): Query<ListQuery>,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, session).await?;
    render_list(&state, &ctx, &q, QuickAdd::default())
        .await
        .map(IntoResponse::into_response)
}

async fn render_list(
    state: &WebApp,
    ctx: &Ctx,
    q: &ListQuery,
    quick: QuickAdd,
) -> Result<Markup, WebError> {
    let s = &state.services;
    let user = &ctx.session.actor.user_id;
    let categories = s.list_labels(user, LabelKind::Category).await?;
    let tags = s.list_labels(user, LabelKind::Tag).await?;
    let (tasks, next, problem) = match q.params().into_query() {
        Ok(query) => {
            let page = s.list_tasks(user, &query).await?;
            (page.items, page.next_cursor, None)
        }
        Err(e) => (Vec::new(), None, Some(e.message)),
    };
    let flash = flash_for(state, ctx, q).await;
    let back = q.url(some(&q.cursor).as_deref());
    let body = html! {
        h1.visually-hidden { "Tasks" }
        (flash)
        @if ctx.user.email.is_none() {
            p.warn #no-email {
                "Your profile has no e-mail address, so reminders cannot be delivered. "
                a href="/profile" { "Add one in your profile" } "."
            }
        }
        (quick_add_form(ctx, &quick, &back, some(&q.flash).as_deref() == Some("added")))
        (filters(q, &categories, &tags))
        section #tasks data-live aria-labelledby="tasks-heading" {
            h2 #tasks-heading { (heading(q)) }
            @if let Some(p) = problem {
                p.error role="alert" { (p) }
            } @else if tasks.is_empty() {
                p.empty { @if q.searching() { "No task matches your search." } @else { "Nothing here. Add a task above." } }
            } @else {
                ul.tasks {
                    @for t in &tasks { (row(ctx, &t.item, &categories, &tags, &back)) }
                }
            }
            nav.pages aria-label="Pages" {
                @if some(&q.cursor).is_some() { a href=(q.url(None)) { "First page" } }
                @if let Some(c) = &next { a href=(q.url(Some(c))) rel="next" { "Next page" } }
            }
        }
    };
    Ok(ctx.page("Tasks", Nav::Tasks, body))
}

fn heading(q: &ListQuery) -> String {
    if q.searching() {
        return "Search results".into();
    }
    let base = match q.status().as_str() {
        "completed" => "Completed tasks",
        "all" => "All tasks",
        _ => "Pending tasks",
    };
    if some(&q.overdue).is_some() {
        format!("{base}, overdue")
    } else {
        base.into()
    }
}

async fn flash_for(state: &WebApp, ctx: &Ctx, q: &ListQuery) -> Markup {
    let Some(code) = some(&q.flash) else {
        return html! {};
    };
    let text = match code.as_str() {
        "added" => "Task added.",
        "saved" => "Task saved.",
        "completed" => "Task completed.",
        "reopened" => "Task reopened.",
        "restored" => "Task restored.",
        "unchanged" => "Nothing to save: no field changed.",
        "undo-gone" => "That deletion can no longer be undone.",
        "deleted" => {
            let undo = match some(&q.undo) {
                Some(token) => super::undo::load_undo(state, ctx, &token)
                    .await
                    .map(|t| (token, t)),
                None => None,
            };
            return match undo {
                Some((token, task)) => layout::flash(
                    &format!("Deleted “{}”.", task.title.as_str()),
                    Some(html! {
                        form.inline method="post" action="/undo" data-enhance {
                            (layout::csrf(&ctx.session))
                            input type="hidden" name="token" value=(token);
                            input type="hidden" name="back" value=(q.url(None));
                            button #undo type="submit" { "Undo" }
                        }
                    }),
                ),
                None => layout::flash("Task deleted.", None),
            };
        }
        _ => return html! {},
    };
    layout::flash(text, None)
}

const REMIND_CHOICES: &[(&str, &str)] = &[
    ("default", "My default"),
    ("none", "No reminder"),
    ("0", "At due time"),
    ("5", "5 minutes before"),
    ("15", "15 minutes before"),
    ("60", "1 hour before"),
    ("1440", "1 day before"),
];

/// `again`: a task was just added, so the title field takes the focus for the next one.
fn quick_add_form(ctx: &Ctx, v: &QuickAdd, back: &str, again: bool) -> Markup {
    let default = match ctx.user.default_reminder_minutes {
        Some(m) => format!("My default ({})", format::offset(m)),
        None => "My default (none)".into(),
    };
    html! {
        section.quick aria-labelledby="qa-heading" {
            h2 #qa-heading { "Add a task" }
            (layout::errors(&v.errors))
            form #quick-add method="post" action="/tasks" data-enhance {
                (layout::csrf(&ctx.session))
                input type="hidden" name="back" value=(back);
                div.field.grow {
                    label for="qa-title" { "Task" }
                    input #qa-title name="title" required maxlength="200" autocomplete="off"
                        value=(v.title) placeholder="e.g. Water the plants" aria-keyshortcuts="n" autofocus[again];
                }
                div.field {
                    label for="qa-due" { "Due" }
                    input #qa-due name="due" autocomplete="off" value=(v.due)
                        placeholder="tomorrow 9am" aria-describedby="qa-due-help";
                    small #qa-due-help { "today, fri 17:00, in 2 hours…" }
                }
                div.field {
                    label for="qa-repeat" { "Repeat" }
                    input #qa-repeat name="repeat" autocomplete="off" value=(v.repeat)
                        placeholder="every monday" data-preview="qa-preview" data-preview-due="qa-due"
                        aria-describedby="qa-preview";
                }
                div.field {
                    label for="qa-remind" { "Reminder" }
                    select #qa-remind name="remind" {
                        @for (value, text) in REMIND_CHOICES {
                            option value=(value) selected[v.remind == *value || (v.remind.is_empty() && *value == "default")] {
                                @if *value == "default" { (default) } @else { (text) }
                            }
                        }
                    }
                }
                div.field.submit { button.primary type="submit" { "Add task" } }
            }
            div #qa-preview .preview aria-live="polite" {
                (preview_hint())
            }
        }
    }
}

fn preview_hint() -> Markup {
    html! { p.hint { "Type a repeat rule (daily, weekdays, every 2 weeks, FREQ=MONTHLY;BYMONTHDAY=15…) to see its next dates." } }
}

fn filters(q: &ListQuery, categories: &[Label], tags: &[Label]) -> Markup {
    let sel = |v: &Option<String>, x: &str| some(v).as_deref() == Some(x);
    let status = q.status();
    let sort = q.sort();
    html! {
        form.filters #filters method="get" action="/" role="search" aria-label="Filter tasks" {
            div.field.grow {
                label for="f-q" { "Search" }
                input #f-q type="search" name="q" value=[some(&q.q)] aria-keyshortcuts="/";
            }
            div.field {
                label for="f-status" { "Show" }
                select #f-status name="status" {
                    option value="pending" selected[status == "pending"] { "Pending" }
                    option value="completed" selected[status == "completed"] { "Completed" }
                    option value="all" selected[status == "all"] { "All" }
                }
            }
            div.field {
                label for="f-priority" { "Priority" }
                select #f-priority name="priority" {
                    option value="" { "Any" }
                    @for p in Priority::ALL.iter().rev() {
                        option value=(p.as_str()) selected[sel(&q.priority, p.as_str())] { (capitalise(p.as_str())) }
                    }
                }
            }
            div.field {
                label for="f-category" { "Category" }
                select #f-category name="category_id" {
                    option value="" { "Any" }
                    @for c in categories {
                        option value=(c.id) selected[sel(&q.category_id, &c.id.to_string())] { (c.name.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-tag" { "Tag" }
                select #f-tag name="tag_id" {
                    option value="" { "Any" }
                    @for t in tags {
                        option value=(t.id) selected[sel(&q.tag_id, &t.id.to_string())] { (t.name.as_str()) }
                    }
                }
            }
            div.field {
                label for="f-sort" { "Sort by" }
                select #f-sort name="sort" {
                    option value="due_date" selected[sort == "due_date"] { "Due date" }
                    option value="priority" selected[sort == "priority"] { "Priority" }
                    option value="created_at" selected[sort == "created_at"] { "Created" }
                    option value="title" selected[sort == "title"] { "Title" }
                }
            }
            div.field {
                label for="f-order" { "Order" }
                select #f-order name="order" {
                    option value="" { "Natural" }
                    option value="asc" selected[sel(&q.order, "asc")] { "Ascending" }
                    option value="desc" selected[sel(&q.order, "desc")] { "Descending" }
                }
            }
            div.field.check {
                input #f-overdue type="checkbox" name="overdue" value="true" checked[some(&q.overdue).is_some()];
                label for="f-overdue" { "Overdue only" }
            }
            div.field.submit { button type="submit" { "Apply" } }
        }
    }
}

pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// A reminder's state as a person asks about it: pending, sending, sent (late), failed, skipped,
/// cancelled.
pub fn reminder_state(r: &Reminder) -> (&'static str, &'static str) {
    match r.status {
        ReminderStatus::Scheduled if r.fired_at.is_some() => ("sending", "sending"),
        ReminderStatus::Scheduled => ("pending", "pending"),
        ReminderStatus::Sent if r.late => ("late", "sent late"),
        ReminderStatus::Sent => ("sent", "sent"),
        ReminderStatus::Failed => ("failed", "failed"),
        ReminderStatus::Skipped => ("skipped", "skipped"),
        ReminderStatus::Cancelled => ("cancelled", "cancelled"),
    }
}

fn row(ctx: &Ctx, t: &Task, categories: &[Label], tags: &[Label], back: &str) -> Markup {
    let tz = ctx.tz();
    let state = t
        .due_date
        .map(|d| format::due_state(d, t.completed, tz, ctx.now));
    let class = match (t.completed, state) {
        (true, _) => "task done",
        (_, Some(DueState::Overdue)) => "task overdue",
        (_, Some(DueState::Today)) => "task today",
        _ => "task",
    };
    let category = t
        .category_id
        .and_then(|c| categories.iter().find(|l| l.id == c.0));
    let title = t.title.as_str();
    let (action, verb) = if t.completed {
        ("reopen", format!("Reopen “{title}”"))
    } else {
        ("complete", format!("Complete “{title}”"))
    };
    let reminders: Vec<&Reminder> = t
        .reminders
        .iter()
        .filter(|r| r.status != ReminderStatus::Cancelled)
        .collect();
    html! {
        li class=(class) id={"task-" (t.id)} data-task-id=(t.id) {
            form.check method="post" action={"/tasks/" (t.id) "/" (action)} data-enhance {
                (layout::csrf(&ctx.session))
                input type="hidden" name="back" value=(back);
                button.tick id={(action) "-" (t.id)} type="submit" aria-label=(verb) title=(verb) aria-pressed=(t.completed) {
                    svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false" {
                        path d="M5 12.5l4.5 4.5L19 7.5" fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" {}
                    }
                }
            }
            div.body {
                a.title href={"/tasks/" (t.id)} { (title) }
                div.meta {
                    @if let Some(d) = t.due_date {
                        span.due {
                            @match state {
                                Some(DueState::Overdue) => { strong { "Overdue" } " · " }
                                Some(DueState::Today) => { strong { "Due today" } " · " }
                                _ => { "Due " }
                            }
                            (format::time_el(d, format::when(d, tz, ctx.now)))
                        }
                    }
                    @if t.priority != Priority::Medium {
                        span class={"prio prio-" (t.priority.as_str())} { (capitalise(t.priority.as_str())) " priority" }
                    }
                    @if let Some(c) = category {
                        span.label { (dot(c.color.as_ref().map(|c| c.as_str()))) (c.name.as_str()) }
                    }
                    @for tag in t.tag_ids.iter().filter_map(|id| tags.iter().find(|l| l.id == id.0)) {
                        span.label.tag { (dot(tag.color.as_ref().map(|c| c.as_str()))) "#" (tag.name.as_str()) }
                    }
                    @if let Some(r) = &t.recurrence {
                        span.repeat { "Repeats " (rules::describe(r.rule.as_str())) }
                    }
                    @for r in reminders.iter().rev().take(3).rev() {
                        @let (key, text) = reminder_state(r);
                        span class={"rem rem-" (key)} data-reminder-state=(key) {
                            "Reminder " (text) " · "
                            (format::time_el(r.delivered_at.unwrap_or(r.remind_at), format::when(r.delivered_at.unwrap_or(r.remind_at), tz, ctx.now)))
                        }
                    }
                }
            }
            form.del method="post" action={"/tasks/" (t.id) "/delete"} data-enhance {
                (layout::csrf(&ctx.session))
                input type="hidden" name="back" value=(back);
                button.icon id={"delete-" (t.id)} type="submit" aria-label={"Delete “" (title) "”"} title="Delete" {
                    svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true" focusable="false" {
                        path d="M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13" fill="none" stroke="currentColor" stroke-width="2" stroke-linejoin="round" {}
                    }
                }
            }
        }
    }
}

/// The query part of a `back` path, as the list's query (to re-render the same view).
fn query_of(back: &str) -> ListQuery {
    back.parse::<Uri>()
        .ok()
        .and_then(|u| Query::<ListQuery>::try_from_uri(&u).ok())
        .map(|Query(q)| q)
        .unwrap_or_default()
}

fn quick_task(ctx: &Ctx, f: &Fields) -> Result<NewTask, Vec<String>> {
    let mut errors = Vec::new();
    let title = Title::parse(f.get("title").unwrap_or(""))
        .map_err(|e| errors.push(e.message))
        .ok();
    let due = match f.text("due") {
        None => None,
        Some(d) => due_phrase::parse(d, ctx.tz(), ctx.now)
            .map_err(|e| errors.push(e))
            .ok(),
    };
    let rule = match f.text("repeat") {
        None => None,
        Some(r) => parse_rule(r).map_err(|e| errors.push(e.message)).ok(),
    };
    let reminders = match f.text("remind").unwrap_or("default") {
        "default" => None,
        "none" => Some(Vec::new()),
        m => match m.parse::<i64>().ok().map(ReminderSpec::before) {
            Some(Ok(spec)) if due.is_some() => Some(vec![spec]),
            Some(Ok(_)) => {
                errors.push("A reminder before the due date needs a due date.".into());
                None
            }
            _ => {
                errors.push("Choose a reminder from the list.".into());
                None
            }
        },
    };
    match title {
        Some(title) if errors.is_empty() => Ok(NewTask {
            title,
            description: None,
            priority: Priority::Medium,
            due_date: due,
            category_id: None,
            tag_ids: Vec::new(),
            recurrence: rule.map(|rule| Recurrence {
                rule,
                series_start: None,
                previous_task_id: None,
            }),
            reminders,
        }),
        _ => Err(errors),
    }
}

pub async fn quick_add(
    State(state): State<WebApp>,
    session: Session,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let ctx = Ctx::new(&state, session).await?;
    let back = local_path(f.get("back"));
    let errors = match quick_task(&ctx, &f) {
        Ok(new) => match state.services.create_task(&ctx.session.actor, new).await {
            Ok(_) => return Ok(see_other(&with_param(&back, "flash", "added"))),
            Err(crate::app::ServiceError::Invalid(v)) => vec![v.message],
            Err(e) => return Err(e.into()),
        },
        Err(errors) => errors,
    };
    let quick = QuickAdd {
        title: f.get("title").unwrap_or_default().to_owned(),
        due: f.get("due").unwrap_or_default().to_owned(),
        repeat: f.get("repeat").unwrap_or_default().to_owned(),
        remind: f.get("remind").unwrap_or_default().to_owned(),
        errors,
    };
    let page = render_list(&state, &ctx, &query_of(&back), quick).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub(super) fn task_id(raw: &str) -> Result<TaskId, WebError> {
    raw.parse::<i64>()
        .map(TaskId)
        .map_err(|_| WebError::NotFound("No such task.".into()))
}

pub async fn complete(
    State(state): State<WebApp>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id = task_id(&id)?;
    state.services.complete_task(&session.actor, id).await?;
    Ok(see_other(&with_param(
        &local_path(f.get("back")),
        "flash",
        "completed",
    )))
}

pub async fn reopen(
    State(state): State<WebApp>,
    session: Session,
    axum::extract::Path(id): axum::extract::Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id = task_id(&id)?;
    state.services.reopen_task(&session.actor, id).await?;
    Ok(see_other(&with_param(
        &local_path(f.get("back")),
        "flash",
        "reopened",
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_view_is_pending_by_due_date_and_urls_keep_filters() {
        let q = ListQuery::default();
        let p = q.params();
        assert_eq!(p.status.as_deref(), Some("pending"));
        assert_eq!(p.sort.as_deref(), Some("due_date"));
        assert_eq!(q.url(None), "/");
        let q = ListQuery {
            q: Some("milk".into()),
            sort: Some("title".into()),
            priority: Some("".into()),
            ..ListQuery::default()
        };
        assert_eq!(q.params().sort, None, "search orders by relevance");
        assert_eq!(q.url(Some("abc")), "/?q=milk&sort=title&cursor=abc");
        assert_eq!(query_of("/?q=milk&status=all").status(), "all");
    }
}
