//! `UserRepository` for PostgreSQL.

use async_trait::async_trait;
use sqlx::PgPool;

use super::error::infra;
use super::rows::{UserRow, no_nul};
use crate::domain::UserId;
use crate::domain::user::User;
use crate::ports::{RepoError, UserRepository};

const USER_COLUMNS: &str = "id, email, name, time_zone, default_reminder_minutes";

#[derive(Clone)]
pub struct PgUserRepository {
    pool: PgPool,
}

impl PgUserRepository {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self { pool }
    }
}

fn check(id: &UserId, email: Option<&str>, name: Option<&str>) -> Result<(), RepoError> {
    no_nul("sub", id.as_str())?;
    no_nul("email", email.unwrap_or_default())?;
    no_nul("name", name.unwrap_or_default())
}

#[async_trait]
impl UserRepository for PgUserRepository {
    /// One statement, so two first requests of a new user cannot race into a unique violation.
    /// On conflict the stored e-mail and name win (`COALESCE(users.x, excluded.x)`): claims only
    /// fill what is missing. Preferences of a new user come from `User::from_claims`.
    async fn upsert_from_claims(
        &self,
        id: &UserId,
        email: Option<&str>,
        name: Option<&str>,
    ) -> Result<User, RepoError> {
        check(id, email, name)?;
        let fresh = User::from_claims(
            id.clone(),
            email.map(str::to_owned),
            name.map(str::to_owned),
        );
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
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

    async fn get(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        if id.as_str().contains('\0') {
            return Ok(None);
        }
        let row: Option<UserRow> =
            sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
                .bind(id.as_str())
                .fetch_optional(&self.pool)
                .await
                .map_err(|e| infra("cannot read the user", e))?;
        Ok(row.map(UserRow::into_user).transpose()?)
    }

    /// Stores every field as given (an e-mail or name set to none is cleared), creating the user
    /// if needed.
    async fn save(&self, user: &User) -> Result<User, RepoError> {
        check(&user.id, user.email.as_deref(), user.name.as_deref())?;
        let row: UserRow = sqlx::query_as(&format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5) \
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
