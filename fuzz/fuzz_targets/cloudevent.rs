//! CloudEvents as they arrive from Kafka or a Dapr sidecar: decoding arbitrary bytes must answer
//! Ok or an error, never panic, and a decoded event must survive a round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tickler::domain::event::CloudEvent;

fuzz_target!(|data: &[u8]| {
    let Ok(event) = CloudEvent::from_slice(data) else {
        return;
    };
    let bytes = event.to_bytes();
    let again = CloudEvent::from_slice(&bytes).expect("an encoded event decodes");
    assert_eq!(again.id, event.id);
    assert_eq!(again.event_type, event.event_type);
    assert_eq!(again.subject, event.subject);
    let _ = event.data_as::<serde_json::Value>();
});
