//! Configuration: built-in defaults < optional `tickler.toml` < environment (`TICKLER_*`, nested
//! with `__`, e.g. `TICKLER_SMTP__HOST`), plus `USE_DAPR` and the seed's `BETTER_AUTH_SECRET`.
//! Anything invalid stops start-up with a message naming the key.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// A secret value. `Debug` and `Serialize` never show it, so it cannot leak into logs or dumps.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server (REST, MCP, health, Dapr routes) listens.
    pub listen: SocketAddr,
    /// The embedded default keeps its database, signing secret and mail files here.
    pub data_dir: PathBuf,
    /// `sqlite://…` (default: `<data_dir>/tickler.db`) or `postgres://…` (production mode).
    pub database_url: Option<String>,
    pub postgres: PostgresConfig,
    /// Chooses the Dapr adapters (pub/sub, state, jobs, secrets) instead of Kafka-direct.
    pub use_dapr: bool,
    /// Kafka-direct transport; present when `kafka.brokers` is set.
    pub kafka: Option<KafkaConfig>,
    pub dapr: DaprConfig,
    /// Topic names, the same on every transport.
    pub topics: TopicNames,
    pub outbox: OutboxConfig,
    pub auth: AuthConfig,
    /// Without it, mails are written as `.eml` files under `<data_dir>/mail/`.
    pub smtp: Option<SmtpSettings>,
    pub log: LogConfig,
    pub http: HttpConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OutboxConfig {
    /// Published events are kept this long (the web page's live feed replays from them), then
    /// deleted by a clean-up job.
    pub retention_hours: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            retention_hours: 24,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PostgresConfig {
    /// Connections per process (the pool is shared by every role in the process).
    pub max_connections: u32,
    /// Apply pending migrations at start-up (off when a deployment runs `tickler migrate` first).
    pub migrate_on_start: bool,
    /// How long a request waits for a free connection before failing.
    pub acquire_timeout_secs: u64,
}

impl Default for PostgresConfig {
    fn default() -> Self {
        Self {
            max_connections: 16,
            migrate_on_start: true,
            acquire_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaConfig {
    /// `host:port[,host:port…]`
    pub brokers: String,
    pub client_id: String,
    /// `plaintext`, `ssl`, `sasl_plaintext` or `sasl_ssl`.
    pub security_protocol: String,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512` (with a `sasl_*` protocol).
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    pub sasl_password: Option<Secret>,
    /// CA bundle for `ssl`/`sasl_ssl` (default: the system's).
    pub ssl_ca_location: Option<PathBuf>,
    /// Create missing topics and their `.dlq` topics at start-up with the admin client.
    pub create_topics: bool,
    /// Deliveries of one message answered "retry" before it goes to the dead-letter topic.
    pub max_attempts: u32,
    /// First retry delay; doubles up to `max_backoff_ms`.
    pub retry_backoff_ms: u64,
    pub max_backoff_ms: u64,
    /// How long a publish waits for the broker's ack before failing (librdkafka
    /// `message.timeout.ms`). Below the outbox relay's 30 s lease, so a batch held by a relay
    /// that cannot reach the broker is reported failed before another relay may claim it.
    pub delivery_timeout_ms: u64,
    /// How often each consumer refreshes `tickler_kafka_consumer_lag` (librdkafka statistics
    /// interval); 0 turns the lag metric off.
    pub lag_interval_ms: u64,
    /// How long the broker waits for a silent consumer before giving its partitions to another
    /// member: the pause after a consumer crashes. daprd's default is 10 s as well.
    pub session_timeout_ms: u64,
    /// Consumer group of each consuming role. The defaults are the Dapr app ids the roles have
    /// in Dapr mode, so a role switched to Dapr resumes from the same committed offsets.
    pub groups: KafkaGroups,
    pub task_events: TopicSettings,
    pub task_reminders: TopicSettings,
    pub task_recurrence: TopicSettings,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        const DAY_MS: i64 = 24 * 3600 * 1000;
        Self {
            brokers: String::new(),
            client_id: "tickler".into(),
            security_protocol: "plaintext".into(),
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
            create_topics: true,
            max_attempts: 10,
            retry_backoff_ms: 500,
            max_backoff_ms: 30_000,
            delivery_timeout_ms: 20_000,
            lag_interval_ms: 5_000,
            session_timeout_ms: 10_000,
            groups: KafkaGroups::default(),
            task_events: TopicSettings {
                partitions: 3,
                replication_factor: 1,
                retention_ms: 7 * DAY_MS,
            },
            task_reminders: TopicSettings {
                partitions: 1,
                replication_factor: 1,
                retention_ms: DAY_MS,
            },
            task_recurrence: TopicSettings {
                partitions: 1,
                replication_factor: 1,
                retention_ms: 7 * DAY_MS,
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KafkaGroups {
    pub notification: String,
    pub email_delivery: String,
    pub recurring: String,
}

impl Default for KafkaGroups {
    fn default() -> Self {
        Self {
            notification: "notification-service".into(),
            email_delivery: "email-delivery-service".into(),
            recurring: "recurring-task-service".into(),
        }
    }
}

/// Used when Tickler creates the topic (its `.dlq` topic gets the same settings).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TopicSettings {
    pub partitions: i32,
    pub replication_factor: i32,
    pub retention_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TopicNames {
    pub task_events: String,
    pub task_reminders: String,
    pub task_recurrence: String,
}

impl Default for TopicNames {
    fn default() -> Self {
        Self {
            task_events: "task-events".into(),
            task_reminders: "task-reminders".into(),
            task_recurrence: "task-recurrence".into(),
        }
    }
}

impl TopicNames {
    pub fn name(&self, topic: crate::domain::event::Topic) -> &str {
        use crate::domain::event::Topic;
        match topic {
            Topic::TaskEvents => &self.task_events,
            Topic::TaskReminders => &self.task_reminders,
            Topic::TaskRecurrence => &self.task_recurrence,
        }
    }

    /// The topic a configured name stands for.
    pub fn topic(&self, name: &str) -> Option<crate::domain::event::Topic> {
        crate::domain::event::Topic::ALL
            .into_iter()
            .find(|t| self.name(*t) == name)
    }
}

/// The sidecar's address and the names of the Dapr components Tickler uses (Dapr mode only).
/// The standard Dapr environment (`DAPR_HTTP_ENDPOINT`, `DAPR_HTTP_PORT`, `DAPR_API_TOKEN`,
/// `APP_API_TOKEN`, `APP_PORT`) is honoured, as `dapr run` and the sidecar injector set it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DaprConfig {
    /// The sidecar's HTTP API.
    pub http_endpoint: String,
    /// Sent to the sidecar as `dapr-api-token`.
    pub api_token: Option<Secret>,
    /// Required from the sidecar on every Dapr-facing route (`dapr-api-token`).
    pub app_token: Option<Secret>,
    /// Where the Dapr-facing routes (`/dapr/subscribe`, event routes, `/job/…`) are served: a
    /// listener of their own, never the public one.
    pub app_listen: SocketAddr,
    pub pubsub: String,
    pub statestore: String,
    /// Secret store holding the credentials; unset: they come from this configuration.
    pub secretstore: Option<String>,
    /// Secret names in the store.
    pub secrets: DaprSecretNames,
    /// How long start-up waits for the sidecar (`/v1.0/healthz/outbound`).
    pub wait_secs: u64,
    /// Timeout of each call to the sidecar (publish, state, jobs, secrets).
    pub request_timeout_ms: u64,
    /// A job (reminder) whose handler asked for a retry fires again after this long, until it
    /// succeeds or is rejected (the Jobs API's constant failure policy, without a retry cap).
    pub job_retry_interval_ms: u64,
    /// Publishes of different keys the outbox relay may have in flight at once (one key's
    /// events are always published one after the other, in order).
    pub publish_concurrency: usize,
}

impl Default for DaprConfig {
    fn default() -> Self {
        Self {
            http_endpoint: "http://127.0.0.1:3500".into(),
            api_token: None,
            app_token: None,
            app_listen: SocketAddr::from(([127, 0, 0, 1], 8090)),
            pubsub: "pubsub-kafka".into(),
            statestore: "statestore-postgres".into(),
            secretstore: None,
            secrets: DaprSecretNames::default(),
            wait_secs: 60,
            request_timeout_ms: 10_000,
            job_retry_interval_ms: 2_000,
            publish_concurrency: 16,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct DaprSecretNames {
    pub auth_secret: String,
    pub smtp_password: String,
    pub database_url: String,
}

impl Default for DaprSecretNames {
    fn default() -> Self {
        Self {
            auth_secret: "tickler-auth-secret".into(),
            smtp_password: "tickler-smtp-password".into(),
            database_url: "tickler-database-url".into(),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret shared with the identity provider (Better Auth's `BETTER_AUTH_SECRET`).
    pub secret: Option<Secret>,
}

/// Any key left out takes its default (`smtp.host` alone is enough to send through a server).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub tls: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub from_email: String,
    pub from_name: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter, e.g. `info` or `tickler=debug,info`.
    pub level: String,
    /// One JSON object per line instead of human-readable text.
    pub json: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// How long SIGTERM waits for in-flight requests and background work before giving up.
    pub shutdown_grace_secs: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("tickler-data"),
            database_url: None,
            postgres: PostgresConfig::default(),
            use_dapr: false,
            kafka: None,
            dapr: DaprConfig::default(),
            topics: TopicNames::default(),
            outbox: OutboxConfig::default(),
            auth: AuthConfig::default(),
            smtp: None,
            log: LogConfig {
                level: "info".into(),
                json: false,
            },
            http: HttpConfig {
                body_limit: 64 * 1024,
                shutdown_grace_secs: 20,
            },
        }
    }
}

impl Default for SmtpSettings {
    fn default() -> Self {
        Self {
            host: "localhost".into(),
            port: 587,
            tls: "starttls".into(),
            username: None,
            password: None,
            from_email: "reminders@tickler.local".into(),
            from_name: "Tickler Reminders".into(),
        }
    }
}

impl Config {
    /// Loads the layered configuration. `file` defaults to `./tickler.toml` when it exists.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        Self::figment(file)
            .extract()
            .map_err(Box::new)
            .and_then(|c: Config| c.validate().map(|()| c))
    }

    pub fn figment(file: Option<&Path>) -> Figment {
        let file = file
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("tickler.toml"));
        Figment::from(Serialized::defaults(Config::default()))
            .merge(Toml::file(file))
            // The seed's deployments set BETTER_AUTH_SECRET; TICKLER_AUTH__SECRET wins over it.
            .merge(
                Env::raw()
                    .only(&["BETTER_AUTH_SECRET"])
                    .map(|_| "auth.secret".into()),
            )
            .merge(Env::raw().only(&["USE_DAPR"]).map(|_| "use_dapr".into()))
            // The standard Dapr environment, as `dapr run` and the sidecar injector set it.
            .merge(dapr_env())
            // TICKLER_TOKEN is `tickler mcp --stdio`'s credential, and the project's tooling has
            // variables of its own (the dev stack's TICKLER_STACK_*, the tests' TICKLER_TEST_*,
            // TICKLER_E2E_*, TICKLER_BIN, TICKLER_CACHE_DIR): none of them is configuration.
            .merge(
                Env::prefixed("TICKLER_")
                    .filter(|k| !is_tooling_variable(k.as_str()))
                    .split("__"),
            )
    }

    fn validate(&self) -> Result<(), Box<figment::Error>> {
        let bad = |key: &str, msg: &str| {
            Err(Box::new(figment::Error::from(format!(
                "invalid `{key}`: {msg}"
            ))))
        };
        if self.http.body_limit < 1024 {
            return bad("http.body_limit", "must be at least 1024 bytes");
        }
        if self
            .auth
            .secret
            .as_ref()
            .is_some_and(|s| s.expose().len() < 16)
        {
            return bad("auth.secret", "must be at least 16 characters");
        }
        if let Some(smtp) = &self.smtp {
            if !["none", "starttls", "tls"].contains(&smtp.tls.as_str()) {
                return bad("smtp.tls", "must be none, starttls or tls");
            }
            if smtp.username.is_some() != smtp.password.is_some() {
                return bad("smtp.username", "username and password go together");
            }
        }
        if self.database_url.as_ref().is_some_and(|url| {
            !["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|p| url.starts_with(p))
        }) {
            return bad(
                "database_url",
                "must be a sqlite:, postgres:// or postgresql:// URL",
            );
        }
        if self.postgres.max_connections == 0 {
            return bad("postgres.max_connections", "must be at least 1");
        }
        if let Some(k) = &self.kafka {
            if k.brokers.trim().is_empty() {
                return bad("kafka.brokers", "must name at least one broker");
            }
            if !["plaintext", "ssl", "sasl_plaintext", "sasl_ssl"]
                .contains(&k.security_protocol.as_str())
            {
                return bad(
                    "kafka.security_protocol",
                    "must be plaintext, ssl, sasl_plaintext or sasl_ssl",
                );
            }
            if k.security_protocol.starts_with("sasl_") {
                match k.sasl_mechanism.as_deref() {
                    Some("PLAIN" | "SCRAM-SHA-256" | "SCRAM-SHA-512") => {}
                    _ => {
                        return bad(
                            "kafka.sasl_mechanism",
                            "must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 with a sasl_* protocol",
                        );
                    }
                }
                if k.sasl_username.is_none() || k.sasl_password.is_none() {
                    return bad(
                        "kafka.sasl_username",
                        "sasl_username and sasl_password are needed with a sasl_* protocol",
                    );
                }
            }
            if k.max_attempts == 0 {
                return bad("kafka.max_attempts", "must be at least 1");
            }
            if k.retry_backoff_ms == 0 || k.max_backoff_ms < k.retry_backoff_ms {
                return bad(
                    "kafka.retry_backoff_ms",
                    "must be at least 1 and at most kafka.max_backoff_ms",
                );
            }
            if !(1_000..30_000).contains(&k.delivery_timeout_ms) {
                return bad(
                    "kafka.delivery_timeout_ms",
                    "must be from 1000 to 29999 (below the outbox relay's 30 s lease)",
                );
            }
            if !(3_000..=300_000).contains(&k.session_timeout_ms) {
                return bad(
                    "kafka.session_timeout_ms",
                    "must be between 3000 and 300000",
                );
            }
            if k.lag_interval_ms != 0 && k.lag_interval_ms < 100 {
                return bad("kafka.lag_interval_ms", "must be 0 (off) or at least 100");
            }
            for (key, t) in [
                ("kafka.task_events", &k.task_events),
                ("kafka.task_reminders", &k.task_reminders),
                ("kafka.task_recurrence", &k.task_recurrence),
            ] {
                if t.partitions < 1 || t.replication_factor < 1 {
                    return bad(key, "partitions and replication_factor must be at least 1");
                }
            }
        }
        let names = [
            &self.topics.task_events,
            &self.topics.task_reminders,
            &self.topics.task_recurrence,
        ];
        if names.iter().any(|n| !valid_topic_name(n))
            || names[0] == names[1]
            || names[1] == names[2]
            || names[0] == names[2]
        {
            return bad(
                "topics",
                "topic names must be distinct, 1-200 characters of [a-zA-Z0-9._-]",
            );
        }
        if self.use_dapr && !self.dapr.http_endpoint.starts_with("http") {
            return bad("dapr.http_endpoint", "must be an http:// or https:// URL");
        }
        if self.dapr.request_timeout_ms < 100 {
            return bad("dapr.request_timeout_ms", "must be at least 100");
        }
        if self.dapr.job_retry_interval_ms < 100 {
            return bad("dapr.job_retry_interval_ms", "must be at least 100");
        }
        if self.dapr.publish_concurrency == 0 {
            return bad("dapr.publish_concurrency", "must be at least 1");
        }
        Ok(())
    }

    /// PostgreSQL holds the data (production mode) rather than the embedded SQLite file.
    pub fn uses_postgres(&self) -> bool {
        self.database_url
            .as_deref()
            .is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }

    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("tickler.db").display()))
    }

    /// Which transport the configuration selects.
    pub fn transport(&self) -> Transport {
        if self.use_dapr {
            Transport::Dapr
        } else if self.kafka.is_some() {
            Transport::Kafka
        } else {
            Transport::Embedded
        }
    }
}

/// `TICKLER_*` variables (prefix removed, lower-cased) that belong to tools, not to Tickler.
fn is_tooling_variable(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    ["token", "bin", "cache_dir"].contains(&key.as_str())
        || ["stack_", "test_", "e2e_"]
            .iter()
            .any(|p| key.starts_with(p))
}

fn valid_topic_name(n: &str) -> bool {
    (1..=200).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// `DAPR_HTTP_ENDPOINT` (or `DAPR_HTTP_PORT`), `DAPR_API_TOKEN`, `APP_API_TOKEN` and `APP_PORT`
/// mapped onto `dapr.*`; `TICKLER_DAPR__*` still wins, being merged later.
fn dapr_env() -> figment::providers::Serialized<serde_json::Value> {
    let mut dapr = serde_json::Map::new();
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    if let Some(e) = var("DAPR_HTTP_ENDPOINT") {
        dapr.insert("http_endpoint".into(), e.into());
    } else if let Some(p) = var("DAPR_HTTP_PORT") {
        dapr.insert(
            "http_endpoint".into(),
            format!("http://127.0.0.1:{p}").into(),
        );
    }
    if let Some(t) = var("DAPR_API_TOKEN") {
        dapr.insert("api_token".into(), t.into());
    }
    if let Some(t) = var("APP_API_TOKEN") {
        dapr.insert("app_token".into(), t.into());
    }
    if let Some(p) = var("APP_PORT") {
        dapr.insert("app_listen".into(), format!("127.0.0.1:{p}").into());
    }
    let value = if dapr.is_empty() {
        serde_json::json!({})
    } else {
        serde_json::json!({ "dapr": dapr })
    };
    figment::providers::Serialized::defaults(value)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SQLite file + in-process bus + SQLite-backed scheduler.
    Embedded,
    Kafka,
    Dapr,
}

#[cfg(test)]
#[allow(clippy::result_large_err)] // figment::Jail's closures return figment::Error by design
mod tests {
    use super::*;

    /// A crashed e-mail replica's claim must expire while its successor still has retries left
    /// (see `email_delivery::CLAIM_TTL`); changing either default must keep that true. Dapr's
    /// inbound retries (deploy/dapr/resiliency.yaml) mirror these defaults.
    #[test]
    fn an_email_claim_expires_well_within_the_default_retry_budget() {
        let k = KafkaConfig::default();
        let budget: u64 = (1..k.max_attempts)
            .map(|a| (k.retry_backoff_ms << (a - 1).min(20)).min(k.max_backoff_ms))
            .sum();
        let claim = crate::app::email_delivery::CLAIM_TTL.as_millis() as u64;
        assert!(
            budget >= 2 * claim,
            "retry budget {budget} ms, claim {claim} ms"
        );
    }

    /// The same for Dapr's inbound retries (deploy/dapr/resiliency.yaml): daprd's exponential
    /// policy starts at 500 ms, multiplies by 1.5 and draws each interval within ±50 %. Even at
    /// the low end of every draw, the claim must expire before the event is dead-lettered.
    #[test]
    fn an_email_claim_expires_within_daprs_inbound_retry_budget() {
        let file = include_str!("../deploy/dapr/resiliency.yaml");
        let policy = file
            .split("inboundEvents:")
            .nth(1)
            .expect("an inboundEvents retry policy");
        let field = |name: &str| -> &str {
            policy
                .lines()
                .find_map(|l| l.trim().strip_prefix(name))
                .unwrap_or_else(|| panic!("inboundEvents.{name}"))
                .trim()
        };
        assert_eq!(field("policy:"), "exponential");
        let retries: i32 = field("maxRetries:").parse().unwrap();
        let max_interval: f64 = field("maxInterval:")
            .strip_suffix('s')
            .unwrap()
            .parse()
            .unwrap();
        let low_end: f64 = (0..retries)
            .map(|k| (0.5 * 1.5f64.powi(k)).min(max_interval) * 0.5)
            .sum();
        let claim = crate::app::email_delivery::CLAIM_TTL.as_secs_f64();
        assert!(
            low_end >= 1.5 * claim,
            "Dapr retries last at least {low_end:.0} s, the claim {claim} s"
        );
    }

    #[test]
    fn layers_and_errors_name_the_key() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "tickler.toml",
                "listen = \"127.0.0.1:9000\"\n[log]\nlevel = \"debug\"\njson = false\n",
            )?;
            jail.set_env("TICKLER_LOG__JSON", "true");
            jail.set_env("BETTER_AUTH_SECRET", "from-better-auth-0123456789");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.listen.port(), 9000);
            assert_eq!(c.log.level, "debug");
            assert!(c.log.json);
            assert_eq!(
                c.auth.secret.as_ref().unwrap().expose(),
                "from-better-auth-0123456789"
            );
            jail.set_env("TICKLER_AUTH__SECRET", "from-tickler-0123456789");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(
                c.auth.secret.as_ref().unwrap().expose(),
                "from-tickler-0123456789"
            );
            jail.set_env("TICKLER_LISTEN", "not-an-address");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.to_lowercase().contains("listen"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_and_short_secrets_are_refused() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_LISTN", "127.0.0.1:1");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("listn"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_AUTH__SECRET", "short");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("auth.secret"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn tooling_variables_are_not_configuration() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_STACK_DIR", "/tmp/x");
            jail.set_env("TICKLER_TEST_PG_URL", "postgres://x");
            jail.set_env("TICKLER_E2E_STACK_DIR", "/tmp/y");
            jail.set_env("TICKLER_BIN", "/bin/tickler");
            Config::load(None).map_err(|e| e.to_string())?;
            jail.set_env("TICKLER_STACKS", "1");
            assert!(
                Config::load(None).is_err(),
                "only the exact prefixes are tooling"
            );
            Ok(())
        });
    }

    #[test]
    fn smtp_needs_only_its_host() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_SMTP__HOST", "127.0.0.1");
            jail.set_env("TICKLER_SMTP__PORT", "2525");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            let smtp = c.smtp.expect("smtp configured");
            assert_eq!((smtp.host.as_str(), smtp.port), ("127.0.0.1", 2525));
            assert_eq!(smtp.from_email, SmtpSettings::default().from_email);
            Ok(())
        });
    }

    #[test]
    fn the_stdio_token_is_not_a_configuration_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_TOKEN", "eyJ.token.value");
            Config::load(None).map_err(|e| e.to_string())?;
            Ok(())
        });
    }

    #[test]
    fn kafka_timing_settings_are_checked() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_KAFKA__BROKERS", "127.0.0.1:19092");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.transport(), Transport::Kafka);
            let k = c.kafka.unwrap();
            assert_eq!((k.delivery_timeout_ms, k.lag_interval_ms), (20_000, 5_000));
            jail.set_env("TICKLER_KAFKA__DELIVERY_TIMEOUT_MS", "30000");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("kafka.delivery_timeout_ms"), "{err}");
            jail.set_env("TICKLER_KAFKA__DELIVERY_TIMEOUT_MS", "5000");
            jail.set_env("TICKLER_KAFKA__LAG_INTERVAL_MS", "10");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("kafka.lag_interval_ms"), "{err}");
            jail.set_env("TICKLER_KAFKA__LAG_INTERVAL_MS", "0");
            jail.set_env("TICKLER_KAFKA__MAX_BACKOFF_MS", "100");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("kafka.retry_backoff_ms"), "{err}");
            Ok(())
        });
    }

    #[test]
    fn use_dapr_selects_dapr_and_secrets_are_redacted() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("USE_DAPR", "true");
            jail.set_env("TICKLER_AUTH__SECRET", "super-secret-value-123");
            let c = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(c.transport(), Transport::Dapr);
            assert!(!format!("{c:?}").contains("super-secret-value-123"));
            Ok(())
        });
    }
}
