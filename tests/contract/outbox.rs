//! Outbox (the relay's side): claiming with leases, publishing, failures and retry times, per-key
//! order, the backlog, and waking the relay. Records come from task writes, as in production.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tickler::domain::change;
use tickler::domain::event::{CloudEvent, TASK_COMPLETED, TASK_CREATED, Topic};
use tickler::domain::task::Task;
use tickler::ports::OutboxRecord;

use super::Stores;
use super::support::*;

macro_rules! outbox_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            outbox,
            outbox,
            [
                claim_returns_records_in_order_with_their_bytes,
                claimed_records_are_leased_until_the_lease_lapses,
                published_records_are_gone_for_good,
                failed_records_wait_for_their_retry_time,
                wait_for_work_times_out_when_idle_and_wakes_on_a_write,
                user_events_are_the_users_own_in_order_published_or_not,
                purge_removes_only_old_published_records,
            ]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use outbox_tests;

/// Per-key order (`Outbox::claim`'s doc). Part of the contract; a separate macro only so that an
/// adapter that does not meet it yet can still run the rest of the outbox suite.
macro_rules! outbox_order_tests {
    ($make:path) => {
        $crate::contract::cases!(
            $make,
            outbox_order,
            outbox,
            [a_waiting_record_holds_back_later_records_of_its_key_only]
        );
    };
}
#[allow(unused_imports)]
pub(crate) use outbox_order_tests;

const LEASE: Duration = Duration::from_secs(30);

fn secs(n: i64) -> DateTime<Utc> {
    far() + chrono::Duration::seconds(n)
}

async fn claim(s: &Stores, limit: usize, now: DateTime<Utc>) -> Vec<OutboxRecord> {
    s.outbox.claim(limit, LEASE, now).await.unwrap()
}

fn seqs(records: &[OutboxRecord]) -> Vec<i64> {
    records.iter().map(|r| r.seq).collect()
}

async fn three_tasks(s: &Stores) -> Vec<Task> {
    let alice = uid("alice");
    let mut out = Vec::new();
    for title in ["one", "two", "three"] {
        out.push(create(s, &alice, new_task(title), base()).await);
    }
    out
}

pub async fn claim_returns_records_in_order_with_their_bytes(s: Stores) {
    let tasks = three_tasks(&s).await;
    assert_eq!(backlog(&s).await, 3);
    let records = claim(&s, 10, secs(0)).await;
    assert_eq!(records.len(), 3);
    assert!(
        records.windows(2).all(|w| w[0].seq < w[1].seq),
        "ordered by seq"
    );
    for (r, t) in records.iter().zip(&tasks) {
        assert_eq!(r.topic, Topic::TaskEvents);
        assert_eq!(r.key, t.id.to_string());
        assert_eq!(r.attempts, 0);
        let e = CloudEvent::from_slice(&r.payload).unwrap();
        assert_eq!(e.id, r.event_id);
        assert_eq!(e.event_type, TASK_CREATED);
        assert_eq!(e.subject, t.id.to_string());
    }
    assert_eq!(backlog(&s).await, 3, "claimed is not published");

    // `limit` is honoured, oldest first.
    let more = create(&s, &uid("bob"), new_task("four"), base()).await;
    let first_two = claim(&s, 2, secs(LEASE.as_secs() as i64 + 1)).await;
    assert_eq!(seqs(&first_two), seqs(&records[..2]));
    let rest = claim(&s, 10, secs(LEASE.as_secs() as i64 + 1)).await;
    assert_eq!(rest.len(), 2);
    assert_eq!(rest[0].seq, records[2].seq);
    assert_eq!(rest[1].key, more.id.to_string());
}

pub async fn claimed_records_are_leased_until_the_lease_lapses(s: Stores) {
    three_tasks(&s).await;
    let first = claim(&s, 10, secs(0)).await;
    assert_eq!(first.len(), 3);
    assert!(
        claim(&s, 10, secs(1)).await.is_empty(),
        "leased to the first relay"
    );
    assert!(claim(&s, 10, secs(29)).await.is_empty());
    let again = claim(&s, 10, secs(31)).await;
    assert_eq!(
        seqs(&again),
        seqs(&first),
        "claimable again once the lease lapsed"
    );
    assert!(
        again.iter().all(|r| r.attempts == 0),
        "a lapsed lease is not a failure"
    );
}

pub async fn published_records_are_gone_for_good(s: Stores) {
    three_tasks(&s).await;
    let records = claim(&s, 10, secs(0)).await;
    s.outbox
        .mark_published(&[records[0].seq, records[2].seq], secs(1))
        .await
        .unwrap();
    assert_eq!(backlog(&s).await, 1);
    let later = claim(&s, 10, secs(100)).await;
    assert_eq!(seqs(&later), vec![records[1].seq]);
    s.outbox
        .mark_published(&[records[1].seq], secs(101))
        .await
        .unwrap();
    s.outbox.mark_published(&[], secs(101)).await.unwrap();
    assert_eq!(backlog(&s).await, 0);
    assert!(claim(&s, 10, secs(1000)).await.is_empty());
    // Publishing twice (a relay that lost its lease) is harmless.
    s.outbox
        .mark_published(&[records[1].seq], secs(102))
        .await
        .unwrap();
    assert_eq!(backlog(&s).await, 0);
}

