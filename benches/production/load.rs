//! Load generation and readings shared by the benchmarks (this one and examples/bench.rs):
//! creations through the REST API, reminders and their lateness, /proc memory, /metrics.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use serde_json::{Value, json};

/// An hour's token for `sub` (e-mail `sub@example.com`), signed with the server's secret.
pub fn token(secret: &str, sub: &str) -> String {
    tickler::auth::Auth::new(secret.as_bytes()).mint(
        sub,
        Some(&format!("{sub}@example.com")),
        None,
        3600,
    )
}

/// (current, peak) resident set in MiB, from /proc.
pub fn rss_mib(pid: u32) -> (f64, f64) {
    let [rss, hwm] = status_mib(pid, ["VmRSS:", "VmHWM:"]);
    (rss, hwm)
}

/// The resident set split into anonymous memory (heap, stacks, SQLite's page caches) and file
/// pages (the binary's code and the shared libraries), in MiB: a smaller binary moves only the
/// second, a smaller cache only the first.
#[allow(dead_code)] // read by the embedded benchmark only
pub fn rss_split_mib(pid: u32) -> (f64, f64) {
    let [anon, file] = status_mib(pid, ["RssAnon:", "RssFile:"]);
    (anon, file)
}

/// Fields of /proc/<pid>/status given in kB, in MiB (NaN for one that is missing).
fn status_mib<const N: usize>(pid: u32, names: [&str; N]) -> [f64; N] {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    names.map(|name| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .map_or(f64::NAN, |kb| kb / 1024.0)
    })
}

/// CPU seconds (user + system, every thread) the process has used so far, from /proc/<pid>/stat.
#[allow(dead_code)] // read by the embedded benchmark only (one server process to watch)
pub fn cpu_seconds(pid: u32) -> f64 {
    // /proc reports in USER_HZ, which Linux fixes at 100 for user space whatever the kernel's HZ.
    const TICKS_PER_SECOND: f64 = 100.0;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; fields are counted after its closing ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / TICKS_PER_SECOND
}

/// Waits until the process is idle (under 1 % of a core over 300 ms), at most `limit`, so a
/// phase's CPU reading holds none of the previous phase's background work.
#[allow(dead_code)] // as cpu_seconds
pub async fn settle(pid: u32, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let before = cpu_seconds(pid);
        tokio::time::sleep(Duration::from_millis(300)).await;
        if cpu_seconds(pid) - before <= 0.003 || Instant::now() > deadline {
            return;
        }
    }
}

pub fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let idx = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

async fn metrics(client: &reqwest::Client, base: &str) -> String {
    match client.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    }
}

async fn outbox_backlog(client: &reqwest::Client, base: &str) -> f64 {
    metrics(client, base)
        .await
        .lines()
        .find(|l| l.starts_with("tickler_outbox_backlog "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(f64::NAN)
}

pub struct LoadResult {
    pub clients: usize,
    pub requests: usize,
    pub per_sec: f64,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    /// From the first request until the outbox backlog is back to zero.
    pub drained_ms: f64,
}

/// `total` creations (`POST /api/v1/tasks`, 201 each) from `clients` concurrent clients.
pub async fn create_load(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    clients: usize,
    total: usize,
) -> LoadResult {
    create_load_with(client, base, token, clients, total, |c, i| {
        json!({"title": format!("bench task {c}-{i}"), "priority": "high", "description": "load test", "reminders": []})
    })
    .await
}

/// Like [`create_load`], with the request body of client `c`'s `i`-th creation from `body`.
pub async fn create_load_with(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    clients: usize,
    total: usize,
    body: impl Fn(usize, usize) -> Value + Send + Sync + 'static,
) -> LoadResult {
    let per_client = total / clients;
    let body = Arc::new(body);
    let client = Arc::new(client.clone());
    let started = Instant::now();
    let mut handles = Vec::new();
    for c in 0..clients {
        let client = client.clone();
        let url = format!("{base}/api/v1/tasks");
        let token = token.to_owned();
        let body = body.clone();
        handles.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(per_client);
            for i in 0..per_client {
                let body = body(c, i);
                let t = Instant::now();
                let resp = client
                    .post(&url)
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
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

/// `n` reminders spread over two seconds, starting `lead` from now, each on its own task; waits
/// for them (at most a minute after the last is due) and returns the sorted lateness of the
/// delivered ones (`delivered_at − remind_at`, ms) and how many were not delivered.
pub async fn reminder_lateness(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    n: usize,
    lead: Duration,
) -> (Vec<f64>, usize) {
    let t0 = Utc::now() + chrono::Duration::from_std(lead).unwrap();
    let mut handles = Vec::new();
    for chunk in 0..16 {
        let client = client.clone();
        let base = base.to_owned();
        let token = token.to_owned();
        handles.push(tokio::spawn(async move {
            for i in (chunk..n).step_by(16) {
                let at = t0 + chrono::Duration::milliseconds((i * 2) as i64);
                let body = json!({"title": format!("remind {i}"), "due_date": (at + chrono::Duration::hours(1)).to_rfc3339(), "reminders": [{"remind_at": at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)}]});
                let r = client
                    .post(format!("{base}/api/v1/tasks"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
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
    let deadline = Instant::now() + lead + Duration::from_secs(60);
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

/// Cumulative bucket counts of `tickler_event_delivery_seconds`: (upper bound in s, count).
pub async fn delivery_histogram(client: &reqwest::Client, base: &str) -> Vec<(f64, u64)> {
    metrics(client, base)
        .await
        .lines()
        .filter_map(|l| l.strip_prefix("tickler_event_delivery_seconds_bucket{le=\""))
        .filter_map(|l| {
            let (bound, rest) = l.split_once("\"} ")?;
            let bound = if bound == "+Inf" {
                f64::INFINITY
            } else {
                bound.parse().ok()?
            };
            Some((bound, rest.trim().parse().ok()?))
        })
        .collect()
}

/// The events a histogram saw between two readings.
pub struct Delivery {
    pub count: u64,
    buckets: Vec<(f64, u64)>,
}

impl Delivery {
    pub fn between(before: &[(f64, u64)], after: &[(f64, u64)]) -> Self {
        let buckets: Vec<(f64, u64)> = after
            .iter()
            .map(|(b, n)| {
                let old = before.iter().find(|(ob, _)| ob == b).map_or(0, |(_, n)| *n);
                (*b, n.saturating_sub(old))
            })
            .collect();
        let count = buckets.last().map_or(0, |(_, n)| *n);
        Self { count, buckets }
    }

    /// The upper bound (ms) of the bucket holding quantile `q`, as text ("—" without data).
    pub fn quantile_ms(&self, q: f64) -> String {
        if self.count == 0 {
            return "—".into();
        }
        let rank = (q * self.count as f64).ceil() as u64;
        self.buckets
            .iter()
            .find(|(_, n)| *n >= rank)
            .map_or("—".into(), |(b, _)| {
                if b.is_infinite() {
                    "> 60000".into()
                } else {
                    format!("{}", b * 1000.0)
                }
            })
    }
}
