//! StateStore contract for every adapter.

mod contract;

mod sqlite {
    crate::contract::state::state_store_tests!(crate::contract::adapters::sqlite_state);
}

mod memory {
    crate::contract::state::state_store_tests!(crate::contract::adapters::memory_state);
}

mod postgres {
    crate::contract::state::state_store_tests!(crate::contract::adapters::postgres_state);
}

/// Through a real daprd with the PostgreSQL v2 state store (needs the dev stack with dapr).
mod dapr_postgres {
    crate::contract::state::state_store_tests!(crate::contract::adapters::dapr_state_postgres);
}

/// Through a real daprd with its in-memory state store.
mod dapr_memory {
    crate::contract::state::state_store_tests!(crate::contract::adapters::dapr_state_memory);
}
