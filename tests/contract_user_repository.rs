//! UserRepository contract for every adapter.

mod contract;

mod sqlite {
    crate::contract::users::user_repository_tests!(crate::contract::adapters::sqlite_stores);
}

/// One connection, no file: the same behaviour.
mod sqlite_memory {
    crate::contract::users::user_repository_tests!(crate::contract::adapters::sqlite_memory_stores);
}

mod memory {
    crate::contract::users::user_repository_tests!(crate::contract::adapters::memory_stores);
}

mod postgres {
    crate::contract::users::user_repository_tests!(crate::contract::adapters::postgres_stores);
}
