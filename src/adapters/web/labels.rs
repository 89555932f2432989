//! Categories and tags with their colours: create, rename, recolour, delete.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::layout::{self, Nav, dot};
use super::{Ctx, Fields, Session, WebApp, WebError, see_other};
use crate::app::ServiceError;
use crate::app::input::LabelInput;
use crate::domain::label::{Label, LabelKind};

#[derive(Debug, Default, Deserialize)]
pub struct LabelsQuery {
    pub flash: Option<String>,
}

fn base(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Category => "/categories",
        LabelKind::Tag => "/tags",
    }
}

fn plural(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Category => "Categories",
        LabelKind::Tag => "Tags",
    }
}

pub async fn labels_page(
    State(state): State<WebApp>,
    session: Session,
    Query(q): Query<LabelsQuery>,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, session).await?;
    render(&state, &ctx, q.flash.as_deref(), None)
        .await
        .map(IntoResponse::into_response)
}

async fn render(
    state: &WebApp,
    ctx: &Ctx,
    flash: Option<&str>,
    error: Option<(LabelKind, String)>,
) -> Result<Markup, WebError> {
    let user = &ctx.session.actor.user_id;
    let categories = state
        .services
        .list_labels(user, LabelKind::Category)
        .await?;
    let tags = state.services.list_labels(user, LabelKind::Tag).await?;
    let flash_text = match flash {
        Some("created") => Some("Created."),
        Some("saved") => Some("Saved."),
        Some("deleted") => Some("Deleted."),
        _ => None,
    };
    let body = html! {
        h1 { "Categories & tags" }
        @if let Some(t) = flash_text { (layout::flash(t, None)) }
        (section(ctx, LabelKind::Category, &categories, error.as_ref()))
        (section(ctx, LabelKind::Tag, &tags, error.as_ref()))
    };
    Ok(ctx.page("Categories & tags", Nav::Labels, body))
}

fn section(
    ctx: &Ctx,
    kind: LabelKind,
    labels: &[Label],
    error: Option<&(LabelKind, String)>,
) -> Markup {
    let key = match kind {
        LabelKind::Category => "cat",
        LabelKind::Tag => "tag",
    };
    let noun = kind.noun().to_lowercase();
    html! {
        section.labels aria-labelledby={(key) "-heading"} {
            h2 id={(key) "-heading"} { (plural(kind)) }
            @if let Some((k, msg)) = error { @if *k == kind { (layout::errors(std::slice::from_ref(msg))) } }
            form.add-label method="post" action=(base(kind)) data-enhance {
                (layout::csrf(&ctx.session))
                div.field.grow {
                    label for={(key) "-new-name"} { "New " (noun) }
                    input id={(key) "-new-name"} name="name" required maxlength=(kind.max_name_chars()) autocomplete="off";
                }
                div.field {
                    label for={(key) "-new-color"} { "Colour" }
                    input id={(key) "-new-color"} type="color" name="color" value="#2563eb";
                }
                div.field.submit { button type="submit" { "Add " (noun) } }
            }
            @if labels.is_empty() {
                p.empty { "No " (plural(kind).to_lowercase()) " yet." }
            } @else {
                ul.label-list {
                    @for l in labels {
                        li id={(key) "-" (l.id)} {
                            form.edit-label method="post" action={(base(kind)) "/" (l.id)} data-enhance {
                                (layout::csrf(&ctx.session))
                                (dot(l.color.as_ref().map(|c| c.as_str())))
                                div.field.grow {
                                    label for={(key) "-name-" (l.id)} { "Name" }
                                    input id={(key) "-name-" (l.id)} name="name" required maxlength=(kind.max_name_chars()) value=(l.name.as_str());
                                }
                                div.field {
                                    label for={(key) "-color-" (l.id)} { "Colour" }
                                    input id={(key) "-color-" (l.id)} type="color" name="color" value=(l.color.as_ref().map_or("#6b7280", |c| c.as_str()));
                                }
                                span.count { (l.task_count) " " (if l.task_count == 1 { "task" } else { "tasks" }) }
                                button type="submit" aria-label={"Save " (noun) " “" (l.name.as_str()) "”"} { "Save" }
                            }
                            form method="post" action={(base(kind)) "/" (l.id) "/delete"} data-enhance {
                                (layout::csrf(&ctx.session))
                                button.link.danger type="submit" aria-label={"Delete " (noun) " “" (l.name.as_str()) "”"} { "Delete" }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn input(f: &Fields) -> LabelInput {
    LabelInput {
        name: f.get("name").map(str::to_owned),
        color: f.text("color").map(|c| Some(c.to_owned())),
    }
}

async fn answer(
    state: &WebApp,
    session: Session,
    kind: LabelKind,
    result: Result<&'static str, ServiceError>,
) -> Result<Response, WebError> {
    match result {
        Ok(flash) => Ok(see_other(&format!("/labels?flash={flash}"))),
        Err(
            e @ (ServiceError::Invalid(_)
            | ServiceError::Duplicate(_)
            | ServiceError::LimitExceeded(_)),
        ) => {
            let msg = match &e {
                ServiceError::Invalid(v) => v.message.clone(),
                other => other.to_string(),
            };
            let ctx = Ctx::new(state, session).await?;
            let page = render(state, &ctx, None, Some((kind, msg))).await?;
            Ok((StatusCode::UNPROCESSABLE_ENTITY, page).into_response())
        }
        Err(e) => Err(e.into()),
    }
}

async fn create(
    state: WebApp,
    session: Session,
    kind: LabelKind,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let r = state
        .services
        .create_label(&session.actor.user_id, kind, input(&f))
        .await
        .map(|_| "created");
    answer(&state, session, kind, r).await
}

async fn update(
    state: WebApp,
    session: Session,
    kind: LabelKind,
    id: &str,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id: i64 = id
        .parse()
        .map_err(|_| WebError::NotFound(format!("No such {}.", kind.noun().to_lowercase())))?;
    let r = state
        .services
        .update_label(&session.actor.user_id, kind, id, input(&f))
        .await
        .map(|_| "saved");
    answer(&state, session, kind, r).await
}

async fn delete(
    state: WebApp,
    session: Session,
    kind: LabelKind,
    id: &str,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id: i64 = id
        .parse()
        .map_err(|_| WebError::NotFound(format!("No such {}.", kind.noun().to_lowercase())))?;
    let r = state
        .services
        .delete_label(&session.actor.user_id, kind, id)
        .await
        .map(|_| "deleted");
    answer(&state, session, kind, r).await
}

pub async fn create_category(
    State(s): State<WebApp>,
    session: Session,
    f: Fields,
) -> Result<Response, WebError> {
    create(s, session, LabelKind::Category, f).await
}

pub async fn update_category(
    State(s): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    update(s, session, LabelKind::Category, &id, f).await
}

pub async fn delete_category(
    State(s): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    delete(s, session, LabelKind::Category, &id, f).await
}

pub async fn create_tag(
    State(s): State<WebApp>,
    session: Session,
    f: Fields,
) -> Result<Response, WebError> {
    create(s, session, LabelKind::Tag, f).await
}

pub async fn update_tag(
    State(s): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    update(s, session, LabelKind::Tag, &id, f).await
}

pub async fn delete_tag(
    State(s): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    delete(s, session, LabelKind::Tag, &id, f).await
}
