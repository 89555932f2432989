//! One task: every field editable (due date shown and entered in the user's time zone), the
//! saved rule's next occurrences, and each reminder's history (state, when it fired, when it was
//! delivered), so a person can answer "why wasn't I reminded?".

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::NaiveDateTime;
use maud::{Markup, html};

use super::format;
use super::layout::{self, Nav, dot};
use super::tasks::{capitalise, reminder_state, task_id};
use super::{Ctx, Fields, Session, WebApp, WebError, rules, see_other};
use crate::adapters::http::recurrence::{self, resolve_local};
use crate::app::ServiceError;
use crate::app::input::parse_rule;
use crate::domain::label::LabelKind;
use crate::domain::reminder::{Reminder, ReminderSpec, ReminderStatus};
use crate::domain::task::{
    Patch, Priority, Task, TaskPatch, Title, parse_description, parse_tag_ids,
};
use crate::domain::{CategoryId, ReminderId};

pub async fn edit_page(
    State(state): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, session).await?;
    let task = state
        .services
        .get_task(&ctx.session.actor.user_id, task_id(&id)?)
        .await?;
    render(&state, &ctx, &task, None, &[])
        .await
        .map(IntoResponse::into_response)
}

/// Values typed into the form, shown again when saving failed.
struct Typed<'a>(&'a Fields);

async fn render(
    state: &WebApp,
    ctx: &Ctx,
    t: &Task,
    typed: Option<Typed<'_>>,
    errors: &[String],
) -> Result<Markup, WebError> {
    let user = &ctx.session.actor.user_id;
    let categories = state
        .services
        .list_labels(user, LabelKind::Category)
        .await?;
    let tags = state.services.list_labels(user, LabelKind::Tag).await?;
    let tz = ctx.tz();
    let typed_or = |name: &str, current: String| match &typed {
        Some(Typed(f)) => f.get(name).unwrap_or_default().to_owned(),
        None => current,
    };
    let title = typed_or("title", t.title.as_str().to_owned());
    let description = typed_or("description", t.description.clone().unwrap_or_default());
    let priority = typed_or("priority", t.priority.as_str().to_owned());
    let due = typed_or(
        "due",
        t.due_date
            .map(|d| format::input_value(d, tz))
            .unwrap_or_default(),
    );
    let category = typed_or(
        "category_id",
        t.category_id.map(|c| c.0.to_string()).unwrap_or_default(),
    );
    let repeat = typed_or(
        "repeat",
        t.recurrence
            .as_ref()
            .map(|r| r.rule.as_str().to_owned())
            .unwrap_or_default(),
    );
    let checked: Vec<String> = match &typed {
        Some(Typed(f)) => f.all("tag_ids").iter().map(|s| (*s).to_owned()).collect(),
        None => t.tag_ids.iter().map(|t| t.0.to_string()).collect(),
    };
    let path = format!("/tasks/{}", t.id);
    let body = html! {
        p.crumb { a href="/" { "← All tasks" } }
        h1 { "Edit task" }
        (layout::errors(errors))
        form.edit #edit method="post" action=(path) data-enhance {
            (layout::csrf(&ctx.session))
            div.field {
                label for="e-title" { "Title" }
                input #e-title name="title" required maxlength="200" value=(title);
            }
            div.field {
                label for="e-description" { "Description" }
                textarea #e-description name="description" rows="4" maxlength="10000" { (description) }
            }
            div.row {
                div.field {
                    label for="e-priority" { "Priority" }
                    select #e-priority name="priority" {
                        @for p in Priority::ALL.iter().rev() {
                            option value=(p.as_str()) selected[priority == p.as_str()] { (capitalise(p.as_str())) }
                        }
                    }
                }
                div.field {
                    label for="e-due" { "Due (" (tz.name()) ")" }
                    input #e-due type="datetime-local" name="due" value=(due) aria-describedby="e-due-help";
                    small #e-due-help { "Leave empty for no due date." }
                }
                div.field {
                    label for="e-category" { "Category" }
                    select #e-category name="category_id" {
                        option value="" { "None" }
                        @for c in &categories {
                            option value=(c.id) selected[category == c.id.to_string()] { (c.name.as_str()) }
                        }
                    }
                }
            }
            fieldset.tags {
                legend { "Tags (up to 10)" }
                @if tags.is_empty() { p.hint { "No tags yet. " a href="/labels" { "Create tags" } "." } }
                @for tag in &tags {
                    div.check {
                        input type="checkbox" id={"e-tag-" (tag.id)} name="tag_ids" value=(tag.id) checked[checked.contains(&tag.id.to_string())];
                        label for={"e-tag-" (tag.id)} { (dot(tag.color.as_ref().map(|c| c.as_str()))) (tag.name.as_str()) }
                    }
                }
            }
            div.field {
                label for="e-repeat" { "Repeat" }
                input #e-repeat name="repeat" autocomplete="off" value=(repeat) placeholder="every monday"
                    data-preview="e-preview" data-preview-start="e-due" aria-describedby="e-preview";
            }
            div #e-preview .preview aria-live="polite" {
                (saved_preview(ctx, t))
            }
            div.actions {
                button.primary type="submit" { "Save" }
                a.button href="/" { "Cancel" }
            }
        }
        (reminders_section(ctx, t))
        section.danger aria-labelledby="more-heading" {
            h2 #more-heading { "More" }
            div.actions {
                @if t.completed {
                    form method="post" action={(path) "/reopen"} data-enhance {
                        (layout::csrf(&ctx.session))
                        input type="hidden" name="back" value=(path);
                        button type="submit" { "Reopen" }
                    }
                } @else {
                    form method="post" action={(path) "/complete"} data-enhance {
                        (layout::csrf(&ctx.session))
                        input type="hidden" name="back" value="/";
                        button type="submit" { "Complete" }
                    }
                }
                form method="post" action={(path) "/delete"} data-enhance {
                    (layout::csrf(&ctx.session))
                    input type="hidden" name="back" value="/";
                    button.danger #delete type="submit" { "Delete task" }
                }
            }
        }
    };
    Ok(ctx.page(&format!("Edit “{}”", t.title.as_str()), Nav::Tasks, body))
}

