//! The dead-letter record: the original key, value and headers, unchanged, plus headers saying
//! where it came from and why it could not be processed. The coordinate headers use daprd's
//! names (dapr-kafka-verified.md §4.5) so one tool can read both transports' dead letters;
//! daprd writes no reason and no group, Tickler adds them.

use rdkafka::Message as _;
use rdkafka::message::{Header, Headers, OwnedHeaders, OwnedMessage};

/// Name of the dead-letter topic of `topic`, as daprd's `deadLetterTopic` is configured for it.
pub fn dlq_topic(topic: &str) -> String {
    format!("{topic}.dlq")
}

/// The original record's topic.
pub const TOPIC: &str = "__topic";
/// The original record's partition, in decimal.
pub const PARTITION: &str = "__partition";
/// The original record's offset, in decimal.
pub const OFFSET: &str = "__offset";
/// The original record's key (absent when it had none).
pub const KEY: &str = "__key";
/// The original record's timestamp, milliseconds since the epoch (when it had one).
pub const TIMESTAMP: &str = "__timestamp";
/// The consumer group that gave up on it (Tickler only).
pub const GROUP: &str = "__group";
/// Why: the parse error, the handler's rejection, or the last retry reason (Tickler only).
pub const ERROR: &str = "__error";
/// How many times the handler saw it; 0 when it never reached the handler (Tickler only).
pub const ATTEMPTS: &str = "__attempts";

const OURS: [&str; 8] = [
    TOPIC, PARTITION, OFFSET, KEY, TIMESTAMP, GROUP, ERROR, ATTEMPTS,
];

/// The headers of the dead letter of `msg`: its own headers first (except ones named like ours,
/// left by an earlier dead-lettering, which would be ambiguous), then ours.
pub(crate) fn headers(msg: &OwnedMessage, group: &str, error: &str, attempts: u32) -> OwnedHeaders {
    let mut out = OwnedHeaders::new();
    if let Some(original) = msg.headers() {
        for h in original.iter() {
            if !OURS.contains(&h.key) {
                out = out.insert(Header {
                    key: h.key,
                    value: h.value,
                });
            }
        }
    }
    let partition = msg.partition().to_string();
    let offset = msg.offset().to_string();
    let attempts = attempts.to_string();
    out = out
        .insert(Header {
            key: TOPIC,
            value: Some(msg.topic()),
        })
        .insert(Header {
            key: PARTITION,
            value: Some(&partition),
        })
        .insert(Header {
            key: OFFSET,
            value: Some(&offset),
        });
    if let Some(key) = msg.key() {
        out = out.insert(Header {
            key: KEY,
            value: Some(key),
        });
    }
    if let Some(ms) = msg.timestamp().to_millis() {
        out = out.insert(Header {
            key: TIMESTAMP,
            value: Some(&ms.to_string()),
        });
    }
    out.insert(Header {
        key: GROUP,
        value: Some(group),
    })
    .insert(Header {
        key: ERROR,
        value: Some(error),
    })
    .insert(Header {
        key: ATTEMPTS,
        value: Some(&attempts),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::Timestamp;

    fn header_map(h: &OwnedHeaders) -> Vec<(String, Option<Vec<u8>>)> {
        h.iter()
            .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
            .collect()
    }

    #[test]
    fn keeps_the_original_headers_and_names_the_coordinates_and_the_reason() {
        let original = OwnedHeaders::new()
            .insert(Header {
                key: "content-type",
                value: Some("application/cloudevents+json"),
            })
            .insert(Header {
                key: "__error",
                value: Some("an older reason"),
            })
            .insert(Header::<&str> {
                key: "empty",
                value: None,
            });
        let msg = OwnedMessage::new(
            Some(b"not json".to_vec()),
            Some(b"42".to_vec()),
            "task-events".into(),
            Timestamp::CreateTime(1_700_000_000_123),
            2,
            17,
            Some(original),
        );
        let h = header_map(&headers(
            &msg,
            "notification-service",
            "not a CloudEvent",
            0,
        ));
        let get = |k: &str| {
            h.iter()
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            get("content-type"),
            vec![Some(b"application/cloudevents+json".to_vec())]
        );
        assert_eq!(get("empty"), vec![None]);
        assert_eq!(get(TOPIC), vec![Some(b"task-events".to_vec())]);
        assert_eq!(get(PARTITION), vec![Some(b"2".to_vec())]);
        assert_eq!(get(OFFSET), vec![Some(b"17".to_vec())]);
        assert_eq!(get(KEY), vec![Some(b"42".to_vec())]);
        assert_eq!(get(TIMESTAMP), vec![Some(b"1700000000123".to_vec())]);
        assert_eq!(get(GROUP), vec![Some(b"notification-service".to_vec())]);
        assert_eq!(
            get(ERROR),
            vec![Some(b"not a CloudEvent".to_vec())],
            "the old reason is dropped"
        );
        assert_eq!(get(ATTEMPTS), vec![Some(b"0".to_vec())]);
    }

    #[test]
    fn a_record_without_key_or_timestamp_gets_no_such_headers() {
        let msg = OwnedMessage::new(None, None, "t".into(), Timestamp::NotAvailable, 0, 0, None);
        let h = header_map(&headers(&msg, "g", "empty record", 3));
        assert!(!h.iter().any(|(k, _)| k == KEY || k == TIMESTAMP));
        assert!(
            h.iter()
                .any(|(k, v)| k == ATTEMPTS && v.as_deref() == Some(b"3"))
        );
    }
}
