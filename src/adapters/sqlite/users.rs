//! `UserRepository` for SQLite.

use async_trait::async_trait;
use rusqlite::OptionalExtension;

use super::error::sql;
use super::readers::Readers;
use super::rows::UserRow;
use super::writer::Writer;
use crate::domain::UserId;
use crate::domain::user::User;
use crate::ports::{RepoError, UserRepository};

const GET_USER: &str =
    "SELECT id, email, name, time_zone, default_reminder_minutes FROM users WHERE id = ?";

#[derive(Clone)]
pub struct SqliteUserRepository {
    /// The group-commit writer. Not the sqlx pool's connection: a write there waits for the
    /// writer's lock in SQLite's busy handler, and under a steady stream of group commits a new
    /// user's first creation waited 1.1 s for it (BENCHMARKS.md, tenth step). In the writer's
    /// queue it waits for one commit.
    writer: Writer,
    /// Reader connections: `get` runs on every task creation and must not queue behind writes.
    readers: Readers,
}

impl SqliteUserRepository {
    pub(crate) fn new(writer: Writer, readers: Readers) -> Self {
        Self { writer, readers }
    }

    /// Runs `statement` (an upsert `RETURNING` the user's columns) for `user` in the writer's
    /// next commit.
    async fn upsert(
        &self,
        statement: &'static str,
        user: User,
        what: &'static str,
    ) -> Result<User, RepoError> {
        let row = self
            .writer
            .run(move |db| {
                db.prepare_cached(statement)
                    .and_then(|mut stmt| {
                        stmt.query_row(
                            rusqlite::params![
                                user.id.as_str(),
                                user.email.as_deref(),
                                user.name.as_deref(),
                                user.time_zone.name(),
                                user.default_reminder_minutes.map(i64::from),
                            ],
                            read_row,
                        )
                    })
                    .map_err(|e| sql(what, e))
            })
            .await?;
        Ok(row.into_user()?)
    }
}

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    Ok(UserRow {
        id: r.get(0)?,
        email: r.get(1)?,
        name: r.get(2)?,
        time_zone: r.get(3)?,
        default_reminder_minutes: r.get(4)?,
    })
}

/// On conflict the stored e-mail and name win (`COALESCE(users.x, excluded.x)`): claims only
/// fill what is missing.
const UPSERT_FROM_CLAIMS: &str = "INSERT INTO users \
    (id, email, name, time_zone, default_reminder_minutes) VALUES (?, ?, ?, ?, ?) \
    ON CONFLICT (id) DO UPDATE SET email = COALESCE(users.email, excluded.email), \
    name = COALESCE(users.name, excluded.name) \
    RETURNING id, email, name, time_zone, default_reminder_minutes";

const SAVE: &str = "INSERT INTO users \
    (id, email, name, time_zone, default_reminder_minutes) VALUES (?, ?, ?, ?, ?) \
    ON CONFLICT (id) DO UPDATE SET email = excluded.email, name = excluded.name, \
    time_zone = excluded.time_zone, default_reminder_minutes = excluded.default_reminder_minutes \
    RETURNING id, email, name, time_zone, default_reminder_minutes";

#[async_trait]
impl UserRepository for SqliteUserRepository {
    /// One statement, so two first requests of a new user cannot race into a unique violation.
    /// Preferences of a new user come from `User::from_claims`.
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
        self.upsert(UPSERT_FROM_CLAIMS, fresh, "cannot upsert the user")
            .await
    }

    /// Directly on a reader's handle (see `direct`): this runs before every task creation.
    async fn get(&self, id: &UserId) -> Result<Option<User>, RepoError> {
        let row = self
            .readers
            .read(|db| {
                db.prepare_cached(GET_USER)
                    .and_then(|mut stmt| stmt.query_row([id.as_str()], read_row).optional())
                    .map_err(|e| sql("cannot read the user", e))
            })
            .await?;
        Ok(row.map(UserRow::into_user).transpose()?)
    }

    /// Stores every field as given (an e-mail or name set to none is cleared), creating the user
    /// if needed.
    async fn save(&self, user: &User) -> Result<User, RepoError> {
        self.upsert(SAVE, user.clone(), "cannot save the user")
            .await
    }
}
