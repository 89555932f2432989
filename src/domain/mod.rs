pub mod recurrence;
