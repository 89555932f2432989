//! Reminders falling due together: lateness read from the server's own database (read-only), so
//! watching the burst costs the server nothing, unlike paging through the API while it works.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

pub struct Burst {
    /// Sorted lateness of the delivered reminders (delivered_at − remind_at), ms.
    pub lateness: Vec<f64>,
    pub not_delivered: usize,
    /// Reminders still scheduled elsewhere in the database while the burst ran.
    pub other_pending: i64,
}

/// Waits until every reminder due in `[from, to]` is delivered or `patience` has passed since
/// `to`, then reads their lateness.
pub async fn watch(
    db: &std::path::Path,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    patience: Duration,
) -> Burst {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let pool = SqlitePool::connect_with(opts).await.unwrap();
    let (from, to) = (from.timestamp_micros(), to.timestamp_micros());
    let wait = (to - Utc::now().timestamp_micros()).max(0) as u64;
    let deadline = Instant::now() + Duration::from_micros(wait) + patience;
    loop {
        let (open,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM reminders WHERE remind_at BETWEEN ? AND ? AND delivered_at IS NULL",
        )
        .bind(from)
        .bind(to)
        .fetch_one(&pool)
        .await
        .unwrap();
        if open == 0 || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let rows: Vec<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT remind_at, delivered_at FROM reminders WHERE remind_at BETWEEN ? AND ?",
    )
    .bind(from)
    .bind(to)
    .fetch_all(&pool)
    .await
    .unwrap();
    let (other_pending,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM reminders WHERE status = 'scheduled' AND NOT remind_at BETWEEN ? AND ?",
    )
    .bind(from)
    .bind(to)
    .fetch_one(&pool)
    .await
    .unwrap();
    pool.close().await;
    let mut lateness: Vec<f64> = rows
        .iter()
        .filter_map(|(at, done)| done.map(|d| (d - at) as f64 / 1000.0))
        .collect();
    lateness.sort_by(f64::total_cmp);
    Burst {
        not_delivered: rows.len() - lateness.len(),
        lateness,
        other_pending,
    }
}
