//! Factories: how each adapter is built for the suites. Add yours here (see mod.rs).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tickler::adapters::memory::{MemoryScheduler, MemoryStateStore, MemoryStore, SystemClock};
use tickler::adapters::sqlite::{SchedulerConfig, SqliteStore};

use super::{BoxFut, SchedulerFixture, StateFixture, Stores};

#[path = "../pg_support/mod.rs"]
pub mod pg_support;

/// A fresh SQLite file in its own temporary directory.
async fn sqlite_temp() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = open_sqlite(dir.path().join("tickler.db")).await;
    (dir, store)
}

async fn open_sqlite(path: PathBuf) -> SqliteStore {
    SqliteStore::open(path.to_str().expect("utf-8 temp path"))
        .await
        .expect("open SQLite store")
}

pub async fn sqlite_stores() -> Stores {
    let (dir, store) = sqlite_temp().await;
    Stores {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        outbox: Arc::new(store.outbox()),
        guard: Box::new((store, dir)),
    }
}

/// The same adapters on `sqlite::memory:`: one connection for everything, which also proves no
/// code path takes a second connection while holding a transaction (it would deadlock here).
pub async fn sqlite_memory_stores() -> Stores {
    let store = SqliteStore::open("sqlite::memory:")
        .await
        .expect("open in-memory SQLite store");
    Stores {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        outbox: Arc::new(store.outbox()),
        guard: Box::new(store),
    }
}

pub async fn sqlite_state() -> StateFixture {
    let (dir, store) = sqlite_temp().await;
    StateFixture {
        state: Arc::new(store.state()),
        guard: Box::new((store, dir)),
    }
}

/// `dir/tickler.db`, so a second call with the same directory is a second process on one file.
/// The lease is one second instead of a minute, so that a job wrongly left in the table after
/// `Done` or `Reject` fires again while the suite is still watching.
pub fn sqlite_scheduler(dir: PathBuf) -> BoxFut<SchedulerFixture> {
    Box::pin(async move {
        let store = open_sqlite(dir.join("tickler.db"))
            .await
            .with_scheduler_config(SchedulerConfig {
                lease: Duration::from_secs(1),
                ..SchedulerConfig::default()
            });
        let closer = store.clone();
        SchedulerFixture {
            scheduler: Arc::new(store.scheduler()),
            stop: Box::new(move || Box::pin(async move { closer.close().await })),
            guard: Box::new(store),
        }
    })
}

/// One `MemoryStore` is all four repositories and the outbox.
pub async fn memory_stores() -> Stores {
    let store = Arc::new(MemoryStore::new());
    Stores {
        tasks: store.clone(),
        labels: store.clone(),
        users: store.clone(),
        outbox: store.clone(),
        guard: Box::new(()),
    }
}

pub async fn memory_state() -> StateFixture {
    StateFixture {
        state: Arc::new(MemoryStateStore::new(Arc::new(SystemClock))),
        guard: Box::new(()),
    }
}

/// Jobs live in the process only, so the restart cases do not apply; the runner ends with the
/// test's runtime.
pub fn memory_scheduler(_dir: PathBuf) -> BoxFut<SchedulerFixture> {
    Box::pin(async move {
        SchedulerFixture {
            scheduler: Arc::new(MemoryScheduler::new()),
            stop: Box::new(|| Box::pin(async {})),
            guard: Box::new(()),
        }
    })
}

/// A fresh schema of the test database (see `tests/pg_support`), dropped when the test ends.
/// Needs the dev stack's PostgreSQL (or `TICKLER_TEST_PG_URL`), and fails saying so without it.
pub async fn postgres_stores() -> Stores {
    let (store, schema) = pg_support::fresh_store().await;
    Stores {
        tasks: Arc::new(store.tasks()),
        labels: Arc::new(store.labels()),
        users: Arc::new(store.users()),
        outbox: Arc::new(store.outbox()),
        guard: Box::new((store, schema)),
    }
}

pub async fn postgres_state() -> StateFixture {
    let (store, schema) = pg_support::fresh_store().await;
    StateFixture {
        state: Arc::new(store.state()),
        guard: Box::new((store, schema)),
    }
}

/// One schema per directory, so a second call with the same directory is a second process on
/// the same tables; a one-second lease, as for SQLite (see mod.rs).
pub fn postgres_scheduler(dir: PathBuf) -> BoxFut<SchedulerFixture> {
    Box::pin(async move {
        let schema = pg_support::schema_for_dir(&dir).await;
        let store = pg_support::store(&schema)
            .await
            .with_scheduler_config(SchedulerConfig {
                lease: Duration::from_secs(1),
                ..SchedulerConfig::default()
            });
        let closer = store.clone();
        SchedulerFixture {
            scheduler: Arc::new(store.scheduler()),
            stop: Box::new(move || Box::pin(async move { closer.close().await })),
            guard: Box::new((store, schema)),
        }
    })
}

