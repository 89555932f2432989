//! Flow tests: the real binary's composition (`--role all` on the embedded default: SQLite file,
//! in-process bus, SQLite scheduler, file mailer) driven over HTTP, with short real delays.

mod harness;
mod recurrence;
mod reminders;
