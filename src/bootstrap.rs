//! The composition root: the only place that knows which adapters exist. It reads the
//! configuration, builds adapters, wires the roles to their ports and runs them until shutdown.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::adapters::http::{self, HttpState};
use crate::adapters::memory::{MemoryBus, SystemClock};
use crate::adapters::sqlite::SqliteStore;
use crate::adapters::{mcp, web};
use crate::app::Services;
use crate::app::email_delivery::EmailDelivery;
use crate::app::notification::Notification;
use crate::app::recurring::Recurring;
use crate::app::relay::Relay;
use crate::auth::Auth;
use crate::config::{Config, Transport};
use crate::domain::event::Topic;
use crate::ports::{Clock, EventIntake, EventPublisher, HealthCheck, Mailer, Scheduler};

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
    background: Vec<JoinHandle<()>>,
    store: SqliteStore,
    grace: Duration,
}

impl Running {
    /// Stops accepting requests, lets in-flight ones finish, makes the relay's last pass, and
    /// returns once everything has stopped or the grace period is over.
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        let all = async {
            let _ = self.server.await;
            let _ = self.stop_background.send(true);
            for h in self.background {
                let _ = h.await;
            }
            self.store.close().await;
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

/// The signing secret: configured, or (embedded default only) generated once and kept in the
/// data directory so tokens survive restarts.
pub fn signing_secret(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(s) = &config.auth.secret {
        return Ok(s.expose().as_bytes().to_vec());
    }
    if config.transport() != Transport::Embedded {
        bail!(
            "auth.secret is not set: set TICKLER_AUTH__SECRET or BETTER_AUTH_SECRET (a shared secret is required outside the embedded default)"
        );
    }
    load_or_create_secret(&config.data_dir.join("secret"))
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use std::io::Write;
    if let Ok(s) = std::fs::read_to_string(path) {
        return Ok(s.trim().as_bytes().to_vec());
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret: String = (0..32)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    match opts.open(path) {
        Ok(mut f) => {
            f.write_all(secret.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            Ok(secret.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Ok(std::fs::read_to_string(path)?.trim().as_bytes().to_vec())
        }
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

/// The database-backed ports, opened once per process.
pub async fn open_store(config: &Config) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data directory {}", config.data_dir.display()))?;
    SqliteStore::open(&config.database_url())
        .await
        .with_context(|| format!("opening database {}", config.database_url()))
}

pub fn services(store: &SqliteStore, clock: Arc<dyn Clock>) -> Services {
    Services {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        state: Arc::new(store.state()),
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

/// Builds and starts every part `role` needs, and binds the HTTP listener.
pub async fn start(config: &Config, role: Role) -> anyhow::Result<Running> {
    match config.transport() {
        Transport::Embedded if role != Role::All => bail!(
            "--role {role} needs a broker shared with the other roles: set TICKLER_KAFKA__BROKERS (Kafka-direct) or USE_DAPR=true; only --role all runs on the embedded default"
        ),
        Transport::Embedded => {}
        Transport::Kafka => bail!(
            "Kafka-direct adapters are not part of this build yet; unset TICKLER_KAFKA__BROKERS to run the embedded default"
        ),
        Transport::Dapr => bail!(
            "Dapr adapters are not part of this build yet; unset USE_DAPR to run the embedded default"
        ),
    }
    let secret = signing_secret(config)?;
    let auth = Arc::new(Auth::new(&secret));
    let (stop_background, background_rx) = watch::channel(false);
    // The scheduler stops with the other background work, after the HTTP server has drained.
    let store = open_store(config)
        .await?
        .with_shutdown(background_rx.clone());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let bus = Arc::new(MemoryBus::new());
    let intake: Arc<dyn EventIntake> = bus.clone();
    let publisher: Arc<dyn EventPublisher> = bus.clone();
    let services = services(&store, clock.clone());
    let outbox: Arc<dyn crate::ports::Outbox> = Arc::new(store.outbox());
    let (shutdown, shutdown_rx) = watch::channel(false);
    let mut background = Vec::new();

    if role.runs(Role::Notification) {
        let scheduler = Arc::new(store.scheduler());
        let notification = Arc::new(Notification::new(
            services.tasks.clone(),
            services.users.clone(),
            scheduler.clone(),
            clock.clone(),
        ));
        intake
            .subscribe(Topic::TaskEvents, "notification", notification.clone())
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
            .subscribe(Topic::TaskReminders, "email-delivery", delivery)
            .await?;
    }
    if role.runs(Role::Recurring) {
        let recurring = Arc::new(Recurring::new(
            services.tasks.clone(),
            services.users.clone(),
            clock.clone(),
        ));
        intake
            .subscribe(Topic::TaskRecurrence, "recurring", recurring)
            .await?;
    }
    if role.runs(Role::Backend) {
        // Subscribers are registered first, so nothing the relay publishes finds nobody home.
        let relay = Relay::new(outbox.clone(), publisher.clone(), clock.clone());
        background.push(tokio::spawn(relay.run(background_rx.clone())));
    }

    let health: Vec<Arc<dyn HealthCheck>> = vec![Arc::new(store.clone()), bus.clone()];
    let app = http::router(HttpState {
        services: services.clone(),
        auth: auth.clone(),
        health,
        outbox: Some(outbox.clone()),
        body_limit: config.http.body_limit,
    });
    // The MCP tools (streamable HTTP at /mcp) and the web page (/) belong to the backend role,
    // like the REST API.
    let app = if role.runs(Role::Backend) {
        let page = web::WebState::new(services.clone(), auth.clone(), &secret, outbox)
            .with_shutdown(shutdown_rx.clone());
        app.merge(mcp::router(services.clone(), auth.clone()))
            .merge(web::router(page))
    } else {
        app
    };
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let address = listener.local_addr()?;
    let mut rx = shutdown_rx.clone();
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
        background,
        store,
        grace: Duration::from_secs(config.http.shutdown_grace_secs),
    })
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
    let store = open_store(config).await?;
    let services = services(&store, Arc::new(SystemClock));
    let served = mcp::serve_stdio(services, actor).await;
    store.close().await;
    served
}
