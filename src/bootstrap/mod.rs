//! The composition root: the only place that knows which adapters exist. It reads the
//! configuration, builds adapters, wires the roles to their ports and runs them until shutdown.
//!
//! Which adapters a process gets:
//!
//! | | embedded (`--role all`) | Kafka-direct | Dapr (`USE_DAPR=true`) |
//! |---|---|---|---|
//! | tasks, labels, users, outbox | SQLite | PostgreSQL | PostgreSQL |
//! | events | in-process bus | Kafka | daprd pub/sub |
//! | state, jobs | SQLite | PostgreSQL | daprd state and Jobs APIs |
//!
//! Shutdown (SIGTERM) runs in dependency order: the HTTP listener drains; consumers finish the
//! message in hand and commit it; the job runner stops; the relay makes a last pass over the
//! outbox (so what the finished work recorded is published); the producer flushes; the database
//! closes.

mod database;
mod operator;
mod secrets;
mod transport;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use database::Database;
pub use operator::{DeadLetterCommand, dead_letters};
pub use secrets::signing_secret;
pub use transport::Bus;

use crate::adapters::http::{self, HttpState};
use crate::adapters::memory::SystemClock;
use crate::adapters::{mcp, web};
use crate::app::Services;
use crate::app::email_delivery::EmailDelivery;
use crate::app::notification::Notification;
use crate::app::observed::Observed;
use crate::app::recurring::Recurring;
use crate::app::relay::Relay;
use crate::auth::Auth;
use crate::config::{Config, Transport};
use crate::domain::event::Topic;
use crate::ports::{Clock, HealthCheck, Mailer, Outbox};

/// Which service this process runs (`--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// REST API, MCP server and outbox relay.
    Backend,
    /// Schedules reminder jobs and publishes `reminder.due`.
    Notification,
    /// Sends reminder e-mails.
    EmailDelivery,
    /// Creates the next occurrence of completed recurring tasks.
    Recurring,
    /// Every role in one process (the embedded default).
    All,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Backend => "backend",
            Self::Notification => "notification",
            Self::EmailDelivery => "email-delivery",
            Self::Recurring => "recurring",
            Self::All => "all",
        })
    }
}

impl Role {
    fn runs(self, other: Role) -> bool {
        self == Role::All || self == other
    }
}

/// A started process: its HTTP address and the handles needed to stop it cleanly.
pub struct Running {
    pub address: SocketAddr,
    shutdown: watch::Sender<bool>,
    /// Stopped only after the HTTP server has drained, so the relay's last pass sees every event
    /// written by in-flight requests.
    stop_background: watch::Sender<bool>,
    server: JoinHandle<std::io::Result<()>>,
    /// The Dapr-facing listener (Dapr mode): drained with the public one, so a delivery or job
    /// trigger in progress finishes; later ones find it closed and daprd retries them.
    dapr_server: Option<JoinHandle<std::io::Result<()>>>,
    background: Vec<JoinHandle<()>>,
    relay: JoinHandle<()>,
    bus: Bus,
    database: Database,
    grace: Duration,
}

impl Running {
    /// Stops accepting requests, lets in-flight work finish, makes the relay's last pass, and
    /// returns once everything has stopped or the grace period is over.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let all = async {
            let _ = self.server.await;
            if let Some(dapr) = self.dapr_server {
                let _ = dapr.await;
            }
            self.bus.stop_consuming().await;
            let _ = self.stop_background.send(true);
            for h in self.background {
                let _ = h.await;
            }
            // The relay saw the signal too; it returns after its last pass.
            let _ = self.relay.await;
            self.bus.close().await;
            self.database.close().await;
        };
        if tokio::time::timeout(self.grace, all).await.is_err() {
            tracing::warn!("shutdown grace period elapsed; exiting with work in flight");
        }
    }

    /// Runs until `signal` resolves, then stops cleanly.
    pub async fn run_until(self, signal: impl std::future::Future<Output = ()>) {
        signal.await;
        tracing::info!("shutdown requested; draining");
        self.stop().await;
    }
}

pub fn services(db: &Database, clock: Arc<dyn Clock>) -> Services {
    Services {
        tasks: db.tasks(),
        labels: db.labels(),
        users: db.users(),
        state: db.state(),
        clock,
    }
}

fn mailer(config: &Config) -> anyhow::Result<Arc<dyn Mailer>> {
    match &config.smtp {
        Some(s) => Ok(Arc::new(
            crate::adapters::mail::SmtpMailer::new(smtp_config(s)?).context("configuring SMTP")?,
        )),
        None => Ok(Arc::new(crate::adapters::mail::FileMailer::new(
            config.data_dir.join("mail"),
        ))),
    }
}

