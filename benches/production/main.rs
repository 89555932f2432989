//! Production-mode benchmark (not a test): the four roles as separate processes on PostgreSQL,
//! once Kafka-direct and once through Dapr sidecars (pub/sub on the same Kafka), in one run on
//! one machine, with the seed's targets beside each figure. It reuses the end-to-end harness
//! (tests/e2e: the dev stack, one process per role, an SMTP sink per cluster).
//!
//! Run: `./scripts/bench.sh production` (starts the dev stack; prints a Markdown report).
//!
//! Per transport: creations/s through the API at 1 and 32 clients with p50/p95/p99 and the time
//! until every event is relayed; event delivery latency (event time → handler start in the
//! notification role, from its `tickler_event_delivery_seconds` histogram); reminder lateness
//! (remind_at → delivered_at, which is stamped right after the SMTP server accepted the mail);
//! resident memory of each role and sidecar. Once: pgbench inserting rows of the tasks table's
//! shape into the same PostgreSQL, and search at 100,000 tasks of one user.

#[allow(dead_code)]
#[path = "../../tests/e2e/cluster.rs"]
mod cluster;
#[allow(dead_code)]
#[path = "../../tests/e2e/stack.rs"]
mod stack;

mod corpus;
mod load;
mod search;

use std::time::Duration;

use cluster::{Cluster, Mode, PubSub};
use load::{Delivery, LoadResult, pct, rss_mib};
use stack::Stack;

struct ModeReport {
    name: &'static str,
    r1: LoadResult,
    r32: LoadResult,
    delivery: Delivery,
    lateness: Vec<f64>,
    undelivered: usize,
    memory: Vec<(String, f64, f64)>,
}

async fn run_mode(stack: &Stack, name: &'static str, mode: Mode) -> ModeReport {
    let mut c = Cluster::new(stack, &format!("bench-{}", name.to_lowercase()), mode).await;
    let roles = ["backend", "notification", "email-delivery", "recurring"];
    let mut procs = Vec::new();
    for role in roles {
        procs.push((role, c.spawn(role).await));
    }
    let base = c.api().trim_end_matches("/api/v1").to_owned();
    let notification = format!("http://127.0.0.1:{}", c.procs[procs[1].1].port);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .unwrap();
    let token = load::token(cluster::SECRET, "bench");

    load::create_load(&client, &base, &token, 8, 400).await;
    let before = load::delivery_histogram(&client, &notification).await;
    let r1 = load::create_load(&client, &base, &token, 1, 1000).await;
    let r32 = load::create_load(&client, &base, &token, 32, 6400).await;
    // Every task.created reaches the notification role before the histogram is read again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = load::delivery_histogram(&client, &notification).await;
    let delivery = Delivery::between(&before, &after);
    let remind = load::token(cluster::SECRET, "remind");
    let (lateness, undelivered) =
        load::reminder_lateness(&client, &base, &remind, 1000, Duration::from_secs(10)).await;
    let mut memory = Vec::new();
    for (role, i) in &procs {
        let (app, sidecar) = c.pids(*i);
        let (rss, hwm) = rss_mib(app);
        memory.push((role.to_string(), rss, hwm));
        if let Some(pid) = sidecar {
            let (rss, hwm) = rss_mib(pid);
            memory.push((format!("{role}'s daprd"), rss, hwm));
        }
    }
    c.stop_all();
    ModeReport {
        name,
        r1,
        r32,
        delivery,
        lateness,
        undelivered,
        memory,
    }
}

