//! PostgreSQL adapters for the persistence ports: tasks, labels, users, the outbox, key/value state
//! and the job scheduler, in one database so that a task write and its events commit together.
//! The production store; semantics are the SQLite adapter's (the reference) and the contract
//! suites' in `tests/contract/`.
//!
//! Connect a [`PgStore`] once per process and take the port adapters from it; they share one
//! connection pool, the id reservations, and the wake-ups that make delivery immediate instead of
//! polled: a committed write wakes this process's outbox relay or job runner at once, and other
//! processes' through LISTEN/NOTIFY (see `notify.rs`).
//!
//! Storage conventions (see `migrations/postgres/0001_initial.sql`): instants are timestamptz,
//! truncated to the microsecond in Rust before binding, so a write can return what it wrote —
//! equal to what a later read returns — without reading it back.
//!
//! Concurrency: READ COMMITTED. Writers of one task serialise on its row lock (see
//! `task_write.rs`), which also keeps one task's outbox records in commit order; outbox claims
//! serialise on an advisory lock (see `outbox.rs`); jobs are claimed with `FOR UPDATE SKIP LOCKED`.

mod dead_letters;
mod error;
mod ids;
mod labels;
mod notify;
mod outbox;
mod reminders;
mod rows;
mod scheduler;
mod search;
mod state;
mod task_list;
mod task_write;
mod tasks;
mod users;

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::sync::watch;

pub use crate::adapters::jobs_runner::SchedulerConfig;
pub use dead_letters::PgDeadLetters;
pub use labels::PgLabelRepository;
pub use outbox::PgOutbox;
pub use scheduler::PgScheduler;
pub use state::PgStateStore;
pub use tasks::PgTaskRepository;
pub use users::PgUserRepository;

use crate::config::PostgresConfig;
use crate::ports::{HealthCheck, InfraError};
use ids::IdReservoir;
use notify::{Channels, Wakeups};

static MIGRATOR: Migrator = sqlx::migrate!("migrations/postgres");

/// How long the readiness check waits for an answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(3);

/// Pool settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// Connections in the pool (the LISTEN connection, when needed, is one more).
    pub max_connections: u32,
    /// How long a request waits for a free connection before failing (transiently).
    pub acquire_timeout: Duration,
    /// The schema holding Tickler's tables, put alone on every connection's `search_path`;
    /// `None` keeps the server's default (usually `public`). Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Shown in `pg_stat_activity`.
    pub application_name: String,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self::from(&PostgresConfig::default())
    }
}

impl From<&PostgresConfig> for PgOptions {
    fn from(c: &PostgresConfig) -> Self {
        Self {
            max_connections: c.max_connections.max(1),
            acquire_timeout: Duration::from_secs(c.acquire_timeout_secs),
            schema: None,
            application_name: "tickler".into(),
        }
    }
}

/// What every adapter of one store shares.
pub(crate) struct Inner {
    pub pool: PgPool,
    /// One connection for LISTEN, apart from the pool so it never takes a request's place.
    listen_pool: PgPool,
    listening: AtomicBool,
    pub wakeups: Arc<Wakeups>,
    pub task_ids: IdReservoir,
    pub reminder_ids: IdReservoir,
    /// Set by [`PgStore::close`]; stops background tasks and scheduler runners.
    pub closing: watch::Sender<bool>,
}

impl Inner {
    /// Starts the LISTEN task the first time something waits for a wake-up. Processes that never
    /// wait (an e-mail role, say) never hold the extra connection.
    pub(crate) fn ensure_listening(&self) {
        if !self.listening.swap(true, Ordering::AcqRel) {
            tokio::spawn(notify::run_listener(
                self.listen_pool.clone(),
                self.wakeups.clone(),
                self.closing.subscribe(),
            ));
        }
    }
}

/// One PostgreSQL database (schema) and the wake-ups shared by the adapters built from it. Cheap
/// to clone; every clone refers to the same pool.
#[derive(Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
    /// Optional shutdown signal from the application (see [`PgStore::with_shutdown`]).
    shutdown: Option<watch::Receiver<bool>>,
    scheduler_config: SchedulerConfig,
}

