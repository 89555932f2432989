//! Spawning the app under test and talking to it over real HTTP.
//!
//! [`build_app`] is the ONE place the app is assembled: the HTTP router over the in-memory adapters
//! by default, over the SQLite adapters (a fresh database file per test) when
//! `TICKLER_TEST_BACKEND=sqlite`, or over the PostgreSQL adapters (a fresh schema per test, see
//! `tests/pg_support`) when `TICKLER_TEST_BACKEND=postgres` — the test script runs the suite every
//! way, so the REST contract holds on every backend. Nothing else in the suite depends on how the app is built.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use axum::Router;
use chrono::{DateTime, Utc};
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use tickler::adapters::http::{DEFAULT_BODY_LIMIT, HttpState, router};

#[path = "../pg_support/mod.rs"]
mod pg_support;
use tickler::adapters::memory::{MemoryStateStore, MemoryStore, SystemClock};
use tickler::app::Services;
use tickler::auth::{Auth, Claims};
use tickler::domain::change::TaskMutation;
use tickler::domain::event::{CloudEvent, OutgoingEvent, Topic};
use tickler::domain::query::{Page, Ranked, TaskQuery};
use tickler::domain::reminder::{Reminder, ReminderStatus};
use tickler::domain::task::Task;
use tickler::domain::{ReminderId, TaskId, UserId};
use tickler::ports::repository::Mutator;
use tickler::ports::{
    Clock, HealthCheck, InfraError, Outbox, RepoError, StateStore, TaskRepository, WriteContext,
};

pub const SECRET: &[u8] = b"api-suite-secret-0123456789abcdef";

/// Handles on the app's ports that the tests inspect, whatever built it.
pub struct Backend {
    /// Where idempotency records live.
    pub state: Arc<dyn StateStore>,
    events: Box<dyn Fn() -> futures::future::BoxFuture<'static, Vec<CloudEvent>> + Send + Sync>,
    /// Keeps the SQLite backend's temporary directory (the PostgreSQL backend's schema) alive as
    /// long as the app.
    _guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

/// What a test may vary about the app.
pub struct Options {
    pub body_limit: usize,
    pub health: Vec<Arc<dyn HealthCheck>>,
    /// Fault injection (any backend, wrapping its task repository): the next this many task creations fail with an
    /// infrastructure error, transient or not.
    pub failing_creates: usize,
    pub transient_failures: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            body_limit: DEFAULT_BODY_LIMIT,
            health: vec![Arc::new(StaticCheck {
                name: "store",
                ok: true,
            })],
            failing_creates: 0,
            transient_failures: false,
        }
    }
}

/// The repositories, state store and outbox of one backend, and how to read its recorded events.
struct Ports {
    tasks: Arc<dyn TaskRepository>,
    labels: Arc<dyn tickler::ports::LabelRepository>,
    users: Arc<dyn tickler::ports::UserRepository>,
    state: Arc<dyn StateStore>,
    outbox: Arc<dyn Outbox>,
    events: Box<dyn Fn() -> futures::future::BoxFuture<'static, Vec<CloudEvent>> + Send + Sync>,
    guard: Option<Box<dyn std::any::Any + Send + Sync>>,
}

fn task_events(payloads: Vec<Vec<u8>>) -> Vec<CloudEvent> {
    payloads
        .iter()
        .map(|p| CloudEvent::from_slice(p).expect("outbox holds CloudEvents"))
        .collect()
}

fn memory_ports(clock: Arc<dyn Clock>) -> Ports {
    let store = MemoryStore::new();
    let events_store = store.clone();
    Ports {
        tasks: Arc::new(store.clone()),
        labels: Arc::new(store.clone()),
        users: Arc::new(store.clone()),
        state: Arc::new(MemoryStateStore::new(clock)),
        outbox: Arc::new(store),
        events: Box::new(move || {
            let payloads = events_store
                .unpublished()
                .into_iter()
                .filter(|r| r.topic == Topic::TaskEvents)
                .map(|r| r.payload)
                .collect();
            Box::pin(async move { task_events(payloads) })
        }),
        guard: None,
    }
}

