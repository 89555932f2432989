//! Direct SQLite calls (rusqlite): the helpers the hot reads and writes share, and the borrowing
//! of a connection that sqlx owns, which only an in-memory database still needs (its one pool
//! connection is its writer and its reader) and the cold paths use (the reconciliation's
//! pending reminders).
//!
//! Why: sqlx-sqlite runs every statement on a worker thread of its own and sends each row back
//! through a channel, so one statement costs two thread hand-offs and every row another wake-up.
//! A page of 50 tasks (three statements, ~100 rows) or a batch of creations (about ten statements
//! each) spent most of its CPU in those hand-offs, not in SQLite (BENCHMARKS.md, issue #8). Here
//! the connection is locked out of its worker once per read, and the statements run on the
//! calling thread, rows decoded where they lie.
//!
//! The statements prepared on a borrowed handle are finalized when the call returns: sqlx panics
//! when it closes a handle that still has statements, and it closes pool connections when it sees
//! fit. That is why the writer and the readers of a file have connections of their own instead
//! (see `writer` and `readers`), whose compiled statements last.
//!
//! The closures run synchronously on the calling Tokio worker: a read holds it for what SQLite
//! takes (tens to hundreds of microseconds, bounded: pages are capped, search ranks at most
//! `SEARCH_CANDIDATES` rows). Work that can wait on the disk (a COMMIT that checkpoints) is moved
//! off the worker with [`off_the_reactor`].

use rusqlite::types::Value;
use sqlx::{SqliteConnection, SqlitePool};

use super::error::infra;
use crate::ports::InfraError;

/// A borrowed connection: statements, no ownership (dropping it never closes the database).
pub(crate) type Db = rusqlite::Connection;

/// Opens one of the store's own connections (the writer, a reader, the checkpointer) to the file
/// at `path`, sets `busy_timeout` and runs `pragmas`; `role` names it in the error. NO_MUTEX:
/// each of them is used by one thread at a time.
pub(crate) fn open_own(
    path: &std::path::Path,
    role: &str,
    writable: bool,
    busy_timeout: std::time::Duration,
    pragmas: &str,
) -> Result<Db, InfraError> {
    use rusqlite::OpenFlags;
    let fail = |e| {
        super::error::sql(
            format!("cannot open the SQLite {role} on {}", path.display()),
            e,
        )
    };
    let access = if writable {
        OpenFlags::SQLITE_OPEN_READ_WRITE
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY
    };
    let db = rusqlite::Connection::open_with_flags(path, access | OpenFlags::SQLITE_OPEN_NO_MUTEX)
        .map_err(fail)?;
    db.busy_timeout(busy_timeout).map_err(fail)?;
    db.execute_batch(pragmas).map_err(fail)?;
    Ok(db)
}

/// Runs `f` on `conn`'s database handle while sqlx's worker thread is kept off it.
pub(crate) async fn with_db<R>(
    conn: &mut SqliteConnection,
    f: impl FnOnce(&mut Db) -> R,
) -> Result<R, InfraError> {
    let mut handle = conn
        .lock_handle()
        .await
        .map_err(|e| infra("cannot take the database connection", e))?;
    let raw = handle.as_raw_handle().as_ptr();
    // SAFETY: `handle` holds the connection's lock until it is dropped below, after `db`: sqlx's
    // worker thread blocks on that lock, so nothing else uses the handle meanwhile. `from_handle`
    // does not take ownership: dropping `db` finalizes the statements it prepared and leaves the
    // connection open for sqlx. Both crates link the same `libsqlite3-sys`, so the pointer types
    // are the same library's.
    let mut db = unsafe { rusqlite::Connection::from_handle(raw) }
        .map_err(|e| super::error::sql("cannot borrow the database connection", e))?;
    let out = f(&mut db);
    drop(db);
    drop(handle);
    Ok(out)
}

/// Runs a read on a connection of `pool`, directly on its SQLite handle. A read needs no
/// transaction: under WAL one statement sees one committed snapshot.
pub(crate) async fn read_on<T, E: From<InfraError>>(
    pool: &SqlitePool,
    f: impl FnOnce(&Db) -> Result<T, E>,
) -> Result<T, E> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| infra("cannot get a database connection", e))?;
    with_db(&mut conn, |db| f(db)).await?
}

/// Runs `f` where it may block: on a multi-threaded runtime the worker hands its other tasks to
/// the pool first; on a current-thread runtime (tests) there is no other worker to hand them to.
pub(crate) fn off_the_reactor<R>(f: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// An SQL text and its parameters, built together so a placeholder never drifts from its value
/// (the role sqlx's `QueryBuilder` plays on the sqlx paths).
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Value>,
}

impl Sql {
    pub(crate) fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            params: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    pub(crate) fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.text.push('?');
        self.params.push(value.into());
        self
    }

    /// `a, b, c` as parameters (the caller writes the parentheses).
    pub(crate) fn ids(&mut self, ids: impl IntoIterator<Item = i64>) -> &mut Self {
        for (i, id) in ids.into_iter().enumerate() {
            if i > 0 {
                self.text.push_str(", ");
            }
            self.bind(id);
        }
        self
    }

    /// Runs the query and maps each row; a row `map` refuses stops the read with its error.
    pub(crate) fn rows<T>(
        &self,
        db: &Db,
        context: &str,
        mut map: impl FnMut(&rusqlite::Row<'_>) -> Result<T, InfraError>,
    ) -> Result<Vec<T>, InfraError> {
        let mut stmt = db
            .prepare_cached(&self.text)
            .map_err(|e| super::error::sql(context, e))?;
        let mut rows = stmt
            .query(rusqlite::params_from_iter(&self.params))
            .map_err(|e| super::error::sql(context, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| super::error::sql(context, e))? {
            out.push(map(row)?);
        }
        Ok(out)
    }
}