fn smtp_config(
    s: &crate::config::SmtpSettings,
) -> anyhow::Result<crate::adapters::mail::SmtpConfig> {
    use crate::adapters::mail::{SmtpConfig, TlsMode};
    let mut c = SmtpConfig::new(s.host.clone(), s.port, s.from_email.clone());
    c.tls = match s.tls.as_str() {
        "none" => TlsMode::None,
        "tls" => TlsMode::Implicit,
        _ => TlsMode::StartTls,
    };
    c.username = s.username.clone();
    c.password = s.password.as_ref().map(|p| p.expose().to_owned());
    c.from_name = s.from_name.clone();
    Ok(c)
}

/// Whether `role` can run with this configuration, without connecting to anything: what
/// `tickler check-config` reports and what start-up checks first.
pub fn check(config: &Config, role: Role) -> anyhow::Result<()> {
    match config.transport() {
        Transport::Embedded if role != Role::All => bail!(
            "--role {role} needs a broker shared with the other roles: set TICKLER_KAFKA__BROKERS (Kafka-direct) or USE_DAPR=true; only --role all runs on the embedded default"
        ),
        Transport::Embedded => {}
        Transport::Kafka if !config.uses_postgres() => bail!(
            "Kafka-direct mode keeps its data in PostgreSQL: set TICKLER_DATABASE_URL=postgres://… (the SQLite file belongs to one process)"
        ),
        Transport::Kafka => {}
        // With a Dapr secret store the database URL may arrive at start-up, from the sidecar
        // (start-up checks again once it has).
        Transport::Dapr if !config.uses_postgres() && config.dapr.secretstore.is_none() => bail!(
            "Dapr mode keeps tasks in PostgreSQL: set TICKLER_DATABASE_URL=postgres://… (or the secret named by dapr.secrets.database_url)"
        ),
        Transport::Dapr => {}
    }
    // With a Dapr secret store the credentials arrive at start-up, from the sidecar.
    if !(config.use_dapr && config.dapr.secretstore.is_some()) {
        signing_secret(config)?;
    }
    if role.runs(Role::EmailDelivery) {
        mailer(config)?;
    }
    Ok(())
}

/// Builds and starts every part `role` needs, and binds the HTTP listener.
pub async fn start(config: &Config, role: Role) -> anyhow::Result<Running> {
    // Dapr mode: the sidecar first, since it may hold the credentials the rest needs.
    let (config, sidecar) = match config.transport() {
        Transport::Dapr => {
            let (config, sidecar) = transport::sidecar(config).await?;
            (config, Some(sidecar))
        }
        _ => (config.clone(), None),
    };
    let config = &config;
    check(config, role)?;
    let secret = signing_secret(config)?;
    let auth = Arc::new(Auth::new(&secret));
    let (stop_background, background_rx) = watch::channel(false);
    // The scheduler stops with the other background work, after the HTTP server has drained.
    let database = Database::open(config, background_rx.clone()).await?;
    let bus = Bus::connect(config, sidecar.clone()).await?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut services = services(&database, clock.clone());
    if let Some(dapr) = &sidecar {
        services.state = dapr.state();
    }
    let outbox: Arc<dyn Outbox> = database.outbox();
    let intake = bus.intake();
    let groups = transport::groups(config);
    let mut background = Vec::new();

    if role.runs(Role::Notification) {
        let scheduler = match &sidecar {
            Some(dapr) => dapr.scheduler(),
            None => database.scheduler(),
        };
        let notification = Arc::new(Notification::new(
            services.tasks.clone(),
            services.users.clone(),
            scheduler.clone(),
            clock.clone(),
        ));
        intake
            .subscribe(
                Topic::TaskEvents,
                &groups.notification,
                Observed::new(notification.clone(), clock.clone()),
            )
            .await?;
        scheduler.start(notification.clone()).await?;
        let scheduled = notification
            .reconcile()
            .await
            .context("scheduling pending reminders")?;
        tracing::info!(scheduled, "pending reminders scheduled");
    }
    if role.runs(Role::EmailDelivery) {
        let delivery = Arc::new(EmailDelivery::new(
            services.state.clone(),
            mailer(config)?,
            services.tasks.clone(),
            clock.clone(),
        ));
        intake
            .subscribe(
                Topic::TaskReminders,
                &groups.email_delivery,
                Observed::new(delivery, clock.clone()),
            )
            .await?;
    }
    if role.runs(Role::Recurring) {
        let recurring = Arc::new(Recurring::new(
            services.tasks.clone(),
            services.users.clone(),
            clock.clone(),
        ));
        intake
            .subscribe(
                Topic::TaskRecurrence,
                &groups.recurring,
                Observed::new(recurring, clock.clone()),
            )
            .await?;
    }
    // Every role records events (task writes, reminder.due, delivery outcomes, next
    // occurrences), and each relays its own: subscribers are registered first, so nothing the
    // relay publishes finds nobody home.
    let relay = Relay::new(outbox.clone(), bus.publisher(), clock.clone());
    let relay = tokio::spawn(relay.run(background_rx.clone()));
    background.push(tokio::spawn(crate::app::relay::purge_published(
        outbox.clone(),
        clock.clone(),
        Duration::from_secs(config.outbox.retention_hours * 3600),
        background_rx.clone(),
    )));

    let health: Vec<Arc<dyn HealthCheck>> = vec![database.health(), bus.health()];
    let state = HttpState {
        services: services.clone(),
        auth: auth.clone(),
        health,
        outbox: Some(outbox.clone()),
        body_limit: config.http.body_limit,
    };
    // Created before the routers: the web page's event streams end when it turns true, so they
    // do not hold up the graceful shutdown.
    let (shutdown, mut rx) = watch::channel(false);
    // daprd's routes on a listener of their own, served only now that every subscription and
    // job handler is registered: daprd reads the subscription list once, when it connects.
    let dapr_server = match &sidecar {
        Some(dapr) => Some(
            serve_dapr_routes(
                dapr.app_router(database.dead_letters()),
                dapr.app_listen(),
                rx.clone(),
            )
            .await?,
        ),
        None => None,
    };
    // The REST API, the MCP tools (streamable HTTP at /mcp) and the web page (/) belong to the
    // backend role; the others serve their probes and metrics only.
    let app = if role.runs(Role::Backend) {
        let page = web::WebState::new(services.clone(), auth.clone(), &secret, outbox.clone())
            .with_shutdown(rx.clone());
        http::router(state)
            .merge(mcp::router(services.clone(), auth.clone()))
            .merge(web::router(page))
    } else {
        http::ops_router(state)
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%address, %role, "tickler started");
    if role == Role::All {
        println!("{}", web::startup_login_line(&secret, address));
    }
    Ok(Running {
        address,
        shutdown,
        stop_background,
        server,
        dapr_server,
        background,
        relay,
        bus,
        database,
        grace: Duration::from_secs(config.http.shutdown_grace_secs),
    })
}

