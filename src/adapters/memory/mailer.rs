//! A mailer that records what it sends, with failures tests can inject.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use crate::ports::{Email, MailError, Mailer};

#[derive(Default)]
struct State {
    sent: Vec<Email>,
    failures: VecDeque<MailError>,
}

#[derive(Clone, Default)]
pub struct MemoryMailer {
    state: Arc<Mutex<State>>,
    sent_signal: Arc<Notify>,
}

impl MemoryMailer {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every e-mail sent so far, in order.
    pub fn sent(&self) -> Vec<Email> {
        self.lock().sent.clone()
    }

    /// The next `n` sends fail with `error` (queued after failures already injected).
    pub fn fail_next(&self, n: usize, error: MailError) {
        self.lock().failures.extend(std::iter::repeat_n(error, n));
    }

    /// Waits until at least `n` e-mails were sent or `timeout` passed, and returns what was sent:
    /// the caller checks the count.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Email> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before checking, so a send between the check and the wait is not missed.
            let notified = self.sent_signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let state = self.lock();
                if state.sent.len() >= n {
                    return state.sent.clone();
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.sent();
            }
        }
    }
}

#[async_trait]
impl Mailer for MemoryMailer {
    async fn send(&self, email: &Email) -> Result<(), MailError> {
        {
            let mut state = self.lock();
            if let Some(err) = state.failures.pop_front() {
                return Err(err);
            }
            state.sent.push(email.clone());
        }
        self.sent_signal.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(id: &str) -> Email {
        Email {
            to: "a@b.co".into(),
            to_name: None,
            subject: "s".into(),
            text: "t".into(),
            html: "<p>t</p>".into(),
            message_id: id.into(),
        }
    }

    #[tokio::test]
    async fn injected_failures_come_first_and_are_not_recorded() {
        let m = MemoryMailer::new();
        m.fail_next(2, MailError::Transient("421".into()));
        assert_eq!(
            m.send(&email("1")).await,
            Err(MailError::Transient("421".into()))
        );
        assert!(m.send(&email("1")).await.is_err());
        m.send(&email("1")).await.unwrap();
        assert_eq!(m.sent(), vec![email("1")]);
    }

    #[tokio::test]
    async fn wait_for_returns_when_enough_were_sent_or_on_timeout() {
        let m = MemoryMailer::new();
        let sender = m.clone();
        tokio::spawn(async move {
            for i in 0..2 {
                tokio::time::sleep(Duration::from_millis(20)).await;
                sender.send(&email(&i.to_string())).await.unwrap();
            }
        });
        let got = m.wait_for(2, Duration::from_secs(5)).await;
        assert_eq!(got.len(), 2);
        let got = m.wait_for(3, Duration::from_millis(50)).await;
        assert_eq!(got.len(), 2);
    }
}
