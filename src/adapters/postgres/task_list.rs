//! Listing and searching tasks: `TaskQuery` (src/domain/query.rs) translated to SQL.
//!
//! Filters are `TaskQuery::matches` as a WHERE clause. Sorting is `sort_value` as an SQL
//! expression, with the id as tie-breaker in the same direction; the next page starts strictly
//! after the last row's (value, id) — keyset pagination, stable under inserts, one row-value
//! comparison that the per-user indexes of the migration serve directly. Tasks without a due date
//! sort last in both directions: the expression substitutes +infinity (ascending) or -infinity
//! (descending), the counterparts of the `i64::MAX` / `i64::MIN` that `sort_value` puts in the
//! cursor, so cursors agree with every adapter.
//!
//! Search ranks with `ts_rank` (see `search.rs`); ranked pages are not keyset-able, so they page by
//! offset (`Cursor::Offset`). The page is chosen first, in a subquery, and only its rows are
//! joined with their tags and reminders.

use chrono::{DateTime, Utc};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::error::infra;
use super::rows::{REMINDERS_JOIN, TASK_COLUMNS, TaskRow, micro, micro_ceil, priority_value};
use super::search;
use crate::domain::query::{
    Cursor, Page, Ranked, SEARCH_CANDIDATES, SearchText, SortKey, SortOrder, SortValue,
    StatusFilter, TaskQuery, sort_value,
};
use crate::domain::task::Task;
use crate::domain::{ErrorCode, UserId, ValidationError};
use crate::ports::RepoError;

const BASE_COLUMNS: &str = "t.id, t.user_id, t.title, t.description, t.priority, t.due_date, \
     t.category_id, t.recurrence_rule, t.series_start, t.previous_task_id, t.completed, \
     t.completed_at, t.created_at, t.updated_at";

/// Title weight A ten times description weight B (the array is D, C, B, A).
const RANK: &str = "ts_rank('{0, 0, 0.1, 1}'::float4[], t.search_doc, q.q)";

pub(crate) async fn list(
    pool: &PgPool,
    user: &UserId,
    query: &TaskQuery,
    now: DateTime<Utc>,
) -> Result<Page<Ranked<Task>>, RepoError> {
    match &query.search {
        Some(text) => search(pool, user, query, text, now).await,
        None => sorted(pool, user, query, now).await,
    }
}

/// The SQL twin of `sort_value` (the index expressions of the migration).
fn sort_expr(key: SortKey, order: SortOrder) -> &'static str {
    match (key, order) {
        (SortKey::CreatedAt, _) => "t.created_at",
        (SortKey::DueDate, SortOrder::Asc) => "COALESCE(t.due_date, 'infinity'::timestamptz)",
        (SortKey::DueDate, SortOrder::Desc) => "COALESCE(t.due_date, '-infinity'::timestamptz)",
        (SortKey::Priority, _) => "t.priority",
        (SortKey::Title, _) => "t.title_key",
    }
}

/// A cursor's integer as an instant: the infinities stand for "past every instant", which is
/// where `i64::MAX` / `i64::MIN` (no due date) and anything else beyond chrono's range compare.
fn cursor_instant(v: i64, qb: &mut QueryBuilder<'_, Postgres>) {
    match DateTime::from_timestamp_micros(v) {
        Some(t) => {
            qb.push_bind(t).push("::timestamptz");
        }
        None if v > 0 => {
            qb.push("'infinity'::timestamptz");
        }
        None => {
            qb.push("'-infinity'::timestamptz");
        }
    }
}

async fn sorted(
    pool: &PgPool,
    user: &UserId,
    query: &TaskQuery,
    now: DateTime<Utc>,
) -> Result<Page<Ranked<Task>>, RepoError> {
    let (key, order) = (query.sort, query.effective_order());
    let limit = query.effective_limit() as usize;
    let expr = sort_expr(key, order);
    let mut qb = QueryBuilder::new(format!(
        "SELECT {TASK_COLUMNS} FROM (SELECT {BASE_COLUMNS}, {expr} AS k FROM tasks t WHERE "
    ));
    push_filters(&mut qb, user, query, now);
    let (cmp, dir) = match order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    match &query.cursor {
        None => {}
        Some(Cursor::After { v, id }) => {
            // Row-value comparison: strictly after (value, id) in the sort direction.
            qb.push(format!(" AND ({expr}, t.id) {cmp} ("));
            match (key, v) {
                (SortKey::Title, SortValue::Text(s)) => {
                    if s.contains('\0') {
                        return Err(bad_cursor());
                    }
                    qb.push_bind(s.clone()).push("::text COLLATE \"C\"");
                }
                (SortKey::Title, SortValue::Int(_)) | (_, SortValue::Text(_)) => {
                    return Err(bad_cursor());
                }
                (SortKey::CreatedAt | SortKey::DueDate, SortValue::Int(i)) => {
                    cursor_instant(*i, &mut qb);
                }
                (SortKey::Priority, SortValue::Int(i)) => {
                    // Past the smallint range compares like the integer would.
                    qb.push_bind((*i).clamp(-1, 4)).push("::smallint");
                }
            }
            qb.push(", ").push_bind(*id).push(")");
        }
        Some(Cursor::Offset { .. }) => return Err(bad_cursor()),
    }
    qb.push(format!(" ORDER BY {expr} {dir}, t.id {dir} LIMIT "))
        .push_bind(limit as i64 + 1)
        .push(format!(
            ") t {REMINDERS_JOIN} ORDER BY t.k {dir}, t.id {dir}"
        ));
    let rows: Vec<TaskRow> = qb
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(|e| infra("cannot list tasks", e))?;
    let mut tasks = rows
        .into_iter()
        .map(TaskRow::into_task)
        .collect::<Result<Vec<_>, _>>()?;
    // One row past the page tells whether another page exists, without a COUNT.
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    let next_cursor = match tasks.last() {
        Some(last) if more => Some(
            Cursor::After {
                v: sort_value(last, key, order),
                id: last.id.0,
            }
            .encode(),
        ),
        _ => None,
    };
    Ok(Page {
        items: tasks
            .into_iter()
            .map(|item| Ranked { item, rank: 0.0 })
            .collect(),
        next_cursor,
    })
}

