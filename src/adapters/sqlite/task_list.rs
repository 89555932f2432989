//! Listing and searching tasks: `TaskQuery` (src/domain/query.rs) translated to SQL.
//!
//! Filters are `TaskQuery::matches` as a WHERE clause. Sorting is `sort_value` as an SQL
//! expression, with the id as tie-breaker in the same direction; the next page starts strictly
//! after the last row's (value, id) — keyset pagination, stable under inserts. Tasks without a due
//! date sort last in both directions because the expression substitutes `i64::MAX` (ascending) or
//! `i64::MIN` (descending), exactly as `sort_value` does, so cursors agree with every adapter.
//!
//! Search ranks with FTS5's bm25, title weighted ten times the description; ranked pages are not
//! keyset-able (the rank is not a column), so they page by offset (`Cursor::Offset`). Only the
//! user's newest `SEARCH_CANDIDATES` matches are ranked, so a very common word costs about what a
//! rare one does.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use super::direct::{Db, Sql};
use super::error::sql as sql_error;
use super::rows::{TASK_COLUMNS, TaskRow, micros, priority_value};
use super::tasks::{attach_children, fetch_tasks};
use crate::domain::query::{
    Cursor, Page, Ranked, SEARCH_CANDIDATES, SearchText, SortKey, SortOrder, SortValue,
    StatusFilter, TaskQuery, sort_value,
};
use crate::domain::task::Task;
use crate::domain::{ErrorCode, UserId, ValidationError};
use crate::ports::RepoError;

pub(crate) fn list(
    db: &Db,
    user: &UserId,
    query: &TaskQuery,
    now: DateTime<Utc>,
) -> Result<Page<Ranked<Task>>, RepoError> {
    match &query.search {
        Some(text) => search(db, user, query, text, now),
        None => sorted(db, user, query, now),
    }
}

/// The SQL twin of `sort_value`.
fn sort_expr(key: SortKey, order: SortOrder) -> &'static str {
    match (key, order) {
        (SortKey::CreatedAt, _) => "t.created_at",
        (SortKey::DueDate, SortOrder::Asc) => "COALESCE(t.due_date, 9223372036854775807)",
        (SortKey::DueDate, SortOrder::Desc) => "COALESCE(t.due_date, -9223372036854775808)",
        (SortKey::Priority, _) => "t.priority",
        (SortKey::Title, _) => "t.title_key",
    }
}