pub async fn failed_records_wait_for_their_retry_time(s: Stores) {
    three_tasks(&s).await;
    let records = claim(&s, 10, secs(0)).await;
    let failed = records[1].seq;
    s.outbox
        .mark_failed(failed, "broker down", secs(60))
        .await
        .unwrap();
    s.outbox
        .mark_published(&[records[0].seq, records[2].seq], secs(1))
        .await
        .unwrap();
    assert_eq!(backlog(&s).await, 1, "a failed record is still pending");
    assert!(
        claim(&s, 10, secs(59)).await.is_empty(),
        "not before its retry time"
    );
    let retried = claim(&s, 10, secs(60)).await;
    assert_eq!(seqs(&retried), vec![failed]);
    assert_eq!(retried[0].attempts, 1);
    assert_eq!(
        retried[0].payload, records[1].payload,
        "same bytes on retry"
    );
    s.outbox
        .mark_failed(failed, "still down", secs(200))
        .await
        .unwrap();
    let again = claim(&s, 10, secs(200)).await;
    assert_eq!(again[0].attempts, 2);
}

/// One task's events are relayed in order: a record that failed (or is leased elsewhere) blocks
/// later records with the same topic and key, and nothing else.
pub async fn a_waiting_record_holds_back_later_records_of_its_key_only(s: Stores) {
    let alice = uid("alice");
    let task = create(&s, &alice, new_task("ordered"), base()).await;
    s.tasks
        .update(
            &alice,
            task.id,
            mutator(|t| change::complete(t, at(1))),
            &ctx(at(1)),
        )
        .await
        .unwrap();
    let other = create(&s, &alice, new_task("other"), at(2)).await;

    // Relay A takes only the oldest record; relay B must not overtake it with the same key.
    let a = claim(&s, 1, secs(0)).await;
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].key, task.id.to_string());
    let b = claim(&s, 10, secs(1)).await;
    assert_eq!(b.len(), 1, "{b:?}");
    assert_eq!(b[0].key, other.id.to_string());
    s.outbox.mark_published(&[b[0].seq], secs(1)).await.unwrap();

    // A's publication fails: the task's later record waits behind it.
    s.outbox
        .mark_failed(a[0].seq, "timeout", secs(60))
        .await
        .unwrap();
    assert!(claim(&s, 10, secs(2)).await.is_empty());
    let both = claim(&s, 10, secs(60)).await;
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0].seq, a[0].seq);
    let second = CloudEvent::from_slice(&both[1].payload).unwrap();
    assert_eq!(second.event_type, TASK_COMPLETED);
}

pub async fn wait_for_work_times_out_when_idle_and_wakes_on_a_write(s: Stores) {
    let started = Instant::now();
    s.outbox.wait_for_work(Duration::from_millis(150)).await;
    let idle = started.elapsed();
    assert!(
        idle >= Duration::from_millis(140),
        "returned early: {idle:?}"
    );
    assert!(idle < Duration::from_secs(2), "ignored max: {idle:?}");

    let outbox = s.outbox.clone();
    let waiter = tokio::spawn(async move {
        let started = Instant::now();
        outbox.wait_for_work(Duration::from_secs(10)).await;
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    create(&s, &uid("alice"), new_task("wake up"), base()).await;
    let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the relay was not woken")
        .unwrap();
    assert!(
        waited < Duration::from_secs(2),
        "woken by the write, not by the timeout: {waited:?}"
    );
}

/// The live feed: a user's events after a seq, published or not, never another user's.
pub async fn user_events_are_the_users_own_in_order_published_or_not(s: Stores) {
    let (alice, bob) = (uid("alice"), uid("bob"));
    let a1 = create(&s, &alice, new_task("a1"), base()).await;
    create(&s, &bob, new_task("b1"), base()).await;
    let a2 = create(&s, &alice, new_task("a2"), base()).await;
    let all = s.outbox.user_events(&alice, 0, 100).await.unwrap();
    let subjects: Vec<String> = all
        .iter()
        .map(|e| CloudEvent::from_slice(&e.payload).unwrap().subject)
        .collect();
    assert_eq!(subjects, vec![a1.id.to_string(), a2.id.to_string()]);
    assert!(all[0].seq < all[1].seq);
    assert!(all.iter().all(|e| e.topic == Topic::TaskEvents));
    // Publishing does not remove them from the feed; `after` and `limit` page through it.
    drain(&s).await;
    let after_first = s.outbox.user_events(&alice, all[0].seq, 100).await.unwrap();
    assert_eq!(after_first, all[1..].to_vec());
    assert_eq!(
        s.outbox.user_events(&alice, 0, 1).await.unwrap(),
        all[..1].to_vec()
    );
    assert!(
        s.outbox
            .user_events(&uid("carol"), 0, 100)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Only published records older than the cut-off go, at most `limit` per call; nothing
/// unpublished is ever purged.
pub async fn purge_removes_only_old_published_records(s: Stores) {
    let alice = uid("alice");
    for i in 0..3 {
        create(&s, &alice, new_task(&format!("t{i}")), base()).await;
    }
    let first = claim(&s, 2, far()).await;
    s.outbox
        .mark_published(&seqs(&first), secs(0))
        .await
        .unwrap();
    assert_eq!(
        s.outbox.purge_published(secs(0), 10).await.unwrap(),
        0,
        "not older"
    );
    let purged = s.outbox.purge_published(secs(1), 1).await.unwrap();
    let rest = s.outbox.purge_published(secs(1), 10).await.unwrap();
    // The memory store drops published records at once and reports nothing to purge.
    assert!(
        (purged, rest) == (1, 1) || (purged, rest) == (0, 0),
        "{purged} then {rest}"
    );
    assert_eq!(backlog(&s).await, 1, "the unpublished record stays");
}
