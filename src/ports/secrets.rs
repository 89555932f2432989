//! Credentials read at start-up from a secret store (Dapr mode: the sidecar's secret stores).

use async_trait::async_trait;

use super::InfraError;
use crate::config::Secret;

#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The secret called `name`; `None` when the store has no such secret. Errors mean the store
    /// could not be asked (unreachable, unknown store, access denied), never "not there".
    async fn get(&self, name: &str) -> Result<Option<Secret>, InfraError>;
}
