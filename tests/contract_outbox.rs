//! Outbox contract for every adapter (records come from the same store's task repository).

mod contract;

mod sqlite {
    crate::contract::outbox::outbox_tests!(crate::contract::adapters::sqlite_stores);
    crate::contract::outbox::outbox_order_tests!(crate::contract::adapters::sqlite_stores);
}

/// One connection, no file: the same behaviour.
mod sqlite_memory {
    crate::contract::outbox::outbox_tests!(crate::contract::adapters::sqlite_memory_stores);
    crate::contract::outbox::outbox_order_tests!(crate::contract::adapters::sqlite_memory_stores);
}

mod memory {
    crate::contract::outbox::outbox_tests!(crate::contract::adapters::memory_stores);
    crate::contract::outbox::outbox_order_tests!(crate::contract::adapters::memory_stores);
}

mod postgres {
    crate::contract::outbox::outbox_tests!(crate::contract::adapters::postgres_stores);
    crate::contract::outbox::outbox_order_tests!(crate::contract::adapters::postgres_stores);
}