async fn sqlite_ports() -> Ports {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = tickler::adapters::sqlite::SqliteStore::open(
        &dir.path().join("api.db").display().to_string(),
    )
    .await
    .expect("open SQLite");
    let pool = store.pool().clone();
    Ports {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        state: Arc::new(store.state()),
        outbox: Arc::new(store.outbox()),
        events: Box::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT payload FROM outbox WHERE topic = 'task-events' ORDER BY seq",
                )
                .fetch_all(&pool)
                .await
                .expect("read outbox");
                task_events(rows.into_iter().map(|r| r.0).collect())
            })
        }),
        guard: Some(Box::new(dir)),
    }
}

/// A fresh schema of the test database on the dev stack's PostgreSQL (see `tests/pg_support`),
/// dropped when the test ends.
async fn postgres_ports() -> Ports {
    let (store, schema) = pg_support::fresh_store().await;
    let pool = store.pool().clone();
    Ports {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        state: Arc::new(store.state()),
        outbox: Arc::new(store.outbox()),
        events: Box::new(move || {
            let pool = pool.clone();
            Box::pin(async move {
                let rows: Vec<(Vec<u8>,)> = sqlx::query_as(
                    "SELECT payload FROM outbox WHERE topic = 'task-events' ORDER BY seq",
                )
                .fetch_all(&pool)
                .await
                .expect("read outbox");
                task_events(rows.into_iter().map(|r| r.0).collect())
            })
        }),
        guard: Some(Box::new((store, schema))),
    }
}

/// Builds the app under test (see the module docs).
async fn build_app(auth: Arc<Auth>, options: Options) -> (Router, Backend) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let ports = match std::env::var("TICKLER_TEST_BACKEND").as_deref() {
        Ok("sqlite") => sqlite_ports().await,
        Ok("postgres") => postgres_ports().await,
        Ok("memory") | Err(_) => memory_ports(clock.clone()),
        Ok(other) => panic!("unknown TICKLER_TEST_BACKEND {other}"),
    };
    let services = Services {
        tasks: Arc::new(FaultyTasks {
            inner: ports.tasks,
            failing_creates: AtomicUsize::new(options.failing_creates),
            transient: options.transient_failures,
        }),
        labels: ports.labels,
        users: ports.users,
        state: ports.state.clone(),
        clock,
    };
    // The web page's routes too (its event stream and sign-in), as the backend role serves them.
    let page = tickler::adapters::web::WebState::new(
        services.clone(),
        auth.clone(),
        SECRET,
        ports.outbox.clone(),
    );
    let app = router(HttpState {
        services,
        auth,
        health: options.health,
        outbox: Some(ports.outbox),
        body_limit: options.body_limit,
    })
    .merge(tickler::adapters::web::router(page));
    (
        app,
        Backend {
            state: ports.state,
            events: ports.events,
            _guard: ports.guard,
        },
    )
}

/// The memory task repository, with `create` failing on demand.
struct FaultyTasks {
    inner: Arc<dyn TaskRepository>,
    failing_creates: AtomicUsize,
    transient: bool,
}

