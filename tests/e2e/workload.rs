//! The scenario's work, through the public REST API as users would do it, and the checks of
//! what came out: mails at the SMTP sink, next occurrences in the database.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use futures::StreamExt;
use serde_json::{Value, json};

use super::cluster::SECRET;
use super::stack::{Mail, SmtpSink};

pub struct User {
    pub email: String,
    pub token: String,
}

pub fn users(n: usize, scenario: &str) -> Vec<User> {
    let auth = tickler::auth::Auth::new(SECRET.as_bytes());
    (0..n)
        .map(|i| {
            let sub = format!("{scenario}-user{i}");
            let email = format!("user{i}@{}.e2e.test", scenario.replace('_', "-"));
            User {
                token: auth.mint(&sub, Some(&email), Some(&format!("User {i}")), 3600),
                email,
            }
        })
        .collect()
}

/// What the scenario expects: one mail per reminder (by its Message-ID, to its owner), and the
/// number of next occurrences.
#[derive(Default)]
pub struct Expected {
    pub mails: BTreeMap<String, String>,
    pub occurrences: usize,
}

fn iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

async fn post(client: &reqwest::Client, url: &str, token: &str, body: &Value) -> Value {
    // A write that meets a restarting database is retried with the same Idempotency-Key, as a
    // careful client would; the server answers the retry with the first result. A retry may find
    // the first attempt's claim still held (409 IDEMPOTENCY_CONFLICT, "retry later") when the
    // outage also kept the server from releasing it: that claim expires within a minute.
    let key = uuid::Uuid::new_v4().to_string();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let patient = tokio::time::Instant::now() < deadline;
        let r = client
            .post(url)
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(body)
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => return r.json().await.expect("JSON answer"),
            Ok(r) if r.status().is_server_error() && patient => {}
            Ok(r) if r.status() == reqwest::StatusCode::CONFLICT && patient => {
                let text = r.text().await.unwrap_or_default();
                assert!(
                    text.contains("IDEMPOTENCY_CONFLICT"),
                    "POST {url}: 409 {text}"
                );
            }
            Err(_) if patient => {}
            Ok(r) => panic!(
                "POST {url}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ),
            Err(e) => panic!("POST {url}: {e}"),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `n` tasks spread over `users`, each with one reminder at an instant evenly spread over
/// `[from, to]`, created by 16 concurrent clients.
pub async fn reminder_tasks(
    api: &str,
    users: &[User],
    n: usize,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    expected: &mut Expected,
) {
    let client = reqwest::Client::new();
    let span = (to - from).num_milliseconds().max(1);
    let created: Vec<(String, Value)> = futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            let user = &users[i % users.len()];
            let at = from + chrono::Duration::milliseconds(span * i as i64 / n.max(1) as i64);
            let url = format!("{api}/tasks");
            async move {
                let body = json!({
                    "title": format!("Reminder task {i}"),
                    "due_date": iso(at + chrono::Duration::hours(1)),
                    "reminders": [{"remind_at": iso(at)}],
                });
                (
                    user.email.clone(),
                    post(&client, &url, &user.token, &body).await,
                )
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    for (email, task) in created {
        let rid = task["reminders"][0]["id"].as_i64().expect("reminder id");
        expected
            .mails
            .insert(format!("<reminder-{rid}@tickler>"), email);
    }
}

/// `n` daily tasks without reminders, each completed once created: `n` next occurrences.
pub async fn completed_recurring_tasks(
    api: &str,
    users: &[User],
    n: usize,
    expected: &mut Expected,
) {
    let client = reqwest::Client::new();
    let tomorrow = Utc::now() + chrono::Duration::days(1);
    futures::stream::iter(0..n)
        .map(|i| {
            let client = client.clone();
            let user = &users[i % users.len()];
            let api = api.to_owned();
            async move {
                let body = json!({
                    "title": format!("Daily task {i}"),
                    "due_date": iso(tomorrow),
                    "recurrence_rule": "daily",
                    "reminders": [],
                });
                let task = post(&client, &format!("{api}/tasks"), &user.token, &body).await;
                let id = task["id"].as_i64().expect("task id");
                post(
                    &client,
                    &format!("{api}/tasks/{id}/complete"),
                    &user.token,
                    &json!({}),
                )
                .await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<()>>()
        .await;
    expected.occurrences += n;
}

/// Next occurrences in the scenario database: (rows, distinct predecessors).
pub async fn occurrences(db_url: &str) -> Option<(i64, i64)> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db_url).await.ok()?;
    sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT previous_task_id) FROM tasks WHERE previous_task_id IS NOT NULL",
    )
    .fetch_one(&mut conn)
    .await
    .ok()
}

pub struct Outcome {
    pub mails: Vec<Mail>,
    pub occurrences: (i64, i64),
}

/// Waits until everything expected has arrived (or `within` passed), then `settle` longer so
/// that a late duplicate would be seen too.
pub async fn wait_for(
    sink: &SmtpSink,
    db_url: &str,
    expected: &Expected,
    within: Duration,
    settle: Duration,
) -> Outcome {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let mails = sink.mails().len();
        let occ = occurrences(db_url).await.unwrap_or((0, 0));
        let done = mails >= expected.mails.len() && occ.0 as usize >= expected.occurrences;
        if done || tokio::time::Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    tokio::time::sleep(settle).await;
    Outcome {
        mails: sink.mails(),
        occurrences: occurrences(db_url).await.unwrap_or((0, 0)),
    }
}

/// How long before an e-mail process was SIGKILLed a mail it sent may have been accepted by
/// the SMTP server without the process having recorded it (one PostgreSQL or sidecar round
/// trip on a loaded 2-core machine; generous).
const CRASH_WINDOW: std::time::Duration = std::time::Duration::from_secs(2);

/// Every expected reminder mailed exactly once, to its owner, and nothing else; every next
/// occurrence created exactly once. Panics with a summary of what differs.
///
/// One exception, the one no mail protocol closes: an e-mail process SIGKILLed between the SMTP
/// server's acceptance of a mail and its own record of it sends that mail again after a
/// restart. Each crash in `email_crashes` may therefore explain one reminder mailed twice,
/// and only if its first copy was accepted within `CRASH_WINDOW` before that crash; any other
/// repeat fails the check.
pub fn verify(outcome: &Outcome, expected: &Expected, email_crashes: &[std::time::SystemTime]) {
    let mut seen: BTreeMap<&str, Vec<&Mail>> = BTreeMap::new();
    for m in &outcome.mails {
        seen.entry(m.message_id.as_str()).or_default().push(m);
    }
    let missing: Vec<&String> = expected
        .mails
        .keys()
        .filter(|id| !seen.contains_key(id.as_str()))
        .collect();
    let unexpected: BTreeSet<&str> = seen
        .keys()
        .copied()
        .filter(|id| !expected.mails.contains_key(*id))
        .collect();
    let mut crashes: Vec<std::time::SystemTime> = email_crashes.to_vec();
    let mut explained = 0;
    let duplicated: Vec<(&str, usize)> = seen
        .iter()
        .filter(|(_, v)| v.len() > 1)
        .filter(|(_, v)| {
            let first = v.iter().map(|m| m.received).min().expect("a copy");
            // The sink may store the mail a moment after the client died: it had the whole
            // message and accepts it anyway.
            let crash = crashes.iter().position(|c| {
                let apart = c
                    .duration_since(first)
                    .or_else(|e| Ok::<_, ()>(e.duration()))
                    .unwrap_or_default();
                apart <= CRASH_WINDOW
            });
            match crash {
                Some(i) if v.len() == 2 => {
                    crashes.remove(i);
                    explained += 1;
                    false
                }
                _ => true,
            }
        })
        .map(|(k, v)| (*k, v.len()))
        .collect();
    let misaddressed: Vec<(&str, &str)> = seen
        .iter()
        .filter_map(|(id, v)| {
            let owner = expected.mails.get(*id)?;
            v.iter()
                .find(|m| !m.to.contains(owner.as_str()))
                .map(|m| (*id, m.to.as_str()))
        })
        .collect();
    let (rows, distinct) = outcome.occurrences;
    let ok = missing.is_empty()
        && unexpected.is_empty()
        && duplicated.is_empty()
        && misaddressed.is_empty()
        && outcome.mails.len() == expected.mails.len() + explained
        && rows as usize == expected.occurrences
        && distinct == rows;
    assert!(
        ok,
        "mails: {} received for {} reminders ({explained} repeated by a crash mid-send); {} \
         missing (e.g. {:?}); {} unexpected; {} duplicated (e.g. {:?}); {} misaddressed (e.g. {:?}); occurrences: {rows} rows for {distinct} \
         predecessors, {} expected",
        outcome.mails.len(),
        expected.mails.len(),
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        unexpected.len(),
        duplicated.len(),
        duplicated.iter().take(3).collect::<Vec<_>>(),
        misaddressed.len(),
        misaddressed.iter().take(3).collect::<Vec<_>>(),
        expected.occurrences,
    );
}

/// Where each missing reminder's trail stops, read from the scenario's database: its status,
/// whether its `reminder.due` reached the outbox (and was published), a pending job, a
/// dead letter, and its e-mail claim. Printed when a scenario fails, so a CI log says which
/// stage lost it.
pub async fn diagnose(db_url: &str, outcome: &Outcome, expected: &Expected) -> String {
    use sqlx::Connection;
    let seen: BTreeSet<&str> = outcome
        .mails
        .iter()
        .map(|m| m.message_id.as_str())
        .collect();
    let missing: Vec<i64> = expected
        .mails
        .keys()
        .filter(|id| !seen.contains(id.as_str()))
        .filter_map(|id| {
            id.trim_start_matches("<reminder-")
                .trim_end_matches("@tickler>")
                .parse()
                .ok()
        })
        .take(5)
        .collect();
    if missing.is_empty() {
        return String::new();
    }
    let Ok(mut conn) = sqlx::PgConnection::connect(db_url).await else {
        return "cannot connect to the scenario database".into();
    };
    let mut report = String::new();
    for id in missing {
        let row: Option<(String, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT status, fired_at::text, delivered_at::text FROM reminders WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut conn)
        .await
        .unwrap_or(None);
        let due: Vec<(String, Option<String>, i32, Option<String>)> = sqlx::query_as(
            "SELECT event_id, published_at::text, attempts, last_error FROM outbox \
             WHERE topic LIKE '%task-reminders' AND convert_from(payload, 'UTF8')::jsonb \
             -> 'data' ->> 'reminder_id' = $1::text",
        )
        .bind(id)
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let jobs: Vec<(String, String)> =
            sqlx::query_as("SELECT name, due_at::text FROM jobs WHERE name LIKE $1")
                .bind(format!("%{id}"))
                .fetch_all(&mut conn)
                .await
                .unwrap_or_default();
        let letters: Vec<(String, Option<String>, String)> = sqlx::query_as(
            "SELECT topic, consumer, reason FROM dead_letters WHERE convert_from(payload, 'UTF8') \
             LIKE $1",
        )
        .bind(format!("%\"reminder_id\":{id},%"))
        .fetch_all(&mut conn)
        .await
        .unwrap_or_default();
        let mut claims = Vec::new();
        for (event_id, ..) in &due {
            let c: Option<(Vec<u8>, Option<String>)> =
                sqlx::query_as("SELECT value, expires_at::text FROM state WHERE key LIKE $1")
                    .bind(format!("%email-sent:{event_id}"))
                    .fetch_optional(&mut conn)
                    .await
                    .unwrap_or(None);
            claims.push(c.map(|(v, e)| (String::from_utf8_lossy(&v).into_owned(), e)));
        }
        report.push_str(&format!(
            "\n  reminder {id}: (status, fired, delivered) {row:?}; reminder.due in outbox \
             (event, published, attempts, error) {due:?}; jobs {jobs:?}; dead letters {letters:?}; \
             e-mail claims {claims:?}"
        ));
    }
    report
}
