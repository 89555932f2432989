//! `UserRepository` for SQLite.

use async_trait::async_trait;
use sqlx::SqlitePool;

use rusqlite::OptionalExtension;

use super::error::{infra, sql};
use super::readers::Readers;
use super::rows::UserRow;
use crate::domain::UserId;
use crate::domain::user::User;
use crate::ports::{RepoError, UserRepository};

const USER_COLUMNS: &str = "id, email, name, time_zone, default_reminder_minutes";
const GET_USER: &str =
    "SELECT id, email, name, time_zone, default_reminder_minutes FROM users WHERE id = ?";

#[derive(Clone)]
pub struct SqliteUserRepository {
    /// The writer connection.
    pool: SqlitePool,
    /// Reader connections: `get` runs on every task creation and must not queue behind writes.
    readers: Readers,
}

impl SqliteUserRepository {
    pub(crate) fn new(pool: SqlitePool, readers: Readers) -> Self {
        Self { pool, readers }
    }
}

#[async_trait]
impl UserRepository for SqliteUserRepository {
    /// One statement, so two first requests of a new user cannot race into a unique violation.
    /// On conflict the stored e-mail and name win (`COALESCE(users.x, excluded.x)`): claims only
    /// fill what is missing. Preferences of a new user come from `User::from_claims`.
    async fn upsert_from_claims(
        &self,
        id: &UserId,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<User, RepoError> {
        let fresh = User::from_claims(
            id.clone(),
            email.map(str::to_owned),
            name.map(str::to_owned),
        );
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET email = COALESCE(users.email, excluded.email), \
             name = COALESCE(users.name, excluded.name) RETURNING {USER_COLUMNS}"
        ))
        .bind(fresh.id.as_str())
        .bind(fresh.email.as_deref())
        .bind(fresh.name.as_deref())
        .bind(fresh.time_zone.name())
        .bind(fresh.default_reminder_minutes.map(i64::from))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| infra("cannot upsert the user", e))?;
        Ok(row.into_user()?)
    }

    /// Directly on a reader's handle (see `direct`): this runs before every task creation.
    async fn get(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        let row = self
            .readers
            .read(|db| {
                db.prepare_cached(GET_USER)
                    .and_then(|mut stmt| {
                        stmt.query_row([id.as_str()], |r| {
                            Ok(UserRow {
                                id: r.get(0)?,
                                email: r.get(1)?,
                                name: r.get(2)?,
                                time_zone: r.get(3)?,
                                default_reminder_minutes: r.get(4)?,
                            })
                        })
                        .optional()
                    })
                    .map_err(|e| sql("cannot read the user", e))
            })
            .await?;
        Ok(row.map(UserRow::into_user).transpose()?)
    }

    /// Stores every field as given (an e-mail or name set to none is cleared), creating the user
    /// if needed.
    async fn save(&self, user: &User) -> Result<User, RepoError> {
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, ?) \
             ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
             time_zone = excluded.time_zone, \
             default_reminder_minutes = excluded.default_reminder_minutes \
             RETURNING {USER_COLUMNS}"
        ))
        .bind(user.id.as_str())
        .bind(user.email.as_deref())
        .bind(user.name.as_deref())
        .bind(user.time_zone.name())
        .bind(user.default_reminder_minutes.map(i64::from))
        .fetch_one(&self.pool)
        .await
        .map_err(|e| infra("cannot save the user", e))?;
        Ok(row.into_user()?)
    }
}
