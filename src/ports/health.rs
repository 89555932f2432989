//! Readiness of a dependency (database, broker, sidecar), reported by `/readyz`.

use async_trait::async_trait;

use super::InfraError;

#[async_trait]
pub trait HealthCheck: Send + Sync {
    /// Short stable name shown in the readiness report, e.g. `database`, `transport`.
    fn name(&self) -> &'static str;

    /// Fails when the dependency cannot serve requests right now.
    async fn check(&self) -> Result<(), InfraError>;
}
