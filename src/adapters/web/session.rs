//! Who is looking at the page: the session cookie (an HS256 JWT, the same kind of token the REST
//! API takes as `Bearer`), one-time sign-in links, and CSRF protection of state-changing requests.
//!
//! - Session: cookie `tickler_session`, HttpOnly, SameSite=Strict, Path=/, Secure when the request
//!   came over https (`X-Forwarded-Proto: https` from a TLS-terminating proxy). Its content is
//!   verified by [`Auth::verify`], so a token from a shared identity provider (the seed's Better
//!   Auth) works as the cookie's content.
//! - Sign-in links: `/login?token=<jwt>` where the JWT is signed with a key derived from the
//!   signing secret and used for nothing else (so a link is never a valid API token, and an API
//!   token is never a link), lives [`LINK_TTL`], and carries a random id consumed once through the
//!   StateStore (`ETagCondition::Absent` is first-write-wins, across processes).
//! - CSRF: every POST must come from this origin (`Origin`, or `Sec-Fetch-Site` when there is no
//!   `Origin`) and carry the form field `_csrf`, an HMAC of the session token under a third derived
//!   key (so it needs no server-side storage and changes with the session).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, header};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::app::{Actor, Services};
use crate::auth::Auth;
use crate::domain::UserId;
use crate::ports::{ETagCondition, StateError};

pub const SESSION_COOKIE: &str = "tickler_session";
/// How long a session lasts after signing in.
pub const SESSION_TTL: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a sign-in link can be used.
pub const LINK_TTL: Duration = Duration::from_secs(15 * 60);

/// The keys derived from the signing secret for the page's own tokens.
#[derive(Clone)]
pub struct Keys {
    link_enc: EncodingKey,
    link_dec: DecodingKey,
    csrf: EncodingKey,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys { <redacted> }")
    }
}

fn derived(secret: &[u8], purpose: &[u8]) -> Vec<u8> {
    // HMAC keys of any length are fine; a distinct suffix gives an independent key per purpose.
    let mut k = secret.to_vec();
    k.extend_from_slice(b"\0tickler-web\0");
    k.extend_from_slice(purpose);
    k
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LinkClaims {
    sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    exp: u64,
    /// The link's id, consumed once.
    jti: String,
}

/// Why a sign-in link was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkError {
    /// Bad signature, malformed, or expired.
    Invalid,
    AlreadyUsed,
    /// The state store failed: try again.
    Unavailable,
}

impl Keys {
    pub fn new(secret: &[u8]) -> Self {
        let link = derived(secret, b"login-link");
        Self {
            link_enc: EncodingKey::from_secret(&link),
            link_dec: DecodingKey::from_secret(&link),
            csrf: EncodingKey::from_secret(&derived(secret, b"csrf")),
        }
    }

    /// A one-time sign-in token for `sub`, valid for `ttl`.
    pub fn mint_link(
        &self,
        sub: &UserId,
        email: Option<&str>,
        name: Option<&str>,
        ttl: Duration,
    ) -> String {
        let claims = LinkClaims {
            sub: sub.as_str().to_owned(),
            email: email.map(str::to_owned),
            name: name.map(str::to_owned),
            exp: unix_now() + ttl.as_secs(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.link_enc)
            .expect("HS256 encoding cannot fail")
    }

    /// Verifies a sign-in token and consumes its id; returns who signs in.
    pub async fn redeem_link(&self, services: &Services, token: &str) -> Result<Actor, LinkError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.leeway = 5;
        v.required_spec_claims = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
        let claims = jsonwebtoken::decode::<LinkClaims>(token.trim(), &self.link_dec, &v)
            .map_err(|_| LinkError::Invalid)?
            .claims;
        let user_id = UserId::parse(&claims.sub).map_err(|_| LinkError::Invalid)?;
        let left = claims.exp.saturating_sub(unix_now()) + 60;
        match services
            .state
            .save(
                &format!("web:login-link:{}", claims.jti),
                b"used",
                ETagCondition::Absent,
                Some(Duration::from_secs(left)),
            )
            .await
        {
            Ok(_) => Ok(Actor {
                user_id,
                email: claims.email,
                name: claims.name,
                traceparent: None,
            }),
            Err(StateError::ETagMismatch) => Err(LinkError::AlreadyUsed),
            Err(StateError::Infra(e)) => {
                tracing::error!(error = %crate::ports::error::chain(&e), "cannot record a sign-in link");
                Err(LinkError::Unavailable)
            }
        }
    }

