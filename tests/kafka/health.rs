//! The readiness check, on a private broker this test stops and starts.

use std::time::{Duration, Instant};

use crate::contract::kafka::*;

// ---- health, on a private broker that the test stops and starts ----

struct PrivateStack {
    dir: &'static str,
}

impl PrivateStack {
    fn script() -> std::path::PathBuf {
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/dev-stack")
    }

    fn run(&self, args: &[&str]) -> String {
        let out = std::process::Command::new(Self::script())
            .args(args)
            .env("TICKLER_STACK_DIR", self.dir)
            .output()
            .expect("running scripts/dev-stack");
        assert!(
            out.status.success(),
            "scripts/dev-stack {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for PrivateStack {
    fn drop(&mut self) {
        let _ = std::process::Command::new(Self::script())
            .args(["down", "--purge"])
            .env("TICKLER_STACK_DIR", self.dir)
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_fails_while_the_broker_is_down_and_recovers() {
    init_logs();
    let stack = PrivateStack {
        dir: "/tmp/kafka-helper-stack",
    };
    let began = Instant::now();
    tokio::task::block_in_place(|| stack.run(&["up", "kafka"]));
    eprintln!(
        "private broker up in {:.1} s",
        began.elapsed().as_secs_f64()
    );
    let env = tokio::task::block_in_place(|| stack.run(&["env"]));
    let brokers = env
        .lines()
        .find_map(|l| l.strip_prefix("export TICKLER_KAFKA__BROKERS="))
        .expect("the private broker's address")
        .to_owned();
    assert_ne!(brokers, "127.0.0.1:19092", "never the shared broker");
    let topics = unique_topics(&unique_suffix());
    let config = test_config(&brokers);
    let (t, _stop) = transport(&config, &topics).await;
    let health = t.health();
    assert_eq!(health.name(), "transport");
    let err = health.check().await.unwrap_err();
    assert!(err.to_string().contains("missing"), "no topics yet: {err}");
    t.ensure_topics().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    health.check().await.expect("healthy with the broker up");

    let stopping = Instant::now();
    tokio::task::block_in_place(|| stack.run(&["stop", "kafka"]));
    eprintln!(
        "private broker stopped in {:.1} s",
        stopping.elapsed().as_secs_f64()
    );
    let down = Instant::now();
    let mut failed = None;
    while down.elapsed() < Duration::from_secs(15) {
        let started = Instant::now();
        if let Err(e) = health.check().await {
            failed = Some((e, started.elapsed()));
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (err, took) = failed.expect("health fails while the broker is down");
    eprintln!(
        "health failed {:.1} s after the broker stopped (that probe took {:.0} ms): {err}",
        down.elapsed().as_secs_f64(),
        took.as_secs_f64() * 1000.0
    );
    assert!(err.transient, "{err:?}");
    assert!(
        took < Duration::from_secs(3),
        "the probe is bounded: {took:?}"
    );

    tokio::task::block_in_place(|| stack.run(&["start", "kafka"]));
    let up = Instant::now();
    loop {
        if health.check().await.is_ok() {
            break;
        }
        assert!(
            up.elapsed() < Duration::from_secs(30),
            "health recovers with the broker"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "healthy again {:.1} s after the broker's start returned",
        up.elapsed().as_secs_f64()
    );
}
