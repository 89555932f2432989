//! [`SmtpMailer`]: sends through an SMTP server with lettre's pooled async transport.

use std::fmt;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::{AsyncSmtpTransportBuilder, Error as SmtpError};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

use super::{InvalidMailConfig, build_message, sender};
use crate::ports::{Email, MailError, Mailer};

/// How the connection to the SMTP server is encrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    /// Plain text (local relays and test servers only).
    None,
    /// Connect in plain text and require `STARTTLS` before anything else (usually port 587).
    #[default]
    StartTls,
    /// TLS from the first byte, "SMTPS" (usually port 465).
    Implicit,
}

/// Where and how to send. `password` is never printed: `Debug` shows it as `<redacted>`.
#[derive(Clone)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    /// Log in (AUTH PLAIN or LOGIN, whichever the server offers) only when this is set.
    pub username: Option<String>,
    pub password: Option<String>,
    pub from_email: String,
    pub from_name: String,
    /// Upper bound for one send: connecting, TLS, AUTH and the whole SMTP dialogue.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// `host:port` with STARTTLS, no login, sender name "Tickler", 30 s timeout.
    pub fn new(host: impl Into<String>, port: u16, from_email: impl Into<String>) -> Self {
        Self {
            host: host.into(),
            port,
            tls: TlsMode::StartTls,
            username: None,
            password: None,
            from_email: from_email.into(),
            from_name: "Tickler".to_owned(),
            timeout: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field(
                "password",
                &self.password.as_ref().map(|_| Redacted).as_ref(),
            )
            .field("from_email", &self.from_email)
            .field("from_name", &self.from_name)
            .field("timeout", &self.timeout)
            .finish()
    }
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

type Transport = AsyncSmtpTransport<Tokio1Executor>;

/// The [`Mailer`] for a real SMTP server.
///
/// One transport (with its connection pool) serves every send. It is built on the first send, so
/// [`SmtpMailer::new`] needs no runtime; it must be used and dropped inside a Tokio runtime.
/// A send that runs out of time drops the whole pool, since a connection abandoned mid-dialogue
/// cannot be reused safely.
pub struct SmtpMailer {
    config: SmtpConfig,
    from: Mailbox,
    builder: AsyncSmtpTransportBuilder,
    transport: RwLock<Option<Arc<Transport>>>,
}

impl fmt::Debug for SmtpMailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpMailer")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl SmtpMailer {
    /// Checks the configuration (sender address, TLS setup); connects only when sending.
    pub fn new(config: SmtpConfig) -> Result<Self, InvalidMailConfig> {
        let from = sender(&config.from_name, &config.from_email)?;
        if config.host.trim().is_empty() {
            return Err(InvalidMailConfig("SMTP host is empty".into()));
        }
        if config.timeout.is_zero() {
            return Err(InvalidMailConfig("SMTP timeout is zero".into()));
        }
        let tls = match config.tls {
            TlsMode::None => Tls::None,
            TlsMode::StartTls => Tls::Required(tls_parameters(&config.host)?),
            TlsMode::Implicit => Tls::Wrapper(tls_parameters(&config.host)?),
        };
        if config.username.is_some() && config.tls == TlsMode::None {
            tracing::warn!(
                host = %config.host,
                "SMTP login configured without TLS: the password crosses the network in clear"
            );
        }
        let mut builder = Transport::builder_dangerous(config.host.clone())
            .port(config.port)
            .tls(tls)
            .timeout(Some(config.timeout));
        if let Some(user) = &config.username {
            let password = config.password.clone().unwrap_or_default();
            builder = builder.credentials(Credentials::new(user.clone(), password));
        }
        Ok(Self {
            config,
            from,
            builder,
            transport: RwLock::new(None),
        })
    }

    pub fn config(&self) -> &SmtpConfig {
        &self.config
    }

    /// Closes the pooled connections (QUIT). Later sends open new ones.
    pub async fn shutdown(&self) {
        if let Some(t) = self.take_transport() {
            t.shutdown().await;
        }
    }

    fn transport(&self) -> Arc<Transport> {
        if let Some(t) = self
            .transport
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            return Arc::clone(t);
        }
        let mut slot = self.transport.write().unwrap_or_else(|e| e.into_inner());
        Arc::clone(slot.get_or_insert_with(|| Arc::new(self.builder.clone().build())))
    }

    fn take_transport(&self) -> Option<Arc<Transport>> {
        self.transport
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    /// Forgets `used` (and its pool) unless another send already replaced it.
    fn discard_transport(&self, used: &Arc<Transport>) {
        let mut slot = self.transport.write().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|t| Arc::ptr_eq(t, used)) {
            *slot = None;
        }
    }

    fn describe(&self, what: impl fmt::Display) -> String {
        format!("smtp {}:{}: {what}", self.config.host, self.config.port)
    }
}

