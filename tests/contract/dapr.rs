//! Real daprd sidecars for the Dapr adapters' tests, on the dev stack's Scheduler, PostgreSQL,
//! Kafka and Redis, loading the repository's own components (deploy/dapr/).
//!
//! The stack is the one `TICKLER_STACK_DIR` names (default `/tmp/tickler-stack`); it must run
//! `postgres kafka redis dapr` (`scripts/dev-stack up postgres kafka redis dapr`). A test that
//! cannot reach it fails with that message. Every sidecar gets a unique app id, so its state
//! keys, jobs and Kafka consumer group are its own; it is killed when its handle drops.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tickler::config::{DaprConfig, Secret, TopicNames};

pub const API_TOKEN: &str = "test-api-token-0123456789";
pub const APP_TOKEN: &str = "test-app-token-9876543210";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What the dev stack provides.
pub struct DaprStack {
    pub daprd: PathBuf,
    pub scheduler: String,
    pub kafka: String,
    pub redis: String,
    pub pg_port: u16,
}

fn how_to_start(dir: &str, what: &str) -> String {
    format!(
        "{what}. The Dapr tests need the dev stack with Redis and Dapr: \
         TICKLER_STACK_DIR={dir} scripts/dev-stack up postgres kafka redis dapr"
    )
}

fn port_open(addr: &str) -> bool {
    addr.parse::<SocketAddr>()
        .ok()
        .and_then(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_secs(1)).ok())
        .is_some()
}

impl DaprStack {
    pub fn get() -> &'static DaprStack {
        static STACK: OnceLock<DaprStack> = OnceLock::new();
        STACK.get_or_init(|| {
            let dir =
                std::env::var("TICKLER_STACK_DIR").unwrap_or_else(|_| "/tmp/tickler-stack".into());
            let out = Command::new("bash")
                .arg(repo().join("scripts/dev-stack"))
                .arg("env")
                .env("TICKLER_STACK_DIR", &dir)
                .output()
                .expect("run scripts/dev-stack env");
            let env: HashMap<String, String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            let var = |k: &str| {
                env.get(k)
                    .cloned()
                    .unwrap_or_else(|| panic!("{}", how_to_start(&dir, &format!("no {k}"))))
            };
            let daprd = PathBuf::from(var("TICKLER_STACK_DAPRD"));
            assert!(
                daprd.exists(),
                "{}",
                how_to_start(&dir, &format!("no daprd at {}", daprd.display()))
            );
            let scheduler = var("TICKLER_STACK_DAPR_SCHEDULER");
            assert!(
                port_open(&scheduler),
                "{}",
                how_to_start(
                    &dir,
                    &format!("the Dapr Scheduler is not running on {scheduler}")
                )
            );
            let pg_url = var("TICKLER_DATABASE_URL");
            let pg_port: u16 = pg_url
                .rsplit_once(':')
                .and_then(|(_, rest)| rest.split('/').next())
                .and_then(|p| p.parse().ok())
                .expect("a port in TICKLER_DATABASE_URL");
            assert!(
                port_open(&format!("127.0.0.1:{pg_port}")),
                "{}",
                how_to_start(&dir, "PostgreSQL is not running")
            );
            let kafka = var("TICKLER_KAFKA__BROKERS");
            let redis = var("TICKLER_STACK_REDIS_ADDR");
            DaprStack {
                daprd,
                scheduler,
                kafka,
                redis,
                pg_port,
            }
        })
    }

    pub fn require_kafka(&self) {
        assert!(
            port_open(&self.kafka),
            "Kafka is not running on {}: scripts/dev-stack up postgres kafka redis dapr",
            self.kafka
        );
    }

    pub fn require_redis(&self) {
        assert!(
            port_open(&self.redis),
            "Redis is not running on {}: scripts/dev-stack up postgres kafka redis dapr",
            self.redis
        );
    }
}

/// A free loopback port never handed out before in this test process: the kernel may return a
/// port it just gave (and we closed) again, and a daprd given a taken port exits ("could not
/// listen on any endpoint": seen in CI).
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

/// `prefix-<random>`: a DNS-label app id (and Kafka consumer group) no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:08x}", rand::random::<u32>())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSub {
    Kafka,
    Redis,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Postgres,
    Memory,
}

impl State {
    pub fn component(self) -> &'static str {
        match self {
            Self::Postgres => "statestore-postgres",
            Self::Memory => "statestore-memory",
        }
    }
}

