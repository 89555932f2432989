use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use tickler::bootstrap::{self, Role, Running};
use tickler::config::{Config, Secret};

pub const SECRET: &str = "flow-test-secret-0123456789";

pub struct App {
    pub running: Option<Running>,
    pub base: String,
    pub dir: PathBuf,
    pub client: reqwest::Client,
    pub token: String,
}

pub fn config(dir: &Path) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        auth: tickler::config::AuthConfig {
            secret: Some(Secret::new(SECRET)),
        },
        ..Config::default()
    }
}

impl App {
    pub async fn start(dir: &Path) -> App {
        let running = bootstrap::start(&config(dir), Role::All)
            .await
            .expect("app starts");
        let base = format!("http://{}", running.address);
        let token = tickler::auth::Auth::new(SECRET.as_bytes()).mint(
            "alice",
            Some("alice@example.com"),
            Some("Alice"),
            3600,
        );
        App {
            running: Some(running),
            base,
            dir: dir.to_path_buf(),
            client: reqwest::Client::new(),
            token,
        }
    }

    pub async fn stop(&mut self) {
        if let Some(r) = self.running.take() {
            r.stop().await;
        }
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub fn mail_dir(&self) -> PathBuf {
        self.dir.join("mail")
    }

    /// The `.eml` files written so far, with their contents.
    pub fn mails(&self) -> Vec<(PathBuf, String)> {
        let Ok(entries) = std::fs::read_dir(self.mail_dir()) else {
            return Vec::new();
        };
        let mut out: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "eml"))
            .map(|p| {
                let body = std::fs::read_to_string(&p).unwrap_or_default();
                (p, body)
            })
            .collect();
        out.sort();
        out
    }

    pub async fn wait_for_mails(&self, n: usize, within: Duration) -> Vec<(PathBuf, String)> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let m = self.mails();
            if m.len() >= n || tokio::time::Instant::now() > deadline {
                return m;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Re-queues outbox events of `event_type` as if the transport had delivered them again.
    pub async fn redeliver(&self, event_type: &str) -> u64 {
        let url = format!("sqlite://{}", self.dir.join("tickler.db").display());
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let r = sqlx::query("UPDATE outbox SET published_at = NULL, lease_until = NULL, next_attempt_at = 0 WHERE json_extract(CAST(payload AS TEXT), '$.type') = ?")
            .bind(event_type)
            .execute(&pool)
            .await
            .unwrap();
        r.rows_affected()
    }
}

pub fn iso(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}
