//! `LabelRepository` for SQLite: categories and tags in one `labels` table.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{SqliteConnection, SqlitePool};

use super::error::{infra, repo};
use super::rows::{LABEL_COLUMNS, LabelRow, kind_str, micros};
use crate::domain::UserId;
use crate::domain::label::{Color, Label, LabelKind, LabelName};
use crate::domain::task::Patch;
use crate::ports::{InfraError, LabelRepository, RepoError};

#[derive(Clone)]
pub struct SqliteLabelRepository {
    pool: SqlitePool,
}

impl SqliteLabelRepository {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

async fn fetch(
    conn: &mut SqliteConnection,
    user: &UserId,
    kind: LabelKind,
    id: i64,
) -> Result<Option<Label>, RepoError> {
    let row: Option<LabelRow> = sqlx::query_as(&format!(
        "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.id = ? AND l.user_id = ? AND l.kind = ?"
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
impl LabelRepository for SqliteLabelRepository {
    /// The cap is counted inside the write transaction (`BEGIN IMMEDIATE`), so two concurrent
    /// creates cannot both slip under it.
    async fn create(
        &self,
        user: &UserId,
        kind: LabelKind,
        name: LabelName,
        color: Option<Color>,
        now: DateTime<Utc>,
    ) -> Result<Label, RepoError> {
        let mut tx = begin(&self.pool).await?;
        let count: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM labels WHERE user_id = ? AND kind = ?")
                .bind(user.as_str())
                .bind(kind_str(kind))
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| infra("cannot count labels", e))?;
        if usize::try_from(count).unwrap_or(usize::MAX) >= kind.max_per_user() {
            return Err(RepoError::LimitExceeded);
        }
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO labels (user_id, kind, name, color, created_at) VALUES (?, ?, ?, ?, ?) \
             RETURNING id",
        )
        .bind(user.as_str())
        .bind(kind_str(kind))
        .bind(name.as_str())
        .bind(color.as_ref().map(Color::as_str))
        .bind(micros(now))
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| repo("cannot insert the label", e))?;
        let label = fetch(&mut tx, user, kind, id)
            .await?
            .ok_or(RepoError::NotFound)?;
        commit(tx).await?;
        Ok(label)
    }

    async fn list(&self, user: &UserId, kind: LabelKind) -> Result<Vec<Label>, RepoError> {
        let rows: Vec<LabelRow> = sqlx::query_as(&format!(
            "SELECT {LABEL_COLUMNS} FROM labels l WHERE l.user_id = ? AND l.kind = ? \
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
        fetch(&mut conn, user, kind, id).await
    }

    async fn update(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
        name: Option<LabelName>,
        color: Patch<Color>,
    ) -> Result<Label, RepoError> {
        let mut tx = begin(&self.pool).await?;
        let current = fetch(&mut tx, user, kind, id)
            .await?
            .ok_or(RepoError::NotFound)?;
        let name = name.unwrap_or(current.name);
        let color = color.apply(current.color);
        sqlx::query(
            "UPDATE labels SET name = ?, color = ? WHERE id = ? AND user_id = ? AND kind = ?",
        )
        .bind(name.as_str())
        .bind(color.as_ref().map(Color::as_str))
        .bind(id)
        .bind(user.as_str())
        .bind(kind_str(kind))
        .execute(&mut *tx)
        .await
        .map_err(|e| repo("cannot update the label", e))?;
        let label = fetch(&mut tx, user, kind, id)
            .await?
            .ok_or(RepoError::NotFound)?;
        commit(tx).await?;
        Ok(label)
    }

    /// The foreign keys do the unlinking: `tasks.category_id` is set to NULL and `task_tags` rows
    /// cascade. The count of affected tasks is read in the same transaction, just before.
    async fn delete(
        &self,
        user: &UserId,
        kind: LabelKind,
        id: i64,
    ) -> Result<(Label, i64), RepoError> {
        let mut tx = begin(&self.pool).await?;
        let label = fetch(&mut tx, user, kind, id)
            .await?
            .ok_or(RepoError::NotFound)?;
        sqlx::query("DELETE FROM labels WHERE id = ? AND user_id = ? AND kind = ?")
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

async fn begin(pool: &SqlitePool) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, InfraError> {
    pool.begin_with("BEGIN IMMEDIATE")
        .await
        .map_err(|e| infra("cannot start a write transaction", e))
}

async fn commit(tx: sqlx::Transaction<'static, sqlx::Sqlite>) -> Result<(), InfraError> {
    tx.commit()
        .await
        .map_err(|e| infra("cannot commit the write transaction", e))
}
