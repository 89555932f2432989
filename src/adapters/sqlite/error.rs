//! Translation of sqlx errors into the ports' error types, in one place so every adapter agrees
//! on what is transient and what a unique violation means.

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
}
