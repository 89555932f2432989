//! Translation of sqlx errors into the ports' error types, in one place so every adapter agrees
//! on what is transient and what a constraint violation means.

use crate::ports::{InfraError, RepoError};

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

/// The name of the foreign key a statement violated, if that is what failed.
pub(crate) fn violated_foreign_key(err: &sqlx::Error) -> Option<&str> {
    match err {
        sqlx::Error::Database(db) if db.is_foreign_key_violation() => db.constraint(),
        _ => None,
    }
}

/// A value in the database that the domain cannot represent: a bug or a hand-edited row, never
/// worth retrying, and never a reason to panic.
pub(crate) fn bad_data(context: impl Into<String>) -> InfraError {
    InfraError::msg(context)
}

/// SQLSTATE classes and codes that mean "try again later": the connection (class 08), a
/// serialization failure or deadlock (class 40), insufficient resources (class 53, e.g. too many
/// connections), a lock or statement timeout, and a server shutting down or starting up (57P0x).
fn is_transient(err: &sqlx::Error) -> bool {
    match err {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08")
                || c.starts_with("40")
                || c.starts_with("53")
                || matches!(&*c, "55P03" | "57014" | "57P01" | "57P02" | "57P03")
        }),
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
        assert!(!infra("x", sqlx::Error::PoolClosed).transient);
        assert!(matches!(
            repo("x", sqlx::Error::RowNotFound),
            RepoError::Infra(_)
        ));
    }
}
