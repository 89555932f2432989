//! Ports: what the application needs from the outside world, as small traits held as
//! `Arc<dyn Port>`. Each has an in-memory adapter (tests, embedded default) and one or more real
//! ones; the contract suites in `tests/contract_*.rs` hold every adapter to the same behaviour.

pub mod clock;
pub mod dead_letters;
pub mod error;
pub mod event_bus;
pub mod health;
pub mod mailer;
pub mod outbox;
pub mod repository;
pub mod scheduler;
pub mod secrets;
pub mod state_store;

pub use clock::Clock;
pub use dead_letters::{DeadLetter, DeadLetters, NewDeadLetter};
pub use error::InfraError;
pub use event_bus::{EventHandler, EventIntake, EventPublisher, Message, Outcome};
pub use health::HealthCheck;
pub use mailer::{Email, MailError, Mailer};
pub use outbox::{FeedEntry, Outbox, OutboxRecord};
pub use repository::{LabelRepository, RepoError, TaskRepository, UserRepository, WriteContext};
pub use scheduler::{Job, JobHandler, Scheduler, Settled};
pub use secrets::SecretStore;
pub use state_store::{ETagCondition, StateEntry, StateError, StateStore};