/// The in-process bus: delivery happens inside `publish`, dead letters are kept in memory, and a
/// "restart" is the same bus (subscribing a group again replaces its handler).
pub async fn memory_bus() -> super::bus::BusFixture {
    use super::bus::DeadLetterView;
    use tickler::adapters::memory::MemoryBus;
    use tickler::ports::EventIntake;

    let bus = MemoryBus::new();
    let for_restart = bus.clone();
    let for_letters = bus.clone();
    super::bus::BusFixture {
        publisher: Arc::new(bus.clone()),
        intake: Arc::new(bus),
        restart: Box::new(move || {
            let bus = for_restart.clone();
            Box::pin(async move { Arc::new(bus) as Arc<dyn EventIntake> })
        }),
        dead_letters: Arc::new(move |topic| {
            let letters: Vec<DeadLetterView> = for_letters
                .dead_letters()
                .into_iter()
                .filter(|d| d.topic == topic)
                .map(|d| DeadLetterView {
                    payload: Some(d.payload),
                    reason: d.reason,
                    group: d.group,
                })
                .collect();
            Box::pin(async move { letters })
        }),
        settle: Duration::ZERO,
        group_suffix: String::new(),
        guard: Box::new(()),
    }
}

/// The Dapr state API through a real sidecar (its own app id, so its own keys).
async fn dapr_state(kind: super::dapr::State) -> StateFixture {
    use super::dapr::{Sidecar, Spec, unique};
    let mut spec = Spec::new(&unique("state"));
    spec.state = Some(kind);
    let dapr = tickler::adapters::dapr::DaprSidecar::connect(
        &spec.config(),
        &tickler::config::TopicNames::default(),
    )
    .expect("Dapr adapters");
    let mut sidecar = Sidecar::start(spec);
    sidecar.wait(false).await;
    dapr.wait_outbound().await.expect("sidecar ready");
    StateFixture {
        state: dapr.state(),
        guard: Box::new(sidecar),
    }
}

/// PostgreSQL v2 state store (deploy/dapr/components/statestore-postgres.yaml).
pub async fn dapr_state_postgres() -> StateFixture {
    dapr_state(super::dapr::State::Postgres).await
}

/// daprd's in-memory state store.
pub async fn dapr_state_memory() -> StateFixture {
    dapr_state(super::dapr::State::Memory).await
}

/// The Jobs API through a real sidecar and the stack's Dapr Scheduler. The app id is derived
/// from `dir`, so a second call with the same directory is a second process (sidecar and app)
/// of the same app, sharing its jobs; `stop` shuts the sidecar down (SIGTERM) and the app.
pub fn dapr_scheduler(dir: PathBuf) -> BoxFut<SchedulerFixture> {
    Box::pin(async move {
        use super::dapr::{AppAndSidecar, Sidecar, Spec};
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut h);
        let mut spec = Spec::new(&format!("sched-{:016x}", h.finish()));
        let dapr = tickler::adapters::dapr::DaprSidecar::connect(
            &spec.config(),
            &tickler::config::TopicNames::default(),
        )
        .expect("Dapr adapters");
        let router = dapr.app_router(Arc::new(tickler::adapters::memory::MemoryDeadLetters::new()));
        let (port, server) = super::dapr::serve(router, 0).await;
        spec.app_port = Some(port);
        let mut sidecar = Sidecar::start(spec);
        // Full health: the app channel is up and the Scheduler connected.
        sidecar.wait(true).await;
        let both = Arc::new(std::sync::Mutex::new(Some(AppAndSidecar {
            sidecar,
            server,
        })));
        let stopper = both.clone();
        SchedulerFixture {
            scheduler: dapr.scheduler(),
            stop: Box::new(move || {
                Box::pin(async move {
                    let taken = stopper.lock().unwrap().take();
                    if let Some(mut b) = taken {
                        b.sidecar.stop().await;
                    }
                })
            }),
            guard: Box::new(both),
        }
    })
}

pub async fn memory_dead_letters() -> super::dead_letters::DeadLettersFixture {
    super::dead_letters::DeadLettersFixture {
        store: Arc::new(tickler::adapters::memory::MemoryDeadLetters::new()),
        guard: Box::new(()),
    }
}

pub async fn sqlite_dead_letters() -> super::dead_letters::DeadLettersFixture {
    let (dir, store) = sqlite_temp().await;
    super::dead_letters::DeadLettersFixture {
        store: Arc::new(store.dead_letters()),
        guard: Box::new((store, dir)),
    }
}

/// A fresh schema of the test database (see `tests/pg_support`).
pub async fn postgres_dead_letters() -> super::dead_letters::DeadLettersFixture {
    let (store, schema) = pg_support::fresh_store().await;
    super::dead_letters::DeadLettersFixture {
        store: Arc::new(store.dead_letters()),
        guard: Box::new((store, schema)),
    }
}