fn print_mode(m: &ModeReport) {
    println!("\n### {}\n", m.name);
    println!(
        "| clients | requests | creations/s | p50 ms | p95 ms | p99 ms | all events relayed after |"
    );
    println!("|---|---|---|---|---|---|---|");
    for r in [&m.r1, &m.r32] {
        println!(
            "| {} | {} | {:.0} | {:.2} | {:.2} | {:.2} | {:.0} ms |",
            r.clients, r.requests, r.per_sec, r.p50, r.p95, r.p99, r.drained_ms
        );
    }
    println!(
        "\nEvent delivery, event time → notification handler, {} events (bucket upper bounds): \
         p50 ≤ {} ms, p95 ≤ {} ms, p99 ≤ {} ms (seed: publish < 50 ms p95 Kafka, < 100 ms p95 Dapr).",
        m.delivery.count,
        m.delivery.quantile_ms(0.50),
        m.delivery.quantile_ms(0.95),
        m.delivery.quantile_ms(0.99)
    );
    let l = &m.lateness;
    println!(
        "\nReminder lateness, remind_at → mail accepted and reminder marked, {} reminders ({} not \
         delivered): p50 {:.0} ms, p95 {:.0} ms, p99 {:.0} ms, max {:.0} ms (seed: due → mail < 10 s).",
        l.len() + m.undelivered,
        m.undelivered,
        pct(l, 50.0),
        pct(l, 95.0),
        pct(l, 99.0),
        l.last().copied().unwrap_or(f64::NAN)
    );
    println!("\n| process | resident MiB | peak MiB |\n|---|---|---|");
    for (who, rss, hwm) in &m.memory {
        println!("| {who} | {rss:.1} | {hwm:.1} |");
    }
}

/// pgbench inserting one row of the tasks table's shape (its indexes included) per transaction,
/// 10 s at 1 and at 32 clients: what PostgreSQL alone does on this machine. Returns the two tps.
async fn pgbench(stack: &Stack) -> (f64, f64) {
    let db = stack
        .create_database(&format!("bench_pgbench_{}", std::process::id()))
        .await;
    {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
        sqlx::migrate!("migrations/postgres")
            .run(&mut conn)
            .await
            .unwrap();
        sqlx::query("CREATE TABLE bench_tasks (LIKE tasks INCLUDING ALL)")
            .execute(&mut conn)
            .await
            .unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("insert.sql");
    std::fs::write(
        &script,
        "INSERT INTO bench_tasks (user_id, title, title_key, description, priority, created_at, \
         updated_at, search_doc) VALUES ('bench' || :client_id, 'bench task ' || :client_id, \
         'bench task', 'load test', 2, now(), now(), \
         to_tsvector('simple', 'bench task ' || :client_id || ' load test'));\n",
    )
    .unwrap();
    let bin = format!("{}/pgbench", stack.var("TICKLER_STACK_PG_BIN"));
    let run = |clients: usize| {
        let out = std::process::Command::new(&bin)
            .args([
                "-n",
                "-T",
                "10",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-f",
            ])
            .arg(&script)
            .arg(&db)
            .output()
            .expect("run pgbench");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "pgbench failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        text.lines()
            .find_map(|l| l.strip_prefix("tps = "))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|v| v.parse::<f64>().ok())
            .expect("pgbench printed its tps")
    };
    (run(1), run(32))
}

#[tokio::main]
async fn main() {
    let stack = Stack::get();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    // Each part is printed as soon as it is measured, so an interrupted run keeps what it had.
    println!(
        "## Production mode — {}\n",
        chrono::Utc::now().format("%Y-%m-%d %H:%M UTC")
    );
    println!(
        "Machine: {cores} cores; PostgreSQL, Kafka, the Dapr sidecars, the roles and the load \
         generator all share them. Release build. Each role its own process on PostgreSQL."
    );
    let pgbench = pgbench(stack).await;
    println!(
        "\npgbench on the same PostgreSQL, one row of the tasks table's shape per transaction \
         (same indexes, GIN search index included), 10 s each: {:.0} tps at 1 client, {:.0} tps \
         at 32 clients.",
        pgbench.0, pgbench.1
    );
    print_mode(&run_mode(stack, "Kafka-direct", Mode::Kafka).await);
    print_mode(&run_mode(stack, "Dapr", Mode::Dapr(PubSub::Kafka)).await);
    println!(
        "\n### Search and list at {} tasks of one user (PostgreSQL, backend role)\n",
        search::TASKS
    );
    println!("| request | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|");
    for (name, p50, p95, p99) in search::run(stack).await {
        println!("| {name} | {p50:.2} | {p95:.2} | {p99:.2} |");
    }
}
