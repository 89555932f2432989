//! One scenario's Tickler deployment: each role a separate OS process of the real binary, on a
//! fresh database, fresh topics and consumer groups, and its own SMTP sink. Roles can be
//! SIGKILLed and restarted; everything still running is killed when the cluster is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::stack::{SmtpSink, Stack, free_port, signal, wait_exit};

pub const SECRET: &str = "e2e-signing-secret-0123456789";

/// How a role process exchanges events (and, for Dapr, keeps state and jobs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Kafka,
    /// Through its own daprd sidecar (scripts/dapr-run), with this pub/sub component.
    Dapr(PubSub),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PubSub {
    Kafka,
    Redis,
}

impl PubSub {
    fn name(self) -> &'static str {
        match self {
            Self::Kafka => "kafka",
            Self::Redis => "redis",
        }
    }
}

pub struct Proc {
    pub role: &'static str,
    pub mode: Mode,
    pub port: u16,
    pub log: PathBuf,
    /// Dapr mode: where scripts/dapr-run keeps `app.pid`, `daprd.pid` and `daprd.log`.
    pub run_dir: Option<PathBuf>,
    /// Dapr mode: the Dapr-facing listener (APP_PORT).
    pub app_port: Option<u16>,
    child: Child,
}

/// The Dapr app id of a role (the role's Kafka consumer group too, as in production).
pub fn app_id(cluster: &str, role: &str) -> String {
    let base = match role {
        "notification" => "notification-service",
        "email-delivery" => "email-delivery-service",
        "recurring" => "recurring-task-service",
        other => other,
    };
    format!("{cluster}-{base}")
}

pub struct Cluster {
    /// Database, topic and group names derive from it: lower case, digits and `-`.
    pub name: String,
    pub mode: Mode,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub smtp: SmtpSink,
    stack_dir: PathBuf,
    env: Vec<(String, String)>,
    /// Every process started, in order; killed ones stay with their exit status.
    pub procs: Vec<Proc>,
    /// When an `email-delivery` process was SIGKILLed: each may repeat the one mail it had
    /// handed to the SMTP server but not yet recorded (see `workload::verify`).
    pub email_crashes: Vec<std::time::SystemTime>,
    http: reqwest::Client,
}

impl Cluster {
    /// Database, topics and consumer groups are named after `name` (unique per scenario run);
    /// `mode` is how processes are started unless `spawn_as` says otherwise.
    pub async fn new(stack: &Stack, name: &str, mode: Mode) -> Cluster {
        let name = format!("{name}-{}", std::process::id()).replace('_', "-");
        let dir = tempfile::Builder::new()
            .prefix(&format!("tickler-{name}-"))
            .tempdir()
            .expect("scenario dir");
        let db_url = stack.create_database(&name.replace('-', "_")).await;
        let smtp = SmtpSink::start(&dir.path().join("mail"));
        let topic = |t: &str| format!("{name}.{t}");
        let mut env = vec![
            ("TICKLER_DATABASE_URL".into(), db_url.clone()),
            ("TICKLER_AUTH__SECRET".into(), SECRET.into()),
            ("TICKLER_SMTP__HOST".into(), "127.0.0.1".into()),
            ("TICKLER_SMTP__PORT".into(), smtp.port.to_string()),
            ("TICKLER_SMTP__TLS".into(), "none".into()),
            ("TICKLER_TOPICS__TASK_EVENTS".into(), topic("task-events")),
            (
                "TICKLER_TOPICS__TASK_REMINDERS".into(),
                topic("task-reminders"),
            ),
            (
                "TICKLER_TOPICS__TASK_RECURRENCE".into(),
                topic("task-recurrence"),
            ),
            ("TICKLER_HTTP__SHUTDOWN_GRACE_SECS".into(), "15".into()),
            ("TICKLER_LOG__LEVEL".into(), "info".into()),
            (
                "TICKLER_KAFKA__BROKERS".into(),
                stack.kafka_brokers().into(),
            ),
        ];
        for (key, role) in [
            ("NOTIFICATION", "notification"),
            ("EMAIL_DELIVERY", "email-delivery"),
            ("RECURRING", "recurring"),
        ] {
            env.push((format!("TICKLER_KAFKA__GROUPS__{key}"), app_id(&name, role)));
        }
        let cluster = Cluster {
            name,
            mode,
            dir,
            db_url,
            smtp,
            stack_dir: stack.dir.clone(),
            env,
            procs: Vec::new(),
            email_crashes: Vec::new(),
            http: reqwest::Client::new(),
        };
        if mode != Mode::Dapr(PubSub::Redis) {
            // Dapr never creates topics, and a missing one stalls its whole component: create
            // them (and their dead-letter topics) up front, as a deployment does.
            cluster.create_topics(stack).await;
        }
        cluster
    }