#[derive(sqlx::FromRow)]
struct Hit {
    #[sqlx(flatten)]
    task: TaskRow,
    rank: f32,
}

async fn search(
    pool: &PgPool,
    user: &UserId,
    query: &TaskQuery,
    text: &SearchText,
    now: DateTime<Utc>,
) -> Result<Page<Ranked<Task>>, RepoError> {
    let limit = query.effective_limit() as usize;
    let offset = match &query.cursor {
        None => 0,
        Some(Cursor::Offset { o }) => i64::try_from(*o).map_err(|_| bad_cursor())?,
        Some(Cursor::After { .. }) => return Err(bad_cursor()),
    };
    let Some(tsquery) = search::query(user, &text.terms()) else {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    };
    // The user filter and the match come first (the document carries the user's token, so the
    // GIN index finds this user's matches only); ts_rank then runs on the newest
    // SEARCH_CANDIDATES of them, not on all of them.
    let mut qb = QueryBuilder::new(format!(
        "SELECT {TASK_COLUMNS}, t.rank FROM (SELECT {BASE_COLUMNS}, {RANK} AS rank \
         FROM (SELECT "
    ));
    qb.push_bind(tsquery)
        .push("::tsquery AS q) q, LATERAL (SELECT t.* FROM tasks t WHERE t.search_doc @@ q.q AND ");
    push_filters(&mut qb, user, query, now);
    qb.push(" ORDER BY t.id DESC LIMIT ")
        .push_bind(SEARCH_CANDIDATES as i64)
        .push(") t");
    // The id keeps equal ranks in a stable order across pages.
    qb.push(" ORDER BY rank DESC, t.id ASC LIMIT ")
        .push_bind(limit as i64 + 1)
        .push(" OFFSET ")
        .push_bind(offset)
        .push(format!(
            ") t {REMINDERS_JOIN} ORDER BY t.rank DESC, t.id ASC"
        ));
    let hits: Vec<Hit> = qb
        .build_query_as()
        .fetch_all(pool)
        .await
        .map_err(|e| infra("cannot search tasks", e))?;
    let more = hits.len() > limit;
    let mut items = Vec::with_capacity(limit);
    for hit in hits.into_iter().take(limit) {
        items.push(Ranked {
            item: hit.task.into_task()?,
            rank: f64::from(hit.rank),
        });
    }
    let next_cursor = more.then(|| {
        Cursor::Offset {
            o: offset as u64 + limit as u64,
        }
        .encode()
    });
    Ok(Page { items, next_cursor })
}

/// `TaskQuery::matches` as SQL, AND-ed after the user scope. Due-date bounds are written on the
/// index expressions (NULL becomes an infinity that no finite bound admits), so that the due-date
/// indexes serve them. Stored instants are whole microseconds, so `d < b` for a bound with
/// nanoseconds is `d < b` rounded up, and `d > a` is `d > a` rounded down.
fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    user: &UserId,
    query: &TaskQuery,
    now: DateTime<Utc>,
) {
    qb.push("t.user_id = ").push_bind(user.as_str().to_owned());
    match query.status {
        StatusFilter::All => {}
        StatusFilter::Pending => {
            qb.push(" AND NOT t.completed");
        }
        StatusFilter::Completed => {
            qb.push(" AND t.completed");
        }
    }
    if let Some(p) = query.priority {
        qb.push(" AND t.priority = ").push_bind(priority_value(p));
    }
    if let Some(c) = query.category_id {
        qb.push(" AND t.category_id = ").push_bind(c.0);
    }
    if !query.tag_ids.is_empty() {
        qb.push(
            " AND EXISTS (SELECT 1 FROM task_tags tt WHERE tt.task_id = t.id \
             AND tt.tag_id = ANY(",
        )
        .push_bind(query.tag_ids.iter().map(|t| t.0).collect::<Vec<i64>>())
        .push("))");
    }
    if let Some(b) = query.due_before {
        qb.push(" AND COALESCE(t.due_date, 'infinity'::timestamptz) < ")
            .push_bind(micro_ceil(b));
    }
    if let Some(a) = query.due_after {
        qb.push(" AND COALESCE(t.due_date, '-infinity'::timestamptz) > ")
            .push_bind(micro(a));
    }
    if query.overdue {
        qb.push(" AND NOT t.completed AND COALESCE(t.due_date, 'infinity'::timestamptz) < ")
            .push_bind(micro_ceil(now));
    }
}

fn bad_cursor() -> RepoError {
    RepoError::Invalid(ValidationError::new(
        ErrorCode::InvalidCursor,
        "cursor",
        "cursor does not belong to this listing",
    ))
}
