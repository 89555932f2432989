//! Rules every free-text field shares: no control characters and one Unicode normal form.
//!
//! Control characters (C0 U+0000–U+001F, DEL U+007F and C1 U+0080–U+009F) are refused rather than
//! stripped: they are invisible, break terminals, logs and CSV exports, and silently removing them
//! would store something other than what the client sent. Descriptions are multi-line, so they
//! alone may keep `\n` and `\t`; their `\r\n` line endings (what HTML forms send) become `\n`,
//! and a lone `\r` is refused like any other control character.
//!
//! Text is stored in NFC so that two strings a person cannot tell apart (`é` as one code point or
//! as `e` + combining accent) are also equal for uniqueness checks, duplicate detection and search.
//!
//! Unpaired surrogates cannot reach this module: a Rust `String` is always valid UTF-8, and the
//! JSON and form decoders refuse a lone `\uD800` escape before any field is built.

use unicode_normalization::UnicodeNormalization;

use super::ValidationError;

/// Whether newline and tab are allowed (descriptions) or refused (single-line fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    Single,
    Multi,
}

/// Whether `c` is a control character this module refuses in `lines` text.
pub fn is_forbidden(c: char, lines: Lines) -> bool {
    let control = matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}');
    control && !(lines == Lines::Multi && matches!(c, '\n' | '\t'))
}

/// Refuses control characters in `raw` with `VALIDATION_ERROR` naming `field`; the message names
/// the offending code point (as `U+XXXX`, never the raw character, which may not be printable).
pub fn check_controls(field: &'static str, raw: &str, lines: Lines) -> Result<(), ValidationError> {
    match raw.chars().find(|c| is_forbidden(*c, lines)) {
        None => Ok(()),
        Some(c) => Err(ValidationError::invalid(
            field,
            format!(
                "{field} must not contain control characters (found U+{:04X}){}",
                u32::from(c),
                if lines == Lines::Multi {
                    "; only newline and tab are allowed"
                } else {
                    ""
                }
            ),
        )),
    }
}

/// Refuses control characters, trims and normalises to NFC: what every text field goes through
/// before its own length and emptiness rules (which then count the normalised characters). The
/// check runs before trimming, so a control character is refused even at either end instead of
/// being silently dropped.
pub fn clean(field: &'static str, raw: &str, lines: Lines) -> Result<String, ValidationError> {
    let unified;
    let raw = if lines == Lines::Multi && raw.contains("\r\n") {
        unified = raw.replace("\r\n", "\n");
        unified.as_str()
    } else {
        raw
    };
    check_controls(field, raw, lines)?;
    Ok(raw.trim().nfc().collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ErrorCode;

    #[test]
    fn every_c0_del_and_c1_character_is_refused_in_single_line_text() {
        for cp in (0x00..=0x1f).chain(0x7f..=0x9f) {
            let c = char::from_u32(cp).unwrap();
            let err = clean("title", &format!("a{c}b"), Lines::Single).unwrap_err();
            assert_eq!(err.code, ErrorCode::ValidationError, "U+{cp:04X}");
            assert_eq!(err.field, Some("title"));
            assert!(
                err.message.contains(&format!("U+{cp:04X}")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn multi_line_text_keeps_newline_and_tab_only() {
        assert_eq!(
            clean("description", "a\n\tb", Lines::Multi).unwrap(),
            "a\n\tb"
        );
        assert_eq!(
            clean("description", "a\r\nb\r\n", Lines::Multi).unwrap(),
            "a\nb"
        );
        for bad in [
            "a\rb",
            "a\u{0}b",
            "a\u{1b}[31mb",
            "a\u{85}b",
            "a\u{7f}",
            "a\r",
        ] {
            assert!(clean("description", bad, Lines::Multi).is_err(), "{bad:?}");
        }
        assert!(clean("title", "a\nb", Lines::Single).is_err());
        assert!(clean("title", "a\tb", Lines::Single).is_err());
    }

    #[test]
    fn neighbours_of_the_control_ranges_are_accepted() {
        for ok in [" ", "~", "\u{a0}", "\u{a1}", "é", "日本", "🦀", "\u{200b}"] {
            assert!(
                clean("title", &format!("x{ok}y"), Lines::Single).is_ok(),
                "{ok:?}"
            );
        }
    }

    #[test]
    fn controls_are_refused_at_the_ends_too_and_text_is_normalised_to_nfc() {
        assert_eq!(clean("title", "  x  ", Lines::Single).unwrap(), "x");
        for bad in ["x\n", "\tx", "x\u{85}", "\u{0}x"] {
            assert!(clean("title", bad, Lines::Single).is_err(), "{bad:?}");
        }
        assert_eq!(
            clean("name", "Cafe\u{301}", Lines::Single).unwrap(),
            "Caf\u{e9}"
        );
        assert_eq!(
            clean("name", "Caf\u{e9}", Lines::Single).unwrap(),
            clean("name", "Cafe\u{301}", Lines::Single).unwrap()
        );
    }
}
