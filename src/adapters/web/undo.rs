//! Deleting a task with a way back: the deleted task's snapshot is kept in the StateStore for
//! [`UNDO_TTL`] under a random token scoped to the user, and consumed once by `POST /undo`.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::Response;

use super::tasks::task_id;
use super::{Ctx, Fields, Session, WebApp, WebError, local_path, see_other, with_param};
use crate::domain::reminder::ReminderSpec;
use crate::domain::task::{NewTask, Recurrence, Task};
use crate::ports::ETagCondition;

/// How long a deleted task can be brought back.
pub const UNDO_TTL: Duration = Duration::from_secs(15 * 60);

fn undo_key(user: &crate::domain::UserId, token: &str) -> String {
    format!("web:undo:{}:{token}", user.as_str())
}

pub(super) async fn load_undo(state: &WebApp, ctx: &Ctx, token: &str) -> Option<Task> {
    let entry = state
        .services
        .state
        .get(&undo_key(&ctx.session.actor.user_id, token))
        .await
        .ok()??;
    serde_json::from_slice::<Task>(&entry.value)
        .ok()
        .filter(|t| t.user_id == ctx.session.actor.user_id)
}

/// Deletes the task and keeps its snapshot for [`UNDO_TTL`] so it can be restored.
pub async fn delete(
    State(state): State<WebApp>,
    session: Session,
    Path(id): Path<String>,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let id = task_id(&id)?;
    let deleted = state.services.delete_task(&session.actor, id).await?;
    let token = uuid::Uuid::new_v4().simple().to_string();
    let snapshot = serde_json::to_vec(&deleted).expect("a task serialises");
    let back = local_path(f.get("back"));
    // A back path to the deleted task's own page would be a 404: go to the list instead.
    let back = if back.starts_with("/tasks/") {
        "/".to_owned()
    } else {
        back
    };
    match state
        .services
        .state
        .save(
            &undo_key(&session.actor.user_id, &token),
            &snapshot,
            ETagCondition::Any,
            Some(UNDO_TTL),
        )
        .await
    {
        Ok(_) => Ok(see_other(&with_param(
            &with_param(&back, "flash", "deleted"),
            "undo",
            &token,
        ))),
        // The task is gone either way; only the undo is lost.
        Err(e) => {
            tracing::warn!(error = %e, "could not keep an undo record");
            Ok(see_other(&with_param(&back, "flash", "deleted")))
        }
    }
}

/// Creates the deleted task again (a new id; pending reminders are planned anew, delivered ones
/// are history of the old task). A completed recurring task comes back without its rule: its
/// next occurrence exists already.
pub async fn undo(
    State(state): State<WebApp>,
    session: Session,
    f: Fields,
) -> Result<Response, WebError> {
    f.check_csrf(&state, &session)?;
    let back = local_path(f.get("back"));
    let token = f.text("token").unwrap_or_default();
    let key = undo_key(&session.actor.user_id, token);
    let entry = state
        .services
        .state
        .get(&key)
        .await
        .map_err(crate::app::ServiceError::from)?;
    let Some(entry) = entry else {
        return Ok(see_other(&with_param(&back, "flash", "undo-gone")));
    };
    // Consumed once: a second click (or a second tab) finds the etag changed.
    if state
        .services
        .state
        .delete(&key, ETagCondition::Match(entry.etag.clone()))
        .await
        .is_err()
    {
        return Ok(see_other(&with_param(&back, "flash", "undo-gone")));
    }
    let old: Task = serde_json::from_slice(&entry.value).map_err(|_| WebError::Internal)?;
    if old.user_id != session.actor.user_id {
        return Err(WebError::NotFound("No such task.".into()));
    }
    let now = state.services.clock.now();
    let reminders = old
        .reminders
        .iter()
        .filter(|r| r.is_pending())
        .map(|r| match r.minutes_before {
            Some(m) => ReminderSpec::BeforeDue { minutes_before: m },
            None => ReminderSpec::At {
                remind_at: r.remind_at.max(now),
            },
        })
        .collect();
    let new = NewTask {
        title: old.title.clone(),
        description: old.description.clone(),
        priority: old.priority,
        due_date: old.due_date,
        category_id: old.category_id,
        tag_ids: old.tag_ids.clone(),
        recurrence: old
            .recurrence
            .clone()
            .filter(|_| !old.completed)
            .map(|r| Recurrence {
                previous_task_id: None,
                ..r
            }),
        reminders: Some(reminders),
    };
    let restored = state.services.create_task(&session.actor, new).await?;
    if old.completed {
        state
            .services
            .complete_task(&session.actor, restored.id)
            .await?;
    }
    Ok(see_other(&with_param(&back, "flash", "restored")))
}
