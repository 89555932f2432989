//! `DeadLetters` for SQLite: the `dead_letters` table (migration 0003). A second record of an
//! event id on the same topic is ignored by the partial unique index.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::SqlitePool;

use super::error::{bad_data, infra};
use super::rows::{instant, micros};
use crate::domain::event::Topic;
use crate::ports::{DeadLetter, DeadLetters, InfraError, NewDeadLetter};

#[derive(Clone)]
pub struct SqliteDeadLetters {
    pool: SqlitePool,
}

impl SqliteDeadLetters {
    pub(crate) fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }
}

type Row = (
    i64,
    String,
    String,
    Option<String>,
    Option<String>,
    String,
    Vec<u8>,
    i64,
);

const COLUMNS: &str = "id, topic, key, consumer, event_id, reason, payload, recorded_at";

fn letter(row: Row) -> Result<DeadLetter, InfraError> {
    let (id, topic, key, consumer, event_id, reason, payload, recorded_at) = row;
    Ok(DeadLetter {
        id,
        recorded_at: instant(recorded_at, "dead_letters.recorded_at")?,
        letter: NewDeadLetter {
            topic: Topic::parse(&topic)
                .ok_or_else(|| bad_data(format!("dead_letters.topic: unknown topic {topic}")))?,
            key,
            consumer,
            event_id,
            reason,
            payload,
        },
    })
}

#[async_trait]
impl DeadLetters for SqliteDeadLetters {
    async fn record(
        &self,
        l: NewDeadLetter,
        now: DateTime<Utc>,
    ) -> Result<Option<i64>, InfraError> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO dead_letters (topic, key, consumer, event_id, reason, payload, recorded_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (topic, event_id) WHERE event_id IS NOT NULL DO NOTHING \
             RETURNING id",
        )
        .bind(l.topic.as_str())
        .bind(&l.key)
        .bind(&l.consumer)
        .bind(&l.event_id)
        .bind(&l.reason)
        .bind(&l.payload)
        .bind(micros(now))
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| infra("cannot record a dead letter", e))?;
        Ok(id)
    }

    async fn list(
        &self,
        topic: Option<Topic>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<DeadLetter>, InfraError> {
        let rows: Vec<Row> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM dead_letters WHERE id > ? AND (? IS NULL OR topic = ?) \
             ORDER BY id LIMIT ?"
        ))
        .bind(after)
        .bind(topic.map(Topic::as_str))
        .bind(topic.map(Topic::as_str))
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await
        .map_err(|e| infra("cannot list dead letters", e))?;
        rows.into_iter().map(letter).collect()
    }

    async fn take(&self, id: i64) -> Result<Option<DeadLetter>, InfraError> {
        let row: Option<Row> = sqlx::query_as(&format!(
            "DELETE FROM dead_letters WHERE id = ? RETURNING {COLUMNS}"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| infra("cannot take a dead letter", e))?;
        row.map(letter).transpose()
    }
}
