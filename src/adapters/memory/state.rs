//! `StateStore` in memory: ETags (a fresh one on every write) and TTLs measured on an injected
//! clock, so tests expire entries by advancing a `ManualClock`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::clock::SystemClock;
use crate::ports::{Clock, ETagCondition, InfraError, StateEntry, StateError, StateStore};

struct Stored {
    entry: StateEntry,
    expires_at: Option<DateTime<Utc>>,
}

/// Expired entries are dropped when read, and all at once every this many writes, so keys that
/// are never read again (idempotency records) do not pile up.
const SWEEP_EVERY: u64 = 256;

#[derive(Default)]
struct Entries {
    map: HashMap<String, Stored>,
    last_etag: u64,
    /// Saves of this value still to fail (failure injection for the roles' tests).
    failing: Option<(Vec<u8>, u32)>,
}

impl Entries {
    fn sweep(&mut self, now: DateTime<Utc>) {
        self.map.retain(|_, s| s.expires_at.is_none_or(|t| t > now));
    }

    /// The live entry under `key`; an expired one is dropped on the way.
    fn live(&mut self, key: &str, now: DateTime<Utc>) -> Option<&StateEntry> {
        if self
            .map
            .get(key)
            .is_some_and(|s| s.expires_at.is_some_and(|t| t <= now))
        {
            self.map.remove(key);
        }
        self.map.get(key).map(|s| &s.entry)
    }
}

/// Whether `condition` allows writing over (or deleting) `current`.
fn allows(condition: &ETagCondition, current: Option<&StateEntry>) -> bool {
    match condition {
        ETagCondition::Any => true,
        ETagCondition::Absent => current.is_none(),
        ETagCondition::Match(etag) => current.is_some_and(|c| &c.etag == etag),
    }
}

#[derive(Clone)]
pub struct MemoryStateStore {
    entries: Arc<Mutex<Entries>>,
    clock: Arc<dyn Clock>,
}

