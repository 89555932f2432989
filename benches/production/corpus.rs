//! The search benchmarks' data set and requests, shared by the SQLite (examples/search_bench.rs)
//! and PostgreSQL (benches/production) runs so their figures compare directly.

use tickler::app::input::CreateTaskInput;

pub const TASKS: usize = 100_000;

const WORDS: [&str; 16] = [
    "invoice",
    "garden",
    "dentist",
    "report",
    "groceries",
    "plumber",
    "taxes",
    "birthday",
    "meeting",
    "laundry",
    "insurance",
    "passport",
    "budget",
    "flight",
    "library",
    "workout",
];

/// Task `i` of the data set: two of the sixteen words in the title, one more in the description.
pub fn task(i: usize) -> CreateTaskInput {
    let (a, b) = (WORDS[i % 16], WORDS[(i / 16) % 16]);
    CreateTaskInput {
        title: format!("{a} {b} #{i}"),
        description: Some(format!(
            "notes about the {b} and the {} for item {i}",
            WORDS[(i / 256) % 16]
        )),
        priority: Some(["low", "medium", "high", "urgent"][i % 4].into()),
        due_date: Some(format!(
            "2027-{:02}-{:02}T09:00:00Z",
            1 + i % 12,
            1 + i % 28
        )),
        reminders: Some(vec![]),
        ..Default::default()
    }
}

/// (what is measured, query string of `GET /api/v1/tasks`).
pub const QUERIES: [(&str, &str); 6] = [
    (
        "search, one common word (in ~18% of tasks), top 20",
        "q=plumber&limit=20",
    ),
    (
        "search, two words (both required), top 20",
        "q=garden%20taxes&limit=20",
    ),
    (
        "search, prefix of a common word, top 20",
        "q=insur&limit=20",
    ),
    (
        "list, pending, by due date, page of 50",
        "status=pending&sort=due_date&limit=50",
    ),
    (
        "list, priority=urgent, by title, page of 50",
        "priority=urgent&sort=title&limit=50",
    ),
    (
        "list, due before a date, page of 50",
        "due_before=2027-03-01T00:00:00Z&limit=50",
    ),
];

/// Sorted latencies (ms) of 300 sequential `GET {api}/tasks?{query}` after 30 of warm-up.
pub async fn time_query(client: &reqwest::Client, api: &str, token: &str, query: &str) -> Vec<f64> {
    let mut lat = Vec::new();
    for i in 0..330 {
        let t = std::time::Instant::now();
        let r = client
            .get(format!("{api}/tasks?{query}"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{query}: {}", r.status());
        let _ = r.bytes().await;
        if i >= 30 {
            lat.push(t.elapsed().as_secs_f64() * 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    lat
}
