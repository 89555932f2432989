//! `Scheduler` on the Jobs API (`/v1.0/jobs/{name}`, Dapr 1.18), backed by the Dapr Scheduler.
//!
//! * One one-shot job per `Job`, due at `dueTime` (RFC 3339, microseconds); re-scheduling a name
//!   replaces the job (`overwrite`). A job due while no sidecar or app of this app id was up is
//!   held by the Scheduler and fires when one connects.
//! * The job's `data` carries the `Job` itself (`name`, `dueAt`, base64 `payload`), so the
//!   delivery at `POST /job/{name}` needs nothing else. The body is protojson with whitespace of
//!   its own: parsed, never compared.
//! * Names are made safe for the URL and the Scheduler's keys (`[A-Za-z0-9._-]`, anything else
//!   hex-escaped as `_XX`); reminder job names (`reminder-42`) are already safe.
//! * The handler's outcome is the HTTP answer: 2xx for Done and Reject (the one-shot job is
//!   then deleted by the Scheduler), 500 for Retry, so the constant failure policy (every
//!   `dapr.job_retry_interval_ms`, without a cap: a reminder must not be lost to a long outage)
//!   fires it again. A job replaced while its old firing ran is kept (verified on 1.18.3).
//! * Deliveries that arrive before `start` registered the handler wait for it (up to 30 s, then
//!   500: the failure policy brings them back).

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use chrono::{DateTime, SecondsFormat, Utc};
use futures::FutureExt;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::client::{ApiError, Sidecar};
use crate::ports::{InfraError, Job, JobHandler, Outcome, Scheduler};

/// How long a job delivery waits for `start` before answering 500.
const HANDLER_WAIT: Duration = Duration::from_secs(30);

pub(crate) struct JobsInner {
    sidecar: Sidecar,
    retry_interval: Duration,
    handler: watch::Sender<Option<Arc<dyn JobHandler>>>,
}

#[derive(Clone)]
pub struct DaprScheduler {
    pub(crate) inner: Arc<JobsInner>,
}

/// The job as stored in the Scheduler (the job's `data`).
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobData {
    name: String,
    due_at: DateTime<Utc>,
    #[serde(default)]
    payload: String,
}

/// The job's name in the Jobs API: `[A-Za-z0-9.-]` kept, every other byte (and `_`) as `_XX`.
pub(crate) fn api_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'-' || b == b'.' {
            out.push(b as char);
        } else {
            out.push_str(&format!("_{b:02X}"));
        }
    }
    out
}

/// A protobuf `Duration` in JSON: seconds with a fraction, e.g. `2.000s`.
fn proto_duration(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

impl DaprScheduler {
    pub(crate) fn new(sidecar: Sidecar, retry_interval: Duration) -> Self {
        Self {
            inner: Arc::new(JobsInner {
                sidecar,
                retry_interval,
                handler: watch::Sender::new(None),
            }),
        }
    }
}

/// What the app answers to a job delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fired {
    /// 2xx: the job is finished (done, rejected, or unreadable).
    Finished,
    /// 500: fire it again after the failure policy's interval.
    Again,
}

impl JobsInner {
    /// A delivery of `POST /job/{name}`. The handler runs in a task of its own, so daprd giving
    /// up on the request does not cancel it half-way.
    pub async fn fire(self: &Arc<Self>, api_name: &str, body: &[u8]) -> Fired {
        let data: JobData = match serde_json::from_slice(body) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(job = api_name, error = %e, "job delivery is not a Tickler job; dropping it");
                return Fired::Finished;
            }
        };
        let payload = match B64.decode(data.payload.as_bytes()) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(job = %data.name, error = %e, "job payload is not base64; dropping it");
                return Fired::Finished;
            }
        };
        let mut rx = self.handler.subscribe();
        let handler = match tokio::time::timeout(HANDLER_WAIT, rx.wait_for(Option::is_some)).await {
            Ok(Ok(h)) => h.clone().expect("waited for a handler"),
            _ => {
                tracing::warn!(job = %data.name, "job delivered before the scheduler was started; asking for it again");
                return Fired::Again;
            }
        };
        let job = Job {
            name: data.name,
            due_at: data.due_at,
            payload,
        };
        let outcome = tokio::spawn(async move {
            AssertUnwindSafe(handler.fire(&job))
                .catch_unwind()
                .await
                .unwrap_or_else(|_| Outcome::Retry("job handler panicked".into()))
        })
        .await
        .unwrap_or_else(|_| Outcome::Retry("job handler task failed".into()));
        match outcome {
            Outcome::Done => Fired::Finished,
            Outcome::Reject(reason) => {
                tracing::warn!(job = api_name, %reason, "scheduled job rejected; dropping it");
                Fired::Finished
            }
            Outcome::Retry(reason) => {
                tracing::debug!(job = api_name, %reason, "scheduled job will fire again");
                Fired::Again
            }
        }
    }
}

#[async_trait]
impl Scheduler for DaprScheduler {
    async fn schedule(&self, job: Job) -> Result<(), InfraError> {
        let name = api_name(&job.name);
        let body = serde_json::json!({
            "dueTime": job.due_at.to_rfc3339_opts(SecondsFormat::Micros, true),
            "data": JobData {
                name: job.name.clone(),
                due_at: job.due_at,
                payload: B64.encode(&job.payload),
            },
            "overwrite": true,
            "failurePolicy": {
                "constant": { "interval": proto_duration(self.inner.retry_interval) }
            },
        });
        let s = &self.inner.sidecar;
        s.call(
            s.request(Method::POST, &format!("/v1.0/jobs/{name}"))
                .json(&body),
            &format!("scheduling job {}", job.name),
        )
        .await?;
        Ok(())
    }

    async fn cancel(&self, name: &str) -> Result<(), InfraError> {
        let s = &self.inner.sidecar;
        let context = format!("cancelling job {name}");
        let resp = s
            .send(
                s.request(Method::DELETE, &format!("/v1.0/jobs/{}", api_name(name))),
                &context,
            )
            .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let err = ApiError::read(resp).await;
        if err.message.to_ascii_lowercase().contains("not found") {
            return Ok(());
        }
        Err(err.into_infra(context))
    }

    async fn start(&self, handler: Arc<dyn JobHandler>) -> Result<(), InfraError> {
        let mut started = false;
        self.inner.handler.send_if_modified(|h| {
            if h.is_some() {
                return false;
            }
            *h = Some(handler);
            started = true;
            true
        });
        if started {
            Ok(())
        } else {
            Err(InfraError::msg("the Dapr scheduler is already started"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_reversibly_enough_to_be_distinct() {
        assert_eq!(api_name("reminder-42"), "reminder-42");
        assert_eq!(api_name("a_b"), "a_5Fb");
        assert_eq!(api_name("a/b c"), "a_2Fb_20c");
        assert_ne!(api_name("a_2Fb"), api_name("a/b"));
    }

    #[test]
    fn durations_are_protobuf_json() {
        assert_eq!(proto_duration(Duration::from_millis(2000)), "2.000s");
        assert_eq!(proto_duration(Duration::from_millis(250)), "0.250s");
    }

    #[test]
    fn job_data_parses_protojson_whitespace() {
        let body =
            br#"{"dueAt":"2026-01-01T00:00:00.123456Z", "name":"reminder-1", "payload":"AQI="}"#;
        let d: JobData = serde_json::from_slice(body).unwrap();
        assert_eq!(d.name, "reminder-1");
        assert_eq!(B64.decode(d.payload).unwrap(), vec![1, 2]);
    }
}
