//! The web page's live feed, `GET /events` (Server-Sent Events from the outbox): only the
//! signed-in user's own events, and a reconnect with `Last-Event-ID` resumes exactly.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{TestApp, spawn_app};

/// One server-sent event.
#[derive(Debug, Clone)]
struct Sse {
    event: String,
    id: Option<i64>,
    data: Value,
}

/// An open event stream, read event by event.
struct Stream {
    body: reqwest::Response,
    buf: String,
}

impl Stream {
    async fn open(app: &TestApp, sub: &str, last_event_id: Option<i64>, query: &str) -> Self {
        let mut rb = app
            .client
            .get(app.url(&format!("/events{query}")))
            .header("cookie", format!("tickler_session={}", app.token(sub)));
        if let Some(id) = last_event_id {
            rb = rb.header("last-event-id", id.to_string());
        }
        let res = rb.send().await.expect("stream opens");
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            body: res,
            buf: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped), or `None` after `wait`.
    async fn next(&mut self, wait: Duration) -> Option<Sse> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut ev = Sse {
                    event: "message".into(),
                    id: None,
                    data: Value::Null,
                };
                let mut any = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        ev.event = v.trim().into();
                        any = true;
                    } else if let Some(v) = line.strip_prefix("id:") {
                        ev.id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        ev.data = serde_json::from_str(v.trim()).unwrap_or(Value::Null);
                        any = true;
                    }
                }
                if any {
                    return Some(ev);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.chunk())
                .await
                .ok()?
                .expect("stream reads")?;
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    async fn ready(&mut self) -> i64 {
        let ev = self
            .next(Duration::from_secs(5))
            .await
            .expect("ready event");
        assert_eq!(ev.event, "ready", "{ev:?}");
        ev.id.expect("ready carries the position")
    }

    /// Changes until none arrives for `quiet`.
    async fn changes(&mut self, quiet: Duration) -> Vec<Sse> {
        let mut out = Vec::new();
        while let Some(ev) = self.next(quiet).await {
            assert_eq!(ev.event, "change", "{ev:?}");
            out.push(ev);
        }
        out
    }
}

fn task_ids(events: &[Sse]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.data["task_id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn each_user_gets_only_their_own_events() {
    let app = spawn_app().await;
    let (alice, bob) = (app.user("alice"), app.user("bob"));
    let mut a = Stream::open(&app, "alice", None, "").await;
    let mut b = Stream::open(&app, "bob", None, "").await;
    a.ready().await;
    b.ready().await;
    let ta = alice.task("Alice's secret").await["id"].as_i64().unwrap();
    let tb = bob.task("Bob's secret").await["id"].as_i64().unwrap();
    alice
        .post_empty(&format!("/api/v1/tasks/{ta}/complete"))
        .await
        .ok(200);

    let got = a.changes(Duration::from_millis(1200)).await;
    assert_eq!(task_ids(&got), [ta, ta], "{got:?}");
    assert_eq!(got[0].data["type"], "task.created");
    assert_eq!(got[1].data["type"], "task.completed");
    assert!(got[0].id < got[1].id, "ids are increasing outbox seqs");
    let got = b.changes(Duration::from_millis(600)).await;
    assert_eq!(task_ids(&got), [tb]);
    // A change says what and which task, not the task's content.
    assert!(
        !got[0].data.to_string().contains("secret"),
        "{:?}",
        got[0].data
    );
}

#[tokio::test]
async fn reconnecting_with_last_event_id_resumes_exactly_after_it() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    let mut s = Stream::open(&app, "alice", None, "").await;
    s.ready().await;
    let first = alice.task("one").await["id"].as_i64().unwrap();
    let got = s.changes(Duration::from_millis(900)).await;
    assert_eq!(task_ids(&got), [first]);
    let last = got[0].id.unwrap();
    drop(s);

    // Written while the page was disconnected.
    let two = alice.task("two").await["id"].as_i64().unwrap();
    let three = alice.task("three").await["id"].as_i64().unwrap();
    app.user("bob").task("not alice's").await;

    let mut s = Stream::open(&app, "alice", Some(last), "").await;
    assert_eq!(s.ready().await, last, "resumes from the given id");
    let got = s.changes(Duration::from_millis(900)).await;
    assert_eq!(
        task_ids(&got),
        [two, three],
        "exactly what was missed: {got:?}"
    );
    assert!(got.iter().all(|e| e.id.unwrap() > last));

    // Last-Event-ID wins over the page's own hints.
    let mut s = Stream::open(&app, "alice", Some(last), "?after=999999&since=1").await;
    s.ready().await;
    assert_eq!(
        task_ids(&s.changes(Duration::from_millis(900)).await),
        [two, three]
    );
}

#[tokio::test]
async fn a_fresh_page_starts_after_what_it_already_shows() {
    let app = spawn_app().await;
    let alice = app.user("alice");
    alice.task("shown when the page was rendered").await;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let rendered = chrono::Utc::now().timestamp_millis();
    let mut s = Stream::open(&app, "alice", None, &format!("?since={rendered}")).await;
    s.ready().await;
    let t = alice.task("after the render").await["id"].as_i64().unwrap();
    assert_eq!(task_ids(&s.changes(Duration::from_millis(900)).await), [t]);
}

#[tokio::test]
async fn without_a_session_the_stream_is_refused() {
    let app = spawn_app().await;
    let res = app.client.get(app.url("/events")).send().await.unwrap();
    assert_eq!(res.status(), 401);
    let res = app
        .client
        .get(app.url("/events"))
        .header(
            "cookie",
            format!("tickler_session={}", app.expired_token("alice", 120)),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    // The REST API's bearer token is not a way in: the page's stream reads the cookie only.
    let res = app
        .client
        .get(app.url("/events"))
        .bearer_auth(app.token("alice"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
}
