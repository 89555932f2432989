//! `Idempotency-Key` on POST: a retry of the same request replays the first answer instead of
//! doing the work twice.
//!
//! The record lives in the `StateStore` under a key scoped to the caller (one user's key never
//! meets another's):
//! 1. claim the key with `ETagCondition::Absent` and a short TTL ([`CLAIM_TTL`]);
//! 2. run the request;
//! 3. save `{fingerprint of method + path + body, status, headers, body}` for [`RECORD_TTL`] —
//!    or, for a 5xx answer, release the claim so that a retry runs again.
//!
//! A retry with the same key and the same request gets the stored answer with
//! `Idempotent-Replayed: true`; the same key with a different request is 422
//! `IDEMPOTENCY_CONFLICT`; a retry while the first is still running is 409 `IDEMPOTENCY_CONFLICT`.
//! If the process dies between running the request and saving the record, the claim expires after
//! [`CLAIM_TTL`] and a later retry runs again (the record cannot share the task's transaction).

use std::time::Duration;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::extract::Authed;
use super::problem::Problem;
use crate::app::ServiceError;
use crate::domain::{ErrorCode, UserId};
use crate::ports::error::chain;
use crate::ports::{ETagCondition, StateError};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
pub const MAX_KEY_LEN: usize = 255;
/// How long a finished request's answer is kept for replays.
pub const RECORD_TTL: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a claim protects a request in flight (longer than any request should take).
pub const CLAIM_TTL: Duration = Duration::from_secs(60);

#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
enum Record {
    InFlight {
        fingerprint: String,
    },
    Done {
        fingerprint: String,
        status: u16,
        content_type: Option<String>,
        location: Option<String>,
        /// Base64 of the response body.
        body: String,
    },
}

/// The state-store key of `key` for `user` (length-prefixed, so no user id can collide with
/// another's key).
pub fn state_key(user: &UserId, key: &str) -> String {
    format!(
        "http-idempotency:{}:{}:{}",
        user.as_str().len(),
        user.as_str(),
        key
    )
}

/// The value stored while a request with this method, path and body is in flight (exposed for
/// tests that simulate a concurrent duplicate).
pub fn in_flight_record(method: &Method, path_and_query: &str, body: &[u8]) -> Vec<u8> {
    serde_json::to_vec(&Record::InFlight {
        fingerprint: fingerprint(method, path_and_query, body),
    })
    .expect("record serialises")
}

/// FNV-1a (128-bit) of method, path and body: stable across builds and releases, unlike std's
/// hasher, so records survive upgrades.
fn fingerprint(method: &Method, path_and_query: &str, body: &[u8]) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for part in [
        method.as_str().as_bytes(),
        b"\0",
        path_and_query.as_bytes(),
        b"\0",
        body,
    ] {
        for b in part {
            h ^= u128::from(*b);
            h = h.wrapping_mul(PRIME);
        }
    }
    format!("{h:032x}")
}

fn validate_key(raw: &HeaderValue) -> Result<String, Problem> {
    let bad = || {
        Problem::invalid_request(format!(
            "Idempotency-Key must be 1-{MAX_KEY_LEN} printable ASCII characters"
        ))
        .with_field("Idempotency-Key")
    };
    let key = raw.to_str().map_err(|_| bad())?;
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key.bytes().all(|b| (0x20..=0x7e).contains(&b));
    if ok { Ok(key.to_owned()) } else { Err(bad()) }
}

fn conflict_in_flight() -> Response {
    Problem::new(
        ErrorCode::IdempotencyConflict,
        "A request with this Idempotency-Key is still being processed; retry later",
    )
    .into_response()
}

fn conflict_reused() -> Response {
    Problem::new(
        ErrorCode::IdempotencyConflict,
        "This Idempotency-Key was already used with a different request",
    )
    .with_status(StatusCode::UNPROCESSABLE_ENTITY)
    .with_field("Idempotency-Key")
    .into_response()
}

fn state_problem(e: StateError) -> Response {
    match e {
        StateError::ETagMismatch => conflict_in_flight(),
        StateError::Infra(e) => Problem::from(ServiceError::Internal(e)).into_response(),
    }
}

/// What an existing record means for a request with fingerprint `fp`.
fn answer_existing(value: &[u8], fp: &str) -> Response {
    let record: Record = match serde_json::from_slice(value) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "unreadable idempotency record");
            return Problem::internal().into_response();
        }
    };
    match record {
        Record::InFlight { fingerprint } if fingerprint == fp => conflict_in_flight(),
        Record::Done {
            fingerprint,
            status,
            content_type,
            location,
            body,
        } if fingerprint == fp => {
            let body = base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap_or_default();
            let mut res =
                (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            let headers = res.headers_mut();
            for (name, value) in [
                (header::CONTENT_TYPE, content_type),
                (header::LOCATION, location),
            ] {
                if let Some(v) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
                    headers.insert(name, v);
                }
            }
            headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
            res
        }
        _ => conflict_reused(),
    }
}

