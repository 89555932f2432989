//! DeadLetters: records in order, one per event id and topic, filtered lists, take removes.

use chrono::Utc;
use tickler::domain::event::Topic;
use tickler::ports::{DeadLetters, NewDeadLetter};

use super::support::base;

pub struct DeadLettersFixture {
    pub store: std::sync::Arc<dyn DeadLetters>,
    pub guard: Box<dyn std::any::Any + Send>,
}

macro_rules! dead_letters_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            dead_letters,
            dead_letters,
            [
                records_come_back_in_order_with_what_was_recorded,
                an_event_is_recorded_once_per_topic,
                letters_without_an_event_id_are_all_kept,
                list_filters_by_topic_and_pages,
                take_removes_and_returns_the_record,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use dead_letters_tests;

fn letter(topic: Topic, event_id: Option<&str>, reason: &str) -> NewDeadLetter {
    NewDeadLetter {
        topic,
        key: "42".into(),
        consumer: Some("notification-service".into()),
        event_id: event_id.map(str::to_owned),
        reason: reason.into(),
        payload: vec![0, 159, 146, 150, b'{'],
    }
}

pub async fn records_come_back_in_order_with_what_was_recorded(f: DeadLettersFixture) {
    let a = letter(Topic::TaskEvents, Some("e1"), "unknown type");
    let mut b = letter(
        Topic::TaskReminders,
        None,
        "not a CloudEvent: expected value",
    );
    b.consumer = None;
    let id_a = f.store.record(a.clone(), base()).await.unwrap().unwrap();
    let id_b = f.store.record(b.clone(), base()).await.unwrap().unwrap();
    assert!(id_b > id_a);
    let all = f.store.list(None, 0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!((all[0].id, &all[0].letter), (id_a, &a));
    assert_eq!((all[1].id, &all[1].letter), (id_b, &b));
    assert_eq!(all[0].recorded_at, base());
}

pub async fn an_event_is_recorded_once_per_topic(f: DeadLettersFixture) {
    let first = letter(Topic::TaskEvents, Some("e1"), "rejected by the handler");
    assert!(
        f.store
            .record(first.clone(), base())
            .await
            .unwrap()
            .is_some()
    );
    // The same event again (from the dead-letter topic): the first record, with its reason, stays.
    let again = letter(
        Topic::TaskEvents,
        Some("e1"),
        "dead-lettered by the sidecar",
    );
    assert_eq!(f.store.record(again, Utc::now()).await.unwrap(), None);
    // The same id on another topic is another record.
    assert!(
        f.store
            .record(letter(Topic::TaskRecurrence, Some("e1"), "x"), base())
            .await
            .unwrap()
            .is_some()
    );
    let all = f.store.list(None, 0, 10).await.unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].letter, first);
}

pub async fn letters_without_an_event_id_are_all_kept(f: DeadLettersFixture) {
    for _ in 0..2 {
        assert!(
            f.store
                .record(letter(Topic::TaskEvents, None, "not JSON"), base())
                .await
                .unwrap()
                .is_some()
        );
    }
    assert_eq!(f.store.list(None, 0, 10).await.unwrap().len(), 2);
}

pub async fn list_filters_by_topic_and_pages(f: DeadLettersFixture) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let topic = if i % 2 == 0 {
            Topic::TaskEvents
        } else {
            Topic::TaskReminders
        };
        let id = f
            .store
            .record(letter(topic, Some(&format!("e{i}")), "r"), base())
            .await
            .unwrap()
            .unwrap();
        ids.push(id);
    }
    let events = f.store.list(Some(Topic::TaskEvents), 0, 10).await.unwrap();
    assert_eq!(
        events.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[0], ids[2], ids[4]]
    );
    let page = f.store.list(None, ids[1], 2).await.unwrap();
    assert_eq!(
        page.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![ids[2], ids[3]]
    );
    assert!(f.store.list(None, ids[4], 10).await.unwrap().is_empty());
}

pub async fn take_removes_and_returns_the_record(f: DeadLettersFixture) {
    let l = letter(Topic::TaskEvents, Some("e1"), "r");
    let id = f.store.record(l.clone(), base()).await.unwrap().unwrap();
    let taken = f.store.take(id).await.unwrap().expect("the record");
    assert_eq!((taken.id, taken.letter), (id, l.clone()));
    assert_eq!(f.store.take(id).await.unwrap(), None);
    assert!(f.store.list(None, 0, 10).await.unwrap().is_empty());
    // Once taken (replayed), the same event can be dead-lettered again.
    assert!(f.store.record(l, base()).await.unwrap().is_some());
}
