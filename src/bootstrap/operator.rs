//! Operator commands that need the database and the transport but run no role:
//! `tickler dead-letters list|replay`.

use std::sync::Arc;

use tokio::sync::watch;

use super::database::Database;
use super::transport::{self, Bus};
use crate::app::dead_letters::{self, Replayed};
use crate::config::{Config, Transport};
use crate::domain::event::Topic;

/// What `tickler dead-letters` was asked to do.
pub enum DeadLetterCommand {
    List {
        topic: Option<Topic>,
        after: i64,
        limit: usize,
    },
    Replay {
        ids: Vec<i64>,
    },
}

/// Lists or replays the dead letters recorded in the database. Replaying publishes through the
/// configured transport, so in Dapr mode the command runs beside a sidecar of its own (for
/// example under `scripts/dapr-run`).
pub async fn dead_letters(config: &Config, command: DeadLetterCommand) -> anyhow::Result<()> {
    let (_keep, rx) = watch::channel(false);
    match command {
        DeadLetterCommand::List {
            topic,
            after,
            limit,
        } => {
            let database = Database::open(config, rx).await?;
            let letters = database.dead_letters();
            let mut out = std::io::stdout().lock();
            let n = dead_letters::list(letters.as_ref(), topic, after, limit, &mut out).await?;
            drop(out);
            eprintln!("{n} dead letter(s)");
            database.close().await;
            Ok(())
        }
        DeadLetterCommand::Replay { ids } => {
            let (config, sidecar) = match config.transport() {
                Transport::Dapr => {
                    let (c, s) = transport::sidecar(config).await?;
                    (c, Some(s))
                }
                _ => (config.clone(), None),
            };
            if matches!(config.transport(), Transport::Embedded) {
                anyhow::bail!(
                    "replaying needs a broker (Kafka or Dapr): the in-process bus lives inside the running server"
                );
            }
            let database = Database::open(&config, rx).await?;
            let bus = Bus::connect(&config, sidecar).await?;
            let letters: Arc<_> = database.dead_letters();
            let publisher = bus.publisher();
            let result = dead_letters::replay(letters.as_ref(), publisher.as_ref(), &ids).await;
            bus.close().await;
            database.close().await;
            for r in result? {
                match r {
                    Replayed::Published(id) => println!("{id}\treplayed"),
                    Replayed::Gone(id) => println!("{id}\tnot found"),
                }
            }
            Ok(())
        }
    }
}