/// The middleware (on every authenticated `/api/v1` route, inside `authenticate_first`; it only
/// acts on POST with the header).
pub async fn idempotency(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() != Method::POST {
        return next.run(req).await;
    }
    let Some(raw) = req.headers().get(HEADER) else {
        return next.run(req).await;
    };
    let key = match validate_key(raw) {
        Ok(k) => k,
        Err(p) => return p.into_response(),
    };
    // `authenticate_first` runs before this middleware and leaves the caller here.
    let Some(Authed(actor)) = req.extensions().get::<Authed>().cloned() else {
        // Unreachable behind `authenticate_first`; without it, the handler answers 401 and
        // nothing is stored.
        return next.run(req).await;
    };

    let (parts, body) = req.into_parts();
    let bytes: Bytes = match to_bytes(body, state.body_limit).await {
        Ok(b) => b,
        Err(e) if chain(&e).contains("length limit exceeded") => {
            return Problem::payload_too_large(state.body_limit).into_response();
        }
        Err(e) => {
            return Problem::invalid_request(format!("Could not read the request body: {e}"))
                .into_response();
        }
    };
    // Inside the nested `/api/v1` router the URI is stripped of its prefix; fingerprint the
    // path the client sent.
    let uri = parts
        .extensions
        .get::<OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |o| o.0.clone());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let fp = fingerprint(&parts.method, path, &bytes);
    let skey = state_key(&actor.user_id, &key);
    let store = state.services.state.clone();

    match store.get(&skey).await {
        Ok(Some(entry)) => return answer_existing(&entry.value, &fp),
        Ok(None) => {}
        Err(e) => return state_problem(e),
    }
    let claim = serde_json::to_vec(&Record::InFlight {
        fingerprint: fp.clone(),
    })
    .expect("record serialises");
    let etag = match store
        .save(&skey, &claim, ETagCondition::Absent, Some(CLAIM_TTL))
        .await
    {
        Ok(etag) => etag,
        // Another request claimed the key between our read and our claim.
        Err(StateError::ETagMismatch) => {
            return match store.get(&skey).await {
                Ok(Some(entry)) => answer_existing(&entry.value, &fp),
                Ok(None) => conflict_in_flight(),
                Err(e) => state_problem(e),
            };
        }
        Err(e) => return state_problem(e),
    };

    let res = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let (res_parts, res_body) = res.into_parts();
    let res_bytes = match to_bytes(res_body, usize::MAX).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %chain(&e), "could not buffer a response");
            let _ = store.delete(&skey, ETagCondition::Match(etag)).await;
            return Problem::internal().into_response();
        }
    };
    if res_parts.status.is_server_error() {
        if let Err(e) = store
            .delete(&skey, ETagCondition::Match(etag.clone()))
            .await
        {
            // Most likely the same outage that failed the request. Keep trying in the
            // background, so the client's retry is not refused ("still being processed") for
            // the claim's whole minute once the store is back.
            tracing::warn!(error = %chain(&e), "could not release an idempotency claim; retrying");
            tokio::spawn(async move {
                for _ in 0..20 {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    if store
                        .delete(&skey, ETagCondition::Match(etag.clone()))
                        .await
                        .is_ok()
                    {
                        return;
                    }
                }
            });
        }
    } else {
        let header_text = |name| {
            res_parts
                .headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        let record = Record::Done {
            fingerprint: fp,
            status: res_parts.status.as_u16(),
            content_type: header_text(header::CONTENT_TYPE),
            location: header_text(header::LOCATION),
            body: base64::engine::general_purpose::STANDARD.encode(&res_bytes),
        };
        let value = serde_json::to_vec(&record).expect("record serialises");
        if let Err(e) = store
            .save(&skey, &value, ETagCondition::Match(etag), Some(RECORD_TTL))
            .await
        {
            tracing::warn!(error = %chain(&e), "could not store an idempotent response");
        }
    }
    Response::from_parts(res_parts, Body::from(res_bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_stable_and_sensitive() {
        let a = fingerprint(&Method::POST, "/api/v1/tasks", b"{\"title\":\"a\"}");
        assert_eq!(
            a,
            fingerprint(&Method::POST, "/api/v1/tasks", b"{\"title\":\"a\"}")
        );
        assert_ne!(
            a,
            fingerprint(&Method::POST, "/api/v1/tasks", b"{\"title\":\"b\"}")
        );
        assert_ne!(
            a,
            fingerprint(&Method::POST, "/api/v1/tags", b"{\"title\":\"a\"}")
        );
        // FNV-1a 128 of the empty input is the offset basis.
        assert_eq!(
            fingerprint(&Method::GET, "", b"").len(),
            32,
            "fixed-width hex"
        );
    }

    #[test]
    fn keys_are_bounded_and_printable() {
        assert!(validate_key(&HeaderValue::from_static("abc-123")).is_ok());
        assert!(validate_key(&HeaderValue::from_static("")).is_err());
        let long = "k".repeat(256);
        assert!(validate_key(&HeaderValue::from_str(&long).unwrap()).is_err());
        assert!(validate_key(&HeaderValue::from_bytes(b"caf\xc3\xa9").unwrap()).is_err());
    }

    #[test]
    fn state_keys_do_not_collide_across_users() {
        let a = state_key(&UserId::parse("a:b").unwrap(), "c");
        let b = state_key(&UserId::parse("a").unwrap(), "b:c");
        assert_ne!(a, b);
    }
}
