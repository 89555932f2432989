//! `StateStore` for PostgreSQL: Dapr's state semantics (first-write-wins with `Absent`, optimistic
//! concurrency with `Match`, TTL) as conditional single statements, so no transaction is needed.
//! The same statements as the SQLite adapter's; PostgreSQL's `ON CONFLICT … DO UPDATE … WHERE`
//! and conditional `UPDATE` re-check their condition on the latest row under its lock, so
//! concurrent writers of one key are decided one at a time.
//!
//! An expired row is treated exactly like a missing one by every operation; it is physically
//! removed when overwritten, and by a sweep every `SWEEP_EVERY` saves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::PgPool;

use super::error::infra;
use super::rows::micro;
use crate::adapters::jobs_runner::add;
use crate::domain::ValidationError;
use crate::ports::{ETagCondition, InfraError, StateEntry, StateError, StateStore};

const SWEEP_EVERY: u64 = 64;
const SWEEP_BATCH: i64 = 500;

#[derive(Clone)]
pub struct PgStateStore {
    pool: PgPool,
    saves: Arc<AtomicU64>,
}

impl PgStateStore {
    pub(crate) fn new(pool: PgPool) -> Self {
        Self {
            pool,
            saves: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn sweep(&self, now: DateTime<Utc>) -> Result<(), InfraError> {
        sqlx::query(
            "DELETE FROM state WHERE key IN \
             (SELECT key FROM state WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(now)
        .bind(SWEEP_BATCH)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot sweep expired state", e))?;
        Ok(())
    }
}

/// PostgreSQL text cannot hold NUL; no stored key contains one.
fn key_ok(key: &str) -> bool {
    !key.contains('\0')
}

fn bad_key() -> StateError {
    StateError::Infra(InfraError::permanent(
        "state keys cannot contain NUL characters",
        ValidationError::invalid("key", "must not contain NUL characters"),
    ))
}

/// Live rows only: `expires_at` unset or still in the future (`$2` is now).
const LIVE: &str = "(expires_at IS NULL OR expires_at > $2)";

#[async_trait]
impl StateStore for PgStateStore {
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError> {
        if !key_ok(key) {
            return Ok(None);
        }
        let row: Option<(Vec<u8>, String)> = sqlx::query_as(&format!(
            "SELECT value, etag FROM state WHERE key = $1 AND {LIVE}"
        ))
        .bind(key)
        .bind(micro(Utc::now()))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| infra("cannot read state", e))?;
        Ok(row.map(|(value, etag)| StateEntry { value, etag }))
    }

    async fn save(
        &self,
        key: &str,
        value: &[u8],
        condition: ETagCondition,
        ttl: Option<Duration>,
    ) -> Result<String, StateError> {
        if !key_ok(key) {
            return Err(bad_key());
        }
        let now = micro(Utc::now());
        let expires = ttl.map(|t| micro(add(now, t)));
        // A fresh random ETag per write: unguessable, so a stale client cannot forge a match.
        let etag = uuid::Uuid::new_v4().simple().to_string();
        let sql = match &condition {
            ETagCondition::Any => {
                "INSERT INTO state (key, value, etag, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = $2, etag = $3, expires_at = $4"
            }
            // Insert, or take over a row that has expired; a live row makes this a no-op.
            ETagCondition::Absent => {
                "INSERT INTO state (key, value, etag, expires_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET value = $2, etag = $3, expires_at = $4 \
                 WHERE state.expires_at IS NOT NULL AND state.expires_at <= $5"
            }
            ETagCondition::Match(_) => {
                "UPDATE state SET value = $2, etag = $3, expires_at = $4 \
                 WHERE key = $1 AND etag = $6 AND (expires_at IS NULL OR expires_at > $5)"
            }
        };
        let expected = match &condition {
            ETagCondition::Match(e) => Some(e.as_str()),
            _ => None,
        };
        if expected.is_some_and(|e| e.contains('\0')) {
            return Err(StateError::ETagMismatch);
        }
        let mut q = sqlx::query(sql)
            .bind(key)
            .bind(value)
            .bind(&etag)
            .bind(expires);
        if !matches!(condition, ETagCondition::Any) {
            q = q.bind(now);
        }
        if let Some(expected) = expected {
            q = q.bind(expected);
        }
        let done = q
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot save state", e))?;
        if done.rows_affected() == 0 {
            return Err(StateError::ETagMismatch);
        }
        if self.saves.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Housekeeping must not fail the caller's write, which has succeeded.
            if let Err(e) = self.sweep(now).await {
                tracing::warn!(error = %crate::ports::error::chain(&e), "state sweep failed");
            }
        }
        Ok(etag)
    }

    /// `Any` deletes whatever is there. `Match` deletes only the live row with that ETag: a newer
    /// value is `ETagMismatch`, while a missing or expired key is success (there is nothing left
    /// to protect). `Absent` succeeds only when there is no live row, deleting nothing.
    async fn delete(&self, key: &str, condition: ETagCondition) -> Result<(), StateError> {
        if !key_ok(key) {
            return Ok(());
        }
        let now = micro(Utc::now());
        match condition {
            ETagCondition::Any => {
                sqlx::query("DELETE FROM state WHERE key = $1")
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| infra("cannot delete state", e))?;
                Ok(())
            }
            ETagCondition::Match(expected) => {
                if expected.contains('\0') {
                    return match self.get(key).await? {
                        None => Ok(()),
                        Some(_) => Err(StateError::ETagMismatch),
                    };
                }
                let deleted = sqlx::query(&format!(
                    "DELETE FROM state WHERE key = $1 AND {LIVE} AND etag = $3"
                ))
                .bind(key)
                .bind(now)
                .bind(&expected)
                .execute(&self.pool)
                .await
                .map_err(|e| infra("cannot delete state", e))?;
                if deleted.rows_affected() == 1 || self.get(key).await?.is_none() {
                    Ok(())
                } else {
                    Err(StateError::ETagMismatch)
                }
            }
            ETagCondition::Absent => match self.get(key).await? {
                None => Ok(()),
                Some(_) => Err(StateError::ETagMismatch),
            },
        }
    }
}