impl PgStore {
    /// Connects a pool to `url` (`postgres://user:password@host:port/database`; the usual query
    /// parameters such as `sslmode` apply). Does not migrate: call [`PgStore::migrate`].
    /// Fails, transiently, when the server cannot be reached.
    pub async fn connect(url: &str, options: PgOptions) -> Result<Self, InfraError> {
        let mut connect = PgConnectOptions::from_str(url)
            .map_err(|e| InfraError::permanent("bad PostgreSQL URL", e))?
            .application_name(&options.application_name);
        if let Some(schema) = &options.schema {
            if !valid_schema(schema) {
                return Err(InfraError::msg(format!(
                    "bad PostgreSQL schema name {schema:?}: use letters, digits and _"
                )));
            }
            connect = connect.options([("search_path", schema.as_str())]);
        }
        // Never the URL: it may hold a password.
        let target = format!(
            "{}:{}/{}",
            connect.get_host(),
            connect.get_port(),
            connect.get_database().unwrap_or("")
        );
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| error::infra(format!("cannot connect to PostgreSQL at {target}"), e))?;
        let schema: String = sqlx::query_scalar("SELECT COALESCE(current_schema(), '')")
            .fetch_one(&pool)
            .await
            .map_err(|e| error::infra("cannot read the current schema", e))?;
        let listen_pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_lazy_with(connect);
        let wakeups = Arc::new(Wakeups::new(Channels::for_schema(&schema)));
        let inner = Arc::new(Inner {
            pool: pool.clone(),
            listen_pool,
            listening: AtomicBool::new(false),
            wakeups: wakeups.clone(),
            task_ids: IdReservoir::new("tasks_id_seq"),
            reminder_ids: IdReservoir::new("reminders_id_seq"),
            closing: watch::Sender::new(false),
        });
        tokio::spawn(notify::run_notifier(
            pool,
            wakeups,
            inner.closing.subscribe(),
        ));
        Ok(Self {
            inner,
            shutdown: None,
            scheduler_config: SchedulerConfig::default(),
        })
    }

    /// Applies pending migrations (`migrations/postgres`), in the schema first on the
    /// search_path. Safe to run from several processes at once: sqlx holds an advisory lock
    /// while it migrates.
    pub async fn migrate(&self) -> Result<(), InfraError> {
        MIGRATOR
            .run(&self.inner.pool)
            .await
            .map_err(|e| InfraError::permanent("cannot migrate the PostgreSQL database", e))
    }

    /// Stops scheduler runners started from this store once `shutdown` becomes `true` (or its
    /// sender is dropped), after their in-flight handlers finish. Without it a runner stops when
    /// the Tokio runtime shuts down or when [`PgStore::close`] is called.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Overrides the scheduler's lease, polling and concurrency settings.
    pub fn with_scheduler_config(mut self, config: SchedulerConfig) -> Self {
        self.scheduler_config = config;
        self
    }

    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    pub fn tasks(&self) -> PgTaskRepository {
        PgTaskRepository::new(self.inner.clone())
    }

    pub fn labels(&self) -> PgLabelRepository {
        PgLabelRepository::new(self.inner.pool.clone())
    }

    pub fn users(&self) -> PgUserRepository {
        PgUserRepository::new(self.inner.pool.clone())
    }

    pub fn outbox(&self) -> PgOutbox {
        PgOutbox::new(self.inner.clone())
    }

    pub fn dead_letters(&self) -> PgDeadLetters {
        PgDeadLetters::new(self.inner.pool.clone())
    }

    pub fn state(&self) -> PgStateStore {
        PgStateStore::new(self.inner.pool.clone())
    }

    pub fn scheduler(&self) -> PgScheduler {
        PgScheduler::new(
            self.inner.clone(),
            self.shutdown.clone(),
            self.scheduler_config.clone(),
        )
    }

    /// Stops this store's scheduler runners and background tasks and closes the pools, waiting
    /// for connections in use. Adapters taken from this store fail with an error afterwards.
    pub async fn close(&self) {
        self.inner.closing.send_replace(true);
        self.inner.listen_pool.close().await;
        self.inner.pool.close().await;
    }
}

fn valid_schema(s: &str) -> bool {
    !s.is_empty()
        && s.len() < 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

/// Ready when a connection can be had and answers within a few seconds: catches a server that is
/// down or restarting, a closed pool, and a pool exhausted past its acquire timeout. The pool
/// tests connections before handing them out, so it recovers by itself once the server is back.
#[async_trait::async_trait]
impl HealthCheck for PgStore {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), InfraError> {
        let ping = sqlx::query("SELECT 1").execute(&self.inner.pool);
        match tokio::time::timeout(HEALTH_TIMEOUT, ping).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(error::infra("PostgreSQL does not answer", e)),
            Err(_) => Err(InfraError {
                context: format!("PostgreSQL did not answer within {HEALTH_TIMEOUT:?}"),
                transient: true,
                source: None,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(valid_schema("t_123_abc"));
        assert!(valid_schema("public"));
        for bad in ["", "1x", "a b", "a-b", "A", "x;drop", &"a".repeat(64)] {
            assert!(!valid_schema(bad), "{bad:?}");
        }
    }

    #[test]
    fn options_follow_the_config() {
        let o = PgOptions::from(&PostgresConfig {
            max_connections: 0,
            migrate_on_start: false,
            acquire_timeout_secs: 3,
        });
        assert_eq!(o.max_connections, 1);
        assert_eq!(o.acquire_timeout, Duration::from_secs(3));
        assert_eq!(o.schema, None);
    }
}
