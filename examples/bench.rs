//! Tickler benchmark (not a test): starts the release binary on the embedded default and measures
//!
//! 1. task creations per second through the REST API (outbox event included) at 1 and 32
//!    concurrent clients, with p50/p95/p99 latency, and how long the relay takes to publish them;
//! 2. reminder lateness over 1,000 reminders (delivery time − reminder time);
//! 3. the server's resident memory (current and peak).
//!
//! Run: `./scripts/bench.sh` (builds the release binary first). Prints a Markdown report.

#[allow(dead_code)] // the production benchmark reads more of it
#[path = "../benches/production/load.rs"]
mod load;

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use chrono::Utc;
use load::{create_load, pct, reminder_lateness, rss_mib};

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
        .env_remove("TICKLER_BIN") // the benchmark's own setting, not the server's
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
    let token = load::token(SECRET, "bench");
    let (idle_rss, _) = rss_mib(pid);

    // Warm-up, then the measured runs.
    create_load(&client, &server.base, &token, 8, 400).await;
    let r1 = create_load(&client, &server.base, &token, 1, 2000).await;
    let r32 = create_load(&client, &server.base, &token, 32, 10_016).await;
    let (load_rss, load_hwm) = rss_mib(pid);

    let reminder_token = load::token(SECRET, "remind");
    let (late, pending) = reminder_lateness(
        &client,
        &server.base,
        &reminder_token,
        1000,
        Duration::from_secs(5),
    )
    .await;
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
