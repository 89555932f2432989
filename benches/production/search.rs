//! Search and list latency at 100,000 tasks of one user on PostgreSQL, through the backend role.
//! The tasks are written through the repository port (the writes the API makes, without HTTP),
//! with the same word mix as examples/search_bench.rs, so the two stores compare directly.

use std::sync::Arc;

use tickler::adapters::postgres::{PgOptions, PgStore};
use tickler::app::{Actor, Services};

use super::cluster::{Cluster, Mode};
use super::load::{pct, token};
use super::stack::Stack;

pub use super::corpus::TASKS;

async fn seed(db_url: &str) {
    let store = PgStore::connect(db_url, PgOptions::default())
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let services = Arc::new(Services {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        state: Arc::new(store.state()),
        clock: Arc::new(tickler::adapters::memory::SystemClock),
    });
    let actor = Arc::new(Actor {
        user_id: tickler::domain::UserId::parse("bench").unwrap(),
        email: None,
        name: None,
        traceparent: None,
    });
    // Eight writers at once: the seed is set-up, not what is measured.
    let mut writers = Vec::new();
    for w in 0..8 {
        let (services, actor) = (services.clone(), actor.clone());
        writers.push(tokio::spawn(async move {
            for i in (w..TASKS).step_by(8) {
                let input = super::corpus::task(i);
                if i % 10_000 == 0 {
                    eprintln!("search: seeding task {i}");
                }
                services
                    .create_task(&actor, input.into_new_task().unwrap())
                    .await
                    .unwrap();
            }
        }));
    }
    for w in writers {
        w.await.unwrap();
    }
    // The seed's events are not part of what is measured: mark them published.
    sqlx::query("UPDATE outbox SET published_at = now() WHERE published_at IS NULL")
        .execute(store.pool())
        .await
        .unwrap();
    store.close().await;
}

/// (request, p50, p95, p99) in ms, 300 sequential requests per row after 30 of warm-up.
pub async fn run(stack: &Stack) -> Vec<(String, f64, f64, f64)> {
    let mut c = Cluster::new(stack, "bench-search", Mode::Kafka).await;
    seed(&c.db_url).await;
    c.spawn("backend").await;
    let api = c.api();
    let client = reqwest::Client::new();
    let token = token(super::cluster::SECRET, "bench");
    let mut rows = Vec::new();
    for (name, q) in super::corpus::QUERIES {
        let lat = super::corpus::time_query(&client, &api, &token, q).await;
        rows.push((
            name.to_owned(),
            pct(&lat, 50.0),
            pct(&lat, 95.0),
            pct(&lat, 99.0),
        ));
    }
    c.stop_all();
    rows
}
