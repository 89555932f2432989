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
    /// `sqlite://…` (default: `<data_dir>/tickler.db`).
    pub database_url: Option<String>,
    /// Chooses the Dapr adapters (pub/sub, state, jobs) instead of Kafka-direct.
    pub use_dapr: bool,
    pub kafka: Option<KafkaConfig>,
    pub auth: AuthConfig,
    /// Without it, mails are written as `.eml` files under `<data_dir>/mail/`.
    pub smtp: Option<SmtpSettings>,
    pub log: LogConfig,
    pub http: HttpConfig,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    pub brokers: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// HS256 secret shared with the identity provider (Better Auth's `BETTER_AUTH_SECRET`).
    pub secret: Option<Secret>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
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
            use_dapr: false,
            kafka: None,
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
            // TICKLER_TOKEN is `tickler mcp --stdio`'s credential, not configuration.
            .merge(Env::prefixed("TICKLER_").ignore(&["token"]).split("__"))
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
        if self
            .database_url
            .as_ref()
            .is_some_and(|url| !url.starts_with("sqlite:"))
        {
            return bad(
                "database_url",
                "only sqlite:// URLs are supported by this build",
            );
        }
        Ok(())
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
    fn the_stdio_token_is_not_a_configuration_key() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TICKLER_TOKEN", "eyJ.token.value");
            Config::load(None).map_err(|e| e.to_string())?;
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
