//! Scheduler contract for every adapter; the restart cases only for adapters that persist jobs,
//! and the runner's concurrency cases for the database-backed runner.

mod contract;

mod sqlite {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::sqlite_scheduler);
    crate::contract::scheduler::scheduler_restart_tests!(
        crate::contract::adapters::sqlite_scheduler
    );
    crate::contract::scheduler::runner_tests!(crate::contract::adapters::sqlite_scheduler);
}

mod memory {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::memory_scheduler);
}

mod postgres {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::postgres_scheduler);
    crate::contract::scheduler::scheduler_restart_tests!(
        crate::contract::adapters::postgres_scheduler
    );
    crate::contract::scheduler::runner_tests!(crate::contract::adapters::postgres_scheduler);
}

/// The Jobs API through real daprd sidecars and the Dapr Scheduler (needs the dev stack with
/// dapr). The Scheduler holds the jobs, so the restart cases apply.
mod dapr {
    crate::contract::scheduler::scheduler_tests!(crate::contract::adapters::dapr_scheduler);
    crate::contract::scheduler::scheduler_restart_tests!(crate::contract::adapters::dapr_scheduler);
}
