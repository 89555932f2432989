//! `GET /events`: the signed-in user's own events as Server-Sent Events, read from the outbox
//! (`Outbox::user_events`), so changes made by other processes — the notification, email-delivery
//! and recurring roles in split mode — reach the page too. Each stream polls every
//! [`WebState::poll_every`](super::WebState); the SSE id is the outbox seq, so a reconnect with
//! `Last-Event-ID` resumes exactly after the last event received.
//!
//! Where a stream starts, without `Last-Event-ID`: after `after` (the last id the tab saw, kept in
//! `sessionStorage`) or the beginning of the feed, skipping what the page already shows — events
//! older than `since`, the page's render time (ms) minus a second. It then sends `ready` (with the
//! position as its id) and one `change` per event; `expired` when the session ends.
//!
//! A `change` carries only the event type, the task id and, for what happened in the background
//! (a reminder fired or delivered, a next occurrence created), a sentence to announce.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio::sync::watch;

use super::WebApp;
use super::session::session_from;
use crate::domain::UserId;
use crate::domain::event::{
    CloudEvent, REMINDER_DUE, ReminderDueData, TASK_COMPLETED, TASK_CREATED, TASK_DELETED,
    TASK_UPDATED, TaskEventData, Topic,
};
use crate::domain::reminder::ReminderStatus;
use crate::ports::Outbox;

/// Events read per poll; more wait for the next one (immediately, see `drain`).
const BATCH: usize = 200;

#[derive(Debug, Default, Deserialize)]
pub struct EventsQuery {
    /// The last event id this tab saw.
    pub after: Option<i64>,
    /// When the page was rendered (ms since the epoch).
    pub since: Option<i64>,
}

pub async fn stream(
    State(state): State<WebApp>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let Ok(session) = session_from(&headers, &state.auth, &state.keys) else {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Your session has expired; sign in again.",
        )
            .into_response();
    };
    let last_event_id = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<i64>().ok());
    let (cursor, skip_before) = match last_event_id {
        Some(id) => (id, None),
        None => (
            q.after.unwrap_or(0).max(0),
            q.since
                .and_then(DateTime::<Utc>::from_timestamp_millis)
                .map(|t| t - chrono::Duration::seconds(1)),
        ),
    };
    let feed = Feed {
        outbox: state.outbox.clone(),
        user: session.actor.user_id,
        cursor,
        skip_before,
        started: false,
        ended: false,
        buffer: VecDeque::new(),
        poll: state.poll_every,
        expires: session.expires,
        shutdown: state.shutdown.clone(),
        full_batch: false,
    };
    let stream = futures::stream::unfold(feed, Feed::next);
    let mut res = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    // Tells proxies (nginx) not to buffer the stream.
    res.headers_mut()
        .insert("x-accel-buffering", header::HeaderValue::from_static("no"));
    res
}

struct Feed {
    outbox: Arc<dyn Outbox>,
    user: UserId,
    cursor: i64,
    skip_before: Option<DateTime<Utc>>,
    started: bool,
    ended: bool,
    buffer: VecDeque<Event>,
    poll: Duration,
    expires: Option<u64>,
    shutdown: Option<watch::Receiver<bool>>,
    /// The last read filled a batch: read again without waiting.
    full_batch: bool,
}

impl Feed {
    async fn next(mut self) -> Option<(Result<Event, Infallible>, Self)> {
        loop {
            if let Some(e) = self.buffer.pop_front() {
                return Some((Ok(e), self));
            }
            if self.ended {
                return None;
            }
            if !self.started {
                self.started = true;
                self.skip_old().await;
                self.buffer.push_back(
                    Event::default()
                        .event("ready")
                        .id(self.cursor.to_string())
                        .data("{}"),
                );
                continue;
            }
            if self.expired() {
                self.ended = true;
                self.buffer
                    .push_back(Event::default().event("expired").data("{}"));
                continue;
            }
            if !self.full_batch && self.wait().await {
                return None;
            }
            self.read().await;
        }
    }

    /// Moves past the events the page already shows (older than `skip_before`).
    async fn skip_old(&mut self) {
        let Some(before) = self.skip_before else {
            return;
        };
        loop {
            let entries = match self.outbox.user_events(&self.user, self.cursor, 500).await {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %crate::ports::error::chain(&e), "live feed: cannot read events");
                    return;
                }
            };
            let n = entries.len();
            for entry in entries {
                let old = CloudEvent::from_slice(&entry.payload)
                    .map(|e| e.time < before)
                    .unwrap_or(true);
                if !old {
                    return;
                }
                self.cursor = entry.seq;
            }
            if n < 500 {
                return;
            }
        }
    }

    fn expired(&self) -> bool {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.expires.is_some_and(|exp| exp <= now)
    }

    /// Sleeps one poll interval; true when the server is shutting down.
    async fn wait(&mut self) -> bool {
        let sleep = tokio::time::sleep(self.poll);
        match &mut self.shutdown {
            Some(rx) => {
                if *rx.borrow() {
                    return true;
                }
                tokio::select! {
                    () = sleep => false,
                    r = rx.wait_for(|stop| *stop) => r.is_ok(),
                }
            }
            None => {
                sleep.await;
                false
            }
        }
    }

    async fn read(&mut self) {
        let entries = match self
            .outbox
            .user_events(&self.user, self.cursor, BATCH)
            .await
        {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %crate::ports::error::chain(&e), "live feed: cannot read events");
                self.full_batch = false;
                return;
            }
        };
        self.full_batch = entries.len() == BATCH;
        for entry in entries {
            self.cursor = entry.seq;
            // `task.completed` of a recurring task is recorded for task-recurrence too: one copy.
            if entry.topic == Topic::TaskRecurrence {
                continue;
            }
            let Ok(event) = CloudEvent::from_slice(&entry.payload) else {
                continue;
            };
            let change = describe(&event);
            self.buffer.push_back(
                Event::default()
                    .event("change")
                    .id(entry.seq.to_string())
                    .data(change.to_string()),
            );
        }
    }
}

/// What the page is told about one event.
fn describe(event: &CloudEvent) -> serde_json::Value {
    let mut summary: Option<String> = None;
    let task_id = event.subject.parse::<i64>().ok();
    match event.event_type.as_str() {
        REMINDER_DUE => {
            if let Ok(d) = event.data_as::<ReminderDueData>() {
                summary = Some(format!(
                    "Reminder for “{}” is due: sending it.",
                    d.task_title
                ));
            }
        }
        TASK_CREATED | TASK_UPDATED | TASK_COMPLETED | TASK_DELETED => {
            if let Ok(d) = event.data_as::<TaskEventData>() {
                let title = d.task.title.as_str();
                let next = d
                    .task
                    .recurrence
                    .as_ref()
                    .is_some_and(|r| r.previous_task_id.is_some());
                if event.event_type == TASK_CREATED && next {
                    summary = Some(format!("Next occurrence of “{title}” created."));
                } else if event.event_type == TASK_UPDATED
                    && d.changed_fields == ["reminders"]
                    && let Some(r) = d
                        .task
                        .reminders
                        .iter()
                        .filter(|r| r.delivered_at.is_some())
                        .max_by_key(|r| r.delivered_at)
                {
                    summary = Some(match r.status {
                        ReminderStatus::Sent => format!("Reminder for “{title}” sent."),
                        ReminderStatus::Failed => format!("Reminder for “{title}” failed."),
                        _ => format!("Reminder for “{title}” not sent."),
                    });
                }
            }
        }
        _ => {}
    }
    serde_json::json!({
        "type": event.event_type,
        "task_id": task_id,
        "summary": summary,
    })
}