fn sorted(
    db: &Db,
    user: &UserId,
    query: &TaskQuery,
    now: DateTime<Utc>,
) -> Result<Page<Ranked<Task>>, RepoError> {
    let (key, order) = (query.sort, query.effective_order());
    let limit = query.effective_limit() as usize;
    let expr = sort_expr(key, order);
    let mut sql = Sql::new(format!("SELECT {TASK_COLUMNS} FROM tasks t WHERE "));
    push_filters(&mut sql, user, query, now);
    let (cmp, dir) = match order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    match &query.cursor {
        None => {}
        Some(Cursor::After { v, id }) => {
            // Row-value comparison: strictly after (value, id) in the sort direction.
            sql.push(&format!(" AND ({expr}, t.id) {cmp} ("));
            match (key, v) {
                (SortKey::Title, SortValue::Text(s)) => sql.bind(s.clone()),
                (SortKey::Title, SortValue::Int(_)) | (_, SortValue::Text(_)) => {
                    return Err(bad_cursor());
                }
                (_, SortValue::Int(i)) => sql.bind(*i),
            };
            sql.push(", ").bind(*id).push(")");
        }
        Some(Cursor::Offset { .. }) => return Err(bad_cursor()),
    }
    sql.push(&format!(" ORDER BY {expr} {dir}, t.id {dir} LIMIT "))
        .bind(limit as i64 + 1);
    let mut tasks = sql.rows(db, "cannot list tasks", |row| {
        TaskRow::read(row)?.into_task()
    })?;
    // One row past the page tells whether another page exists, without a COUNT.
    let more = tasks.len() > limit;
    tasks.truncate(limit);
    attach_children(db, &mut tasks)?;
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

fn search(
    db: &Db,
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
    let Some(pattern) = match_expression(text) else {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    };
    // Stage one ranks ids only, among the user's newest SEARCH_CANDIDATES matches: bm25 is
    // computed for those rows and nothing else, and the sorter holds (id, score) pairs, not whole
    // rows. Stage two reads the page's tasks.
    let mut sql = Sql::new(
        "SELECT id, score FROM (SELECT tasks_fts.rowid AS id, bm25(tasks_fts, 10.0, 1.0) AS score \
         FROM tasks_fts JOIN tasks t ON t.id = tasks_fts.rowid WHERE tasks_fts MATCH ",
    );
    sql.bind(pattern).push(" AND ");
    push_filters(&mut sql, user, query, now);
    sql.push(" ORDER BY tasks_fts.rowid DESC LIMIT ")
        .bind(SEARCH_CANDIDATES as i64)
        // bm25 is lower-is-better; the id keeps equal scores in a stable order across pages.
        .push(") ORDER BY score ASC, id ASC LIMIT ")
        .bind(limit as i64 + 1)
        .push(" OFFSET ")
        .bind(offset);
    let hits = sql.rows(db, "cannot search tasks", |row| {
        let column = |e| sql_error("cannot search tasks", e);
        Ok((
            row.get::<_, i64>(0).map_err(column)?,
            row.get::<_, f64>(1).map_err(column)?,
        ))
    })?;
    let more = hits.len() > limit;
    let hits = &hits[..hits.len().min(limit)];
    let mut page = Sql::new(format!(
        "SELECT {TASK_COLUMNS} FROM tasks t WHERE t.id IN ("
    ));
    page.ids(hits.iter().map(|(id, _)| *id)).push(")");
    let mut by_id: HashMap<i64, Task> = fetch_tasks(db, &page)?
        .into_iter()
        .map(|t| (t.id.0, t))
        .collect();
    // A hit deleted between the two statements (they share no transaction) simply drops out.
    let ranked: Vec<Ranked<Task>> = hits
        .iter()
        .filter_map(|(id, score)| {
            by_id.remove(id).map(|item| Ranked {
                item,
                // Reported as "higher is better", like the domain's `search_score`.
                rank: -score,
            })
        })
        .collect();
    let next_cursor = more.then(|| {
        Cursor::Offset {
            o: offset as u64 + limit as u64,
        }
        .encode()
    });
    Ok(Page {
        items: ranked,
        next_cursor,
    })
}

/// Every term required, each as a prefix. Terms are quoted so user text can never be FTS5 syntax
/// (`OR`, `NEAR`, `*`, `:` or a column filter); a quote inside a term is doubled.
fn match_expression(text: &SearchText) -> Option<String> {
    let terms: Vec<String> = text
        .terms()
        .iter()
        .map(|t| format!("\"{}\"*", t.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" AND "))
}

/// `TaskQuery::matches` as SQL, AND-ed after the user scope.
fn push_filters(qb: &mut Sql, user: &UserId, query: &TaskQuery, now: DateTime<Utc>) {
    qb.push("t.user_id = ").bind(user.as_str().to_owned());
    match query.status {
        StatusFilter::All => {}
        StatusFilter::Pending => {
            qb.push(" AND t.completed = 0");
        }
        StatusFilter::Completed => {
            qb.push(" AND t.completed = 1");
        }
    }
    if let Some(p) = query.priority {
        qb.push(" AND t.priority = ").bind(priority_value(p));
    }
    if let Some(c) = query.category_id {
        qb.push(" AND t.category_id = ").bind(c.0);
    }
    if !query.tag_ids.is_empty() {
        qb.push(
            " AND EXISTS (SELECT 1 FROM task_tags tt WHERE tt.task_id = t.id AND tt.tag_id IN (",
        );
        qb.ids(query.tag_ids.iter().map(|t| t.0)).push("))");
    }
    // Comparisons with a NULL due date are never true: tasks without one drop out, as in `matches`.
    if let Some(b) = query.due_before {
        qb.push(" AND t.due_date < ").bind(micros(b));
    }
    if let Some(a) = query.due_after {
        qb.push(" AND t.due_date > ").bind(micros(a));
    }
    if query.overdue {
        qb.push(" AND t.completed = 0 AND t.due_date < ")
            .bind(micros(now));
    }
}

fn bad_cursor() -> RepoError {
    RepoError::Invalid(ValidationError::new(
        ErrorCode::InvalidCursor,
        "cursor",
        "cursor does not belong to this listing",
    ))
}
