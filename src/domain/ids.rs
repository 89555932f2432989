//! Identifiers. Numeric ids keep the seed's tool contract (`task_id: int`); the user id is the
//! token's `sub`, an opaque string from the identity provider.

use serde::{Deserialize, Serialize};

use super::{ErrorCode, ValidationError};

macro_rules! numeric_id {
    ($name:ident) => {
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

numeric_id!(TaskId);
numeric_id!(CategoryId);
numeric_id!(TagId);
numeric_id!(ReminderId);

/// The authenticated user's id (`sub` claim). Every read and write is scoped by it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 255;

    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let trimmed = raw.trim();
        if trimmed.is_empty()
            || trimmed.len() > Self::MAX_LEN
            || trimmed.chars().any(char::is_control)
        {
            return Err(ValidationError::new(
                ErrorCode::Unauthorized,
                "sub",
                "user id must be 1-255 printable characters",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for UserId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
