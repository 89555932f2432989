//! Extractors that answer with problem documents: the authenticated caller, JSON bodies, path and
//! query parameters.

use axum::body::Bytes;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::AppState;
use super::problem::Problem;
use crate::app::Actor;
use crate::auth::AuthError;

/// The caller, from `Authorization: Bearer <jwt>`, with the request's W3C trace context.
#[derive(Debug, Clone)]
pub struct Authed(pub Actor);

/// Verifies the request's bearer token: the caller, or the 401 problem that explains why not.
fn authenticate(parts: &Parts, state: &AppState) -> Result<Authed, Problem> {
    let header = parts
        .headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let mut actor = state.auth.verify_header(header).map_err(|e| {
        Problem::unauthorized(match e {
            AuthError::Missing => "Missing Authorization header (expected `Bearer <token>`)",
            AuthError::BadScheme => "Authorization header must be `Bearer <token>`",
            AuthError::Invalid => "Invalid or expired token",
        })
    })?;
    let incoming = parts
        .headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok());
    actor.traceparent = Some(child_traceparent(incoming));
    Ok(Authed(actor))
}

/// Middleware on every authenticated `/api/v1` route, outermost of them: a request without a
/// valid token is answered 401 before anything else about it (its `Idempotency-Key`, path, query
/// or body) is looked at, so a client learns first that it must authenticate and an anonymous
/// caller learns nothing about what the server would accept. The caller is left in the request's
/// extensions for the idempotency middleware and the handlers.
pub async fn authenticate_first(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (mut parts, body) = req.into_parts();
    match authenticate(&parts, &state) {
        Ok(authed) => {
            parts.extensions.insert(authed);
            next.run(Request::from_parts(parts, body)).await
        }
        Err(p) => p.into_response(),
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Problem> {
        // Set by `authenticate_first`; verified here only on a route without that middleware.
        match parts.extensions.get::<Authed>() {
            Some(authed) => Ok(authed.clone()),
            None => authenticate(parts, state),
        }
    }
}

/// Parses a W3C `traceparent` (version 00 layout); `None` when it is not a valid one.
/// Returns the trace id and the trace flags.
pub fn parse_traceparent(raw: &str) -> Option<(&str, &str)> {
    let parts: Vec<&str> = raw.trim().split('-').collect();
    let [version, trace_id, parent_id, flags, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = hex(version, 2)
        && *version != "ff"
        && (*version != "00" || rest.is_empty())
        && hex(trace_id, 32)
        && trace_id.bytes().any(|b| b != b'0')
        && hex(parent_id, 16)
        && parent_id.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some((*trace_id, *flags))
}

/// The trace context this request passes on: the caller's trace (when valid) with a new span id
/// for this request, or a fresh sampled trace.
pub fn child_traceparent(incoming: Option<&str>) -> String {
    let span_id = loop {
        let v: u64 = rand::random();
        if v != 0 {
            break v;
        }
    };
    match incoming.and_then(parse_traceparent) {
        Some((trace_id, flags)) => format!("00-{trace_id}-{span_id:016x}-{flags}"),
        None => {
            let trace_id = loop {
                let v: u128 = rand::random();
                if v != 0 {
                    break v;
                }
            };
            format!("00-{trace_id:032x}-{span_id:016x}-01")
        }
    }
}

/// A JSON body whose problems are answered as problem documents: 415 without a JSON content type,
/// 413 beyond the body limit, 400 `INVALID_REQUEST` for malformed JSON and for unknown, missing or
/// mistyped fields (naming the field when serde does).
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(req: Request, state: &S) -> Result<Self, Problem> {
        if !is_json(req.headers().get(header::CONTENT_TYPE)) {
            return Err(Problem::invalid_request(
                "Expected a JSON body with `Content-Type: application/json`",
            )
            .with_status(axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                Problem::new(
                    crate::domain::ErrorCode::PayloadTooLarge,
                    "Request body is too large",
                )
            } else {
                Problem::invalid_request(format!(
                    "Could not read the request body: {}",
                    e.body_text()
                ))
            }
        })?;
        axum::Json::<T>::from_bytes(&bytes)
            .map(|axum::Json(v)| Self(v))
            .map_err(json_problem)
    }
}

fn is_json(value: Option<&axum::http::HeaderValue>) -> bool {
    let Some(ct) = value.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

const DATA_PREFIX: &str = "Failed to deserialize the JSON body into the target type: ";

fn json_problem(rejection: JsonRejection) -> Problem {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            let text = e.body_text();
            let msg = text.strip_prefix(DATA_PREFIX).unwrap_or(&text).to_owned();
            let field = field_of(&msg);
            let p = Problem::invalid_request(format!("Invalid request body: {msg}"));
            match field {
                Some(f) => p.with_field(f),
                None => p,
            }
        }
        JsonRejection::JsonSyntaxError(e) => {
            Problem::invalid_request(format!("Malformed JSON: {}", e.body_text()))
        }
        other => Problem::invalid_request(other.body_text()),
    }
}

/// The field a serde data error is about: `unknown field `x``, `missing field `x``, or the path
/// prefix `x: invalid type…` added by axum.
fn field_of(msg: &str) -> Option<String> {
    for marker in ["unknown field `", "missing field `"] {
        if let Some(rest) = msg.find(marker).map(|i| &msg[i + marker.len()..]) {
            return rest.split('`').next().map(str::to_owned);
        }
    }
    let (path, _) = msg.split_once(": ")?;
    let ok = !path.is_empty()
        && path != "."
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    ok.then(|| path.to_owned())
}

/// Path parameters; a malformed one (e.g. a non-numeric id) is 400 `INVALID_REQUEST`.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Self(v))
            .map_err(|e: PathRejection| {
                Problem::invalid_request(format!("Invalid path parameter: {}", e.body_text()))
            })
    }
}

/// Query parameters; unknown, repeated or mistyped ones are 400 `INVALID_REQUEST`.
#[derive(Debug, Clone)]
pub struct QueryParams<T>(pub T);

impl<T, S> FromRequestParts<S> for QueryParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| Self(v))
            .map_err(|e: QueryRejection| {
                let text = e.body_text();
                let msg = text
                    .strip_prefix("Failed to deserialize query string: ")
                    .unwrap_or(&text)
                    .to_owned();
                let p = Problem::invalid_request(format!("Invalid query string: {msg}"));
                match field_of(&msg) {
                    Some(f) => p.with_field(f),
                    None => p,
                }
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn traceparent_is_validated() {
        assert_eq!(
            parse_traceparent(VALID),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "01"))
        );
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn child_keeps_the_trace_and_changes_the_span() {
        let child = child_traceparent(Some(VALID));
        let (trace, flags) = parse_traceparent(&child).unwrap();
        assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(flags, "01");
        assert_ne!(child, VALID);
        let fresh = child_traceparent(Some("garbage"));
        assert!(parse_traceparent(&fresh).is_some());
        assert!(!fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736"));
    }

    #[test]
    fn field_names_are_found_in_serde_messages() {
        assert_eq!(
            field_of("unknown field `user_id`, expected one of `title`").as_deref(),
            Some("user_id")
        );
        assert_eq!(
            field_of("missing field `title` at line 1 column 2").as_deref(),
            Some("title")
        );
        assert_eq!(
            field_of("priority: invalid type: integer `5`, expected a string").as_deref(),
            Some("priority")
        );
        assert_eq!(field_of("expected value at line 1 column 1"), None);
    }
}
