//! The `email-delivery` role: turns `reminder.due` into one e-mail, idempotent by event id.
//!
//! The state store holds a claim per event: `sending` (with a short TTL) while a replica works on
//! it, then `sent`. A second delivery of the same event finds the claim and sends nothing. A
//! store that fails right after the SMTP server accepted the mail (a database or sidecar
//! restart) is retried in place for a while. Only a crash of this process between the SMTP
//! server's acceptance and the `sent` write can repeat a mail — the one window no mail protocol
//! closes — and the repeat carries the same Message-ID.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::email_template;
use crate::domain::event::{CloudEvent, ReminderDueData, Topic, carries};
use crate::domain::reminder::ReminderStatus;
use crate::ports::error::chain;
use crate::ports::{
    Clock, ETagCondition, EventHandler, MailError, Mailer, Outcome, StateError, StateStore,
    TaskRepository, WriteContext,
};
use crate::telemetry::metrics;

/// How long a claim holds off other deliveries of the same event. It must outlast one SMTP
/// exchange (the mailer gives up after 30 s) and stay well inside the consumers' retry budget
/// (Kafka-direct and Dapr both retry for about two minutes before dead-lettering): a replica
/// killed mid-send leaves its claim behind, and the redelivery to its successor must find it
/// expired while retries remain. At 120 s it did not always, and a reminder was dead-lettered.
pub const CLAIM_TTL: Duration = Duration::from_secs(45);
/// How long a replica keeps trying to record the outcome once the SMTP server has accepted the
/// mail (a database or sidecar restart): giving up would send the mail again when the claim
/// expires. Below `CLAIM_TTL`, so the claim is still this replica's while it tries.
const RECORD_PATIENCE: Duration = Duration::from_secs(30);
/// How long "already sent" is remembered: longer than any broker keeps a message.
const SENT_TTL: Duration = Duration::from_secs(14 * 24 * 3600);
/// Transient SMTP failures before the reminder is marked failed and dead-lettered.
pub const MAX_ATTEMPTS: u32 = 5;

pub struct EmailDelivery {
    state: Arc<dyn StateStore>,
    mailer: Arc<dyn Mailer>,
    tasks: Arc<dyn TaskRepository>,
    clock: Arc<dyn Clock>,
}

enum Claim {
    Mine(String),
    /// An earlier delivery finished with this outcome.
    Done(ReminderStatus),
    Busy,
}

/// What the claim's key holds once a delivery has finished.
const SENT: &[u8] = b"sent";
const FAILED: &[u8] = b"failed";