/// How to start a sidecar.
#[derive(Clone)]
pub struct Spec {
    pub app_id: String,
    pub app_port: Option<u16>,
    pub http_port: u16,
    pub pubsub: Option<PubSub>,
    pub state: Option<State>,
    pub secrets_file: Option<PathBuf>,
    /// Replaces deploy/dapr/resiliency.yaml (e.g. a short timeout to provoke redeliveries).
    pub resiliency: Option<String>,
}

impl Spec {
    pub fn new(app_id: &str) -> Self {
        Self {
            app_id: app_id.to_owned(),
            app_port: None,
            http_port: free_port(),
            pubsub: None,
            state: None,
            secrets_file: None,
            resiliency: None,
        }
    }

    /// The adapters' configuration for this sidecar (tokens on both sides).
    pub fn config(&self) -> DaprConfig {
        DaprConfig {
            http_endpoint: format!("http://127.0.0.1:{}", self.http_port),
            api_token: Some(Secret::new(API_TOKEN)),
            app_token: Some(Secret::new(APP_TOKEN)),
            app_listen: SocketAddr::from(([127, 0, 0, 1], self.app_port.unwrap_or(0))),
            statestore: self.state.unwrap_or(State::Postgres).component().into(),
            secretstore: Some("secretstore-local".into()),
            job_retry_interval_ms: 500,
            ..DaprConfig::default()
        }
    }
}

/// A running daprd; killed (SIGKILL) when dropped.
pub struct Sidecar {
    pub spec: Spec,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

const MEMORY_STATE: &str = "apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore-memory
spec:
  type: state.in-memory
  version: v1
  metadata: []
";

impl Sidecar {
    pub fn start(spec: Spec) -> Sidecar {
        let dir = tempfile::tempdir().expect("temp dir");
        let resources = dir.path().join("resources");
        std::fs::create_dir(&resources).unwrap();
        let deploy = repo().join("deploy/dapr");
        let copy = |from: &Path| {
            std::fs::copy(from, resources.join(from.file_name().unwrap()))
                .unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
        };
        match spec.pubsub {
            Some(PubSub::Kafka) => copy(&deploy.join("components/pubsub-kafka.yaml")),
            Some(PubSub::Redis) => copy(&deploy.join("components/pubsub-redis.yaml")),
            None => {}
        }
        match spec.state {
            Some(State::Postgres) => copy(&deploy.join("components/statestore-postgres.yaml")),
            Some(State::Memory) => {
                std::fs::write(resources.join("statestore-memory.yaml"), MEMORY_STATE).unwrap()
            }
            None => {}
        }
        copy(&deploy.join("components/secretstore-local.yaml"));
        match &spec.resiliency {
            Some(r) => std::fs::write(resources.join("resiliency.yaml"), r).unwrap(),
            None => copy(&deploy.join("resiliency.yaml")),
        }
        let mut sidecar = Sidecar {
            spec,
            child: None,
            dir,
        };
        sidecar.spawn();
        sidecar
    }

    fn spawn(&mut self) {
        let stack = DaprStack::get();
        let spec = &self.spec;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap();
        let mut cmd = Command::new(&stack.daprd);
        cmd.args(["--app-id", &spec.app_id])
            .args(["--app-protocol", "http", "--app-channel-address", "127.0.0.1"])
            .args(["--dapr-listen-addresses", "127.0.0.1"])
            .args(["--dapr-http-port", &spec.http_port.to_string()])
            .args(["--dapr-grpc-port", &free_port().to_string()])
            .args(["--dapr-internal-grpc-port", &free_port().to_string()])
            .args(["--dapr-internal-grpc-listen-address", "127.0.0.1"])
            .args(["--metrics-port", &free_port().to_string()])
            .args(["--metrics-listen-address", "127.0.0.1"])
            .arg("--resources-path")
            .arg(self.dir.path().join("resources"))
            .arg("--config")
            .arg(repo().join("deploy/dapr/configuration.yaml"))
            .args(["--scheduler-host-address", &stack.scheduler])
            .args(["--log-level", "info", "--dapr-graceful-shutdown-seconds", "2"])
            .env("DAPR_API_TOKEN", API_TOKEN)
            .env("APP_API_TOKEN", APP_TOKEN)
            .env("SIDECAR_KAFKA_BROKERS", &stack.kafka)
            .env("SIDECAR_REDIS_HOST", &stack.redis)
            .env("SIDECAR_REDIS_PASSWORD", "")
            // synchronous_commit=off: on a loaded 2-core machine a durable commit took up to 1 s,
            // longer than the state suite's 1-second TTLs; durability is not what it tests.
            .env(
                "SIDECAR_STATE_PG_CONNECTION",
                format!(
                    "host=127.0.0.1 port={} user=tickler password=tickler database=tickler sslmode=disable connect_timeout=10 synchronous_commit=off",
                    stack.pg_port
                ),
            )
            .env(
                "SIDECAR_SECRETS_FILE",
                spec.secrets_file
                    .clone()
                    .unwrap_or_else(|| self.dir.path().join("no-secrets.json")),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        if let Some(p) = spec.app_port {
            cmd.args(["--app-port", &p.to_string()]);
        }
        if spec.secrets_file.is_none() {
            std::fs::write(self.dir.path().join("no-secrets.json"), "{}").unwrap();
        }
        self.child = Some(cmd.spawn().expect("start daprd"));
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("daprd.log")
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.spec.http_port)
    }

