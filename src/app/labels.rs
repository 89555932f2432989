//! Category and tag use cases.

use super::input::LabelInput;
use super::{ServiceError, Services};
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::task::Patch;
use crate::domain::{ErrorCode, UserId, ValidationError};
use crate::ports::RepoError;

fn label_error(kind: LabelKind, id: i64, name: Option<&str>, e: RepoError) -> ServiceError {
    match e {
        RepoError::NotFound => ServiceError::LabelNotFound(kind, id),
        RepoError::Duplicate => ServiceError::Duplicate(format!(
            "{} '{}' already exists for this user",
            kind.noun(),
            name.unwrap_or_default()
        )),
        RepoError::LimitExceeded => ServiceError::LimitExceeded(format!(
            "Maximum {} {} reached. Delete unused ones to create new ones.",
            kind.max_per_user(),
            match kind {
                LabelKind::Category => "categories",
                LabelKind::Tag => "tags",
            }
        )),
        other => ServiceError::from_repo(other, None),
    }
}

fn parse_color(raw: Option<Option<String>>) -> Result<Patch<Color>, ValidationError> {
    match raw {
        None => Ok(Patch::Keep),
        Some(None) => Ok(Patch::Clear),
        Some(Some(c)) if c.trim().is_empty() => Ok(Patch::Clear),
        Some(Some(c)) => Color::parse(c.trim()).map(Patch::Set),
    }
}

impl Services {
    pub async fn create_label(
        &self,
        user: &UserId,
        kind: LabelKind,
        input: LabelInput,
    ) -> Result<Label, ServiceError> {
        let name = LabelName::parse(kind, input.name.as_deref().unwrap_or_default())?;
        let color = parse_color(input.color)?.apply(None);
        self.labels
            .create(user, kind, name.clone(), color, self.clock.now())
            .await
            .map_err(|e| label_error(kind, 0, Some(name.as_str()), e))
    }

    pub async fn list_labels(
        &self,
        user: &UserId,
        kind: LabelKind,
    ) -> Result<Vec<Label>, ServiceError> {
        self.labels
            .list(user, kind)
            .await
            .map_err(|e| label_error(kind, 0, None, e))
    }

    pub async fn get_label(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<Label, ServiceError> {
        self.labels
            .get(user, kind, id)
            .await
            .map_err(|e| label_error(kind, id, None, e))?
            .ok_or(ServiceError::LabelNotFound(kind, id))
    }

    pub async fn update_label(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
        input: LabelInput,
    ) -> Result<Label, ServiceError> {
        let name = input
            .name
            .as_deref()
            .map(|n| LabelName::parse(kind, n))
            .transpose()?;
        let color = parse_color(input.color)?;
        if name.is_none() && color.is_keep() {
            return Err(ValidationError::new(
                ErrorCode::InvalidRequest,
                "body",
                "Must provide name or color to update",
            )
            .into());
        }
        let shown = name.as_ref().map(|n| n.as_str().to_owned());
        self.labels
            .update(user, kind, id, name, color)
            .await
            .map_err(|e| label_error(kind, id, shown.as_deref(), e))
    }

    /// Returns the deleted label and how many tasks lost it.
    pub async fn delete_label(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<(Label, i64), ServiceError> {
        self.labels
            .delete(user, kind, id)
            .await
            .map_err(|e| label_error(kind, id, None, e))
    }
}
