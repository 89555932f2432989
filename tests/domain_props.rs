//! Property tests of the domain's validation rules: whatever the input, parsing never panics and
//! accepts exactly what the limits allow.

use chrono::{Duration, TimeZone, Utc};
use proptest::prelude::*;
use tickler::domain::label::{Color, LabelKind, LabelName};
use tickler::domain::query::{Cursor, SearchText};
use tickler::domain::reminder::{ReminderSpec, plan};
use tickler::domain::task::{Priority, Title, parse_due_date, parse_tag_ids};

proptest! {
    #[test]
    fn title_accepts_1_to_200_chars_as_sent_and_stores_them_trimmed_in_nfc(s in "\\PC{0,260}") {
        use unicode_normalization::UnicodeNormalization;
        let trimmed = s.trim();
        // The limit counts what the client sent (the OpenAPI document's maxLength).
        let ok = !trimmed.is_empty() && s.chars().count() <= 200;
        let parsed = Title::parse(&s);
        prop_assert_eq!(parsed.is_ok(), ok);
        if let Ok(t) = parsed {
            prop_assert_eq!(t.as_str(), trimmed.nfc().collect::<String>());
        }
    }

    #[test]
    fn label_names_respect_their_kind(s in "\\PC{0,60}") {
        for kind in [LabelKind::Category, LabelKind::Tag] {
            let ok = !s.trim().is_empty() && s.chars().count() <= kind.max_name_chars();
            prop_assert_eq!(LabelName::parse(kind, &s).is_ok(), ok);
        }
    }

    #[test]
    fn colour_is_hash_and_six_hex_digits(s in "#?[0-9a-fA-Fg-z]{0,8}") {
        let ok = s.len() == 7 && s.starts_with('#') && s[1..].chars().all(|c| c.is_ascii_hexdigit());
        prop_assert_eq!(Color::parse(&s).is_ok(), ok);
    }

    #[test]
    fn tag_lists_are_capped_as_sent_then_deduplicated(ids in proptest::collection::vec(0i64..30, 0..25)) {
        // The cap counts entries as sent (the OpenAPI document's maxItems), duplicates included.
        let parsed = parse_tag_ids(&ids);
        prop_assert_eq!(parsed.is_ok(), ids.len() <= 10);
        if let Ok(tags) = parsed {
            let mut distinct = ids.clone();
            distinct.sort_unstable();
            distinct.dedup();
            prop_assert_eq!(tags.len(), distinct.len());
        }
    }

    #[test]
    fn parsers_never_panic_on_garbage(s in "\\PC{0,80}") {
        let _ = parse_due_date(&s);
        let _ = Priority::parse(&s);
        let _ = Cursor::decode(&s);
        let _ = SearchText::parse(&s);
    }

    #[test]
    fn planned_reminders_never_fire_before_now(minutes in proptest::collection::vec(0i64..3000, 0..20), due_in in -600i64..6000) {
        let now = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        let due = now + Duration::minutes(due_in);
        let specs: Vec<ReminderSpec> = minutes.iter().map(|m| ReminderSpec::before(*m).unwrap()).collect();
        let planned = plan(Some(&specs), Some(due), Some(60), now).unwrap();
        for p in &planned {
            prop_assert!(p.remind_at >= now);
            prop_assert!(p.remind_at <= due.max(now));
        }
        prop_assert!(planned.len() <= specs.len());
    }

    #[test]
    fn due_dates_round_trip_through_rfc3339(secs in 0i64..4_000_000_000) {
        let t = Utc.timestamp_opt(secs, 0).unwrap();
        let parsed = parse_due_date(&t.to_rfc3339()).unwrap();
        // Midnight means end of day (the seed's date-only rule); every other instant is exact.
        if t.time() == chrono::NaiveTime::MIN {
            prop_assert_eq!(parsed, t + Duration::seconds(86_399));
        } else {
            prop_assert_eq!(parsed, t);
        }
    }
}
