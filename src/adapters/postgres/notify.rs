//! Wake-ups across processes: LISTEN/NOTIFY feeding the same tokio `Notify`s that local writes
//! signal.
//!
//! Sending: after a commit that wrote outbox rows (or scheduled a job), the writer signals the
//! local waiters at once and pokes this store's notifier task, which sends one `NOTIFY` on a
//! connection of its own. Pokes that arrive while a `NOTIFY` is in flight collapse into the next
//! one. The NOTIFY is deliberately not part of the writing transaction: PostgreSQL serialises
//! the commits of every transaction that notified (it holds a database-wide lock from
//! `PreCommit_Notify` until the commit record is flushed), which would forfeit group commit on
//! the write path. Sent right after the commit it wakes the same waiters a moment later, with
//! `synchronous_commit` off for its own tiny transaction since a lost wake-up only costs a poll.
//! A crash between the commit and the NOTIFY is covered by the waiters' polling.
//!
//! Receiving: one listener task per store, started on first need, on a dedicated connection.
//! It ignores its own store's notifications (the payload names the sender), and after every
//! reconnection it wakes all waiters, since whatever was sent while it was deaf is lost.
//! When PostgreSQL restarts it reconnects with a back-off of up to two seconds.
//!
//! Channel names carry a hash of the schema, so stores on different schemas of one database
//! (the tests' schema per case) do not wake each other.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};

use crate::ports::error::chain;

const OUTBOX: u8 = 1;
const JOBS: u8 = 2;
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// The two channels of one schema.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    pub outbox: String,
    pub jobs: String,
}

impl Channels {
    pub(crate) fn for_schema(schema: &str) -> Self {
        let h = schema.bytes().fold(0x811c_9dc5_u32, |h, b| {
            (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
        });
        Self {
            outbox: format!("tickler_outbox_{h:08x}"),
            jobs: format!("tickler_jobs_{h:08x}"),
        }
    }
}

/// What the writers of one store signal, and what its waiters wait on.
pub(crate) struct Wakeups {
    pub outbox: Arc<Notify>,
    pub jobs: Arc<Notify>,
    pending: AtomicU8,
    kick: Notify,
    pub channels: Channels,
    /// This store's identity in NOTIFY payloads.
    pub origin: String,
}

impl Wakeups {
    pub(crate) fn new(channels: Channels) -> Self {
        Self {
            outbox: Arc::new(Notify::new()),
            jobs: Arc::new(Notify::new()),
            pending: AtomicU8::new(0),
            kick: Notify::new(),
            channels,
            origin: format!("{:016x}", rand::random::<u64>()),
        }
    }

    /// After a commit that wrote outbox rows.
    pub(crate) fn outbox_written(&self) {
        self.outbox.notify_one();
        self.poke(OUTBOX);
    }

    /// After a commit that scheduled a job.
    pub(crate) fn job_scheduled(&self) {
        self.jobs.notify_one();
        self.poke(JOBS);
    }

    fn poke(&self, what: u8) {
        self.pending.fetch_or(what, Ordering::AcqRel);
        self.kick.notify_one();
    }

    fn wake_all(&self) {
        self.outbox.notify_one();
        self.jobs.notify_one();
    }
}

/// Sends the poked notifications until the store closes.
pub(crate) async fn run_notifier(
    pool: PgPool,
    wakeups: Arc<Wakeups>,
    mut closing: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = wakeups.kick.notified() => {}
            _ = closing.wait_for(|c| *c) => return,
        }
        let bits = wakeups.pending.swap(0, Ordering::AcqRel);
        let mut channels = Vec::with_capacity(2);
        if bits & OUTBOX != 0 {
            channels.push(wakeups.channels.outbox.clone());
        }
        if bits & JOBS != 0 {
            channels.push(wakeups.channels.jobs.clone());
        }
        if channels.is_empty() {
            continue;
        }
        let sent = sqlx::query(
            "SELECT set_config('synchronous_commit', 'off', true), pg_notify(c, $2) \
             FROM unnest($1::text[]) AS c",
        )
        .bind(&channels)
        .bind(&wakeups.origin)
        .execute(&pool)
        .await;
        match sent {
            Ok(_) => {}
            Err(sqlx::Error::PoolClosed) => return,
            // Other processes notice the rows at their next poll.
            Err(e) => tracing::warn!(error = %chain(&e), "cannot send a NOTIFY wake-up"),
        }
    }
}

/// Listens until the store closes, reconnecting whenever the connection is lost.
pub(crate) async fn run_listener(
    pool: PgPool,
    wakeups: Arc<Wakeups>,
    mut closing: watch::Receiver<bool>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut failures = 0_u32;
    let mut first = true;
    loop {
        if *closing.borrow() {
            return;
        }
        match listen(&pool, &wakeups.channels).await {
            Ok(mut listener) => {
                if failures > 0 {
                    tracing::info!("LISTEN connection re-established");
                }
                failures = 0;
                backoff = Duration::from_millis(100);
                // Not on the first connection: waiters that started it have just looked.
                if !std::mem::take(&mut first) {
                    wakeups.wake_all();
                }
                loop {
                    let received = tokio::select! {
                        r = listener.try_recv() => r,
                        _ = closing.wait_for(|c| *c) => return,
                    };
                    match received {
                        Ok(Some(n)) if n.payload() == wakeups.origin => {}
                        Ok(Some(n)) => {
                            if n.channel() == wakeups.channels.outbox {
                                wakeups.outbox.notify_one();
                            } else if n.channel() == wakeups.channels.jobs {
                                wakeups.jobs.notify_one();
                            }
                        }
                        // Lost and already reconnected: whatever came meanwhile is gone.
                        Ok(None) => wakeups.wake_all(),
                        Err(sqlx::Error::PoolClosed) => return,
                        Err(e) => {
                            tracing::warn!(error = %chain(&e), "LISTEN connection lost; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                failures += 1;
                // Once per outage, not once per attempt.
                if failures == 1 {
                    tracing::warn!(error = %chain(&e), "cannot LISTEN; retrying");
                }
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = closing.wait_for(|c| *c) => return,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

async fn listen(pool: &PgPool, channels: &Channels) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener
        .listen_all([channels.outbox.as_str(), channels.jobs.as_str()])
        .await?;
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_differ_per_schema_and_fit_an_identifier() {
        let a = Channels::for_schema("public");
        let b = Channels::for_schema("t_1");
        assert_ne!(a.outbox, b.outbox);
        assert_ne!(a.outbox, a.jobs);
        assert!(a.outbox.len() < 64 && a.jobs.len() < 64);
    }
}
