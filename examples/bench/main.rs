//! Tickler benchmark (not a test): starts the release binary on the embedded default and measures
//! every row of the performance aims (issue #8):
//!
//! 1. task creations through the REST API (outbox event included) at 1 and 32 concurrent clients:
//!    rate, p50/p95/p99, how long the relay takes to publish them, and the server's CPU per
//!    creation with that background work included;
//! 2. the same creation as an MCP `add_task` (bare JSON-RPC over streamable HTTP), and pages of 50
//!    through REST and MCP `list_tasks`, each with the server's CPU per call;
//! 3. resident memory once the database holds 100,000 tasks, measured under the creation load;
//! 4. 10,000 reminders falling due in the same second while 90,000 more are pending: lateness.
//!
//! Server CPU per request = utime+stime of the server process (/proc) over the phase, background
//! work until it is idle again included, divided by the phase's requests. The load generator runs
//! on the same cores. Run: `./scripts/bench.sh` (builds the release binary first), or with
//! TICKLER_BIN pointing at any build to compare builds. Prints a Markdown report.

#[allow(dead_code)] // the production benchmark reads more of it
#[path = "../../benches/production/load.rs"]
mod load;

mod burst;
mod mcp;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use load::{
    LoadResult, cpu_seconds, create_load, create_load_with, pct, rss_mib, rss_split_mib, settle,
};
use serde_json::json;

const SECRET: &str = "bench-secret-0123456789abcdef";
/// Tasks in the database when memory is read, and reminders pending when the burst falls due.
const TASKS_AT_MEMORY_READING: usize = 100_000;
const BURST: usize = 10_000;
const PENDING_BESIDE_BURST: usize = 90_000;
const SETTLE: Duration = Duration::from_secs(30);

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

/// One measured phase: latencies, rate and the server's CPU per request.
struct Row {
    name: String,
    requests: usize,
    per_sec: f64,
    p50: f64,
    p95: f64,
    p99: f64,
    cpu_ms: f64,
}

impl Row {
    fn from_latencies(name: &str, lat: &[f64], wall: f64, cpu: f64) -> Self {
        Self {
            name: name.into(),
            requests: lat.len(),
            per_sec: lat.len() as f64 / wall,
            p50: pct(lat, 50.0),
            p95: pct(lat, 95.0),
            p99: pct(lat, 99.0),
            cpu_ms: cpu * 1000.0 / lat.len() as f64,
        }
    }

    fn from_load(name: &str, r: &LoadResult, cpu: f64) -> Self {
        Self {
            name: name.into(),
            requests: r.requests,
            per_sec: r.per_sec,
            p50: r.p50,
            p95: r.p95,
            p99: r.p99,
            cpu_ms: cpu * 1000.0 / r.requests as f64,
        }
    }
}

/// Prints each row as it is pushed.
struct Rows;

impl Rows {
    fn push(&mut self, r: Row) {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.3} |",
            r.name, r.requests, r.per_sec, r.p50, r.p95, r.p99, r.cpu_ms
        );
    }
}

/// The server's CPU seconds spent on `work` and on the background work it left, until idle.
async fn measured<T>(pid: u32, work: impl std::future::Future<Output = T>) -> (T, f64) {
    settle(pid, SETTLE).await;
    let before = cpu_seconds(pid);
    let out = work.await;
    settle(pid, SETTLE).await;
    (out, cpu_seconds(pid) - before)
}

