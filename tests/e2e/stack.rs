//! The services under the end-to-end tests: a private dev stack (PostgreSQL, Kafka) of this test
//! binary, so that fault tests may stop and restart them without disturbing anything else, and
//! an SMTP sink per scenario.
//!
//! The stack lives in `TICKLER_E2E_STACK_DIR` (default `/tmp/tickler-e2e-stack`) and is started
//! on first use with `scripts/dev-stack up` (idempotent; `scripts/test.sh` also stops it at the
//! end). Its ports are read back from `scripts/dev-stack env`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub struct Stack {
    pub dir: PathBuf,
    env: HashMap<String, String>,
}

/// Serialises the scenarios: they share the stack, and a fault scenario stops its services.
pub static SCENARIO: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl Stack {
    /// The stack, started (once per test binary) if it is not running.
    pub fn get() -> &'static Stack {
        static STACK: OnceLock<Stack> = OnceLock::new();
        STACK.get_or_init(|| {
            let dir = std::env::var("TICKLER_E2E_STACK_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|_| PathBuf::from("/tmp/tickler-e2e-stack"));
            let stack = Stack {
                env: HashMap::new(),
                dir,
            };
            stack.dev_stack(&["up", "postgres", "kafka", "redis", "dapr"]);
            let out = stack.dev_stack(&["env"]);
            let env = out
                .lines()
                .filter_map(|l| l.strip_prefix("export "))
                .filter_map(|l| l.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Stack { env, ..stack }
        })
    }

    /// Runs `scripts/dev-stack ARGS` on this stack and returns its stdout; panics on failure.
    pub fn dev_stack(&self, args: &[&str]) -> String {
        let out = Command::new("bash")
            .arg(repo().join("scripts/dev-stack"))
            .args(args)
            .env("TICKLER_STACK_DIR", &self.dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("run scripts/dev-stack");
        assert!(
            out.status.success(),
            "scripts/dev-stack {args:?} failed (TICKLER_STACK_DIR={})",
            self.dir.display()
        );
        String::from_utf8(out.stdout).expect("utf-8")
    }

    pub fn var(&self, key: &str) -> &str {
        self.env
            .get(key)
            .unwrap_or_else(|| panic!("scripts/dev-stack env printed no {key}"))
    }

    /// Superuser URL of the stack's PostgreSQL, for creating scenario databases.
    pub fn pg_admin_url(&self) -> &str {
        self.var("TICKLER_STACK_PG_ADMIN_URL")
    }

    pub fn kafka_brokers(&self) -> &str {
        self.var("TICKLER_KAFKA__BROKERS")
    }

    /// A fresh database for one scenario; returns its URL.
    pub async fn create_database(&self, name: &str) -> String {
        use sqlx::Connection;
        let mut conn = sqlx::PgConnection::connect(self.pg_admin_url())
            .await
            .expect("connect to the e2e stack's PostgreSQL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut conn)
            .await
            .expect("drop old scenario database");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .expect("create scenario database");
        let base = self
            .pg_admin_url()
            .rsplit_once('/')
            .expect("a URL with a database")
            .0;
        format!("{base}/{name}")
    }
}

/// An SMTP server that stores every message it accepts as a file (scripts/smtp-server.sh).
pub struct SmtpSink {
    pub port: u16,
    pub dir: PathBuf,
    child_pid: u32,
}

/// A received message: the headers the checks need, and when the sink stored it (just before
/// it answered 250, i.e. accepted it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub message_id: String,
    pub subject: String,
    pub received: std::time::SystemTime,
}

impl SmtpSink {
    pub fn start(dir: &Path) -> SmtpSink {
        let port = free_port();
        let out = Command::new("bash")
            .arg(repo().join("scripts/smtp-server.sh"))
            .args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .stderr(Stdio::inherit())
            .output()
            .expect("start the SMTP sink");
        assert!(out.status.success(), "scripts/smtp-server.sh failed");
        let child_pid = String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("smtp-server.sh prints the PID");
        SmtpSink {
            port,
            dir: dir.to_path_buf(),
            child_pid,
        }
    }

    /// Every message stored so far.
    pub fn mails(&self) -> Vec<Mail> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut names: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .collect();
        names.sort();
        names
            .iter()
            .filter_map(|p| {
                let raw = std::fs::read(p).ok()?;
                let received = std::fs::metadata(p).ok()?.modified().ok()?;
                Some(parse_mail(&String::from_utf8_lossy(&raw), received))
            })
            .collect()
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        signal(self.child_pid, "TERM");
    }
}

/// The unfolded value of each header we check.
fn parse_mail(raw: &str, received: std::time::SystemTime) -> Mail {
    let head = raw.split("\r\n\r\n").next().unwrap_or(raw);
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.split("\r\n") {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((k, v)) = line.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let get = |k: &str| {
        headers
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    Mail {
        to: get("to"),
        message_id: get("message-id"),
        subject: get("subject"),
        received,
    }
}

/// A free loopback port never handed out before in this test process: the kernel may return a
/// port it just gave (and we closed) again, and two roles on one port fail confusingly.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind a free port")
            .local_addr()
            .expect("local addr")
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

pub fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .stderr(Stdio::null())
        .status();
}

/// Waits for a child to exit, up to `within`; true if it did.
pub fn wait_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Ok(Some(_)) = child.try_wait() {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
