//! Bearer tokens: HS256 JWTs signed with a shared secret, compatible with the seed's Better Auth
//! tokens (`sub`, `email`, `name`, `exp`). Used by the REST API, the MCP server and `tickler token`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::app::Actor;
use crate::domain::UserId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("Missing Authorization header")]
    Missing,
    #[error("Invalid Authorization header format")]
    BadScheme,
    #[error("Invalid authentication credentials")]
    Invalid,
}

/// Holds the signing secret. `Debug` is hand-written so the secret can never reach a log line.
#[derive(Clone)]
pub struct Auth {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auth { secret: <redacted> }")
    }
}

impl Auth {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 30;
        validation.required_spec_claims = ["exp", "sub"].iter().map(|s| (*s).to_owned()).collect();
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    /// Checks signature, algorithm and expiry; returns who is calling.
    pub fn verify(&self, token: &str) -> Result<Actor, AuthError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| AuthError::Invalid)?;
        let user_id = UserId::parse(&data.claims.sub).map_err(|_| AuthError::Invalid)?;
        Ok(Actor {
            user_id,
            email: data.claims.email,
            name: data.claims.name,
            traceparent: None,
        })
    }

    /// Parses an `Authorization` header value (`Bearer <jwt>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Actor, AuthError> {
        let header = header.ok_or(AuthError::Missing)?;
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .ok_or(AuthError::BadScheme)?;
        self.verify(token.trim())
    }

    pub fn mint(
        &self,
        sub: &str,
        email: Option<&str>,
        name: Option<&str>,
        ttl_secs: u64,
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let claims = Claims {
            sub: sub.to_owned(),
            email: email.map(str::to_owned),
            name: name.map(str::to_owned),
            exp: now + ttl_secs,
            iat: Some(now),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding cannot fail")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_forgeries_do_not() {
        let auth = Auth::new(b"secret-one");
        let t = auth.mint("alice", Some("a@example.com"), None, 60);
        let actor = auth.verify(&t).unwrap();
        assert_eq!(actor.user_id.as_str(), "alice");
        assert_eq!(actor.email.as_deref(), Some("a@example.com"));
        assert_eq!(
            Auth::new(b"other").verify(&t).unwrap_err(),
            AuthError::Invalid
        );
        assert_eq!(auth.verify_header(None).unwrap_err(), AuthError::Missing);
        assert_eq!(
            auth.verify_header(Some("Basic x")).unwrap_err(),
            AuthError::BadScheme
        );
        assert!(auth.verify_header(Some(&format!("Bearer {t}"))).is_ok());
    }

    #[test]
    fn expired_tokens_are_refused() {
        let auth = Auth::new(b"s");
        let claims = Claims {
            sub: "bob".into(),
            email: None,
            name: None,
            exp: 1_000,
            iat: None,
        };
        let t = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(b"s"),
        )
        .unwrap();
        assert_eq!(auth.verify(&t).unwrap_err(), AuthError::Invalid);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        assert!(!format!("{:?}", Auth::new(b"hunter2")).contains("hunter2"));
    }
}