    /// Waits for `/v1.0/healthz/outbound` (components up), or for `/v1.0/healthz` when `full`
    /// (also the app channel and the Scheduler connection).
    pub async fn wait(&mut self, full: bool) {
        let path = if full {
            "/v1.0/healthz"
        } else {
            "/v1.0/healthz/outbound"
        };
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("daprd exited ({status}) during start-up:\n{}", self.log());
            }
            if let Ok(r) = client.get(self.url(path)).send().await
                && r.status().as_u16() == 204
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "daprd not ready ({path}) in 30 s:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A crash: SIGKILL, reaped.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// A clean stop: SIGTERM, then wait (daprd leaves its consumer group, drains in 2 s).
    pub async fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts daprd again with the same ports, app id and resources (after `kill` or `stop`).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "daprd is still running");
        self.spawn();
    }
}

impl Drop for Sidecar {
    fn drop(&mut self) {
        self.kill();
        // A failing test shows what its sidecar said (the log goes with the temp dir).
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(40).collect();
            eprintln!(
                "--- daprd {} (last lines) ---\n{}",
                self.spec.app_id,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
    }
}

/// Serves `router` on 127.0.0.1 at `port` (0: any) on the current runtime.
pub async fn serve(router: axum::Router, port: u16) -> (u16, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("bind the test app listener");
    let port = listener.local_addr().unwrap().port();
    let handle = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (port, handle)
}

/// Topic names of one test, so concurrent tests never share a topic.
pub fn unique_topics() -> TopicNames {
    let tag = format!("{:08x}", rand::random::<u32>());
    TopicNames {
        task_events: format!("te-{tag}"),
        task_reminders: format!("tr-{tag}"),
        task_recurrence: format!("tc-{tag}"),
    }
}

/// Creates each topic and its `.dlq` on the stack's Kafka (Dapr never creates topics, and the
/// broker does not auto-create them).
pub async fn create_kafka_topics(topics: &TopicNames, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    use rdkafka::config::ClientConfig;
    let stack = DaprStack::get();
    stack.require_kafka();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka)
        .create()
        .expect("Kafka admin client");
    let names: Vec<String> = [
        &topics.task_events,
        &topics.task_reminders,
        &topics.task_recurrence,
    ]
    .iter()
    .flat_map(|t| [t.to_string(), format!("{t}.dlq")])
    .collect();
    let new: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results = admin
        .create_topics(&new, &AdminOptions::new())
        .await
        .expect("create topics");
    for r in results {
        if let Err((name, e)) = r {
            panic!("cannot create topic {name}: {e}");
        }
    }
    // A sidecar that fetches metadata before the partitions have leaders publishes to the wrong
    // broker ("not the leader for some partition") until its metadata refreshes.
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let probe: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &stack.kafka)
        .create()
        .expect("Kafka metadata client");
    let deadline = Instant::now() + Duration::from_secs(30);
    for name in &names {
        loop {
            let ready = probe
                .fetch_metadata(Some(name), Duration::from_secs(5))
                .ok()
                .is_some_and(|m| {
                    m.topics().iter().any(|t| {
                        t.name() == name
                            && t.error().is_none()
                            && t.partitions().len() == partitions as usize
                            && t.partitions().iter().all(|p| p.leader() >= 0)
                    })
                });
            if ready {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "topic {name} has no leaders after 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// A sidecar plus the test app it calls back, stopped together (for scheduler fixtures).
pub struct AppAndSidecar {
    pub sidecar: Sidecar,
    pub server: tokio::task::JoinHandle<()>,
}

impl Drop for AppAndSidecar {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// Shared so a fixture's `stop` and its guard can both reach it.
pub type Shared<T> = Arc<Mutex<Option<T>>>;
