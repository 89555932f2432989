//! `StateStore` for SQLite: Dapr's state semantics (first-write-wins with `Absent`, optimistic
//! concurrency with `Match`, TTL) as conditional single statements, so no transaction is needed.
//!
//! An expired row is treated exactly like a missing one by every operation; it is physically
//! removed when overwritten, and by a sweep every `SWEEP_EVERY` saves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use sqlx::SqlitePool;

use super::error::infra;
use super::rows::{add, micros};
use crate::ports::{ETagCondition, InfraError, StateEntry, StateError, StateStore};

const SWEEP_EVERY: u64 = 64;
const SWEEP_BATCH: i64 = 500;

#[derive(Clone)]
pub struct SqliteStateStore {
    pool: SqlitePool,
    saves: Arc<AtomicU64>,
}

impl SqliteStateStore {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            saves: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn sweep(&self, now_us: i64) -> Result<(), InfraError> {
        sqlx::query(
            "DELETE FROM state WHERE key IN \
             (SELECT key FROM state WHERE expires_at <= ? LIMIT ?)",
        )
        .bind(now_us)
        .bind(SWEEP_BATCH)
        .execute(&self.pool)
        .await
        .map_err(|e| infra("cannot sweep expired state", e))?;
        Ok(())
    }
}

/// Live rows only: `expires_at` unset or still in the future.
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

#[async_trait]
impl StateStore for SqliteStateStore {
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError> {
        let row: Option<(Vec<u8>, String)> = sqlx::query_as(&format!(
            "SELECT value, etag FROM state WHERE key = ? AND {LIVE}"
        ))
        .bind(key)
        .bind(micros(Utc::now()))
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
        let now = Utc::now();
        let now_us = micros(now);
        let expires = ttl.map(|t| micros(add(now, t)));
        // A fresh random ETag per write: unguessable, so a stale client cannot forge a match.
        let etag = uuid::Uuid::new_v4().simple().to_string();
        let sql = match &condition {
            ETagCondition::Any => {
                "INSERT INTO state (key, value, etag, expires_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET value = ?2, etag = ?3, expires_at = ?4"
            }
            // Insert, or take over a row that has expired; a live row makes this a no-op.
            ETagCondition::Absent => {
                "INSERT INTO state (key, value, etag, expires_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (key) DO UPDATE SET value = ?2, etag = ?3, expires_at = ?4 \
                 WHERE state.expires_at IS NOT NULL AND state.expires_at <= ?5"
            }
            ETagCondition::Match(_) => {
                "UPDATE state SET value = ?2, etag = ?3, expires_at = ?4 \
                 WHERE key = ?1 AND etag = ?6 AND (expires_at IS NULL OR expires_at > ?5)"
            }
        };
        let expected = match &condition {
            ETagCondition::Match(e) => Some(e.as_str()),
            _ => None,
        };
        let done = sqlx::query(sql)
            .bind(key)
            .bind(value)
            .bind(&etag)
            .bind(expires)
            .bind(now_us)
            .bind(expected)
            .execute(&self.pool)
            .await
            .map_err(|e| infra("cannot save state", e))?;
        if done.rows_affected() == 0 {
            return Err(StateError::ETagMismatch);
        }
        if self.saves.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Housekeeping must not fail the caller's write, which has succeeded.
            if let Err(e) = self.sweep(now_us).await {
                tracing::warn!(error = %crate::ports::error::chain(&e), "state sweep failed");
            }
        }
        Ok(etag)
    }

    /// `Any` deletes whatever is there. `Match` deletes only the live row with that ETag: a newer
    /// value is `ETagMismatch`, while a missing or expired key is success (there is nothing left
    /// to protect). `Absent` succeeds only when there is no live row, deleting nothing.
    async fn delete(&self, key: &str, condition: ETagCondition) -> Result<(), StateError> {
        let now_us = micros(Utc::now());
        match condition {
            ETagCondition::Any => {
                sqlx::query("DELETE FROM state WHERE key = ?")
                    .bind(key)
                    .execute(&self.pool)
                    .await
                    .map_err(|e| infra("cannot delete state", e))?;
                Ok(())
            }
            ETagCondition::Match(expected) => {
                let deleted = sqlx::query(&format!(
                    "DELETE FROM state WHERE key = ? AND etag = ? AND {LIVE}"
                ))
                .bind(key)
                .bind(&expected)
                .bind(now_us)
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
