//! The operator's side of dead letters (`tickler dead-letters list|replay`): list what no
//! consumer could process, and send it again to its topic once the cause is fixed.

use std::io::Write;

use chrono::Utc;

use crate::domain::event::{Topic, format_instant};
use crate::ports::{DeadLetter, DeadLetters, EventPublisher, InfraError};

/// Writes one line per dead letter (oldest first, after `after`, at most `limit`): id, when,
/// topic, key, event id, consumer and reason.
pub async fn list(
    letters: &dyn DeadLetters,
    topic: Option<Topic>,
    after: i64,
    limit: usize,
    out: &mut dyn Write,
) -> Result<usize, InfraError> {
    let found = letters.list(topic, after, limit).await?;
    for d in &found {
        let l = &d.letter;
        writeln!(
            out,
            "{}\t{}\t{}\tkey={}\tevent={}\tconsumer={}\t{}",
            d.id,
            format_instant(d.recorded_at),
            l.topic.as_str(),
            l.key,
            l.event_id.as_deref().unwrap_or("-"),
            l.consumer.as_deref().unwrap_or("-"),
            l.reason.replace(['\n', '\t'], " "),
        )
        .map_err(|e| InfraError::permanent("cannot write the list", e))?;
    }
    Ok(found.len())
}

/// What a replay did with one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Replayed {
    /// Published again to its topic and removed from the dead letters.
    Published(i64),
    /// No such record (replayed or removed meanwhile).
    Gone(i64),
}

/// Publishes the records `ids` again, each to its original topic with its key and exact bytes,
/// in the order given. A record is taken out of the store first, so that if the event fails
/// again it is recorded anew; if publishing fails it is put back (under a new id) and the
/// error returned, leaving the remaining ids untouched.
pub async fn replay(
    letters: &dyn DeadLetters,
    publisher: &dyn EventPublisher,
    ids: &[i64],
) -> Result<Vec<Replayed>, InfraError> {
    let mut done = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(letter) = letters.take(id).await? else {
            done.push(Replayed::Gone(id));
            continue;
        };
        if let Err(e) = republish(publisher, &letter).await {
            // Not lost: back into the store, to be replayed later.
            letters.record(letter.letter, Utc::now()).await?;
            return Err(e);
        }
        done.push(Replayed::Published(id));
    }
    Ok(done)
}

async fn republish(publisher: &dyn EventPublisher, d: &DeadLetter) -> Result<(), InfraError> {
    let l = &d.letter;
    publisher.publish(l.topic, &l.key, &l.payload).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{MemoryBus, MemoryDeadLetters};
    use crate::ports::NewDeadLetter;
    use crate::ports::event_bus::MockEventPublisher;

    fn letter(event_id: &str) -> NewDeadLetter {
        NewDeadLetter {
            topic: Topic::TaskReminders,
            key: "42".into(),
            consumer: Some("email-delivery-service".into()),
            event_id: Some(event_id.into()),
            reason: "smtp said\tno\n".into(),
            payload: b"{}".to_vec(),
        }
    }

    #[tokio::test]
    async fn list_prints_one_line_per_letter() {
        let store = MemoryDeadLetters::new();
        store.record(letter("e1"), Utc::now()).await.unwrap();
        let mut out = Vec::new();
        assert_eq!(list(&store, None, 0, 10, &mut out).await.unwrap(), 1);
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text.lines().count(), 1);
        assert!(text.contains("task-reminders\tkey=42\tevent=e1"), "{text}");
        assert!(text.ends_with("smtp said no \n"), "{text:?}");
    }

    #[tokio::test]
    async fn replay_publishes_and_removes_and_a_failure_puts_it_back() {
        let store = MemoryDeadLetters::new();
        let id = store
            .record(letter("e1"), Utc::now())
            .await
            .unwrap()
            .unwrap();
        let bus = MemoryBus::new();
        assert_eq!(
            replay(&store, &bus, &[id, 999]).await.unwrap(),
            vec![Replayed::Published(id), Replayed::Gone(999)]
        );
        assert!(store.list(None, 0, 10).await.unwrap().is_empty());

        let id = store
            .record(letter("e2"), Utc::now())
            .await
            .unwrap()
            .unwrap();
        let mut failing = MockEventPublisher::new();
        failing
            .expect_publish()
            .returning(|_, _, _| Err(InfraError::msg("sidecar down")));
        assert!(replay(&store, &failing, &[id]).await.is_err());
        let back = store.list(None, 0, 10).await.unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].letter, letter("e2"));
    }
}
