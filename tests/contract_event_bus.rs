//! Event-bus contract (publisher + intake) for every transport. Kafka runs against the dev
//! stack's broker (`scripts/dev-stack up kafka`; `TICKLER_TEST_KAFKA_BROKERS` to point elsewhere).

mod contract;

mod memory {
    crate::contract::bus::event_bus_tests!(crate::contract::adapters::memory_bus);
}

mod kafka {
    crate::contract::bus::event_bus_tests!(crate::contract::kafka::kafka_bus);
}
