//! Task and reminder ids reserved from their sequences ahead of use.
//!
//! A task write must know the ids it assigns before it writes: the events it appends to the
//! outbox in the same statement carry the task with its id and its reminders' ids. Taking them
//! from the sequence in blocks (one `nextval` round trip per [`BLOCK`] ids) lets a create be a
//! single statement. Ids stay unique (they come from the sequence) and increase within a process;
//! across processes they interleave, as sequence values of concurrent transactions always do.
//! A block's unused ids are lost when the process stops, which only leaves gaps.

use std::collections::BTreeSet;

use sqlx::PgPool;
use tokio::sync::Mutex;

use super::error::infra;
use crate::ports::InfraError;

const BLOCK: i64 = 32;

pub(crate) struct IdReservoir {
    /// `tasks_id_seq` or `reminders_id_seq`, resolved through the search_path.
    sequence: &'static str,
    /// Smallest first, so one process hands out increasing ids even when two refills race.
    free: Mutex<BTreeSet<i64>>,
}

impl IdReservoir {
    pub(crate) fn new(sequence: &'static str) -> Self {
        Self {
            sequence,
            free: Mutex::new(BTreeSet::new()),
        }
    }

    /// `n` fresh ids, smallest first.
    pub(crate) async fn take(&self, pool: &PgPool, n: usize) -> Result<Vec<i64>, InfraError> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let mut free = self.free.lock().await;
        if free.len() < n {
            // Refilled under the lock: concurrent writers wait one round trip instead of each
            // taking a block.
            let want = BLOCK.max(i64::try_from(n).unwrap_or(BLOCK));
            let fresh: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval($1::regclass) FROM generate_series(1, $2::bigint)",
            )
            .bind(self.sequence)
            .bind(want)
            .fetch_all(pool)
            .await
            .map_err(|e| infra(format!("cannot reserve ids from {}", self.sequence), e))?;
            free.extend(fresh);
        }
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            if let Some(id) = free.pop_first() {
                out.push(id);
            }
        }
        Ok(out)
    }
}