impl EmailDelivery {
    pub fn new(
        state: Arc<dyn StateStore>,
        mailer: Arc<dyn Mailer>,
        tasks: Arc<dyn TaskRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            state,
            mailer,
            tasks,
            clock,
        }
    }

    async fn claim(&self, key: &str) -> Result<Claim, StateError> {
        match self
            .state
            .save(key, b"sending", ETagCondition::Absent, Some(CLAIM_TTL))
            .await
        {
            Ok(etag) => Ok(Claim::Mine(etag)),
            Err(StateError::ETagMismatch) => match self.state.get(key).await? {
                Some(e) if e.value == SENT => Ok(Claim::Done(ReminderStatus::Sent)),
                Some(e) if e.value == FAILED => Ok(Claim::Done(ReminderStatus::Failed)),
                Some(_) => Ok(Claim::Busy),
                // The claim expired between the two calls: let the redelivery try again.
                None => Ok(Claim::Busy),
            },
            Err(e) => Err(e),
        }
    }

    async fn attempts(&self, event_id: &str) -> Result<u32, StateError> {
        let key = format!("email-attempts:{event_id}");
        let n = match self.state.get(&key).await? {
            Some(e) => {
                String::from_utf8_lossy(&e.value)
                    .parse::<u32>()
                    .unwrap_or(0)
                    + 1
            }
            None => 1,
        };
        self.state
            .save(
                &key,
                n.to_string().as_bytes(),
                ETagCondition::Any,
                Some(SENT_TTL),
            )
            .await?;
        Ok(n)
    }

    /// Records that the mail went out (or was refused for good), retrying through a short outage.
    async fn record(
        &self,
        key: &str,
        value: &[u8],
        condition: ETagCondition,
    ) -> Result<(), String> {
        let deadline = tokio::time::Instant::now() + RECORD_PATIENCE;
        let mut delay = Duration::from_millis(100);
        loop {
            match self
                .state
                .save(key, value, condition.clone(), Some(SENT_TTL))
                .await
            {
                Ok(_) => return Ok(()),
                // Our claim expired and another delivery holds or finished the key: the mail is
                // out, and whatever that delivery does next is its own.
                Err(StateError::ETagMismatch) => return Ok(()),
                Err(e) if tokio::time::Instant::now() + delay < deadline => {
                    tracing::warn!(key, error = %chain(&e), retry_in_ms = delay.as_millis() as u64,
                        "mail accepted but its outcome not yet recorded; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(2));
                }
                Err(e) => return Err(chain(&e)),
            }
        }
    }

    /// Records the outcome; the task's `task.updated` carries the trace of the `reminder.due`.
    async fn finish(
        &self,
        event: &CloudEvent,
        data: &ReminderDueData,
        status: ReminderStatus,
    ) -> Result<(), String> {
        let ctx = WriteContext {
            now: self.clock.now(),
            traceparent: event.traceparent.clone(),
        };
        self.tasks
            .finish_reminder(data.reminder_id, status, &ctx)
            .await
            .map_err(|e| e.to_string())
    }

    async fn deliver(&self, event: &CloudEvent, data: ReminderDueData) -> Result<Outcome, String> {
        let key = format!("email-sent:{}", event.id);
        let etag = match self.claim(&key).await.map_err(|e| chain(&e))? {
            Claim::Mine(etag) => etag,
            // The mail went out (or was refused for good) but the reminder may not have been
            // marked: the database can fail between the two. Marking is idempotent.
            Claim::Done(status) => {
                self.finish(event, &data, status).await?;
                return Ok(Outcome::Done);
            }
            Claim::Busy => {
                return Ok(Outcome::Retry(
                    "another delivery of this event is in progress".into(),
                ));
            }
        };
        let Some(to) = data.recipient_email.clone() else {
            tracing::warn!(
                reminder_id = data.reminder_id.0,
                "user has no e-mail address; reminder marked failed"
            );
            self.finish(event, &data, ReminderStatus::Failed).await?;
            metrics::EMAILS_FAILED.inc();
            return Ok(Outcome::Done);
        };
        // Derived from the reminder (which fires once), not from the event: a second mail for
        // the same reminder, however it came about, carries the same Message-ID, so the mail
        // store and the recipient's client can tell it is a duplicate.
        let message_id = format!("<reminder-{}@tickler>", data.reminder_id.0);
        let email = email_template::render(&data, &to, &message_id);
        match self.mailer.send(&email).await {
            Ok(()) => {
                self.record(&key, SENT, ETagCondition::Match(etag)).await?;
                self.finish(event, &data, ReminderStatus::Sent).await?;
                metrics::EMAILS_SENT.inc();
                Ok(Outcome::Done)
            }
            Err(MailError::Permanent(reason)) => {
                tracing::warn!(reminder_id = data.reminder_id.0, %reason, "mail refused; reminder marked failed");
                self.record(&key, FAILED, ETagCondition::Any).await?;
                self.finish(event, &data, ReminderStatus::Failed).await?;
                metrics::EMAILS_FAILED.inc();
                Ok(Outcome::Done)
            }
            Err(MailError::Transient(reason)) => {
                let _ = self.state.delete(&key, ETagCondition::Match(etag)).await;
                let attempts = self.attempts(&event.id).await.map_err(|e| chain(&e))?;
                if attempts >= MAX_ATTEMPTS {
                    self.finish(event, &data, ReminderStatus::Failed).await?;
                    metrics::EMAILS_FAILED.inc();
                    return Ok(Outcome::Reject(format!(
                        "mail failed {attempts} times: {reason}"
                    )));
                }
                Ok(Outcome::Retry(reason))
            }
        }
    }
}

#[async_trait]
impl EventHandler for EmailDelivery {
    async fn handle(&self, event: &CloudEvent) -> Outcome {
        if !carries(Topic::TaskReminders, &event.event_type) {
            return Outcome::Reject(format!("unknown event type {:?}", event.event_type));
        }
        let data: ReminderDueData = match event.data_as() {
            Ok(d) => d,
            Err(e) => return Outcome::Reject(e),
        };
        match self.deliver(event, data).await {
            Ok(o) => o,
            Err(e) => Outcome::Retry(e),
        }
    }
}
