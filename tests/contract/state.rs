//! StateStore: ETag conditions on save and delete, fresh ETags per write, TTL, and opaque bytes.

use std::time::Duration;

use tickler::ports::{ETagCondition, StateError};

use super::StateFixture;

macro_rules! state_store_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            state,
            state,
            [
                missing_keys_read_as_none,
                any_is_last_write_wins_with_a_new_etag_each_time,
                absent_is_first_write_wins,
                match_guards_against_lost_updates,
                delete_honours_its_condition,
                expired_entries_are_absent,
                values_are_opaque_bytes,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use state_store_tests;

fn mismatch<T: std::fmt::Debug>(r: Result<T, StateError>) {
    assert!(
        matches!(r, Err(StateError::ETagMismatch)),
        "expected ETagMismatch, got {r:?}"
    );
}

pub async fn missing_keys_read_as_none(f: StateFixture) {
    assert_eq!(f.state.get("nope").await.unwrap(), None);
}

pub async fn any_is_last_write_wins_with_a_new_etag_each_time(f: StateFixture) {
    let st = &f.state;
    let e1 = st
        .save("k", b"one", ETagCondition::Any, None)
        .await
        .unwrap();
    let got = st.get("k").await.unwrap().unwrap();
    assert_eq!(
        (got.value.as_slice(), got.etag.as_str()),
        (&b"one"[..], e1.as_str())
    );
    let e2 = st
        .save("k", b"two", ETagCondition::Any, None)
        .await
        .unwrap();
    assert_ne!(e1, e2, "every write gets a new etag");
    let got = st.get("k").await.unwrap().unwrap();
    assert_eq!((got.value.as_slice(), got.etag), (&b"two"[..], e2.clone()));
    // Same value again: still a write, still a new etag.
    let e3 = st
        .save("k", b"two", ETagCondition::Any, None)
        .await
        .unwrap();
    assert_ne!(e2, e3);
    // Keys are independent.
    assert_eq!(st.get("k2").await.unwrap(), None);
}

pub async fn absent_is_first_write_wins(f: StateFixture) {
    let st = &f.state;
    let first = st
        .save("lock", b"first", ETagCondition::Absent, None)
        .await
        .unwrap();
    mismatch(
        st.save("lock", b"second", ETagCondition::Absent, None)
            .await,
    );
    let got = st.get("lock").await.unwrap().unwrap();
    assert_eq!((got.value, got.etag), (b"first".to_vec(), first));
    st.delete("lock", ETagCondition::Any).await.unwrap();
    st.save("lock", b"again", ETagCondition::Absent, None)
        .await
        .unwrap();
}

pub async fn match_guards_against_lost_updates(f: StateFixture) {
    let st = &f.state;
    let e1 = st
        .save("doc", b"v1", ETagCondition::Any, None)
        .await
        .unwrap();
    let e2 = st
        .save("doc", b"v2", ETagCondition::Match(e1.clone()), None)
        .await
        .unwrap();
    assert_ne!(e1, e2);
    // A writer still holding e1 loses, and the newer value stays.
    mismatch(
        st.save("doc", b"stale", ETagCondition::Match(e1), None)
            .await,
    );
    let got = st.get("doc").await.unwrap().unwrap();
    assert_eq!((got.value, got.etag), (b"v2".to_vec(), e2));
    // There is nothing to match on a missing key.
    mismatch(
        st.save("other", b"x", ETagCondition::Match("whatever".into()), None)
            .await,
    );
    assert_eq!(st.get("other").await.unwrap(), None);
}

pub async fn delete_honours_its_condition(f: StateFixture) {
    let st = &f.state;
    let e1 = st.save("k", b"v1", ETagCondition::Any, None).await.unwrap();
    let e2 = st.save("k", b"v2", ETagCondition::Any, None).await.unwrap();
    mismatch(st.delete("k", ETagCondition::Match(e1)).await);
    assert!(
        st.get("k").await.unwrap().is_some(),
        "a newer value is not deleted"
    );
    mismatch(st.delete("k", ETagCondition::Absent).await);
    assert!(st.get("k").await.unwrap().is_some());
    st.delete("k", ETagCondition::Match(e2.clone()))
        .await
        .unwrap();
    assert_eq!(st.get("k").await.unwrap(), None);
    // Deleting what is not there is fine, whatever the condition.
    st.delete("k", ETagCondition::Any).await.unwrap();
    st.delete("k", ETagCondition::Match(e2)).await.unwrap();
    st.delete("k", ETagCondition::Absent).await.unwrap();
    st.save("k2", b"v", ETagCondition::Any, None).await.unwrap();
    st.delete("k2", ETagCondition::Any).await.unwrap();
    assert_eq!(st.get("k2").await.unwrap(), None);
}

/// Uses whole seconds, the TTL granularity of Dapr's state API.
pub async fn expired_entries_are_absent(f: StateFixture) {
    let st = &f.state;
    let ttl = Some(Duration::from_secs(1));
    let short = st
        .save("short", b"v", ETagCondition::Any, ttl)
        .await
        .unwrap();
    st.save("renewed", b"v", ETagCondition::Any, ttl)
        .await
        .unwrap();
    // Overwriting without a TTL makes the entry permanent.
    st.save("renewed", b"v2", ETagCondition::Any, None)
        .await
        .unwrap();
    st.save("forever", b"v", ETagCondition::Any, None)
        .await
        .unwrap();
    assert!(
        st.get("short").await.unwrap().is_some(),
        "alive before its TTL"
    );
    mismatch(st.save("short", b"x", ETagCondition::Absent, None).await);

    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert_eq!(st.get("short").await.unwrap(), None, "expired");
    assert!(st.get("renewed").await.unwrap().is_some());
    assert!(st.get("forever").await.unwrap().is_some());
    mismatch(
        st.save("short", b"x", ETagCondition::Match(short.clone()), None)
            .await,
    );
    // An expired key counts as absent, for first-write-wins too.
    st.save("short", b"new", ETagCondition::Absent, None)
        .await
        .unwrap();
    assert_eq!(
        st.get("short").await.unwrap().unwrap().value,
        b"new".to_vec()
    );
}

pub async fn values_are_opaque_bytes(f: StateFixture) {
    let st = &f.state;
    let bytes: Vec<u8> = (0..=255).collect();
    st.save("bin", &bytes, ETagCondition::Any, None)
        .await
        .unwrap();
    assert_eq!(st.get("bin").await.unwrap().unwrap().value, bytes);
    st.save("empty", b"", ETagCondition::Any, None)
        .await
        .unwrap();
    assert_eq!(
        st.get("empty").await.unwrap().unwrap().value,
        Vec::<u8>::new()
    );
    let odd_key = "user/42:idempotency ✓";
    st.save(odd_key, b"x", ETagCondition::Any, None)
        .await
        .unwrap();
    assert!(st.get(odd_key).await.unwrap().is_some());
}
