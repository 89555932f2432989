//! Key/value state with ETags and TTL: Dapr's state API semantics, used for consumer idempotency
//! records and idempotent HTTP requests.

use std::time::Duration;

use async_trait::async_trait;

use super::InfraError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    pub value: Vec<u8>,
    pub etag: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ETagCondition {
    /// Last write wins.
    Any,
    /// Only if the stored ETag is this one.
    Match(String),
    /// Only if the key does not exist (first write wins).
    Absent,
}

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("etag mismatch")]
    ETagMismatch,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[async_trait]
pub trait StateStore: Send + Sync {
    /// Expired entries are never returned.
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError>;

    /// Returns the new ETag. `ttl` makes the entry disappear after that long.
    async fn save(
        &self,
        key: &str,
        value: &[u8],
        condition: ETagCondition,
        ttl: Option<Duration>,
    ) -> Result<String, StateError>;

    /// Deleting a missing key is not an error; `Match` guards against deleting a newer value.
    async fn delete(&self, key: &str, condition: ETagCondition) -> Result<(), StateError>;
}
