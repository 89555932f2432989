//! Category and tag tools, and tagging a task. Categories and tags are one use case told apart by
//! `LabelKind`, so the eight label tools share their handlers.

use rmcp::schemars::JsonSchema;
use serde::Deserialize;

use super::errors::{Suggest, ToolError, task_error};
use super::views::{
    CategoryCreated, CategoryDeleted, CategoryUpdated, Created, Deleted, Instant, LabelList,
    LabelView, TagAdded, TagCreated, TagDeleted, TagLinked, TagRemoved, TagUnlinked, TagUpdated,
    Updated,
};
use super::{Call, Reply};
use crate::app::input::{LabelInput, tri_state};
use crate::domain::change::TagLink;
use crate::domain::label::{Label, LabelKind};
use crate::domain::{TagId, TaskId};

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CreateLabelParams {
    /// The name, unique among yours (case-sensitive); at most 50 characters for a category, 30
    /// for a tag.
    pub name: String,
    /// Hex colour "#RRGGBB", e.g. "#3B82F6".
    pub color: Option<String>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct UpdateCategoryParams {
    /// The category's id (see list_categories).
    pub category_id: i64,
    /// New name.
    pub name: Option<String>,
    /// New colour "#RRGGBB"; null or "" removes it.
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<String>")]
    pub color: Option<Option<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct UpdateTagParams {
    /// The tag's id (see list_tags).
    pub tag_id: i64,
    /// New name.
    pub name: Option<String>,
    /// New colour "#RRGGBB"; null or "" removes it.
    #[serde(default, deserialize_with = "tri_state")]
    #[schemars(with = "Option<String>")]
    pub color: Option<Option<String>>,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct CategoryIdParams {
    /// The category's id (see list_categories).
    pub category_id: i64,
}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct TagIdParams {
    /// The tag's id (see list_tags).
    pub tag_id: i64,
}

#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
#[serde(deny_unknown_fields)]
pub struct TaskTagParams {
    /// The task's id.
    pub task_id: i64,
    /// The tag's id (see list_tags; create_tag makes a new one).
    pub tag_id: i64,
}

fn color(l: &Label) -> Option<String> {
    l.color.as_ref().map(|c| c.as_str().to_owned())
}

fn noun(kind: LabelKind) -> &'static str {
    match kind {
        LabelKind::Category => "category",
        LabelKind::Tag => "tag",
    }
}

pub async fn create(
    c: &Call<'_>,
    kind: LabelKind,
    p: CreateLabelParams,
) -> Result<Reply, ToolError> {
    let input = LabelInput {
        name: Some(p.name),
        color: p.color.map(Some),
    };
    let l = c
        .services
        .create_label(&c.actor.user_id, kind, input)
        .await
        .map_err(|e| ToolError::from_service(&e, &format!("create {}", noun(kind))))?;
    Ok(match kind {
        LabelKind::Category => Reply::object(&CategoryCreated {
            status: Created::Created,
            category_id: l.id,
            name: l.name.as_str().to_owned(),
            color: color(&l),
            created_at: Instant(l.created_at),
        }),
        LabelKind::Tag => Reply::object(&TagCreated {
            status: Created::Created,
            tag_id: l.id,
            name: l.name.as_str().to_owned(),
            color: color(&l),
            created_at: Instant(l.created_at),
        }),
    })
}

pub async fn list(c: &Call<'_>, kind: LabelKind, _: NoParams) -> Result<Reply, ToolError> {
    let labels = c
        .services
        .list_labels(&c.actor.user_id, kind)
        .await
        .map_err(|e| ToolError::from_service(&e, &format!("list {}", noun(kind))))?;
    let list = LabelList {
        result: labels.iter().map(LabelView::from).collect(),
    };
    Ok(Reply::list(&list.result, None, None))
}

pub async fn update(
    c: &Call<'_>,
    kind: LabelKind,
    id: i64,
    name: Option<String>,
    new_color: Option<Option<String>>,
) -> Result<Reply, ToolError> {
    let input = LabelInput {
        name,
        color: new_color,
    };
    let l = c
        .services
        .update_label(&c.actor.user_id, kind, id, input)
        .await
        .map_err(|e| ToolError::from_service(&e, &format!("update {}", noun(kind))))?;
    Ok(match kind {
        LabelKind::Category => Reply::object(&CategoryUpdated {
            status: Updated::Updated,
            category_id: l.id,
            name: l.name.as_str().to_owned(),
            color: color(&l),
        }),
        LabelKind::Tag => Reply::object(&TagUpdated {
            status: Updated::Updated,
            tag_id: l.id,
            name: l.name.as_str().to_owned(),
            color: color(&l),
        }),
    })
}

pub async fn delete(c: &Call<'_>, kind: LabelKind, id: i64) -> Result<Reply, ToolError> {
    let (l, affected) = c
        .services
        .delete_label(&c.actor.user_id, kind, id)
        .await
        .map_err(|e| ToolError::from_service(&e, &format!("delete {}", noun(kind))))?;
    Ok(match kind {
        LabelKind::Category => Reply::object(&CategoryDeleted {
            status: Deleted::Deleted,
            category_id: l.id,
            name: l.name.as_str().to_owned(),
            tasks_affected: affected,
        }),
        LabelKind::Tag => Reply::object(&TagDeleted {
            status: Deleted::Deleted,
            tag_id: l.id,
            name: l.name.as_str().to_owned(),
            tasks_affected: affected,
        }),
    })
}

pub async fn add_tag_to_task(c: &Call<'_>, p: TaskTagParams) -> Result<Reply, ToolError> {
    let (task, link) = match c
        .services
        .add_tag(c.actor, TaskId(p.task_id), TagId(p.tag_id))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Err(task_error(
                c.services,
                &c.actor.user_id,
                e,
                "add tag to task",
                Suggest::Recent,
            )
            .await);
        }
    };
    Ok(Reply::object(&TagLinked {
        status: if link == TagLink::AlreadyAssigned {
            TagAdded::AlreadyAssigned
        } else {
            TagAdded::Added
        },
        task_id: task.id.0,
        tag_id: p.tag_id,
    }))
}

pub async fn remove_tag_from_task(c: &Call<'_>, p: TaskTagParams) -> Result<Reply, ToolError> {
    // The seed did not check the tag: anyone's tag id answered "not_assigned".
    c.require_tag(p.tag_id).await?;
    let (task, link) = match c
        .services
        .remove_tag(c.actor, TaskId(p.task_id), TagId(p.tag_id))
        .await
    {
        Ok(r) => r,
        Err(e) => {
            return Err(task_error(
                c.services,
                &c.actor.user_id,
                e,
                "remove tag from task",
                Suggest::Recent,
            )
            .await);
        }
    };
    Ok(Reply::object(&TagUnlinked {
        status: if link == TagLink::Removed {
            TagRemoved::Removed
        } else {
            TagRemoved::NotAssigned
        },
        task_id: task.id.0,
        tag_id: p.tag_id,
    }))
}
