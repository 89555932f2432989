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
