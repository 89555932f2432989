//! In-memory adapters of every port: used by unit tests and, for the event bus, by the embedded
//! default (one process, no broker).

pub mod bus;
pub mod clock;
pub mod mailer;
pub mod scheduler;
pub mod state;

pub use bus::{DeadLetter, MemoryBus};
pub use clock::{ManualClock, SystemClock};
pub use mailer::MemoryMailer;
pub use scheduler::MemoryScheduler;
pub use state::MemoryStateStore;
