//! `StateStore` through the sidecar's state API, with the semantics of the SQLite adapter:
//!
//! * `Absent` is `concurrency: first-write` without an ETag, `Match` is first-write with it,
//!   `Any` is last-write. A conflict is `ETagMismatch` whatever status the component answers
//!   (in-memory: 409; PostgreSQL v2: 409 for a wrong ETag, 500 "no item was updated" for a first
//!   write over an existing key; 400 for an ETag it cannot parse).
//! * Values are opaque bytes: stored as a small JSON envelope `{"v": base64, "w": write id}`.
//! * The state API does not return the new ETag of a save, so the adapter reads the key back: if
//!   the value read is its own write (same write id), that ETag is the one to return. If another
//!   writer got in between, the save still happened but was overwritten at once, and the adapter
//!   returns a fresh random ETag that matches nothing: a `Match` with it fails, exactly as with
//!   the real (superseded) ETag.
//! * TTLs are whole seconds (`metadata.ttlInSeconds`), rounded up.
//! * Deleting a missing key succeeds whatever the condition (daprd answers 409 to a delete with
//!   an ETag on a missing key; the adapter checks and forgives that).

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use super::client::{ApiError, Sidecar, segment};
use crate::ports::{ETagCondition, InfraError, StateEntry, StateError, StateStore};

#[derive(Clone)]
pub struct DaprStateStore {
    sidecar: Sidecar,
    store: String,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: String,
    w: String,
}

impl DaprStateStore {
    pub(crate) fn new(sidecar: Sidecar, store: String) -> Self {
        Self { sidecar, store }
    }

    fn key_path(&self, key: &str) -> String {
        format!("/v1.0/state/{}/{}", segment(&self.store), segment(key))
    }

    /// The stored envelope and its ETag.
    async fn read(&self, key: &str) -> Result<Option<(Envelope, String)>, StateError> {
        let context = format!("reading state from {}", self.store);
        let resp = self
            .sidecar
            .call(
                self.sidecar.request(Method::GET, &self.key_path(key)),
                &context,
            )
            .await?;
        if resp.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let etag = resp
            .headers()
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = resp
            .bytes()
            .await
            .map_err(|e| InfraError::transient(context.clone(), e))?;
        if body.is_empty() {
            return Ok(None);
        }
        let envelope: Envelope = serde_json::from_slice(&body).map_err(|e| {
            InfraError::permanent(format!("{context}: {key} does not hold a Tickler value"), e)
        })?;
        let etag = etag.ok_or_else(|| {
            InfraError::msg(format!(
                "{context}: the state store gave no ETag (it needs ETag support)"
            ))
        })?;
        Ok(Some((envelope, etag)))
    }
}

/// Whether daprd's answer to a conditional write means "the condition did not hold".
fn is_conflict(err: &ApiError, condition: &ETagCondition) -> bool {
    if *condition == ETagCondition::Any && err.status != StatusCode::CONFLICT {
        return false;
    }
    let msg = err.message.to_ascii_lowercase();
    err.status == StatusCode::CONFLICT
        || msg.contains("etag")
        || msg.contains("no item was updated")
}

#[async_trait]
impl StateStore for DaprStateStore {
    async fn get(&self, key: &str) -> Result<Option<StateEntry>, StateError> {
        let Some((envelope, etag)) = self.read(key).await? else {
            return Ok(None);
        };
        let value = B64.decode(envelope.v.as_bytes()).map_err(|e| {
            InfraError::permanent(format!("state {key} holds a value that is not base64"), e)
        })?;
        Ok(Some(StateEntry { value, etag }))
    }

    async fn save(
        &self,
        key: &str,
        value: &[u8],
        condition: ETagCondition,
        ttl: Option<Duration>,
    ) -> Result<String, StateError> {
        let write_id = uuid::Uuid::new_v4().to_string();
        let mut item = serde_json::json!({
            "key": key,
            "value": Envelope { v: B64.encode(value), w: write_id.clone() },
        });
        match &condition {
            ETagCondition::Any => {}
            ETagCondition::Absent => {
                item["options"] = serde_json::json!({ "concurrency": "first-write" });
            }
            ETagCondition::Match(etag) => {
                item["etag"] = etag.clone().into();
                item["options"] = serde_json::json!({ "concurrency": "first-write" });
            }
        }
        if let Some(ttl) = ttl {
            let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
            item["metadata"] = serde_json::json!({ "ttlInSeconds": secs.max(1).to_string() });
        }
        let context = format!("saving state in {}", self.store);
        let path = format!("/v1.0/state/{}", segment(&self.store));
        let resp = self
            .sidecar
            .send(
                self.sidecar.request(Method::POST, &path).json(&[item]),
                &context,
            )
            .await?;
        if !resp.status().is_success() {
            let err = ApiError::read(resp).await;
            if is_conflict(&err, &condition) {
                return Err(StateError::ETagMismatch);
            }
            return Err(err.into_infra(context).into());
        }
        Ok(match self.read(key).await? {
            Some((envelope, etag)) if envelope.w == write_id => etag,
            // Overwritten (or expired) already: an ETag that can never match.
            _ => uuid::Uuid::new_v4().to_string(),
        })
    }

    async fn delete(&self, key: &str, condition: ETagCondition) -> Result<(), StateError> {
        let etag = match condition {
            ETagCondition::Any => None,
            ETagCondition::Absent => {
                // Only a missing key may be "deleted" on the condition that it is absent.
                return match self.read(key).await? {
                    Some(_) => Err(StateError::ETagMismatch),
                    None => Ok(()),
                };
            }
            ETagCondition::Match(etag) => Some(etag),
        };
        let context = format!("deleting state from {}", self.store);
        let mut rb = self.sidecar.request(Method::DELETE, &self.key_path(key));
        if let Some(etag) = &etag {
            rb = rb
                .header("if-match", etag)
                .query(&[("concurrency", "first-write")]);
        }
        let resp = self.sidecar.send(rb, &context).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        let err = ApiError::read(resp).await;
        let condition = etag.map_or(ETagCondition::Any, ETagCondition::Match);
        if is_conflict(&err, &condition) {
            // daprd reports an ETag on a missing key as a mismatch; there is nothing to protect.
            return match self.read(key).await? {
                None => Ok(()),
                Some(_) => Err(StateError::ETagMismatch),
            };
        }
        Err(err.into_infra(context).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, message: &str) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(status).unwrap(),
            code: "ERR_STATE_SAVE".into(),
            message: message.into(),
        }
    }

    #[test]
    fn conflicts_are_recognised_whatever_the_status() {
        let m = ETagCondition::Match("e".into());
        assert!(is_conflict(&err(409, "possible etag mismatch"), &m));
        assert!(is_conflict(
            &err(500, "failed saving state: no item was updated"),
            &ETagCondition::Absent
        ));
        assert!(is_conflict(&err(400, "invalid etag value"), &m));
        assert!(!is_conflict(&err(500, "connection refused"), &m));
        // A last-write save has no condition to fail; a 500 there is an outage.
        assert!(!is_conflict(
            &err(500, "no item was updated"),
            &ETagCondition::Any
        ));
    }
}