fn saved_preview(ctx: &Ctx, t: &Task) -> Markup {
    let Some(r) = &t.recurrence else {
        return html! { p.hint { "Not repeating. Type a rule (daily, weekdays, every 2 weeks…) to see its next dates." } };
    };
    let tz = ctx.tz();
    let start = r
        .series_start
        .or(t.due_date)
        .unwrap_or_else(|| recurrence::to_the_minute(ctx.now));
    match recurrence::preview(r.rule.as_str(), start, recurrence::DEFAULT_COUNT, tz) {
        Ok(p) => html! {
            p { "Repeats " (rules::describe(&p.rule)) " — next dates in " (p.time_zone) ":" }
            ol {
                @for o in &p.occurrences {
                    @if let Ok(at) = chrono::DateTime::parse_from_rfc3339(&o.at) {
                        li { (format::when(at.with_timezone(&chrono::Utc), tz, ctx.now)) }
                    }
                }
            }
            @if p.ends { p.hint { "The series ends there." } }
        },
        Err(e) => html! { p.error { (e.message) } },
    }
}

fn explain(r: &Reminder) -> &'static str {
    match (r.status, r.fired_at.is_some()) {
        (ReminderStatus::Scheduled, false) => "Waiting for its time.",
        (ReminderStatus::Scheduled, true) => "Fired; the e-mail is on its way.",
        (ReminderStatus::Sent, _) if r.late => {
            "Delivered more than a minute late (Tickler was down or busy when it was due)."
        }
        (ReminderStatus::Sent, _) => "E-mail delivered.",
        (ReminderStatus::Failed, _) => {
            "Delivery failed: no e-mail address in your profile, or the mail server refused it (see the server log)."
        }
        (ReminderStatus::Skipped, _) => "Not sent: the task was already completed or changed.",
        (ReminderStatus::Cancelled, _) => {
            "Cancelled (removed, replaced, or the task was completed or lost its due date)."
        }
    }
}