async fn serve_dapr_routes(
    routes: axum::Router,
    address: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<std::io::Result<()>>> {
    let listener = tokio::net::TcpListener::bind(address)
        .await
        .with_context(|| format!("binding the Dapr-facing listener dapr.app_listen {address}"))?;
    tracing::info!(%address, "serving the Dapr-facing routes");
    Ok(tokio::spawn(async move {
        axum::serve(listener, routes)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await
    }))
}

/// `tickler migrate`: applies the database's pending migrations.
pub async fn migrate(config: &Config) -> anyhow::Result<()> {
    Database::migrate(config).await
}

/// `tickler mcp --stdio`: the MCP tools for one user over stdin/stdout. Writes land in the shared
/// database and its outbox; a running `--role all` (or backend) process relays their events.
pub async fn serve_mcp_stdio(config: &Config) -> anyhow::Result<()> {
    let token = std::env::var("TICKLER_TOKEN")
        .context("TICKLER_TOKEN must hold the user's access token")?;
    let auth = Auth::new(&signing_secret(config)?);
    let actor = auth
        .verify(token.trim())
        .map_err(|e| anyhow::anyhow!("TICKLER_TOKEN: {e}"))?;
    let (_keep, rx) = watch::channel(false);
    let database = Database::open(config, rx).await?;
    let services = services(&database, Arc::new(SystemClock));
    let served = mcp::serve_stdio(services, actor).await;
    database.close().await;
    served
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dapr_config() -> Config {
        Config {
            use_dapr: true,
            ..Default::default()
        }
    }

    #[test]
    fn split_roles_need_a_broker_and_postgres_unless_the_secret_store_brings_it() {
        // An absolute data directory: the default one is relative to the working directory,
        // which the config tests' `figment::Jail` moves into a temporary directory (and deletes)
        // while this test may be running, and that made it fail now and then.
        let data = tempfile::tempdir().unwrap();
        let embedded = Config {
            data_dir: data.path().to_path_buf(),
            ..Default::default()
        };
        if let Err(e) = check(&embedded, Role::All) {
            panic!("the embedded default should pass its checks: {e:#}");
        }
        let err = check(&embedded, Role::Notification)
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs a broker"), "{err}");

        let mut dapr = dapr_config();
        dapr.auth.secret = Some(crate::config::Secret::new("a-signing-secret-0123456789"));
        let err = check(&dapr, Role::Backend).unwrap_err().to_string();
        assert!(err.contains("PostgreSQL"), "{err}");
        // The URL and the signing secret are read from the store at start-up.
        let mut stored = dapr_config();
        stored.dapr.secretstore = Some("secretstore-kubernetes".into());
        assert!(check(&stored, Role::Backend).is_ok());
    }
}
