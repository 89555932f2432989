//! Scheduler contract for every adapter; the restart cases only for adapters that persist jobs.

mod contract;

mod sqlite {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::sqlite_scheduler);
    crate::contract::scheduler::scheduler_restart_tests!(
        crate::contract::adapters::sqlite_scheduler
    );
}

mod memory {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::memory_scheduler);
}

mod postgres {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::postgres_scheduler);
    crate::contract::scheduler::scheduler_restart_tests!(
        crate::contract::adapters::postgres_scheduler
    );
}
