//! Search and list latency at 100,000 tasks for one user (not a test).
//!
//! Seeds a SQLite database through the repository port (the same writes the API makes, without
//! HTTP), then starts the release binary on it and times `GET /api/v1/tasks?q=…` and filtered,
//! sorted pages over HTTP. Run: `./scripts/bench.sh` (or `cargo run --release --example
//! search_bench` with TICKLER_BIN pointing at a release build).

#[path = "../benches/production/corpus.rs"]
mod corpus;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use tickler::adapters::sqlite::SqliteStore;
use tickler::app::{Actor, Services};

use corpus::{QUERIES, TASKS};

const SECRET: &str = "bench-secret-0123456789abcdef";
fn pct(sorted: &[f64], p: f64) -> f64 {
    sorted[((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize]
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let bin = std::env::var("TICKLER_BIN").unwrap_or_else(|_| format!("{target}/release/tickler"));
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("tickler.db");

    let seeded = Instant::now();
    {
        let store = SqliteStore::open(&db.display().to_string()).await.unwrap();
        let clock = std::sync::Arc::new(tickler::adapters::memory::SystemClock);
        let services = Services {
            tasks: std::sync::Arc::new(store.tasks()),
            labels: std::sync::Arc::new(store.labels()),
            users: std::sync::Arc::new(store.users()),
            state: std::sync::Arc::new(store.state()),
            clock,
        };
        let actor = Actor {
            user_id: tickler::domain::UserId::parse("bench").unwrap(),
            email: None,
            name: None,
            traceparent: None,
        };
        for i in 0..TASKS {
            let input = corpus::task(i);
            services
                .create_task(&actor, input.into_new_task().unwrap())
                .await
                .unwrap();
        }
        // The seed's events are not part of what is measured: mark them published.
        sqlx::query("UPDATE outbox SET published_at = 0")
            .execute(store.pool())
            .await
            .unwrap();
        store.close().await;
    }
    let seed_secs = seeded.elapsed().as_secs_f64();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(&bin)
        .args([
            "--role",
            "all",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir.path())
        .env_remove("TICKLER_BIN")
        .env("TICKLER_AUTH__SECRET", SECRET)
        .env("TICKLER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start tickler");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = tickler::auth::Auth::new(SECRET.as_bytes()).mint("bench", None, None, 3600);

    println!("## Search and list at {TASKS} tasks of one user\n");
    println!(
        "Seeded in {seed_secs:.0} s through the repository port. 300 requests per row, sequential, over HTTP.\n"
    );
    println!("| request | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|");
    for (name, q) in QUERIES {
        let lat = corpus::time_query(&client, &format!("{base}/api/v1"), &token, q).await;
        println!(
            "| {name} | {:.2} | {:.2} | {:.2} |",
            pct(&lat, 50.0),
            pct(&lat, 95.0),
            pct(&lat, 99.0)
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}
