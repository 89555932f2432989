//! RRULEs and recurrence phrases (`FREQ=WEEKLY;BYDAY=MO`, `every 2 weeks`, …) as a client sends
//! them: parsing must answer Ok or a RecurrenceError, never panic or hang, a canonical rule must
//! parse back to itself, and expanding it must terminate.
#![no_main]

use chrono::{TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use tickler::domain::recurrence::RecurrenceRule;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(rule) = RecurrenceRule::parse(text) else {
        return;
    };
    let again = RecurrenceRule::parse(rule.as_str()).expect("a canonical rule parses");
    assert_eq!(again.as_str(), rule.as_str(), "canonical form is stable");
    // The zone and the start come from the input too, so DST edges get exercised.
    let seed = data
        .iter()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(*b)));
    let tz = chrono_tz::TZ_VARIANTS[seed as usize % chrono_tz::TZ_VARIANTS.len()];
    let start = Utc
        .timestamp_opt(1_700_000_000 + i64::from(seed % 400_000_000), 0)
        .single()
        .expect("in range");
    let mut after = start;
    for _ in 0..3 {
        match rule.next_after(start, after, tz) {
            Some(next) => {
                assert!(next > after, "occurrences move forward");
                after = next;
            }
            None => break,
        }
    }
});
