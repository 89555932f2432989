//! Crash safety of the embedded default: the real binary (`--role all` on SQLite) is SIGKILLed in
//! the middle of a 32-client creation load and started again on the same data directory.
//!
//! What must hold (issue #8's crash test): every creation answered 201 exists, with exactly one
//! `task.created` event in the outbox; nothing the server did not commit shows up half-written (no
//! event without its task, no task without its event); and after the restart the relay publishes
//! every event, each row marked published once. The group-commit writer answers a batch only after
//! its COMMIT, so a kill between the batch's writes and its COMMIT must lose the whole batch,
//! answered to nobody.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use tokio::sync::Mutex;

const SECRET: &str = "crash-test-secret-0123456789abcdef";
const CLIENTS: usize = 32;

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn start(dir: &std::path::Path, client: &reqwest::Client) -> Server {
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickler"));
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("TICKLER_")) {
        cmd.env_remove(k);
    }
    let child = cmd
        .args(["--role", "all", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir)
        .env("TICKLER_AUTH__SECRET", SECRET)
        .env("TICKLER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start tickler");
    let server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ready = client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ready {
            return server;
        }
        assert!(Instant::now() < deadline, "tickler did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Creates tasks with unique titles until the server stops answering; returns (title → id) of the
/// creations answered 201. Any other answer is a failure: the load is well-formed.
async fn load(
    client: reqwest::Client,
    base: String,
    token: String,
    answered: Arc<Mutex<HashMap<String, i64>>>,
    client_no: usize,
    count: Arc<AtomicUsize>,
) {
    for i in 0.. {
        let title = format!("crash {client_no}-{i}");
        let sent = client
            .post(format!("{base}/api/v1/tasks"))
            .bearer_auth(&token)
            .json(&json!({"title": title, "description": "written under load", "reminders": []}))
            .send()
            .await;
        let Ok(resp) = sent else { return }; // the server is gone: that is the point
        let status = resp.status();
        let Ok(body) = resp.json::<Value>().await else {
            return; // killed while answering: not answered
        };
        assert_eq!(status, 201, "creation refused: {body}");
        let id = body["id"].as_i64().expect("created task has an id");
        answered.lock().await.insert(title, id);
        count.fetch_add(1, Ordering::Relaxed);
    }
}

#[derive(sqlx::FromRow)]
struct OutboxRow {
    key: String,
    payload: Vec<u8>,
    published_at: Option<i64>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_under_a_32_client_load_loses_no_answered_creation_and_no_event() {
    let dir = tempfile::tempdir().unwrap();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let token = tickler::auth::Auth::new(SECRET.as_bytes()).mint(
        "crash",
        Some("crash@example.com"),
        None,
        3600,
    );
    let mut server = start(dir.path(), &client).await;

    let answered = Arc::new(Mutex::new(HashMap::new()));
    let count = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(load(
                client.clone(),
                server.base.clone(),
                token.clone(),
                answered.clone(),
                c,
                count.clone(),
            ))
        })
        .collect();
    // Kill well inside the load: after enough creations that batches are being committed.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < 600 {
        assert!(Instant::now() < deadline, "the load did not get going");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().expect("SIGKILL"); // std's kill is SIGKILL on Unix
    server.child.wait().unwrap();
    for c in clients {
        c.await.expect("a load client panicked");
    }
    let answered = answered.lock().await.clone();
    assert!(answered.len() >= 600, "only {} answered", answered.len());

    // Restarted on the same file, it must relay everything that committed.
    let server = start(dir.path(), &client).await;
    let db = sqlx::SqlitePool::connect_with(
        SqliteConnectOptions::new()
            .filename(dir.path().join("tickler.db"))
            .read_only(true),
    )
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let backlog: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL")
                .fetch_one(&db)
                .await
                .unwrap();
        if backlog == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{backlog} events still unpublished a minute after the restart"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let tasks: Vec<(i64, String)> = sqlx::query_as("SELECT id, title FROM tasks")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut titles = HashSet::new();
    for (_, title) in &tasks {
        assert!(titles.insert(title.clone()), "{title:?} was created twice");
    }
    let stored: HashMap<&str, i64> = tasks.iter().map(|(id, t)| (t.as_str(), *id)).collect();
    for (title, id) in &answered {
        assert_eq!(
            stored.get(title.as_str()),
            Some(id),
            "{title:?} was answered 201 (id {id}) but is not stored after the crash"
        );
        // Through the API too, as its owner would look for it.
        let got = client
            .get(format!("{}/api/v1/tasks/{id}", server.base))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "task {id} not readable after the crash");
    }

    let rows: Vec<OutboxRow> = sqlx::query_as("SELECT key, payload, published_at FROM outbox")
        .fetch_all(&db)
        .await
        .unwrap();
    let mut created: HashMap<String, usize> = HashMap::new();
    for row in &rows {
        assert!(
            row.published_at.is_some(),
            "unpublished row for {}",
            row.key
        );
        let event: Value = serde_json::from_slice(&row.payload).unwrap();
        if event["type"] == "task.created" {
            *created.entry(row.key.clone()).or_default() += 1;
        }
    }
    for (id, _) in &tasks {
        assert_eq!(
            created.get(&id.to_string()).copied(),
            Some(1),
            "task {id} must have exactly one task.created event"
        );
    }
    assert_eq!(
        created.len(),
        tasks.len(),
        "a task.created event exists for a task that was never committed"
    );
    eprintln!(
        "{} creations answered before the kill, {} committed (the rest were in flight)",
        answered.len(),
        tasks.len()
    );
}
