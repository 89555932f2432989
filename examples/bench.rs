//! Tickler benchmark (not a test): starts the release binary on the embedded default and measures
//!
//! 1. task creations per second through the REST API (outbox event included) at 1 and 32
//!    concurrent clients, with p50/p95/p99 latency, and how long the relay takes to publish them;
//! 2. reminder lateness over 1,000 reminders (delivery time − reminder time);
//! 3. the server's resident memory (current and peak).
//!
//! Run: `./scripts/bench.sh` (builds the release binary first). Prints a Markdown report.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

const SECRET: &str = "bench-secret-0123456789abcdef";

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

fn start_server(bin: &str, dir: &std::path::Path) -> Server {
    let port = free_port();
    let child = Command::new(bin)
        .args([
            "--role",
            "all",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(dir)
        .env("TICKLER_AUTH__SECRET", SECRET)
        .env("TICKLER_LOG__LEVEL", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start tickler");
    Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// (current, peak) resident set in MiB, from /proc.
fn rss_mib(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(0.0, |kb| kb / 1024.0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn outbox_backlog(client: &reqwest::Client, base: &str) -> f64 {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with("tickler_outbox_backlog "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

struct LoadResult {
    clients: usize,
    requests: usize,
    per_sec: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    drained_ms: f64,
}

async fn create_load(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    clients: usize,
    total: usize,
) -> LoadResult {
    let per_client = total / clients;
    let client = Arc::new(client.clone());
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let url = format!("{base}/api/v1/tasks");
        let token = token.to_owned();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let body = json!({"title": format!("bench task {c}-{i}"), "priority": "high", "description": "load test", "reminders": []});
                let t = Instant::now();
                let resp = client.post(&url).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(resp.status().as_u16(), 201);
                let _ = resp.bytes().await;
                lat.push(t.elapsed().as_secs_f64() * 1000.0);
            }
            lat
        }));
    }
    let mut all = Vec::with_capacity(total);
    for h in handles {
        all.extend(h.await.unwrap());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let drain_start = Instant::now();
    while outbox_backlog(&client, base).await > 0.0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained_ms = (elapsed * 1000.0) + drain_start.elapsed().as_secs_f64() * 1000.0;
    all.sort_by(f64::total_cmp);
    LoadResult {
        clients,
        requests: all.len(),
        per_sec: all.len() as f64 / elapsed,
        p50: pct(&all, 50.0),
        p95: pct(&all, 95.0),
        p99: pct(&all, 99.0),
        drained_ms,
    }
}

async fn reminder_lateness(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
) -> (Vec<f64>, usize) {
    // Reminders spread over two seconds, starting five seconds from now.
    let t0 = Utc::now() + chrono::Duration::seconds(5);
    let mut handles = Vec::new();
    for chunk in 0..16 {
        let client = client.clone();
        let base = base.to_owned();
        let token = token.to_owned();
        handles.push(tokio::spawn(async move {
            for i in (chunk..n).step_by(16) {
                let at = t0 + chrono::Duration::milliseconds((i * 2) as i64);
                let body = json!({"title": format!("remind {i}"), "due_date": (at + chrono::Duration::hours(1)).to_rfc3339(), "reminders": [{"remind_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}]});
                let r = client.post(format!("{base}/api/v1/tasks")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 201);
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    assert!(
        Utc::now() < t0,
        "creating the reminders took longer than the lead time; results would be meaningless"
    );
    // Wait for every reminder to be delivered, then read the delivery times back.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut lateness = Vec::new();
        let mut pending = 0;
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{base}/api/v1/tasks?status=all&limit=100");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let page: Value = client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            for t in page["items"].as_array().unwrap() {
                for r in t["reminders"].as_array().unwrap() {
                    match (r["remind_at"].as_str(), r["delivered_at"].as_str()) {
                        (Some(at), Some(done)) if r["status"] == "sent" => {
                            let at: chrono::DateTime<Utc> = at.parse().unwrap();
                            let done: chrono::DateTime<Utc> = done.parse().unwrap();
                            lateness.push((done - at).num_microseconds().unwrap() as f64 / 1000.0);
                        }
                        _ => pending += 1,
                    }
                }
            }
            cursor = page["next_cursor"].as_str().map(str::to_owned);
            if cursor.is_none() {
                break;
            }
        }
        if pending == 0 || Instant::now() > deadline {
            lateness.sort_by(f64::total_cmp);
            return (lateness, pending);
        }
    }
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let bin = std::env::var("TICKLER_BIN").unwrap_or_else(|_| format!("{target}/release/tickler"));
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);

    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&bin, dir.path());
    let pid = server.child.id();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    for _ in 0..200 {
        if client
            .get(format!("{}/readyz", server.base))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let token = tickler::auth::Auth::new(SECRET.as_bytes()).mint(
        "bench",
        Some("bench@example.com"),
        None,
        3600,
    );
    let (idle_rss, _) = rss_mib(pid);

    // Warm-up, then the measured runs.
    create_load(&client, &server.base, &token, 8, 400).await;
    let r1 = create_load(&client, &server.base, &token, 1, 2000).await;
    let r32 = create_load(&client, &server.base, &token, 32, 10_016).await;
    let (load_rss, load_hwm) = rss_mib(pid);

    let reminder_token = tickler::auth::Auth::new(SECRET.as_bytes()).mint(
        "remind",
        Some("remind@example.com"),
        None,
        3600,
    );
    let (late, pending) = reminder_lateness(&client, &server.base, &reminder_token, 1000).await;
    let (end_rss, end_hwm) = rss_mib(pid);

    println!(
        "## Tickler benchmark — {}\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "Machine: {cores} cores, {cpu}. Embedded default (`--role all`, SQLite, in-process bus), release build.\n"
    );
    println!(
        "| clients | requests | creations/s | p50 ms | p95 ms | p99 ms | all events published after |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in [&r1, &r32] {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} ms |",
            r.clients, r.requests, r.per_sec, r.p50, r.p95, r.p99, r.drained_ms
        );
    }
    println!(
        "\nReminder lateness over {} reminders (delivered_at − remind_at; {} not delivered):\n",
        late.len() + pending,
        pending
    );
    println!("| p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|");
    println!(
        "| {:.1} | {:.1} | {:.1} | {:.1} |",
        pct(&late, 50.0),
        pct(&late, 95.0),
        pct(&late, 99.0),
        late.last().copied().unwrap_or(f64::NAN)
    );
    println!(
        "\nResident memory of the server: idle {idle_rss:.1} MiB, after the creation load {load_rss:.1} MiB (peak {load_hwm:.1} MiB), at the end {end_rss:.1} MiB (peak {end_hwm:.1} MiB)."
    );
}
