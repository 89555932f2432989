//! Translation of sqlx and rusqlite errors into the ports' error types, in one place so every
//! adapter agrees on what is transient and what a unique violation means.

use crate::ports::{InfraError, RepoError};

/// SQLite primary result codes (the low byte of extended codes) that mean "try again later".
const SQLITE_BUSY: i32 = 5;
const SQLITE_LOCKED: i32 = 6;

pub(crate) fn infra(context: impl Into<String>, err: sqlx::Error) -> InfraError {
    let transient = is_transient(&err);
    InfraError {
        context: context.into(),
        transient,
        source: Some(Box::new(err)),
    }
}

/// A unique violation becomes `Duplicate` (label names, a recurring task's successor); anything
/// else is an infrastructure failure.
pub(crate) fn repo(context: impl Into<String>, err: sqlx::Error) -> RepoError {
    if let sqlx::Error::Database(db) = &err
        && db.is_unique_violation()
    {
        return RepoError::Duplicate;
    }
    RepoError::Infra(infra(context, err))
}

/// A value in the database that the domain cannot represent: a bug or a hand-edited row, never
/// worth retrying, and never a reason to panic.
pub(crate) fn bad_data(context: impl Into<String>) -> InfraError {
    InfraError::msg(context)
}

/// The rusqlite twin of [`infra`] (see `direct`).
pub(crate) fn sql(context: impl Into<String>, err: rusqlite::Error) -> InfraError {
    let transient = err
        .sqlite_error()
        .is_some_and(|e| matches!(e.extended_code & 0xff, SQLITE_BUSY | SQLITE_LOCKED));
    InfraError {
        context: context.into(),
        transient,
        source: Some(Box::new(err)),
    }
}

/// The rusqlite twin of [`repo`].
pub(crate) fn sql_repo(context: impl Into<String>, err: rusqlite::Error) -> RepoError {
    use rusqlite::ffi::{SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_CONSTRAINT_UNIQUE};
    if err.sqlite_error().is_some_and(|e| {
        matches!(
            e.extended_code,
            SQLITE_CONSTRAINT_UNIQUE | SQLITE_CONSTRAINT_PRIMARYKEY
        )
    }) {
        return RepoError::Duplicate;
    }
    RepoError::Infra(sql(context, err))
}

fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(db) => db
            .code()
            .and_then(|c| c.parse::<i32>().ok())
            .is_some_and(|c| matches!(c & 0xff, SQLITE_BUSY | SQLITE_LOCKED)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_timeout_is_transient_and_row_not_found_is_not() {
        assert!(infra("x", sqlx::Error::PoolTimedOut).transient);
        assert!(!infra("x", sqlx::Error::RowNotFound).transient);
        assert!(matches!(
            repo("x", sqlx::Error::RowNotFound),
            RepoError::Infra(_)
        ));
    }

    fn failure(extended_code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(extended_code), None)
    }

    #[test]
    fn rusqlite_busy_is_transient_and_a_unique_violation_is_a_duplicate() {
        assert!(sql("x", failure(rusqlite::ffi::SQLITE_BUSY)).transient);
        assert!(sql("x", failure(rusqlite::ffi::SQLITE_LOCKED_SHAREDCACHE)).transient);
        assert!(!sql("x", failure(rusqlite::ffi::SQLITE_CORRUPT)).transient);
        assert!(matches!(
            sql_repo("x", failure(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE)),
            RepoError::Duplicate
        ));
        assert!(matches!(
            sql_repo("x", failure(rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY)),
            RepoError::Infra(_)
        ));
    }
}
