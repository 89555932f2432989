//! The database a process uses: the embedded SQLite file or PostgreSQL (production mode). Both
//! provide the same ports; this is the only place that knows which one is in use.

use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;

use crate::adapters::sqlite::SqliteStore;
use crate::config::Config;
use crate::ports::{
    HealthCheck, LabelRepository, Outbox, Scheduler, StateStore, TaskRepository, UserRepository,
};

#[derive(Clone)]
pub enum Database {
    Sqlite(SqliteStore),
}

impl Database {
    /// Opens the configured database, applying migrations where that is the configured
    /// behaviour (always for the embedded SQLite file, `postgres.migrate_on_start` otherwise).
    /// `shutdown` stops the scheduler runners started from it.
    pub async fn open(config: &Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<Self> {
        let url = config.database_url();
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
        let store = SqliteStore::open(&url)
            .await
            .with_context(|| format!("opening database {url}"))?;
        Ok(Self::Sqlite(store.with_shutdown(shutdown)))
    }

    /// `tickler migrate`: applies pending migrations and returns.
    pub async fn migrate(config: &Config) -> anyhow::Result<()> {
        // SQLite migrates on open.
        let (_tx, rx) = watch::channel(false);
        let db = Self::open(config, rx).await?;
        db.close().await;
        Ok(())
    }

    pub fn tasks(&self) -> Arc<dyn TaskRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.tasks()),
        }
    }

    pub fn labels(&self) -> Arc<dyn LabelRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.labels()),
        }
    }

    pub fn users(&self) -> Arc<dyn UserRepository> {
        match self {
            Self::Sqlite(s) => Arc::new(s.users()),
        }
    }

    pub fn outbox(&self) -> Arc<dyn Outbox> {
        match self {
            Self::Sqlite(s) => Arc::new(s.outbox()),
        }
    }

    /// The database-backed state store (Kafka-direct and embedded modes).
    pub fn state(&self) -> Arc<dyn StateStore> {
        match self {
            Self::Sqlite(s) => Arc::new(s.state()),
        }
    }

    /// The database-backed job scheduler (Kafka-direct and embedded modes).
    pub fn scheduler(&self) -> Arc<dyn Scheduler> {
        match self {
            Self::Sqlite(s) => Arc::new(s.scheduler()),
        }
    }

    pub fn health(&self) -> Arc<dyn HealthCheck> {
        match self {
            Self::Sqlite(s) => Arc::new(s.clone()),
        }
    }

    pub async fn close(&self) {
        match self {
            Self::Sqlite(s) => s.close().await,
        }
    }
}
