//! Outbox contract for every adapter (records come from the same store's task repository).

mod contract;

mod sqlite {
    crate::contract::outbox::outbox_tests!(crate::contract::adapters::sqlite_stores);
}
