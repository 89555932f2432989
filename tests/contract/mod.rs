//! Port contract suites: one behaviour, every adapter.
//!
//! Each suite module holds plain `pub async fn` cases written against the port traits only, and a
//! macro that turns them into one `#[tokio::test]` per case for a given adapter factory. The test
//! binaries `tests/contract_<port>.rs` instantiate every suite for every adapter, inside a module
//! named after the adapter, so a case in the output reads `sqlite::tasks::delete_records_the_task_as_it_was`.
//!
//! | suite module   | cases take          | macro (in that module)            | binary                          |
//! |----------------|---------------------|-----------------------------------|---------------------------------|
//! | `tasks`        | `Stores`            | `task_repository_tests!`          | `contract_task_repository.rs`   |
//! | `task_list`    | `Stores`            | `task_list_tests!`                | `contract_task_repository.rs`   |
//! | `search`       | `Stores`            | `task_search_tests!`              | `contract_task_repository.rs`   |
//! | `reminders`    | `Stores`            | `reminder_tests!`                 | `contract_task_repository.rs`   |
//! | `labels`       | `Stores`            | `label_repository_tests!`         | `contract_label_repository.rs`  |
//! | `users`        | `Stores`            | `user_repository_tests!`          | `contract_user_repository.rs`   |
//! | `outbox`       | `Stores`            | `outbox_tests!`, `outbox_order_tests!` | `contract_outbox.rs`       |
//! | `state`        | `StateFixture`      | `state_store_tests!`              | `contract_state_store.rs`       |
//! | `scheduler`    | a `SchedulerFactory`| `scheduler_tests!`, and `scheduler_restart_tests!` for adapters that persist jobs | `contract_scheduler.rs` |
//! | `bus`          | `BusFixture`        | `event_bus_tests!`                | `contract_event_bus.rs`         |
//! | `dead_letters` | `DeadLettersFixture`| `dead_letters_tests!`             | `contract_dead_letters.rs`      |
//!
//! # Adding an adapter
//!
//! 1. Write its factories in `adapters.rs`, next to the SQLite ones: an `async fn() -> Stores`
//!    whose four repositories share ONE backing store (the outbox must see the events the task
//!    repository writes), an `async fn() -> StateFixture`, and a `fn(PathBuf) -> BoxFut<SchedulerFixture>`.
//!    Put whatever must outlive the test (temp dir, container handle) in the `guard`.
//! 2. Add a module per adapter to each binary, next to the `sqlite` one, e.g. in
//!    `contract_task_repository.rs`:
//!    ```ignore
//!    mod memory {
//!        crate::contract::tasks::task_repository_tests!(crate::contract::adapters::memory_stores);
//!        crate::contract::task_list::task_list_tests!(crate::contract::adapters::memory_stores);
//!        // … the other suites of that binary
//!    }
//!    ```
//!    (pass the factory as a `crate::` path: it is expanded inside nested modules).
//! 3. `scheduler_restart_tests!` calls the factory twice on the same directory and expects jobs
//!    to survive the first fixture's `stop`; only adapters that persist jobs instantiate it.
//! 4. An adapter that leases jobs should use a lease of about a second in its test factory (the
//!    SQLite one does): a job wrongly kept after `Done` or `Reject` is only visible when it fires
//!    again, and the scheduler cases watch for 1.5 s.
//!
//! The event-bus fixture (`bus::BusFixture`) carries the publisher and intake of one transport, a
//! `restart` that stops the intake's consumers as a process exit would and returns a new intake on
//! the same transport state, a reader of the dead letters, and a unique suffix for group names (a
//! broker keeps groups between tests). Kafka's fixture (`kafka::kafka_bus`) creates fresh topics
//! on the dev stack's broker (`TICKLER_TEST_KAFKA_BROKERS`) and deletes them afterwards; what only
//! Kafka does (partitioning, headers, shutdown, lag, health) is tested in `tests/kafka/`.
//!
//! The Dapr adapters (`dapr.rs`: real daprd sidecars on the dev stack) run the state suite on
//! PostgreSQL v2 and on daprd's in-memory store, both scheduler suites on the Jobs API, and the
//! bus suite on Kafka and on Redis (`dapr_bus.rs`: the sidecar starts on the first publish, after
//! the case subscribed, since daprd reads an app's subscriptions once).
//!
//! The memory adapters run every suite except `outbox_order_tests!` (their claim does not hold
//! back a key yet) and `scheduler_restart_tests!` (their jobs die with the process).
//!
//! SQLite runs the repository suites twice: on a temporary file (`sqlite`) and on
//! `sqlite::memory:` (`sqlite_memory`, a single connection). Behaviour that only SQLite has
//! (several processes on one file, unreadable rows, its shutdown signal) is tested in
//! `tests/sqlite_adapter.rs`, outside the contract.
//!
//! PostgreSQL (`postgres`) runs every suite, each case on a fresh schema of the database
//! `tickler_test` on the server at `TICKLER_TEST_PG_URL` (default: the dev stack's; see
//! `tests/pg_support`), and fails, saying how to start it, when that server is unreachable. Its
//! own behaviour (several processes claiming at once, LISTEN/NOTIFY, restarts) is tested in
//! `tests/postgres_adapter.rs`.
//!
//! Cases use fixed instants (`support::base()`, microsecond-exact) for everything the port takes
//! as a parameter, so they are deterministic; only the scheduler and TTL cases use the wall clock,
//! with short waits (well under two seconds each).
//!
//! Semantics the suites pin down beyond the trait docs (agreed here so adapters cannot drift):
//! * Kinds may number label ids separately: a category and a tag can have the same id.
//! * `StateStore::delete` with `Match` on a missing (or expired) key succeeds; `Absent` on a live
//!   key fails with `ETagMismatch`.
//! * `finish_reminder` on an unknown reminder (its task was deleted) succeeds and does nothing.
//! * A cursor of the wrong kind (offset for a sorted list, keyset for a search, text value for a
//!   numeric sort) is `Invalid` with `ErrorCode::InvalidCursor`.

