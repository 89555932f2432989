//! Black-box tests of the REST API: the app is served on 127.0.0.1:0 and driven with reqwest.
//! See `helpers.rs` for how the app under test is built (one function to swap).

mod auth;
mod contract;
mod errors;
mod events;
mod helpers;
mod hostile_text;
mod idempotency;
mod isolation;
mod labels;
mod listing;
mod me;
mod ops;
mod recurrence;
mod reminders;
mod tasks;