/// Sequential GETs of `url`, sorted latencies and wall time.
async fn gets(client: &reqwest::Client, url: &str, token: &str, n: usize) -> (Vec<f64>, f64) {
    let started = Instant::now();
    let mut lat = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = client.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{url}");
        let _ = resp.bytes().await;
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let wall = started.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    (lat, wall)
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

#[tokio::main]
async fn main() {
    let target = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
    let bin = std::env::var("TICKLER_BIN").unwrap_or_else(|_| format!("{target}/release/tickler"));
    let dir = tempfile::tempdir().unwrap();
    let server = start_server(&bin, dir.path());
    let pid = server.child.id();
    let base = server.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
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
    let token = load::token(SECRET, "bench");
    let (idle_rss, _) = rss_mib(pid);
    let (idle_anon, idle_file) = rss_split_mib(pid);
    // Each part is printed as soon as it is measured: a long run that fails late keeps the rest.
    println!(
        "## Tickler benchmark — {}\n",
        Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "Machine: {}. Embedded default (`--role all`, SQLite, in-process bus, file mailer); binary `{bin}`.\n",
        machine()
    );
    println!("| phase | requests | per s | p50 ms | p95 ms | p99 ms | server CPU ms/request |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut rows = Rows;
    let mut created = 0;

    // BENCH_ONLY_BURST=1 skips the request phases (memory and the burst only).
    let requests = std::env::var_os("BENCH_ONLY_BURST").is_none();
    let (mut d1, mut d32) = (f64::NAN, f64::NAN);
    if requests {
        // Warm-up, then creations through REST; `create_load` returns once the outbox is drained.
        create_load(&client, &base, &token, 8, 400).await;
        let (r1, cpu) = measured(pid, create_load(&client, &base, &token, 1, 2000)).await;
        rows.push(Row::from_load(
            "REST `POST /api/v1/tasks`, 1 client",
            &r1,
            cpu,
        ));
        let (r32, cpu) = measured(pid, create_load(&client, &base, &token, 32, 10_016)).await;
        rows.push(Row::from_load(
            "REST `POST /api/v1/tasks`, 32 clients",
            &r32,
            cpu,
        ));
        created += 400 + r1.requests + r32.requests;

        // The same creation through MCP, and pages of 50 (the user now has ~12,400 tasks).
        let mcp = mcp::Mcp::new(&client, &base, &token);
        let ((lat, wall), cpu) = measured(pid, mcp::run(&mcp, 1, 1000, mcp::add_task)).await;
        rows.push(Row::from_latencies(
            "MCP `add_task`, 1 client",
            &lat,
            wall,
            cpu,
        ));
        let ((lat, wall), cpu) = measured(pid, mcp::run(&mcp, 32, 4000, mcp::add_task)).await;
        rows.push(Row::from_latencies(
            "MCP `add_task`, 32 clients",
            &lat,
            wall,
            cpu,
        ));
        created += 5000;
        let ((lat, wall), cpu) =
            measured(pid, mcp::run(&mcp, 1, 1000, |_, _| ("ping", json!({})))).await;
        rows.push(Row::from_latencies(
            "MCP `ping` (the protocol alone)",
            &lat,
            wall,
            cpu,
        ));
        let page = format!("{base}/api/v1/tasks?status=pending&sort=due_date&limit=50");
        let ((lat, wall), cpu) = measured(pid, gets(&client, &page, &token, 1000)).await;
        rows.push(Row::from_latencies(
            "REST list, page of 50",
            &lat,
            wall,
            cpu,
        ));
        let list = |_: usize, _: usize| {
            let args = json!({"status": "pending", "sort_by": "due_date", "limit": 50});
            (
                "tools/call",
                json!({"name": "list_tasks", "arguments": args}),
            )
        };
        let ((lat, wall), cpu) = measured(pid, mcp::run(&mcp, 1, 1000, list)).await;
        rows.push(Row::from_latencies(
            "MCP `list_tasks`, page of 50",
            &lat,
            wall,
            cpu,
        ));

        d1 = r1.drained_ms;
        d32 = r32.drained_ms;
    }

    // Fill to at least 100,000 tasks under the 32-client load, each with a reminder due tomorrow:
    // the 90,000 pending reminders the burst below falls due among.
    let fill = (TASKS_AT_MEMORY_READING - created).max(PENDING_BESIDE_BURST);
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    let fill_token = load::token(SECRET, "fill");
    let rf = create_load_with(&client, &base, &fill_token, 32, fill, move |c, i| {
        let at = tomorrow + chrono::Duration::milliseconds((c * 10_000 + i) as i64);
        let task_due = (at + chrono::Duration::hours(1)).to_rfc3339();
        json!({"title": format!("fill {c}-{i}"), "due_date": task_due, "reminders": [{"remind_at": at.to_rfc3339_opts(SecondsFormat::Millis, true)}]})
    })
    .await;
    let (fill_rss, fill_hwm) = rss_mib(pid);
    let (fill_anon, fill_file) = rss_split_mib(pid);
    created += rf.requests;
    println!(
        "\nEvery creation's event relayed {:.0} ms after the first request (1 client) and {:.0} ms (32 clients); CPU per creation includes that relay and the notification role's handling.",
        d1, d32
    );
    println!(
        "\nMemory: idle {idle_rss:.1} MiB ({idle_anon:.1} anonymous, {idle_file:.1} file); with {created} tasks in the database, under the 32-client creation load ({} creations with a reminder each, {:.0}/s, p99 {:.1} ms): {fill_rss:.1} MiB resident ({fill_anon:.1} anonymous, {fill_file:.1} file; peak {fill_hwm:.1} MiB).",
        rf.requests, rf.per_sec, rf.p99
    );

    // 10,000 reminders due within the same second, created ahead through the API.
    // Lead time: creating the burst at the fill's rate, three times over (each creation adds a
    // job to a growing table, and a slow build's rate falls as the tables grow).
    let lead = Duration::from_secs_f64(BURST as f64 / rf.per_sec * 3.0 + 10.0);
    let due = Utc::now() + chrono::Duration::from_std(lead).unwrap();
    let burst_token = load::token(SECRET, "burst");
    let created_at = Instant::now();
    // 16 clients divide 10,000 evenly; reminder k is due k × 100 µs after the second starts.
    create_load_with(&client, &base, &burst_token, 16, BURST, move |c, i| {
        let at = due + chrono::Duration::microseconds((i * 16 + c) as i64 * 100);
        let task_due = (at + chrono::Duration::hours(1)).to_rfc3339();
        json!({"title": format!("burst {c}-{i}"), "due_date": task_due, "reminders": [{"remind_at": at.to_rfc3339_opts(SecondsFormat::Micros, true)}]})
    })
    .await;
    let creating = created_at.elapsed();
    assert!(
        Utc::now() < due,
        "creating the burst took longer than its lead time"
    );
    let cpu_before_burst = cpu_seconds(pid);
    let b = burst::watch(
        &dir.path().join("tickler.db"),
        due,
        due + chrono::Duration::seconds(1),
        Duration::from_secs(120),
    )
    .await;
    settle(pid, SETTLE).await;
    let burst_cpu = cpu_seconds(pid) - cpu_before_burst;
    let (end_rss, end_hwm) = rss_mib(pid);
    let (end_anon, end_file) = rss_split_mib(pid);

    println!(
        "\nReminder burst: {BURST} reminders due within one second (created in {:.1} s beforehand), {} other reminders pending; {} not delivered within 120 s; server CPU during the burst {:.1} s.\n",
        creating.as_secs_f64(),
        b.other_pending,
        b.not_delivered,
        burst_cpu
    );
    println!("| lateness | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---:|---:|---:|---:|");
    for (what, late) in [("mailed", &b.lateness), ("fired", &b.fired)] {
        println!(
            "| {what} | {:.0} | {:.0} | {:.0} | {:.0} |",
            pct(late, 50.0),
            pct(late, 95.0),
            pct(late, 99.0),
            late.last().copied().unwrap_or(f64::NAN)
        );
    }
    println!(
        "\nAt the end: {end_rss:.1} MiB resident ({end_anon:.1} anonymous, {end_file:.1} file; peak {end_hwm:.1} MiB)."
    );
}
