//! `DeadLetters` in memory: for tests and the embedded default, where nothing outlives the process.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::domain::event::Topic;
use crate::ports::{DeadLetter, DeadLetters, InfraError, NewDeadLetter};

#[derive(Clone, Default)]
pub struct MemoryDeadLetters {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Default)]
struct Inner {
    letters: BTreeMap<i64, DeadLetter>,
    last_id: i64,
}

impl MemoryDeadLetters {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl DeadLetters for MemoryDeadLetters {
    async fn record(
        &self,
        letter: NewDeadLetter,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, InfraError> {
        let mut inner = self.lock();
        if letter.event_id.is_some()
            && inner
                .letters
                .values()
                .any(|d| d.letter.topic == letter.topic && d.letter.event_id == letter.event_id)
        {
            return Ok(None);
        }
        inner.last_id += 1;
        let id = inner.last_id;
        inner.letters.insert(
            id,
            DeadLetter {
                id,
                recorded_at: now,
                letter,
            },
        );
        Ok(Some(id))
    }

    async fn list(
        &self,
        topic: Option<Topic>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, InfraError> {
        Ok(self
            .lock()
            .letters
            .range(after.saturating_add(1)..)
            .map(|(_, d)| d)
            .filter(|d| topic.is_none_or(|t| d.letter.topic == t))
            .take(limit)
            .cloned()
            .collect())
    }

    async fn take(&self, id: i64) -> Result<Option<DeadLetter>, InfraError> {
        Ok(self.lock().letters.remove(&id))
    }
}
