//! The sidecar's HTTP API as the adapters use it: one `reqwest` client with a timeout, the
//! `dapr-api-token` header on every call when configured, and daprd's error answers turned into
//! `InfraError`s whose `transient` flag says whether trying again can help.

use std::time::Duration;

use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::config::{DaprConfig, Secret};
use crate::ports::InfraError;

/// Header daprd expects the API token in (and sends the app token in).
pub(crate) const TOKEN_HEADER: &str = "dapr-api-token";

#[derive(Clone)]
pub(crate) struct Sidecar {
    http: reqwest::Client,
    base: String,
    token: Option<Secret>,
}

/// An error answer of daprd: `{"errorCode":…,"message":…}` (or plain text, e.g. a 401).
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub code: String,
    pub message: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.code.is_empty() {
            write!(f, "HTTP {}: {}", self.status.as_u16(), self.message)
        } else {
            write!(
                f,
                "HTTP {} {}: {}",
                self.status.as_u16(),
                self.code,
                self.message
            )
        }
    }
}

impl std::error::Error for ApiError {}

impl ApiError {
    /// As a port error: server-side trouble (5xx, 429, 408) is worth retrying; a refused token,
    /// an unknown component or a malformed request is not.
    pub fn into_infra(self, context: impl Into<String>) -> InfraError {
        let context = context.into();
        let transient = self.status.is_server_error()
            || self.status == StatusCode::TOO_MANY_REQUESTS
            || self.status == StatusCode::REQUEST_TIMEOUT;
        let context = if self.status == StatusCode::UNAUTHORIZED && self.code.is_empty() {
            format!(
                "{context}: the sidecar refused the API token (dapr.api_token / DAPR_API_TOKEN)"
            )
        } else {
            context
        };
        InfraError {
            context,
            transient,
            source: Some(Box::new(self)),
        }
    }

    pub async fn read(resp: Response) -> Self {
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        #[derive(serde::Deserialize)]
        struct Body {
            #[serde(rename = "errorCode", default)]
            code: String,
            #[serde(default)]
            message: String,
        }
        match serde_json::from_str::<Body>(&body) {
            Ok(b) => Self {
                status,
                code: b.code,
                message: b.message,
            },
            Err(_) => Self {
                status,
                code: String::new(),
                message: body.trim().chars().take(500).collect(),
            },
        }
    }
}

impl Sidecar {
    pub fn new(config: &DaprConfig) -> Result<Self, InfraError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.request_timeout_ms))
            .connect_timeout(Duration::from_secs(2))
            .tcp_nodelay(true)
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| InfraError::permanent("cannot build the sidecar's HTTP client", e))?;
        Ok(Self {
            http,
            base: config.http_endpoint.trim_end_matches('/').to_owned(),
            token: config.api_token.clone(),
        })
    }

    /// A request to `path` (starting with `/`), carrying the API token when there is one.
    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let rb = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => rb.header(TOKEN_HEADER, t.expose()),
            None => rb,
        }
    }

    /// Sends the request; only failures to get an answer at all are errors here (always
    /// transient: the sidecar is restarting, or slow).
    pub async fn send(&self, rb: RequestBuilder, context: &str) -> Result<Response, InfraError> {
        rb.send()
            .await
            .map_err(|e| InfraError::transient(format!("{context}: sidecar unreachable"), e))
    }

    /// Sends and expects a 2xx answer; anything else becomes an error.
    pub async fn call(&self, rb: RequestBuilder, context: &str) -> Result<Response, InfraError> {
        let resp = self.send(rb, context).await?;
        if resp.status().is_success() {
            Ok(resp)
        } else {
            Err(ApiError::read(resp).await.into_infra(context))
        }
    }
}

/// `s` as one URL path segment: everything but RFC 3986's unreserved characters percent-encoded
/// (daprd decodes the segment, so a state key keeps its `/`, `:` or spaces).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_keep_unreserved_characters_only() {
        assert_eq!(segment("reminder-12"), "reminder-12");
        assert_eq!(segment("user/42:x ✓"), "user%2F42%3Ax%20%E2%9C%93");
        assert_eq!(segment("a||b"), "a%7C%7Cb");
    }

    #[test]
    fn server_errors_are_transient_and_refusals_are_not() {
        let e = |status: u16, code: &str| ApiError {
            status: StatusCode::from_u16(status).unwrap(),
            code: code.into(),
            message: "m".into(),
        };
        assert!(
            e(500, "ERR_PUBSUB_PUBLISH_MESSAGE")
                .into_infra("x")
                .transient
        );
        assert!(e(503, "").into_infra("x").transient);
        assert!(!e(404, "ERR_PUBSUB_NOT_FOUND").into_infra("x").transient);
        let refused = e(401, "").into_infra("publish");
        assert!(!refused.transient);
        assert!(refused.context.contains("API token"), "{}", refused.context);
    }
}