    async fn create_topics(&self, stack: &Stack) {
        let topics = tickler::config::TopicNames {
            task_events: format!("{}.task-events", self.name),
            task_reminders: format!("{}.task-reminders", self.name),
            task_recurrence: format!("{}.task-recurrence", self.name),
        };
        let kafka = tickler::config::KafkaConfig {
            brokers: stack.kafka_brokers().into(),
            ..Default::default()
        };
        let (_stop, rx) = tokio::sync::watch::channel(false);
        let admin = tickler::adapters::kafka::KafkaTransport::connect(&kafka, &topics, rx)
            .await
            .expect("connect to the e2e stack's Kafka");
        admin
            .ensure_topics()
            .await
            .expect("create the scenario's topics");
        admin.shutdown().await;
    }

    /// Starts one process of `role` the cluster's way and waits until its `/readyz` answers 200.
    pub async fn spawn(&mut self, role: &'static str) -> usize {
        self.spawn_as(role, self.mode).await
    }

    /// Starts one process of `role` in `mode` and waits until its `/readyz` answers 200.
    pub async fn spawn_as(&mut self, role: &'static str, mode: Mode) -> usize {
        use std::os::unix::process::CommandExt;
        let port = free_port();
        let index = self.procs.len();
        let log = self.dir.path().join(format!("{index:02}-{role}.log"));
        let data = self.dir.path().join(format!("data-{index:02}"));
        let tickler = env!("CARGO_BIN_EXE_tickler");
        let app_port = matches!(mode, Mode::Dapr(_)).then(free_port);
        let (mut cmd, run_dir) = match mode {
            Mode::Kafka => (Command::new(tickler), None),
            Mode::Dapr(pubsub) => {
                let run_dir = self.dir.path().join(format!("dapr-{index:02}"));
                let mut cmd = Command::new("bash");
                cmd.arg(super::stack::repo().join("scripts/dapr-run"))
                    .args(["--app-id", &app_id(&self.name, role)])
                    .args(["--app-port", &app_port.unwrap_or_default().to_string()])
                    .args(["--pubsub", pubsub.name(), "--"])
                    .arg(tickler)
                    .env("TICKLER_STACK_DIR", &self.stack_dir)
                    .env("DAPR_RUN_DIR", &run_dir);
                (cmd, Some(run_dir))
            }
        };
        // Nothing from the test's own environment leaks into the roles' configuration.
        for (k, _) in std::env::vars() {
            if (k.starts_with("TICKLER_") && k != "TICKLER_STACK_DIR")
                || k.starts_with("DAPR_")
                || k.starts_with("APP_")
                || k == "USE_DAPR"
                || k == "BETTER_AUTH_SECRET"
            {
                cmd.env_remove(k);
            }
        }
        if let Some(run_dir) = &run_dir {
            cmd.env("TICKLER_STACK_DIR", &self.stack_dir)
                .env("DAPR_RUN_DIR", run_dir);
        }
        cmd.args(["--role", role])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("TICKLER_LISTEN", format!("127.0.0.1:{port}"))
            .env("TICKLER_DATA_DIR", &data)
            .env("RUST_LOG", "info,sqlx=warn,rdkafka=warn")
            // Its own process group: a dropped cluster kills the sidecar and the app with it.
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("spawn tickler");
        self.procs.push(Proc {
            role,
            mode,
            port,
            log,
            run_dir,
            app_port,
            child,
        });
        self.wait_ready(index, Duration::from_secs(90)).await;
        index
    }

    /// Dapr mode: the pid scripts/dapr-run recorded for `what` (`app` or `daprd`).
    fn dapr_pid(&self, index: usize, what: &str) -> u32 {
        let dir = self.procs[index]
            .run_dir
            .as_ref()
            .expect("a process started through scripts/dapr-run");
        std::fs::read_to_string(dir.join(format!("{what}.pid")))
            .expect("pid file")
            .trim()
            .parse()
            .expect("a pid")
    }