// Every binary compiles the whole harness but uses only its own suites.
#![allow(dead_code, unused_macros)]

pub mod adapters;
pub mod bus;
pub mod dapr;
pub mod dapr_bus;
pub mod dead_letters;
pub mod kafka;
pub mod labels;
pub mod outbox;
pub mod reminders;
pub mod scheduler;
pub mod search;
pub mod state;
pub mod support;
pub mod task_list;
pub mod tasks;
pub mod users;

use std::any::Any;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use tickler::ports::{
    LabelRepository, Outbox, Scheduler, StateStore, TaskRepository, UserRepository,
};

pub type BoxFut<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The persistence ports of one backing store.
pub struct Stores {
    pub tasks: Arc<dyn TaskRepository>,
    pub labels: Arc<dyn LabelRepository>,
    pub users: Arc<dyn UserRepository>,
    /// Must be the outbox the task repository writes into.
    pub outbox: Arc<dyn Outbox>,
    /// Kept alive for the duration of the test (temp dir, pool, container…).
    pub guard: Box<dyn Any + Send>,
}

pub struct StateFixture {
    pub state: Arc<dyn StateStore>,
    pub guard: Box<dyn Any + Send>,
}

pub struct SchedulerFixture {
    pub scheduler: Arc<dyn Scheduler>,
    /// Stops delivery as a process exit would (the runner stops; persisted jobs stay).
    pub stop: Box<dyn FnOnce() -> BoxFut<()> + Send>,
    pub guard: Box<dyn Any + Send>,
}

/// Builds a scheduler whose persistent state (if any) lives under the given directory. Called
/// twice with the same directory, it must give two "processes" sharing that state.
pub type SchedulerFactory = fn(PathBuf) -> BoxFut<SchedulerFixture>;

/// One `#[tokio::test]` per case, in a module named after the suite: the binary wraps the
/// expansions in a module named after the adapter, so a test reads `sqlite::tasks::case_name`.
/// Each case receives the factory's product (`Stores`, `StateFixture`).
macro_rules! cases {
    ($make:path, $module:ident, $suite:ident, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    $crate::contract::$suite::$case($make().await).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use cases;

/// Like `cases!`, for suites whose cases call the factory themselves (the scheduler's restart
/// cases open the same store twice).
macro_rules! factory_cases {
    ($make:path, $module:ident, $suite:ident, [$($case:ident),* $(,)?]) => {
        mod $module {
            $(
                #[tokio::test]
                async fn $case() {
                    $crate::contract::$suite::$case($make).await
                }
            )*
        }
    };
}
#[allow(unused_imports)]
pub(crate) use factory_cases;
