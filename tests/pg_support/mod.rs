//! PostgreSQL for the tests: a schema of its own per test case, in a database kept for tests.
//!
//! The server is the one at `TICKLER_TEST_PG_URL` (a superuser URL; default: the dev stack's,
//! `postgres://postgres:postgres@127.0.0.1:55432/postgres`). Tests create the database
//! `tickler_test` there if it is missing, and in it one schema per case, named
//! `t_<unix seconds>_<random>`; the store's connections get it as their only `search_path`, and
//! migrations run into it (much faster than a database per case). A case's schema is dropped when
//! its guard is dropped (its connections are terminated first); schemas that outlive their run
//! (a crashed run, the scheduler's two-"process" cases) are swept by the next run once they are
//! older than [`SWEEP_AFTER_SECS`].
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use tickler::adapters::postgres::{PgOptions, PgStore};

pub const DEFAULT_URL: &str = "postgres://postgres:postgres@127.0.0.1:55432/postgres";
pub const TEST_DATABASE: &str = "tickler_test";
const SWEEP_AFTER_SECS: u64 = 15 * 60;

/// The superuser URL the tests use.
pub fn admin_url() -> String {
    std::env::var("TICKLER_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database replaced by `database`.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let host_end = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    let mut out = format!("{}/{database}", &base[..host_end]);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    out
}

/// The URL of the tests' database.
pub fn test_url() -> String {
    with_database(&admin_url(), TEST_DATABASE)
}

fn unreachable(err: impl std::fmt::Display) -> ! {
    let target = PgConnectOptions::from_str(&admin_url())
        .map(|o| format!("{}:{}", o.get_host(), o.get_port()))
        .unwrap_or_else(|_| "TICKLER_TEST_PG_URL (unparsable)".into());
    panic!(
        "PostgreSQL is not reachable at {target}: {err}. Start the dev stack with \
         `scripts/dev-stack up postgres` (or point TICKLER_TEST_PG_URL at a superuser URL)."
    )
}

pub async fn admin_connection(url: &str) -> PgConnection {
    PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| unreachable(e))
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// Once per process: the test database exists, and old schemas are swept.
async fn prepare() {
    static READY: OnceLock<()> = OnceLock::new();
    if READY.get().is_some() {
        return;
    }
    let mut admin = admin_connection(&admin_url()).await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(TEST_DATABASE)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    if !exists {
        // Several test binaries may race here: "already exists" is success.
        if let Err(e) = sqlx::query(&format!("CREATE DATABASE {TEST_DATABASE}"))
            .execute(&mut admin)
            .await
        {
            let code = e
                .as_database_error()
                .and_then(|d| d.code())
                .unwrap_or_default();
            assert!(
                code == "42P04" || code == "23505",
                "cannot create the test database: {e}"
            );
        }
    }
    let _ = admin.close().await;
    let mut conn = admin_connection(&test_url()).await;
    let names: Vec<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname ~ '^[ts]_[0-9]+_[0-9a-f]+$'",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let cut = now_secs().saturating_sub(SWEEP_AFTER_SECS);
    for name in names {
        let born: u64 = name[2..]
            .split('_')
            .next()
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if born < cut {
            drop_schema(&mut conn, &name).await;
        }
    }
    let _ = conn.close().await;
    let _ = READY.set(());
}

async fn drop_schema(conn: &mut PgConnection, name: &str) {
    let _ = sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE application_name = $1 AND pid <> pg_backend_pid()",
    )
    .bind(name)
    .execute(&mut *conn)
    .await;
    let _ = sqlx::query("SET lock_timeout = '5s'")
        .execute(&mut *conn)
        .await;
    if let Err(e) = sqlx::query(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"))
        .execute(&mut *conn)
        .await
    {
        eprintln!("could not drop test schema {name} (the next run sweeps it): {e}");
    }
}

/// A test's schema; dropped with its data when this is dropped, unless `keep`.
pub struct TestSchema {
    pub name: String,
    keep: bool,
}

impl TestSchema {
    /// Store options for this schema: its connections are named after it, which is how the
    /// clean-up finds them.
    pub fn options(&self) -> PgOptions {
        PgOptions {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(10),
            schema: Some(self.name.clone()),
            application_name: self.name.clone(),
        }
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime; a thread with its own does the async work.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&test_url()).await {
                    drop_schema(&mut conn, &name).await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

async fn create_schema(name: &str) {
    prepare().await;
    let mut conn = admin_connection(&test_url()).await;
    sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {name}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let _ = conn.close().await;
}

/// A new, empty schema (not migrated).
pub async fn fresh_schema() -> TestSchema {
    let name = format!("t_{}_{:016x}", now_secs(), rand::random::<u64>());
    create_schema(&name).await;
    TestSchema { name, keep: false }
}

/// The schema that stands for `dir` (the scheduler suite's "persistent state"): the same one for
/// every call with the same directory, left for the sweep since a second "process" may follow.
pub async fn schema_for_dir(dir: &Path) -> TestSchema {
    static BY_DIR: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    let name = BY_DIR
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(dir.to_path_buf())
        .or_insert_with(|| format!("s_{}_{:016x}", now_secs(), rand::random::<u64>()))
        .clone();
    create_schema(&name).await;
    TestSchema { name, keep: true }
}

/// A migrated store on `schema`.
pub async fn store(schema: &TestSchema) -> PgStore {
    let store = PgStore::connect(&test_url(), schema.options())
        .await
        .unwrap_or_else(|e| unreachable(tickler::ports::error::chain(&e)));
    store.migrate().await.expect("migrate the test schema");
    store
}

/// A migrated store on a fresh schema, with the guard that drops the schema.
pub async fn fresh_store() -> (PgStore, TestSchema) {
    let schema = fresh_schema().await;
    (store(&schema).await, schema)
}