impl Default for MemoryStateStore {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

impl MemoryStateStore {
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            entries: Arc::default(),
            clock,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` saves of `value` fail transiently, changing nothing, as they would while
    /// the store's database or the sidecar restarts.
    pub fn fail_next_saves_of(&self, value: &[u8], n: u32) {
        self.lock().failing = Some((value.to_vec(), n));
    }
}

#[async_trait]
impl StateStore for MemoryStateStore {
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError> {
        let now = self.clock.now();
        Ok(self.lock().live(key, now).cloned())
    }

    async fn save(
        &self,
        key: &str,
        value: &[u8],
        condition: ETagCondition,
        ttl: Option<Duration>,
    ) -> Result<String, StateError> {
        let now = self.clock.now();
        let expires_at = ttl
            .map(|t| {
                chrono::Duration::from_std(t)
                    .map(|t| now + t)
                    .map_err(|e| InfraError::permanent("state TTL out of range", e))
            })
            .transpose()?;
        let mut entries = self.lock();
        if let Some((v, n)) = &mut entries.failing
            && v == value
            && *n > 0
        {
            *n -= 1;
            return Err(InfraError::transient("saving state", "injected failure").into());
        }
        if !allows(&condition, entries.live(key, now)) {
            return Err(StateError::ETagMismatch);
        }
        entries.last_etag += 1;
        if entries.last_etag.is_multiple_of(SWEEP_EVERY) {
            entries.sweep(now);
        }
        let etag = entries.last_etag.to_string();
        let entry = StateEntry {
            value: value.to_vec(),
            etag: etag.clone(),
        };
        entries
            .map
            .insert(key.to_owned(), Stored { entry, expires_at });
        Ok(etag)
    }

    /// A missing key is not an error whatever the condition: there is nothing newer to protect.
    async fn delete(&self, key: &str, condition: ETagCondition) -> Result<(), StateError> {
        let now = self.clock.now();
        let mut entries = self.lock();
        let Some(current) = entries.live(key, now) else {
            return Ok(());
        };
        if !allows(&condition, Some(current)) {
            return Err(StateError::ETagMismatch);
        }
        entries.map.remove(key);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::ManualClock;
    use chrono::TimeZone;

    fn store() -> (MemoryStateStore, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap(),
        ));
        (MemoryStateStore::new(clock.clone()), clock)
    }

    #[tokio::test]
    async fn etag_conditions() {
        let (s, _) = store();
        let e1 = s
            .save("k", b"1", ETagCondition::Absent, None)
            .await
            .unwrap();
        assert!(matches!(
            s.save("k", b"x", ETagCondition::Absent, None).await,
            Err(StateError::ETagMismatch)
        ));
        assert!(matches!(
            s.save("k", b"x", ETagCondition::Match("nope".into()), None)
                .await,
            Err(StateError::ETagMismatch)
        ));
        let e2 = s
            .save("k", b"2", ETagCondition::Match(e1.clone()), None)
            .await
            .unwrap();
        assert_ne!(e1, e2);
        let e3 = s.save("k", b"3", ETagCondition::Any, None).await.unwrap();
        assert_ne!(e2, e3);
        assert_eq!(
            s.get("k").await.unwrap(),
            Some(StateEntry {
                value: b"3".to_vec(),
                etag: e3.clone()
            })
        );
        assert!(matches!(
            s.save("missing", b"x", ETagCondition::Match(e3.clone()), None)
                .await,
            Err(StateError::ETagMismatch)
        ));
    }

    #[tokio::test]
    async fn delete_with_condition() {
        let (s, _) = store();
        s.delete("missing", ETagCondition::Match("1".into()))
            .await
            .unwrap();
        let e1 = s.save("k", b"1", ETagCondition::Any, None).await.unwrap();
        let e2 = s.save("k", b"2", ETagCondition::Any, None).await.unwrap();
        assert!(matches!(
            s.delete("k", ETagCondition::Match(e1)).await,
            Err(StateError::ETagMismatch)
        ));
        assert!(matches!(
            s.delete("k", ETagCondition::Absent).await,
            Err(StateError::ETagMismatch)
        ));
        assert!(s.get("k").await.unwrap().is_some());
        s.delete("k", ETagCondition::Match(e2)).await.unwrap();
        assert_eq!(s.get("k").await.unwrap(), None);
    }

    #[tokio::test]
    async fn ttl_expires_on_the_injected_clock() {
        let (s, clock) = store();
        s.save("k", b"1", ETagCondition::Any, Some(Duration::from_secs(60)))
            .await
            .unwrap();
        s.save("forever", b"1", ETagCondition::Any, None)
            .await
            .unwrap();
        clock.advance(chrono::Duration::seconds(59));
        assert!(s.get("k").await.unwrap().is_some());
        clock.advance(chrono::Duration::seconds(1));
        assert_eq!(s.get("k").await.unwrap(), None);
        assert!(s.get("forever").await.unwrap().is_some());
        // An expired key counts as absent for first-write-wins.
        s.save("k", b"2", ETagCondition::Absent, None)
            .await
            .unwrap();
        // A write without TTL clears the previous one.
        clock.advance(chrono::Duration::days(365));
        assert_eq!(s.get("k").await.unwrap().unwrap().value, b"2");
    }

    #[tokio::test]
    async fn expired_entries_are_swept_even_if_never_read() {
        let (s, clock) = store();
        for i in 0..SWEEP_EVERY - 1 {
            let key = format!("k{i}");
            s.save(&key, b"1", ETagCondition::Any, Some(Duration::from_secs(1)))
                .await
                .unwrap();
        }
        clock.advance(chrono::Duration::seconds(2));
        s.save("last", b"1", ETagCondition::Any, None)
            .await
            .unwrap();
        assert_eq!(s.lock().map.len(), 1);
    }

    #[tokio::test]
    async fn expired_entry_does_not_match_its_old_etag() {
        let (s, clock) = store();
        let e = s
            .save("k", b"1", ETagCondition::Any, Some(Duration::from_secs(1)))
            .await
            .unwrap();
        clock.advance(chrono::Duration::seconds(2));
        assert!(matches!(
            s.save("k", b"2", ETagCondition::Match(e), None).await,
            Err(StateError::ETagMismatch)
        ));
    }
}
