//! Sending e-mail.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub to_name: Option<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Stable id (from the event id) so a file mailer or an SMTP server log can spot duplicates.
    pub message_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MailError {
    /// Connection refused, timeout, 4xx: try again later.
    #[error("transient mail failure: {0}")]
    Transient(String),
    /// 5xx, invalid address: retrying will not help.
    #[error("permanent mail failure: {0}")]
    Permanent(String),
}

#[cfg_attr(test, mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync {
    async fn send(&self, email: &Email) -> Result<(), MailError>;
}
