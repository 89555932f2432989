//! `StateStore` for SQLite: Dapr's state semantics (first-write-wins with `Absent`, optimistic
//! concurrency with `Match`, TTL) as conditional single statements.
//!
//! Writes go through the group-commit writer (see `writer`) and reads run directly on a reader's
//! handle: e-mail delivery writes two claims per reminder, and a burst of reminders committed one
//! statement at a time through sqlx spent its time in commits and worker hand-offs (issue #8).
//!
//! An expired row is treated exactly like a missing one by every operation; it is physically
//! removed when overwritten, and by a sweep every `SWEEP_EVERY` saves.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use rusqlite::OptionalExtension;

use super::direct::Db;
use super::error::sql;
use super::readers::Readers;
use super::rows::{add, micros};
use super::writer::Writer;
use crate::ports::{ETagCondition, InfraError, StateEntry, StateError, StateStore};

const SWEEP_EVERY: u64 = 64;
const SWEEP_BATCH: i64 = 500;

#[derive(Clone)]
pub struct SqliteStateStore {
    writer: Writer,
    readers: Readers,
    saves: Arc<AtomicU64>,
}

impl SqliteStateStore {
    pub(crate) fn new(writer: Writer, readers: Readers) -> Self {
        Self {
            writer,
            readers,
            saves: Arc::new(AtomicU64::new(0)),
        }
    }

    async fn sweep(&self, now_us: i64) -> Result<(), InfraError> {
        self.writer
            .run(move |db| {
                db.prepare_cached(
                    "DELETE FROM state WHERE key IN \
                     (SELECT key FROM state WHERE expires_at <= ? LIMIT ?)",
                )
                .and_then(|mut stmt| stmt.execute(rusqlite::params![now_us, SWEEP_BATCH]))
                .map_err(|e| sql("cannot sweep expired state", e))?;
                Ok(())
            })
            .await
    }
}

/// Live rows only: `expires_at` unset or still in the future.
const LIVE: &str = "(expires_at IS NULL OR expires_at > ?)";

fn get_live(db: &Db, key: &str, now_us: i64) -> Result<Option<StateEntry>, InfraError> {
    db.prepare_cached(&format!(
        "SELECT value, etag FROM state WHERE key = ? AND {LIVE}"
    ))
    .and_then(|mut stmt| {
        stmt.query_row(rusqlite::params![key, now_us], |r| {
            Ok(StateEntry {
                value: r.get(0)?,
                etag: r.get(1)?,
            })
        })
        .optional()
    })
    .map_err(|e| sql("cannot read state", e))
}

#[async_trait]
impl StateStore for SqliteStateStore {
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError> {
        let now_us = micros(Utc::now());
        Ok(self.readers.read(|db| get_live(db, key, now_us)).await?)
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
        let sql_text = match &condition {
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
        let expected = match condition {
            ETagCondition::Match(e) => Some(e),
            _ => None,
        };
        let (key_owned, value_owned, new_etag) = (key.to_owned(), value.to_vec(), etag.clone());
        self.writer
            .run(move |db| {
                // `?6` appears in one statement only; SQLite refuses a parameter the text lacks.
                let mut stmt = db
                    .prepare_cached(sql_text)
                    .map_err(|e| sql("cannot save state", e))?;
                let count = stmt.parameter_count();
                let params: [&dyn rusqlite::ToSql; 6] = [
                    &key_owned,
                    &value_owned,
                    &new_etag,
                    &expires,
                    &now_us,
                    &expected,
                ];
                let changed = stmt
                    .execute(&params[..count])
                    .map_err(|e| sql("cannot save state", e))?;
                if changed == 0 {
                    return Err(StateError::ETagMismatch);
                }
                Ok(())
            })
            .await?;
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
        if let ETagCondition::Absent = condition {
            return match self.get(key).await? {
                None => Ok(()),
                Some(_) => Err(StateError::ETagMismatch),
            };
        }
        let key = key.to_owned();
        self.writer
            .run(move |db| {
                let fail = |e| StateError::from(sql("cannot delete state", e));
                match condition {
                    ETagCondition::Match(expected) => {
                        let deleted = db
                            .prepare_cached(&format!(
                                "DELETE FROM state WHERE key = ? AND etag = ? AND {LIVE}"
                            ))
                            .and_then(|mut stmt| {
                                stmt.execute(rusqlite::params![key, expected, now_us])
                            })
                            .map_err(fail)?;
                        // Decided in the same transaction, so no write can slip in between.
                        if deleted == 1 || get_live(db, &key, now_us)?.is_none() {
                            Ok(())
                        } else {
                            Err(StateError::ETagMismatch)
                        }
                    }
                    _ => {
                        db.prepare_cached("DELETE FROM state WHERE key = ?")
                            .and_then(|mut stmt| stmt.execute([&key]))
                            .map_err(fail)?;
                        Ok(())
                    }
                }
            })
            .await
    }
}
