//! DeadLetters contract for every adapter.

mod contract;

mod sqlite {
    crate::contract::dead_letters::dead_letters_tests!(
        crate::contract::adapters::sqlite_dead_letters
    );
}

mod memory {
    crate::contract::dead_letters::dead_letters_tests!(
        crate::contract::adapters::memory_dead_letters
    );
}

mod postgres {
    crate::contract::dead_letters::dead_letters_tests!(
        crate::contract::adapters::postgres_dead_letters
    );
}
