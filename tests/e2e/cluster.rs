//! One scenario's Tickler deployment: each role a separate OS process of the real binary, on a
//! fresh database, fresh topics and consumer groups, and its own SMTP sink. Roles can be
//! SIGKILLed and restarted; everything still running is killed when the cluster is dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::stack::{SmtpSink, Stack, free_port, signal, wait_exit};

pub const SECRET: &str = "e2e-signing-secret-0123456789";

/// How the roles exchange events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Kafka,
}

pub struct Proc {
    pub role: &'static str,
    pub port: u16,
    pub log: PathBuf,
    child: Child,
}

pub struct Cluster {
    pub name: String,
    pub dir: tempfile::TempDir,
    pub db_url: String,
    pub smtp: SmtpSink,
    env: Vec<(String, String)>,
    /// Every process started, in order; killed ones stay with their exit status.
    pub procs: Vec<Proc>,
    http: reqwest::Client,
}

impl Cluster {
    /// Database, topics and consumer groups are named after `name` (unique per scenario run).
    pub async fn new(stack: &Stack, name: &str, mode: Mode) -> Cluster {
        let name = format!("{name}_{}", std::process::id());
        let dir = tempfile::Builder::new()
            .prefix(&format!("tickler-{name}-"))
            .tempdir()
            .expect("scenario dir");
        let db_url = stack.create_database(&name).await;
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
        ];
        match mode {
            Mode::Kafka => {
                env.push((
                    "TICKLER_KAFKA__BROKERS".into(),
                    stack.kafka_brokers().into(),
                ));
                for (key, group) in [
                    ("NOTIFICATION", "notification-service"),
                    ("EMAIL_DELIVERY", "email-delivery-service"),
                    ("RECURRING", "recurring-task-service"),
                ] {
                    env.push((
                        format!("TICKLER_KAFKA__GROUPS__{key}"),
                        format!("{name}.{group}"),
                    ));
                }
            }
        }
        Cluster {
            name,
            dir,
            db_url,
            smtp,
            env,
            procs: Vec::new(),
            http: reqwest::Client::new(),
        }
    }

    /// Starts one process of `role` and waits until its `/readyz` answers 200.
    pub async fn spawn(&mut self, role: &'static str) -> usize {
        let port = free_port();
        let index = self.procs.len();
        let log = self.dir.path().join(format!("{index:02}-{role}.log"));
        let data = self.dir.path().join(format!("data-{index:02}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_tickler"));
        // Nothing from the test's own environment leaks into the roles' configuration.
        for (k, _) in std::env::vars() {
            if k.starts_with("TICKLER_")
                || k.starts_with("DAPR_")
                || k.starts_with("APP_")
                || k == "USE_DAPR"
                || k == "BETTER_AUTH_SECRET"
            {
                cmd.env_remove(k);
            }
        }
        cmd.args(["--role", role])
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env("TICKLER_LISTEN", format!("127.0.0.1:{port}"))
            .env("TICKLER_DATA_DIR", &data)
            .env("RUST_LOG", "info,sqlx=warn,rdkafka=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"));
        let child = cmd.spawn().expect("spawn tickler");
        self.procs.push(Proc {
            role,
            port,
            log,
            child,
        });
        self.wait_ready(index, Duration::from_secs(60)).await;
        index
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

    /// SIGKILL: no chance to finish anything.
    pub fn kill(&mut self, index: usize) {
        let p = &mut self.procs[index];
        let _ = p.child.kill();
        let _ = p.child.wait();
    }

    /// SIGTERM and wait for a clean exit.
    pub fn terminate(&mut self, index: usize) -> bool {
        let p = &mut self.procs[index];
        signal(p.child.id(), "TERM");
        wait_exit(&mut p.child, Duration::from_secs(30))
    }

    /// Kills process `index` and starts a new one of the same role.
    pub async fn kill_and_restart(&mut self, index: usize) -> usize {
        self.kill(index);
        let role = self.procs[index].role;
        self.spawn(role).await
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

impl Drop for Cluster {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.child.kill();
            let _ = p.child.wait();
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