#[async_trait]
impl TaskRepository for FaultyTasks {
    async fn create(&self, draft: Task, ctx: &WriteContext) -> Result<Task, RepoError> {
        let fail = self
            .failing_creates
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if fail {
            let cause = std::io::Error::other("disk full at /var/lib/secret-db");
            return Err(RepoError::Infra(if self.transient {
                InfraError::transient("insert task", cause)
            } else {
                InfraError::permanent("insert task", cause)
            }));
        }
        self.inner.create(draft, ctx).await
    }
    async fn get(&self, user: &UserId, id: TaskId) -> Result<Option<Task>, RepoError> {
        self.inner.get(user, id).await
    }
    async fn list(
        &self,
        user: &UserId,
        query: &TaskQuery,
        now: DateTime<Utc>,
    ) -> Result<Page<Ranked<Task>>, RepoError> {
        self.inner.list(user, query, now).await
    }
    async fn update(
        &self,
        user: &UserId,
        id: TaskId,
        mutate: Mutator,
        ctx: &WriteContext,
    ) -> Result<TaskMutation, RepoError> {
        self.inner.update(user, id, mutate, ctx).await
    }
    async fn delete(
        &self,
        user: &UserId,
        id: TaskId,
        ctx: &WriteContext,
    ) -> Result<Task, RepoError> {
        self.inner.delete(user, id, ctx).await
    }
    async fn find_recent_duplicate(
        &self,
        user: &UserId,
        title: &str,
        rule: Option<&str>,
        since: DateTime<Utc>,
    ) -> Result<Option<Task>, RepoError> {
        self.inner
            .find_recent_duplicate(user, title, rule, since)
            .await
    }
    async fn recent(
        &self,
        user: &UserId,
        pending_only: bool,
        limit: u32,
    ) -> Result<Vec<Task>, RepoError> {
        self.inner.recent(user, pending_only, limit).await
    }
    async fn reminders(&self, ids: &[ReminderId]) -> Result<Vec<(Reminder, Task)>, RepoError> {
        self.inner.reminders(ids).await
    }
    async fn fire_reminder(
        &self,
        id: ReminderId,
        expected_remind_at: DateTime<Utc>,
        fired_at: DateTime<Utc>,
        late: bool,
        event: OutgoingEvent,
    ) -> Result<bool, RepoError> {
        self.inner
            .fire_reminder(id, expected_remind_at, fired_at, late, event)
            .await
    }
    async fn finish_reminder(
        &self,
        id: ReminderId,
        status: ReminderStatus,
        ctx: &WriteContext,
    ) -> Result<(), RepoError> {
        self.inner.finish_reminder(id, status, ctx).await
    }
    async fn pending_reminders(
        &self,
        after: ReminderId,
        limit: u32,
    ) -> Result<Vec<Reminder>, RepoError> {
        self.inner.pending_reminders(after, limit).await
    }
}

/// A readiness check with a fixed answer.
pub struct StaticCheck {
    pub name: &'static str,
    pub ok: bool,
}

#[async_trait]
impl HealthCheck for StaticCheck {
    fn name(&self) -> &'static str {
        self.name
    }

    async fn check(&self) -> Result<(), InfraError> {
        if self.ok {
            Ok(())
        } else {
            Err(InfraError::msg("connection refused by secret-host:5432"))
        }
    }
}

pub struct TestApp {
    /// `http://127.0.0.1:<port>`
    pub address: String,
    pub client: reqwest::Client,
    pub auth: Arc<Auth>,
    pub backend: Backend,
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Options::default()).await
}

pub async fn spawn_app_with(options: Options) -> TestApp {
    let auth = Arc::new(Auth::new(SECRET));
    let (app, backend) = build_app(auth.clone(), options).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind port 0");
    let address = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("server runs");
    });
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        auth,
        backend,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// A valid token for `sub`, with an e-mail and a name claim.
    pub fn token(&self, sub: &str) -> String {
        self.auth
            .mint(sub, Some(&format!("{sub}@example.com")), Some(sub), 3600)
    }

    /// A token signed with the right secret that expired `ago_secs` seconds ago.
    pub fn expired_token(&self, sub: &str, ago_secs: u64) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let claims = Claims {
            sub: sub.into(),
            email: None,
            name: None,
            exp: now - ago_secs,
            iat: Some(now - ago_secs - 60),
        };
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(SECRET),
        )
        .unwrap()
    }

    pub fn user(&self, sub: &str) -> User<'_> {
        User {
            app: self,
            token: self.token(sub),
        }
    }

    /// `task-events` recorded so far, oldest first.
    pub async fn events(&self) -> Vec<CloudEvent> {
        (self.backend.events)().await
    }

    pub async fn events_of(&self, event_type: &str, task_id: i64) -> Vec<CloudEvent> {
        self.events()
            .await
            .into_iter()
            .filter(|e| e.event_type == event_type && e.subject == task_id.to_string())
            .collect()
    }

    pub async fn get_anon(&self, path: &str) -> Resp {
        call(self.client.get(self.url(path))).await
    }
}

