//! Reminders falling due together: lateness read from the server's own database (read-only), so
//! watching the burst costs the server nothing, unlike paging through the API while it works.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// One reminder of the burst: remind_at, delivered_at, fired_at (µs since the epoch).
type Row = (i64, Option<i64>, Option<i64>);

pub struct Burst {
    /// Sorted lateness of the delivered reminders (delivered_at − remind_at), ms.
    pub lateness: Vec<f64>,
    /// Sorted lateness of their firing (fired_at − remind_at: the notification role's half), ms.
    pub fired: Vec<f64>,
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
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT remind_at, delivered_at, fired_at FROM reminders WHERE remind_at BETWEEN ? AND ?",
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
    let late = |pick: fn(&Row) -> Option<i64>| {
        let mut v: Vec<f64> = rows
            .iter()
            .filter_map(|r| pick(r).map(|d| (d - r.0) as f64 / 1000.0))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    };
    // BENCH_BURST_TIMELINE=1: every 500th reminder in due order, to stderr, which tells a late
    // start from a slow drain, and the notification role's half from the e-mail role's.
    if std::env::var_os("BENCH_BURST_TIMELINE").is_some() {
        let mut by_due = rows.clone();
        by_due.sort();
        for r in by_due.iter().step_by(500) {
            eprintln!(
                "due +{:>5} ms  fired +{:>6} ms  mailed +{:>6} ms",
                (r.0 - from) / 1000,
                r.2.map_or(-1, |f| (f - r.0) / 1000),
                r.1.map_or(-1, |d| (d - r.0) / 1000)
            );
        }
    }
    let lateness = late(|r| r.1);
    let fired = late(|r| r.2);
    Burst {
        not_delivered: rows.len() - lateness.len(),
        lateness,
        fired,
        other_pending,
    }
}
