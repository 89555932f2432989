//! `tickler`: one binary for every role.
//!
//!   tickler [--role all] [--listen 127.0.0.1:8080] [--data-dir ./tickler-data] [--config tickler.toml]
//!   tickler token --sub alice --email alice@example.com
//!   tickler login-link --sub alice --email alice@example.com   (one-time web sign-in URL)
//!   tickler mcp --stdio            (token in TICKLER_TOKEN)
//!   tickler migrate                (apply the database's pending migrations)
//!   tickler --role R check-config  (load the configuration as start-up would; exit 1 naming the problem)
//!   tickler dead-letters list [--topic T] | replay ID...   (what no consumer could process)

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tickler::bootstrap::{self, Role};
use tickler::config::Config;

/// Rust's allocations go to mimalloc rather than glibc's malloc. On the embedded server's
/// reminder burst it cut the server's CPU by 10–20 % (2.1–2.3 s against 2.4–2.7 s) and the
/// lateness p99 to 0.66–0.79 s from 0.81–1.07 s, and the 100,000-task fill ran at 6,750–7,320
/// creations/s against 5,710–6,260 (BENCHMARKS.md, issue #8, ninth step). Allocation
/// and free were a quarter of the burst's samples, much of it buffers freed on another thread
/// than the one that allocated them (the writer thread, the mail writer, Tokio's workers), which
/// glibc handles through its arena locks and mimalloc through per-thread free lists. Built
/// without transparent huge pages (`no_thp`): with them the idle server's anonymous memory was
/// 13.7 MiB instead of 4.4. SQLite's own allocations still use glibc (see `cap_malloc_arenas`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in the header of mimalloc 3.3 (`mimalloc.h`, `mi_option_e`), which
/// libmimalloc-sys 0.1.49 bundles and has no constant for; Cargo.toml pins both crates exactly.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// mimalloc returns freed pages to the system a second after they are freed by default, and the
/// pages a burst of requests frees stayed resident meanwhile: 13.0–13.4 MiB anonymous under the
/// creation load against 10.2 with glibc. Returning them at once measured 10.6 MiB and no more
/// CPU. An explicit `MIMALLOC_PURGE_DELAY` in the environment wins.
fn purge_freed_memory_at_once() {
    if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
        // SAFETY: mi_option_set is not thread-safe; this runs first in `main`, before any thread
        // of ours exists.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) }
    }
}

#[derive(Parser, Debug)]
#[command(
    name = "tickler",
    version,
    about = "Event-driven task and reminder service"
)]
struct Cli {
    /// Which service this process runs.
    #[arg(long, value_enum, default_value = "all", global = true)]
    role: Role,
    /// Listen address (overrides TICKLER_LISTEN).
    #[arg(long, global = true)]
    listen: Option<std::net::SocketAddr>,
    /// Data directory of the embedded default (overrides TICKLER_DATA_DIR).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Configuration file (default ./tickler.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Print a signed access token (and nothing else) for local use.
    Token {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Lifetime in seconds (default 30 days).
        #[arg(long, default_value_t = 30 * 24 * 3600)]
        ttl: u64,
    },
    /// Print a one-time sign-in link for the web page (valid 15 minutes).
    LoginLink {
        #[arg(long)]
        sub: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// Where the server is reached (default: the listen address).
        #[arg(long)]
        base_url: Option<String>,
    },
    /// Serve the MCP tools over stdio for a desktop agent; the user comes from TICKLER_TOKEN.
    Mcp {
        #[arg(long)]
        stdio: bool,
    },
    /// Apply the database's pending migrations, then exit.
    Migrate,
    /// Load the configuration exactly as start-up does for --role, without connecting to
    /// anything; exit non-zero naming the bad key or the missing setting.
    CheckConfig,
    /// Events no consumer could process (Dapr dead-letter topics and the embedded bus): list
    /// them, or publish them again to their topic once the cause is fixed.
    #[command(subcommand)]
    DeadLetters(DeadLetterAction),
}