/// A caller with a token.
pub struct User<'a> {
    pub app: &'a TestApp,
    pub token: String,
}

impl User<'_> {
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(&self.token)
    }

    pub async fn get(&self, path: &str) -> Resp {
        call(self.request(reqwest::Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        call(self.request(reqwest::Method::POST, path).json(&body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Resp {
        call(self.request(reqwest::Method::POST, path)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Resp {
        call(self.request(reqwest::Method::PATCH, path).json(&body)).await
    }

    pub async fn put(&self, path: &str) -> Resp {
        call(self.request(reqwest::Method::PUT, path)).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        call(self.request(reqwest::Method::DELETE, path)).await
    }

    /// Creates a task and returns its JSON (asserting 201).
    pub async fn create_task(&self, body: Value) -> Value {
        let r = self.post("/api/v1/tasks", body).await;
        assert_eq!(r.status, 201, "create task: {}", r.text);
        r.body
    }

    pub async fn task(&self, title: &str) -> Value {
        self.create_task(json!({ "title": title })).await
    }

    /// Creates a category (`kind` = "categories") or tag (`kind` = "tags").
    pub async fn create_label(&self, kind: &str, name: &str) -> Value {
        let r = self
            .post(&format!("/api/v1/{kind}"), json!({ "name": name }))
            .await;
        assert_eq!(r.status, 201, "create {kind}: {}", r.text);
        r.body
    }

    /// Every task visible to this user (one page of 100).
    pub async fn all_tasks(&self) -> Vec<Value> {
        let r = self.get("/api/v1/tasks?limit=100").await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.body["items"].as_array().unwrap().clone()
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem document with this status and code; returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "status of {}", self.text);
        assert_eq!(
            self.header(CONTENT_TYPE.as_str()),
            Some("application/problem+json"),
            "content type of {}",
            self.text
        );
        assert_eq!(self.body["code"], code, "code of {}", self.text);
        assert_eq!(self.body["status"], status, "{}", self.text);
        assert!(self.body["title"].is_string(), "{}", self.text);
        assert!(self.body["detail"].is_string(), "{}", self.text);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("urn:tickler:problem:")),
            "{}",
            self.text
        );
        &self.body
    }

    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        &self.body
    }
}

pub async fn call(rb: reqwest::RequestBuilder) -> Resp {
    let res = rb.send().await.expect("request sent");
    let status = res.status().as_u16();
    let headers = res.headers().clone();
    let text = res.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        status,
        headers,
        text,
        body,
    }
}

/// Ids of a list of task views.
pub fn ids(items: &[Value]) -> Vec<i64> {
    items.iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

/// Sends `body` with `Transfer-Encoding: chunked` (no declared length) over a raw connection;
/// returns the status and the response body.
pub async fn post_chunked(
    app: &TestApp,
    path: &str,
    token: &str,
    extra_headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let host = app.address.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n"
    );
    for (k, v) in extra_headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    for chunk in body.chunks(1024) {
        bytes.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        bytes.extend_from_slice(chunk);
        bytes.extend_from_slice(b"\r\n");
    }
    bytes.extend_from_slice(b"0\r\n\r\n");
    // The server may answer before reading everything; a failed write is not the test's concern.
    let _ = stream.write_all(&bytes).await;
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}
