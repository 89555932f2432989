//! The sidecar's readiness, as seen from the app: `GET /v1.0/healthz/outbound` answers 204 once
//! daprd's components and APIs are up. (`/v1.0/healthz` also waits for the app's own port to
//! answer; waiting on it before serving the app routes would deadlock.)

use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::Method;

use super::client::Sidecar;
use crate::ports::{HealthCheck, InfraError};

#[derive(Clone)]
pub struct SidecarHealth {
    sidecar: Sidecar,
}

impl SidecarHealth {
    pub(crate) fn new(sidecar: Sidecar) -> Self {
        Self { sidecar }
    }

    /// Polls until the sidecar is ready or `within` has passed.
    pub async fn wait(&self, within: Duration) -> Result<(), InfraError> {
        let deadline = Instant::now() + within;
        loop {
            match self.check().await {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() >= deadline => {
                    return Err(InfraError {
                        context: format!(
                            "the Dapr sidecar was not ready within {}s (dapr.wait_secs): {}",
                            within.as_secs(),
                            e.context
                        ),
                        transient: true,
                        source: e.source,
                    });
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
}

#[async_trait]
impl HealthCheck for SidecarHealth {
    fn name(&self) -> &'static str {
        "transport"
    }

    async fn check(&self) -> Result<(), InfraError> {
        let rb = self
            .sidecar
            .request(Method::GET, "/v1.0/healthz/outbound")
            .timeout(Duration::from_secs(2));
        self.sidecar
            .call(rb, "Dapr sidecar health")
            .await
            .map(|_| ())
    }
}
