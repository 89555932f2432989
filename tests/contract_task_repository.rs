//! TaskRepository contract (writes, listing, search, reminders) for every adapter.

mod contract;

mod sqlite {
    crate::contract::tasks::task_repository_tests!(crate::contract::adapters::sqlite_stores);
    crate::contract::task_list::task_list_tests!(crate::contract::adapters::sqlite_stores);
    crate::contract::search::task_search_tests!(crate::contract::adapters::sqlite_stores);
    crate::contract::reminders::reminder_tests!(crate::contract::adapters::sqlite_stores);
}

/// One connection, no file: the same behaviour.
mod sqlite_memory {
    crate::contract::tasks::task_repository_tests!(crate::contract::adapters::sqlite_memory_stores);
    crate::contract::task_list::task_list_tests!(crate::contract::adapters::sqlite_memory_stores);
    crate::contract::search::task_search_tests!(crate::contract::adapters::sqlite_memory_stores);
    crate::contract::reminders::reminder_tests!(crate::contract::adapters::sqlite_memory_stores);
}

mod memory {
    crate::contract::tasks::task_repository_tests!(crate::contract::adapters::memory_stores);
    crate::contract::task_list::task_list_tests!(crate::contract::adapters::memory_stores);
    crate::contract::search::task_search_tests!(crate::contract::adapters::memory_stores);
    crate::contract::reminders::reminder_tests!(crate::contract::adapters::memory_stores);
}

/// A fresh schema per case on the dev stack's PostgreSQL.
mod postgres {
    crate::contract::tasks::task_repository_tests!(crate::contract::adapters::postgres_stores);
    crate::contract::task_list::task_list_tests!(crate::contract::adapters::postgres_stores);
    crate::contract::search::task_search_tests!(crate::contract::adapters::postgres_stores);
    crate::contract::reminders::reminder_tests!(crate::contract::adapters::postgres_stores);
}