    /// The role's own pid and, in Dapr mode, its sidecar's (for memory readings).
    #[allow(dead_code)] // used by benches/production, which shares this harness
    pub fn pids(&self, index: usize) -> (u32, Option<u32>) {
        match self.procs[index].mode {
            Mode::Kafka => (self.procs[index].child.id(), None),
            Mode::Dapr(_) => (
                self.dapr_pid(index, "app"),
                Some(self.dapr_pid(index, "daprd")),
            ),
        }
    }

    /// SIGKILLs the sidecar of process `index`; scripts/dapr-run starts it again on the same
    /// ports, as a pod restarts its sidecar container.
    pub fn kill_sidecar(&mut self, index: usize) {
        signal(self.dapr_pid(index, "daprd"), "KILL");
    }

    async fn wait_ready(&mut self, index: usize, within: Duration) {
        let deadline = Instant::now() + within;
        let url = format!("http://127.0.0.1:{}/readyz", self.procs[index].port);
        loop {
            if let Ok(Some(status)) = self.procs[index].child.try_wait() {
                panic!(
                    "{} exited during start-up ({status}); its log:\n{}",
                    self.procs[index].role,
                    self.log_tail(index, 60)
                );
            }
            if let Ok(r) = self.http.get(&url).send().await
                && r.status() == 200
            {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{} not ready within {within:?}; its log:\n{}",
                    self.procs[index].role,
                    self.log_tail(index, 60)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn log_tail(&self, index: usize, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.procs[index].log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILLs the role's process (in Dapr mode the app: scripts/dapr-run then stops its
    /// sidecar and exits): no chance to finish anything.
    pub fn kill(&mut self, index: usize) {
        if self.procs[index].role == "email-delivery" {
            self.email_crashes.push(std::time::SystemTime::now());
        }
        if self.procs[index].run_dir.is_some() {
            signal(self.dapr_pid(index, "app"), "KILL");
            if !wait_exit(&mut self.procs[index].child, Duration::from_secs(30)) {
                kill_group(&mut self.procs[index].child);
            }
        } else {
            let p = &mut self.procs[index];
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }

    /// SIGTERM and wait for a clean exit (in Dapr mode: the app, then its sidecar).
    pub fn terminate(&mut self, index: usize) -> bool {
        let p = &mut self.procs[index];
        signal(p.child.id(), "TERM");
        wait_exit(&mut p.child, Duration::from_secs(40))
    }

    /// Kills process `index` and starts a new one of the same role, the same way.
    pub async fn kill_and_restart(&mut self, index: usize) -> usize {
        self.kill(index);
        let (role, mode) = (self.procs[index].role, self.procs[index].mode);
        self.spawn_as(role, mode).await
    }

    /// Stops process `index` cleanly and starts its role again in `mode` (a roll-out step).
    pub async fn switch(&mut self, index: usize, mode: Mode) -> usize {
        assert!(
            self.terminate(index),
            "{} did not stop",
            self.procs[index].role
        );
        let role = self.procs[index].role;
        self.spawn_as(role, mode).await
    }

    /// The first backend's base URL.
    pub fn api(&self) -> String {
        let p = self
            .procs
            .iter()
            .find(|p| p.role == "backend")
            .expect("a backend process");
        format!("http://127.0.0.1:{}/api/v1", p.port)
    }

    /// True while process `index` runs.
    pub fn alive(&mut self, index: usize) -> bool {
        matches!(self.procs[index].child.try_wait(), Ok(None))
    }

    /// Every running process, SIGTERMed; returns the roles that did not exit cleanly in time.
    pub fn stop_all(&mut self) -> Vec<String> {
        let mut stuck = Vec::new();
        for i in 0..self.procs.len() {
            if self.alive(i) && !self.terminate(i) {
                stuck.push(format!("{}#{i}", self.procs[i].role));
            }
        }
        stuck
    }
}

/// SIGKILL to the child's whole process group (scripts/dapr-run, daprd and the app).
fn kill_group(child: &mut Child) {
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            kill_group(&mut p.child);
        }
        if std::thread::panicking() {
            // Keep the logs of a failed scenario for whoever reads the test output.
            let kept = self.dir.path().to_path_buf();
            eprintln!(
                "scenario {} failed; logs kept in {}",
                self.name,
                kept.display()
            );
            std::mem::forget(std::mem::replace(
                &mut self.dir,
                tempfile::tempdir().expect("temp dir"),
            ));
        }
    }
}