fn reminders_section(ctx: &Ctx, t: &Task) -> Markup {
    let tz = ctx.tz();
    let path = format!("/tasks/{}", t.id);
    html! {
        section #reminders data-live aria-labelledby="rem-heading" {
            h2 #rem-heading { "Reminders" }
            @if t.reminders.is_empty() {
                p.empty { "No reminders." }
            } @else {
                div.scroll {
                    table.reminders {
                        caption.visually-hidden { "Reminders of this task and what became of them" }
                        thead { tr {
                            th scope="col" { "When" }
                            th scope="col" { "Rule" }
                            th scope="col" { "State" }
                            th scope="col" { "Fired" }
                            th scope="col" { "Delivered" }
                            th scope="col" { span.visually-hidden { "Actions" } }
                        } }
                        tbody {
                            @for r in &t.reminders {
                                @let (key, text) = reminder_state(r);
                                tr id={"reminder-" (r.id)} {
                                    td { (format::time_el(r.remind_at, format::when(r.remind_at, tz, ctx.now))) }
                                    td { @match r.minutes_before { Some(m) => (format::offset(m)), None => "fixed time" } }
                                    td {
                                        span class={"rem rem-" (key)} data-reminder-state=(key) { (capitalise(text)) }
                                        br; small { (explain(r)) }
                                    }
                                    td { @if let Some(f) = r.fired_at { (format::time_el(f, format::when_precise(f, tz, ctx.now))) } @else { "—" } }
                                    td { @if let Some(d) = r.delivered_at { (format::time_el(d, format::when_precise(d, tz, ctx.now))) } @else { "—" } }
                                    td {
                                        @if r.is_pending() {
                                            form method="post" action={(path) "/reminders/" (r.id) "/cancel"} data-enhance {
                                                (layout::csrf(&ctx.session))
                                                button.link type="submit" aria-label={"Cancel the reminder of " (format::when(r.remind_at, tz, ctx.now))} { "Cancel" }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            @if !t.completed {
                form.add-reminder method="post" action={(path) "/reminders"} data-enhance {
                    (layout::csrf(&ctx.session))
                    div.field {
                        label for="r-before" { "Remind me" }
                        select #r-before name="before" {
                            option value="" { "At a time…" }
                            @for m in [0u32, 5, 15, 30, 60, 120, 1440, 2880] {
                                option value=(m) selected[m == 60 && t.due_date.is_some()] { (format::offset(m)) }
                            }
                        }
                    }
                    div.field {
                        label for="r-at" { "At (" (tz.name()) ")" }
                        input #r-at type="datetime-local" name="at" aria-describedby="r-at-help";
                        small #r-at-help { "Used when “At a time…” is chosen." }
                    }
                    div.field.submit { button type="submit" { "Add reminder" } }
                }
            }
        }
    }
}

/// Parses a `datetime-local` value in `tz`.
fn local_instant(raw: &str, tz: chrono_tz::Tz) -> Option<chrono::DateTime<chrono::Utc>> {
    ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(raw.trim(), f).ok())
        .map(|n| resolve_local(n, tz))
}

/// The patch the form asks for: only the fields that differ from the task, so the event says
/// what really changed.
fn patch_from(ctx: &Ctx, t: &Task, f: &Fields) -> Result<TaskPatch, Vec<String>> {
    let tz = ctx.tz();
    let mut errors = Vec::new();
    let mut p = TaskPatch::default();
    match Title::parse(f.get("title").unwrap_or_default()) {
        Ok(title) if title != t.title => p.title = Some(title),
        Ok(_) => {}
        Err(e) => errors.push(e.message),
    }
    match parse_description(f.get("description")) {
        Ok(d) if d != t.description => {
            p.description = d.map_or(Patch::Clear, Patch::Set);
        }
        Ok(_) => {}
        Err(e) => errors.push(e.message),
    }
    match Priority::parse(f.get("priority").unwrap_or("medium")) {
        Ok(pr) if pr != t.priority => p.priority = Some(pr),
        Ok(_) => {}
        Err(e) => errors.push(e.message),
    }
    match f.text("due") {
        None if t.due_date.is_some() => p.due_date = Patch::Clear,
        None => {}
        Some(raw) => match local_instant(raw, tz) {
            // The input shows minutes: the same minute means "unchanged" (keeps 23:59:59).
            Some(_) if t.due_date.map(|d| format::input_value(d, tz)).as_deref() == Some(raw) => {}
            Some(at) => p.due_date = Patch::Set(at),
            None => errors.push(format!("Due date “{raw}” is not a date and time.")),
        },
    }
    match f.text("category_id") {
        None if t.category_id.is_some() => p.category_id = Patch::Clear,
        None => {}
        Some(raw) => match raw.parse::<i64>() {
            Ok(c) if Some(CategoryId(c)) != t.category_id => {
                p.category_id = Patch::Set(CategoryId(c))
            }
            Ok(_) => {}
            Err(_) => errors.push("Choose a category from the list.".into()),
        },
    }
    let ids: Result<Vec<i64>, _> = f.all("tag_ids").iter().map(|s| s.parse::<i64>()).collect();
    match ids.map_err(|_| "Choose tags from the list.".to_owned()) {
        Ok(ids) => match parse_tag_ids(&ids) {
            Ok(tags) => {
                let mut a = tags.clone();
                let mut b = t.tag_ids.clone();
                a.sort_by_key(|t| t.0);
                b.sort_by_key(|t| t.0);
                if a != b {
                    p.tag_ids = Some(tags);
                }
            }
            Err(e) => errors.push(e.message),
        },
        Err(e) => errors.push(e),
    }
    let current = t.recurrence.as_ref().map(|r| r.rule.clone());
    match f.text("repeat") {
        None if current.is_some() => p.recurrence_rule = Patch::Clear,
        None => {}
        Some(raw) => match parse_rule(raw) {
            Ok(rule) if Some(&rule) != current.as_ref() => p.recurrence_rule = Patch::Set(rule),
            Ok(_) => {}
            Err(e) => errors.push(e.message),
        },
    }
    if errors.is_empty() {
        Ok(p)
    } else {
        Err(errors)
    }
}

pub async fn save(
    State(state): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let ctx = Ctx::new(&state, session).await?;
    let id = task_id(&id)?;
    let task = state
        .services
        .get_task(&ctx.session.actor.user_id, id)
        .await?;
    let errors = match patch_from(&ctx, &task, &f) {
        Ok(p) if p.is_empty() => return Ok(see_other("/?flash=unchanged")),
        Ok(p) => match state.services.update_task(&ctx.session.actor, id, p).await {
            Ok(_) => return Ok(see_other("/?flash=saved")),
            Err(ServiceError::Invalid(v)) => vec![v.message],
            Err(ServiceError::LabelNotFound(kind, _)) => {
                vec![format!(
                    "That {} no longer exists.",
                    kind.noun().to_lowercase()
                )]
            }
            Err(e) => return Err(e.into()),
        },
        Err(errors) => errors,
    };
    let page = render(&state, &ctx, &task, Some(Typed(&f)), &errors).await?;
    Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
}

pub async fn add_reminder(
    State(state): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let ctx = Ctx::new(&state, session).await?;
    let id = task_id(&id)?;
    let spec = match (f.text("before"), f.text("at")) {
        (Some(m), _) => m
            .parse::<i64>()
            .map_err(|_| "Choose when from the list.".to_owned())
            .and_then(|m| ReminderSpec::before(m).map_err(|e| e.message)),
        (None, Some(at)) => local_instant(at, ctx.tz())
            .map(|remind_at| ReminderSpec::At { remind_at })
            .ok_or_else(|| format!("“{at}” is not a date and time.")),
        (None, None) => Err("Choose how long before the due date, or a date and time.".into()),
    };
    let result = match spec {
        Ok(spec) => state
            .services
            .add_reminders(&ctx.session.actor, id, vec![spec])
            .await
            .map(|_| ())
            .map_err(|e| match e {
                ServiceError::Invalid(v) => Ok(v.message),
                other => Err(other),
            }),
        Err(msg) => Err(Ok(msg)),
    };
    let path = format!("/tasks/{id}");
    match result {
        Ok(()) => Ok(see_other(&format!("{path}#reminders"))),
        Err(Ok(msg)) => {
            let task = state
                .services
                .get_task(&ctx.session.actor.user_id, id)
                .await?;
            let page = render(&state, &ctx, &task, None, &[msg]).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(Err(e)) => Err(e.into()),
    }
}

pub async fn cancel_reminder(
    State(state): State<WebApp>,
    session: Session,
    Path((id, rid)): Path<(String, String)>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id = task_id(&id)?;
    let rid = rid
        .parse::<i64>()
        .map(ReminderId)
        .map_err(|_| WebError::NotFound("No such reminder.".into()))?;
    state
        .services
        .cancel_reminder(&session.actor, id, rid)
        .await?;
    Ok(see_other(&format!("/tasks/{id}#reminders")))
}
