//! Dapr adapters: every transport port through the process's own daprd sidecar, over its HTTP
//! API (a small `reqwest` client of our own; the `dapr` crate is gRPC-only and alpha).
//!
//! | port | Dapr building block | module |
//! |---|---|---|
//! | `EventPublisher` | pub/sub `POST /v1.0/publish/{pubsub}/{topic}` | `publisher` |
//! | `EventIntake` | programmatic subscriptions, deliveries to app routes | `intake` |
//! | `StateStore` | state API with ETags and TTLs | `state` |
//! | `Scheduler` | Jobs API, triggers at `POST /job/{name}` | `scheduler` |
//! | `SecretStore` | secrets API | `secrets` |
//! | `HealthCheck` ("transport") | `GET /v1.0/healthz/outbound` | `health` |
//!
//! # Use (composition root)
//!
//! ```ignore
//! let dapr = DaprSidecar::connect(&config.dapr, &config.topics)?; // no I/O yet
//! dapr.wait_outbound().await?;          // up to dapr.wait_secs; never /v1.0/healthz (deadlock)
//! if let Some(store) = dapr.secrets() { // when dapr.secretstore is set
//!     resolve_secrets(&mut config, store.as_ref()).await?; // auth.secret, smtp.password, database_url
//! }
//! // … open the database; take dapr.publisher(), dapr.intake(), dapr.state(), dapr.scheduler(),
//! // dapr.health(); let the roles subscribe and start their schedulers …
//! let app = dapr.app_router(dead_letters);  // AFTER every subscribe: daprd reads the list once
//! axum::serve(TcpListener::bind(dapr.app_listen()).await?, app)  // its own listener (APP_PORT)
//! ```
//!
//! The Dapr-facing routes (`app_router`) must not be merged into the public API's router: they
//! trust the sidecar (`dapr.app_token`), not users. daprd starts delivering events and jobs once
//! that listener answers.
//!
//! Behaviour of daprd 1.18.3 these adapters rely on (observed on this machine, see
//! `../shared/reference/dapr-verified.md` and the module docs): a raw-payload publish reaches
//! subscribers byte for byte, while events other publishers sent through daprd arrive
//! re-serialised with extra attributes (so deliveries are parsed, never compared); Redis
//! delivers with 10 concurrent workers unless told otherwise, and acknowledges failed deliveries (retries come only
//! from resiliency, and dead-letter topics keep what still fails); PostgreSQL v2 reports a
//! first-write conflict as a 500; the Scheduler keeps a job that was replaced while its old
//! firing ran, and fires jobs that fell due while no sidecar was connected.

mod app;
mod client;
mod health;
mod intake;
mod publisher;
mod scheduler;
mod secrets;
mod state;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use health::SidecarHealth;
pub use intake::{DEAD_LETTER_SUFFIX, DaprIntake};
pub use publisher::DaprPublisher;
pub use scheduler::DaprScheduler;
pub use secrets::{DaprSecretStore, resolve_secrets};
pub use state::DaprStateStore;

use crate::config::{DaprConfig, Secret, TopicNames};
use crate::ports::{
    DeadLetters, EventIntake, EventPublisher, HealthCheck, InfraError, Scheduler, SecretStore,
    StateStore,
};

/// One process's sidecar and the adapters that talk to it. Cheap to clone.
#[derive(Clone)]
pub struct DaprSidecar {
    publisher: DaprPublisher,
    intake: DaprIntake,
    state: DaprStateStore,
    scheduler: DaprScheduler,
    secrets: Option<DaprSecretStore>,
    health: SidecarHealth,
    app_token: Option<Secret>,
    app_listen: SocketAddr,
    wait: Duration,
}

impl DaprSidecar {
    /// Builds the adapters for the sidecar at `config.http_endpoint`. Does no I/O: call
    /// [`DaprSidecar::wait_outbound`] before using them.
    pub fn connect(config: &DaprConfig, topics: &TopicNames) -> Result<Self, InfraError> {
        let sidecar = client::Sidecar::new(config)?;
        Ok(Self {
            publisher: DaprPublisher::new(
                sidecar.clone(),
                config.pubsub.clone(),
                topics.clone(),
                config.publish_concurrency,
            ),
            intake: DaprIntake::new(config.pubsub.clone(), topics.clone()),
            state: DaprStateStore::new(sidecar.clone(), config.statestore.clone()),
            scheduler: DaprScheduler::new(
                sidecar.clone(),
                Duration::from_millis(config.job_retry_interval_ms),
            ),
            secrets: config
                .secretstore
                .clone()
                .map(|store| DaprSecretStore::new(sidecar.clone(), store)),
            health: SidecarHealth::new(sidecar),
            app_token: config.app_token.clone(),
            app_listen: config.app_listen,
            wait: Duration::from_secs(config.wait_secs),
        })
    }

    /// Waits (up to `dapr.wait_secs`) until the sidecar's components and APIs are ready.
    pub async fn wait_outbound(&self) -> Result<(), InfraError> {
        self.health.wait(self.wait).await
    }

    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        Arc::new(self.publisher.clone())
    }

    pub fn intake(&self) -> Arc<dyn EventIntake> {
        Arc::new(self.intake.clone())
    }

    pub fn state(&self) -> Arc<dyn StateStore> {
        Arc::new(self.state.clone())
    }

    pub fn scheduler(&self) -> Arc<dyn Scheduler> {
        Arc::new(self.scheduler.clone())
    }

    /// The configured secret store (`dapr.secretstore`); `None` when credentials come from the
    /// configuration itself.
    pub fn secrets(&self) -> Option<Arc<dyn SecretStore>> {
        self.secrets
            .clone()
            .map(|s| Arc::new(s) as Arc<dyn SecretStore>)
    }

    /// Fails while the sidecar is unreachable or not ready (`/readyz`).
    pub fn health(&self) -> Arc<dyn HealthCheck> {
        Arc::new(self.health.clone())
    }

    /// Where the Dapr-facing routes are to be served (`dapr.app_listen`, from `APP_PORT`).
    pub fn app_listen(&self) -> SocketAddr {
        self.app_listen
    }

    /// The routes daprd calls (subscriptions, event and dead-letter deliveries, job triggers),
    /// recording dead letters in `dead_letters`. Serve it on its own listener, after every
    /// `subscribe`.
    pub fn app_router(&self, dead_letters: Arc<dyn DeadLetters>) -> axum::Router {
        app::router(app::AppState {
            intake: self.intake.inner.clone(),
            jobs: self.scheduler.inner.clone(),
            dead_letters,
            token: self.app_token.clone(),
        })
    }
}