impl Drop for SmtpMailer {
    /// lettre's pool spawns a clean-up task when dropped, which panics outside a Tokio runtime
    /// (e.g. a mailer that outlives `main`'s runtime). There, leak the idle connections instead:
    /// the process is ending anyway.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            let slot = self.transport.get_mut().unwrap_or_else(|e| e.into_inner());
            if let Some(transport) = slot.take() {
                std::mem::forget(transport);
            }
        }
    }
}

fn tls_parameters(host: &str) -> Result<TlsParameters, InvalidMailConfig> {
    TlsParameters::new(host.to_owned())
        .map_err(|e| InvalidMailConfig(format!("TLS setup for {host}: {e}")))
}

/// Reply codes of a refused login or of a server that wants one: our configuration is wrong, not
/// the message, so these are retried (and fixed by an operator) rather than failing the message.
const AUTH_CODES: [u16; 4] = [530, 534, 535, 538];

/// lettre's error as a [`MailError`]: 5xx replies are permanent (except login problems), and
/// everything else (4xx, connection, timeout, TLS, protocol) is transient.
fn classify(err: &SmtpError, describe: impl FnOnce(String) -> String) -> MailError {
    let text = describe(err.to_string());
    match err.status().map(u16::from) {
        Some(code) if err.is_permanent() && !AUTH_CODES.contains(&code) => {
            MailError::Permanent(text)
        }
        _ => MailError::Transient(text),
    }
}

#[async_trait]
impl Mailer for SmtpMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        let message = build_message(&self.from, email)?;
        let transport = self.transport();
        match tokio::time::timeout(self.config.timeout, transport.send(message)).await {
            Ok(Ok(_)) => {
                tracing::debug!(message_id = %email.message_id, host = %self.config.host, "mail sent");
                Ok(())
            }
            Ok(Err(e)) => Err(classify(&e, |t| self.describe(t))),
            Err(_) => {
                // The connection may be stuck mid-command; never hand it out again.
                self.discard_transport(&transport);
                Err(MailError::Transient(self.describe(format_args!(
                    "no answer within {:?}",
                    self.config.timeout
                ))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_password() {
        let mut config = SmtpConfig::new("smtp.example.com", 587, "noreply@example.com");
        config.username = Some("mailer".into());
        config.password = Some("s3cr3t-Pa55".into());
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("s3cr3t-Pa55"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(shown.contains("mailer"), "{shown}");

        let mailer = SmtpMailer::new(config).unwrap();
        let shown = format!("{mailer:?} {mailer:#?}");
        assert!(!shown.contains("s3cr3t-Pa55"), "{shown}");

        let none = SmtpConfig::new("h", 25, "a@b.c");
        assert!(format!("{none:?}").contains("password: None"));
    }

    #[test]
    fn dropping_outside_the_runtime_does_not_panic() {
        let mailer = SmtpMailer::new(SmtpConfig::new("127.0.0.1", 9, "a@b.c")).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let _ = mailer.transport();
        });
        drop(runtime);
        drop(mailer);
    }

    #[test]
    fn construction_checks_the_configuration() {
        assert!(SmtpMailer::new(SmtpConfig::new("h", 25, "not-an-address")).is_err());
        assert!(SmtpMailer::new(SmtpConfig::new(" ", 25, "a@b.c")).is_err());
        let mut zero = SmtpConfig::new("h", 25, "a@b.c");
        zero.timeout = Duration::ZERO;
        assert!(SmtpMailer::new(zero).is_err());
        for tls in [TlsMode::None, TlsMode::StartTls, TlsMode::Implicit] {
            let mut c = SmtpConfig::new("smtp.example.com", 25, "a@b.c");
            c.tls = tls;
            assert!(SmtpMailer::new(c).is_ok(), "{tls:?}");
        }
    }
}
