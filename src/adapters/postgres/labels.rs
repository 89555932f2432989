//! `LabelRepository` for PostgreSQL: categories and tags in one `labels` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool};

use super::error::{infra, repo};
use super::rows::{LABEL_COLUMNS, LabelRow, kind_str, micro, no_nul};
use super::task_write::{begin, commit};
use crate::domain::UserId;
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::task::Patch;
use crate::ports::{LabelRepository, RepoError};

#[derive(Clone)]
pub struct PgLabelRepository {
    pool: PgPool,
}

impl PgLabelRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

async fn fetch(
    conn: &mut PgConnection,
    user: &UserId,
    kind: LabelKind,
    id: i64,
    lock: bool,
) -> Result<Option<Label>, RepoError> {
    let row: Option<LabelRow> = sqlx::query_as(&format!(
        "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.id = $1 AND l.user_id = $2 AND l.kind = $3{}",
        if lock { " FOR UPDATE OF l" } else { "" }
    ))
    .bind(id)
    .bind(user.as_str())
    .bind(kind_str(kind))
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| infra("cannot read the label", e))?;
    Ok(row.map(LabelRow::into_label).transpose()?)
}

#[async_trait]
impl LabelRepository for PgLabelRepository {
    /// The cap is counted under an advisory lock on (user, kind), taken before the counting
    /// statement's snapshot, so two concurrent creates cannot both slip under it. A new label has
    /// no tasks: it is returned as written, not read back.
    async fn create(
        &self,
        user: &UserId,
        kind: LabelKind,
        name: LabelName,
        color: Option<Color>,
        now: DateTime<Utc>,
    ) -> Result<Label, RepoError> {
        no_nul("name", name.as_str())?;
        let now = micro(now);
        let mut tx = begin(&self.pool).await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))")
            .bind(format!(
                "tickler labels {} {}",
                kind_str(kind),
                user.as_str()
            ))
            .execute(&mut *tx)
            .await
            .map_err(|e| infra("cannot lock the user's labels", e))?;
        let cap = i64::try_from(kind.max_per_user()).unwrap_or(i64::MAX);
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO labels (user_id, kind, name, color, created_at) \
             SELECT $1, $2, $3, $4, $5 \
             WHERE (SELECT COUNT(*) FROM labels WHERE user_id = $1 AND kind = $2) < $6 \
             RETURNING id",
        )
        .bind(user.as_str())
        .bind(kind_str(kind))
        .bind(name.as_str())
        .bind(color.as_ref().map(Color::as_str))
        .bind(now)
        .bind(cap)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| repo("cannot insert the label", e))?;
        let Some(id) = id else {
            return Err(RepoError::LimitExceeded);
        };
        commit(tx).await?;
        Ok(Label {
            id,
            kind,
            user_id: user.clone(),
            name,
            color,
            task_count: 0,
            created_at: now,
        })
    }

    async fn list(&self, user: &UserId, kind: LabelKind) -> Result<Vec<Label>, RepoError> {
        let rows: Vec<LabelRow> = sqlx::query_as(&format!(
            "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.user_id = $1 AND l.kind = $2 \
             ORDER BY l.created_at, l.id"
        ))
        .bind(user.as_str())
        .bind(kind_str(kind))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| infra("cannot list labels", e))?;
        Ok(rows
            .into_iter()
            .map(LabelRow::into_label)
            .collect::<Result<_, _>>()?)
    }

    async fn get(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<Option<Label>, RepoError> {
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| infra("cannot get a database connection", e))?;
        fetch(&mut conn, user, kind, id, false).await
    }

    /// One statement: the update, and the label with its task count as it is after it.
    async fn update(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
        name: Option<LabelName>,
        color: Patch<Color>,
    ) -> Result<Label, RepoError> {
        if let Some(n) = &name {
            no_nul("name", n.as_str())?;
        }
        let (set_color, color) = match color {
            Patch::Keep => (false, None),
            Patch::Clear => (true, None),
            Patch::Set(c) => (true, Some(c)),
        };
        let row: Option<LabelRow> = sqlx::query_as(&format!(
            "WITH l AS (UPDATE labels SET name = COALESCE($4, name), \
                 color = CASE WHEN $5 THEN $6 ELSE color END \
                 WHERE id = $1 AND user_id = $2 AND kind = $3 RETURNING *) \
             SELECT {LABEL_COLUMNS} FROM l"
        ))
        .bind(id)
        .bind(user.as_str())
        .bind(kind_str(kind))
        .bind(name.as_ref().map(LabelName::as_str))
        .bind(set_color)
        .bind(color.as_ref().map(Color::as_str))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| repo("cannot update the label", e))?;
        row.map(LabelRow::into_label)
            .transpose()?
            .ok_or(RepoError::NotFound)
    }

    /// The foreign keys do the unlinking: `tasks.category_id` is set to NULL and `task_tags` rows
    /// cascade. The count of affected tasks is read in the same transaction, just before, with
    /// the label locked so that no task can start using it in between.
    async fn delete(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<(Label, i64), RepoError> {
        let mut tx = begin(&self.pool).await?;
        let label = fetch(&mut tx, user, kind, id, true)
            .await?
            .ok_or(RepoError::NotFound)?;
        sqlx::query("DELETE FROM labels WHERE id = $1 AND user_id = $2 AND kind = $3")
            .bind(id)
            .bind(user.as_str())
            .bind(kind_str(kind))
            .execute(&mut *tx)
            .await
            .map_err(|e| infra("cannot delete the label", e))?;
        commit(tx).await?;
        let affected = label.task_count;
        Ok((label, affected))
    }
}
