//! Categories and tags. They differ only in limits and in how tasks use them (one category, up to
//! ten tags), so they share one type and one repository, told apart by `LabelKind`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::text::{Lines, clean};
use super::{ErrorCode, UserId, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LabelKind {
    Category,
    Tag,
}

impl LabelKind {
    /// Seed limits: category names ≤ 50, tag names ≤ 30 characters.
    pub fn max_name_chars(self) -> usize {
        match self {
            Self::Category => 50,
            Self::Tag => 30,
        }
    }

    /// Seed limits: 50 categories and 100 tags per user.
    pub fn max_per_user(self) -> usize {
        match self {
            Self::Category => 50,
            Self::Tag => 100,
        }
    }

    pub fn noun(self) -> &'static str {
        match self {
            Self::Category => "Category",
            Self::Tag => "Tag",
        }
    }

    pub fn not_found_code(self) -> ErrorCode {
        match self {
            Self::Category => ErrorCode::CategoryNotFound,
            Self::Tag => ErrorCode::TagNotFound,
        }
    }
}

/// `#RRGGBB`, stored as given (the seed's CHECK accepted either case).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Color(String);

impl Color {
    pub fn parse(raw: &str) -> Result<Self, ValidationError> {
        let ok = raw.len() == 7
            && raw.starts_with('#')
            && raw[1..].chars().all(|c| c.is_ascii_hexdigit());
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ValidationError::new(
                ErrorCode::InvalidColor,
                "color",
                "Color must be a hex code like #3B82F6",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A trimmed, non-empty name within the kind's limit, without control characters. Uniqueness per
/// user is case-sensitive, as in the seed, and applies to the NFC form (see [`super::text`]), so two
/// names that look the same cannot coexist.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct LabelName(String);

impl LabelName {
    pub fn parse(kind: LabelKind, raw: &str) -> Result<Self, ValidationError> {
        let name = clean("name", raw, Lines::Single)?;
        let max = kind.max_name_chars();
        if name.is_empty() {
            return Err(ValidationError::invalid(
                "name",
                format!("{} name cannot be empty", kind.noun()),
            ));
        }
        // Counted as sent (JSON Schema's `maxLength`), before trimming and normalising.
        if raw.chars().count() > max {
            return Err(ValidationError::invalid(
                "name",
                format!("{} name must be {max} characters or less", kind.noun()),
            ));
        }
        Ok(Self(name))
    }

    /// A name read back from storage: validated when written, and not re-checked against rules
    /// added since, so older rows stay readable; a blank or overlong one is corrupt and refused.
    pub fn from_stored(kind: LabelKind, raw: String) -> Result<Self, ValidationError> {
        let max = kind.max_name_chars();
        if raw.trim().is_empty() || raw.chars().count() > max {
            return Err(ValidationError::invalid(
                "name",
                format!("{} name must be 1 to {max} characters", kind.noun()),
            ));
        }
        Ok(Self(raw))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Label {
    pub id: i64,
    pub kind: LabelKind,
    pub user_id: UserId,
    pub name: LabelName,
    pub color: Option<Color>,
    /// Tasks (completed or not) that use this label.
    pub task_count: i64,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_rule() {
        assert!(Color::parse("#3b82F6").is_ok());
        for bad in ["3b82f6", "#3b82f", "#3b82fg", "#3b82f600", "", "#ééé"] {
            assert_eq!(
                Color::parse(bad).unwrap_err().code,
                ErrorCode::InvalidColor,
                "{bad}"
            );
        }
    }

    #[test]
    fn name_limits_per_kind() {
        assert!(LabelName::parse(LabelKind::Category, &"n".repeat(50)).is_ok());
        assert!(LabelName::parse(LabelKind::Category, &"n".repeat(51)).is_err());
        assert!(LabelName::parse(LabelKind::Tag, &"n".repeat(30)).is_ok());
        assert!(LabelName::parse(LabelKind::Tag, &"n".repeat(31)).is_err());
        assert!(LabelName::parse(LabelKind::Tag, "  ").is_err());
        assert_eq!(
            LabelName::parse(LabelKind::Tag, " x ").unwrap().as_str(),
            "x"
        );
    }

    #[test]
    fn names_refuse_control_characters_and_compare_in_nfc() {
        for bad in ["a\u{0}b", "a\nb", "a\u{9f}", "\u{7f}", "a\tb"] {
            let err = LabelName::parse(LabelKind::Tag, bad).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationError, "{bad:?}");
            assert_eq!(err.field, Some("name"));
        }
        let composed = LabelName::parse(LabelKind::Category, "Caf\u{e9}").unwrap();
        let decomposed = LabelName::parse(LabelKind::Category, "Cafe\u{301}").unwrap();
        assert_eq!(composed, decomposed);
        // The limit counts the code points sent (JSON Schema's maxLength): 15 decomposed "é"
        // are 30 and fit, 16 do not, though they would compose to 16 characters.
        assert!(LabelName::parse(LabelKind::Tag, &"e\u{301}".repeat(15)).is_ok());
        assert!(LabelName::parse(LabelKind::Tag, &"e\u{301}".repeat(16)).is_err());
    }
}