#[derive(Subcommand, Debug)]
enum DeadLetterAction {
    /// One line per record, oldest first: id, recorded at, topic, key, event, consumer, reason.
    List {
        /// Only this topic (its configured name, e.g. task-reminders).
        #[arg(long)]
        topic: Option<String>,
        /// Only records with an id above this one (for paging).
        #[arg(long, default_value_t = 0)]
        after: i64,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Publish these records again (exact bytes, same key) and remove them from the list.
    Replay {
        #[arg(required = true)]
        ids: Vec<i64>,
    },
}

fn load_config(cli: &Cli) -> Result<Config, String> {
    let mut config =
        Config::load(cli.config.as_deref()).map_err(|e| format!("configuration error: {e}"))?;
    if let Some(l) = cli.listen {
        config.listen = l;
    }
    if let Some(d) = &cli.data_dir {
        config.data_dir = d.clone();
    }
    Ok(config)
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load_config(&cli).map_err(anyhow::Error::msg)?;
    match cli.command {
        Some(Command::Token {
            sub,
            email,
            name,
            ttl,
        }) => {
            tickler::domain::UserId::parse(&sub).map_err(|e| anyhow::anyhow!("--sub: {e}"))?;
            let auth = tickler::auth::Auth::new(&bootstrap::signing_secret(&config)?);
            println!(
                "{}",
                auth.mint(&sub, email.as_deref(), name.as_deref(), ttl)
            );
            Ok(())
        }
        Some(Command::LoginLink {
            sub,
            email,
            name,
            base_url,
        }) => {
            let secret = bootstrap::signing_secret(&config)?;
            let base = base_url.unwrap_or_else(|| tickler::adapters::web::base_url(config.listen));
            println!(
                "{}",
                tickler::adapters::web::login_url(
                    &secret,
                    &base,
                    &sub,
                    email.as_deref(),
                    name.as_deref()
                )?
            );
            Ok(())
        }
        Some(Command::Mcp { stdio }) => {
            if !stdio {
                anyhow::bail!(
                    "only `tickler mcp --stdio` is a separate command; the HTTP transport is served at /mcp by the backend role"
                );
            }
            tickler::telemetry::init(&config.log.level, config.log.json);
            bootstrap::serve_mcp_stdio(&config).await
        }
        Some(Command::Migrate) => {
            tickler::telemetry::init(&config.log.level, config.log.json);
            bootstrap::migrate(&config).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Some(Command::CheckConfig) => {
            bootstrap::check(&config, cli.role)?;
            println!("configuration ok for --role {}", cli.role);
            Ok(())
        }
        Some(Command::DeadLetters(action)) => {
            let command = match action {
                DeadLetterAction::List {
                    topic,
                    after,
                    limit,
                } => {
                    let topic = match topic {
                        Some(name) => Some(config.topics.topic(&name).ok_or_else(|| {
                            anyhow::anyhow!("--topic: {name:?} is none of the configured topics")
                        })?),
                        None => None,
                    };
                    bootstrap::DeadLetterCommand::List {
                        topic,
                        after,
                        limit,
                    }
                }
                DeadLetterAction::Replay { ids } => bootstrap::DeadLetterCommand::Replay { ids },
            };
            bootstrap::dead_letters(&config, command).await
        }
        None => {
            tickler::telemetry::init(&config.log.level, config.log.json);
            let running = bootstrap::start(&config, cli.role).await?;
            running.run_until(shutdown_signal()).await;
            Ok(())
        }
    }
}

fn main() -> ExitCode {
    purge_freed_memory_at_once();
    cap_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tickler: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async_main())
}

/// For SQLite's allocations (its page caches and statements), which go to glibc's malloc:
/// glibc gives every thread that finds the main malloc arena busy an arena of its own (up to
/// eight per core) and keeps freed memory in each. Tokio's workers and the blocking threads that
/// the embedded store's reads and batches run on (`block_in_place`) made that several arenas of
/// idle memory: 10+ MiB of the embedded server's resident set (issue #8, BENCHMARKS.md). Two
/// arenas keep malloc contention low on the 2-core target. Set before any thread starts, and an
/// explicit `MALLOC_ARENA_MAX` in the environment wins (glibc has already read it).
fn cap_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes the allocator's tuning; called before any other thread
        // exists, so no allocation races with it.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The one place a fatal error is reported, with its whole cause chain.
            eprintln!("tickler: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option index is taken from mimalloc's header, not from the crate: check that it names
    /// the purge delay by its default of 1,000 ms (the options beside it default to 0).
    #[test]
    fn the_purge_delay_index_names_the_purge_delay() {
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_some() {
            return; // the environment's value replaces the default this test recognises
        }
        // SAFETY: reads an option; nothing in this test sets one.
        let delay = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(delay, 1000);
    }
}
