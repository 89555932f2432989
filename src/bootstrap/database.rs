//! The database a process uses: the embedded SQLite file or PostgreSQL (production mode). Both
//! provide the same ports; this is the only place that knows which one is in use.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::adapters::postgres::{PgOptions, PgStore};
use crate::adapters::sqlite::SqliteStore;
use crate::config::Config;
use crate::ports::{
    DeadLetters, HealthCheck, LabelRepository, Outbox, Scheduler, StateStore, TaskRepository,
    UserRepository,
};

#[derive(Clone)]
pub enum Database {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Database {
    /// Opens the configured database, applying migrations where that is the configured
    /// behaviour (always for the embedded SQLite file, `postgres.migrate_on_start` otherwise).
    /// `shutdown` stops the scheduler runners started from it.
    pub async fn open(config: &Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Self> {
        let db = Self::connect(config).await?;
        if let Self::Postgres(pg) = &db
            && config.postgres.migrate_on_start
        {
            pg.migrate()
                .await
                .context("migrating the PostgreSQL database")?;
        }
        Ok(match db {
            Self::Sqlite(s) => Self::Sqlite(s.with_shutdown(shutdown)),
            Self::Postgres(p) => Self::Postgres(p.with_shutdown(shutdown)),
        })
    }

    /// Connects without migrating PostgreSQL (SQLite always migrates on open).
    async fn connect(config: &Config) -> anyhow::Result<Self> {
        let url = config.database_url();
        if config.uses_postgres() {
            let mut options = PgOptions::from(&config.postgres);
            options.application_name = "tickler".into();
            // The URL may hold a password: name only the host in the error.
            let store = PgStore::connect(&url, options)
                .await
                .context("connecting to PostgreSQL (database_url)")?;
            return Ok(Self::Postgres(store));
        }
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = SqliteStore::open(&url)
            .await
            .with_context(|| format!("opening database {url}"))?;
        Ok(Self::Sqlite(store))
    }

    /// `tickler migrate`: applies pending migrations and returns.
    pub async fn migrate(config: &Config) -> anyhow::Result<()> {
        let db = Self::connect(config).await?;
        if let Self::Postgres(pg) = &db {
            pg.migrate()
                .await
                .context("migrating the PostgreSQL database")?;
        }
        db.close().await;
        Ok(())
    }

    pub fn tasks(&self) -> Arc<dyn TaskRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.tasks()),
            Self::Postgres(p) => Arc::new(p.tasks()),
        }
    }

    pub fn labels(&self) -> Arc<dyn LabelRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.labels()),
            Self::Postgres(p) => Arc::new(p.labels()),
        }
    }

    pub fn users(&self) -> Arc<dyn UserRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.users()),
            Self::Postgres(p) => Arc::new(p.users()),
        }
    }

    pub fn outbox(&self) -> Arc<dyn Outbox> {
        match self {
            Self::Sqlite(s) => Arc::new(s.outbox()),
            Self::Postgres(p) => Arc::new(p.outbox()),
        }
    }

    /// The database-backed state store (Kafka-direct and embedded modes).
    pub fn state(&self) -> Arc<dyn StateStore> {
        match self {
            Self::Sqlite(s) => Arc::new(s.state()),
            Self::Postgres(p) => Arc::new(p.state()),
        }
    }

    /// The database-backed job scheduler (Kafka-direct and embedded modes).
    pub fn scheduler(&self) -> Arc<dyn Scheduler> {
        match self {
            Self::Sqlite(s) => Arc::new(s.scheduler()),
            Self::Postgres(p) => Arc::new(p.scheduler()),
        }
    }

    pub fn dead_letters(&self) -> Arc<dyn DeadLetters> {
        match self {
            Self::Sqlite(s) => Arc::new(s.dead_letters()),
            Self::Postgres(p) => Arc::new(p.dead_letters()),
        }
    }

    pub fn health(&self) -> Arc<dyn HealthCheck> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
            Self::Postgres(p) => Arc::new(p.clone()),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
            Self::Postgres(p) => p.close().await,
        }
    }
}