    /// The CSRF token that goes with a session token.
    pub fn csrf_for(&self, session_token: &str) -> String {
        #[derive(Serialize)]
        struct C<'a> {
            s: &'a str,
        }
        let signed = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &C { s: session_token },
            &self.csrf,
        )
        .expect("HS256 encoding cannot fail");
        // The signature segment: an HMAC-SHA256 of the session token, base64url.
        signed.rsplit('.').next().unwrap_or_default().to_owned()
    }

    pub fn csrf_matches(&self, session_token: &str, given: &str) -> bool {
        let want = self.csrf_for(session_token);
        want.len() == given.len()
            && want
                .bytes()
                .zip(given.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }
}

/// A signed-in visitor.
#[derive(Debug, Clone)]
pub struct Session {
    pub actor: Actor,
    /// The cookie's token (the CSRF token is derived from it).
    pub token: String,
    /// When the session ends (seconds since the epoch), when the token says.
    pub expires: Option<u64>,
    pub csrf: String,
}

/// Why there is no session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSession {
    /// No cookie at all.
    Missing,
    /// A cookie that no longer verifies (expired, or signed with another secret).
    Expired,
}

/// The value of cookie `name`, if sent.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim().trim_matches('"'))
}

/// `exp` of a JWT whose signature has already been checked.
fn expiry(token: &str) -> Option<u64> {
    use base64::Engine;
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("exp")?
        .as_u64()
}

pub fn session_from(headers: &HeaderMap, auth: &Auth, keys: &Keys) -> Result<Session, NoSession> {
    let token = cookie(headers, SESSION_COOKIE)
        .filter(|t| !t.is_empty())
        .ok_or(NoSession::Missing)?;
    let mut actor = auth.verify(token).map_err(|_| NoSession::Expired)?;
    actor.traceparent = Some(crate::adapters::http::extract::child_traceparent(
        headers.get("traceparent").and_then(|v| v.to_str().ok()),
    ));
    Ok(Session {
        csrf: keys.csrf_for(token),
        expires: expiry(token),
        token: token.to_owned(),
        actor,
    })
}

/// True when the request came over https (directly or through a proxy that says so).
pub fn is_https(headers: &HeaderMap) -> bool {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    h("x-forwarded-proto").split(',').next().map(str::trim) == Some("https")
        || h("forwarded").contains("proto=https")
}

pub fn set_session_cookie(headers: &HeaderMap, token: &str) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
        SESSION_TTL.as_secs()
    ))
    .expect("a JWT is a valid header value")
}

pub fn clear_session_cookie(headers: &HeaderMap) -> HeaderValue {
    let secure = if is_https(headers) { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"
    ))
    .expect("static header value")
}

/// Whether a state-changing request comes from this site: `Origin` must name the host the request
/// was sent to; without `Origin`, `Sec-Fetch-Site` must not say another site. (A request with
/// neither comes from no browser, so it cannot be a forged one; the CSRF token is checked too.)
pub fn same_origin(headers: &HeaderMap) -> bool {
    let host = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(header::HOST))
        .and_then(|v| v.to_str().ok())
        .map(|h| {
            h.split(',')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let origin = origin.trim().to_ascii_lowercase();
        let authority = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        return match (authority, host) {
            (Some(a), Some(h)) => a == h,
            _ => false,
        };
    }
    match headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        Some(site) => matches!(site, "same-origin" | "none"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn cookies_are_found_among_others() {
        let h = headers(&[("cookie", "a=1; tickler_session=abc.def.ghi; b=2")]);
        assert_eq!(cookie(&h, SESSION_COOKIE), Some("abc.def.ghi"));
        assert_eq!(cookie(&h, "c"), None);
    }

    #[test]
    fn origin_must_match_host() {
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "null")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site")
        ])));
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
    }

    #[test]
    fn link_tokens_are_not_api_tokens_and_csrf_tokens_differ_per_session() {
        let keys = Keys::new(b"0123456789abcdef0123");
        let auth = Auth::new(b"0123456789abcdef0123");
        let link = keys.mint_link(&UserId::parse("alice").unwrap(), None, None, LINK_TTL);
        assert!(auth.verify(&link).is_err(), "a link is no bearer token");
        let a = auth.mint("alice", None, None, 60);
        let b = auth.mint("bob", None, None, 60);
        assert_ne!(keys.csrf_for(&a), keys.csrf_for(&b));
        assert!(keys.csrf_matches(&a, &keys.csrf_for(&a)));
        assert!(!keys.csrf_matches(&a, &keys.csrf_for(&b)));
        assert!(!keys.csrf_matches(&a, ""));
    }
}
