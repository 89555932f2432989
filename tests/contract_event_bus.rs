//! Event-bus contract (publisher + intake) for every transport. Kafka runs against the dev
//! stack's broker (`scripts/dev-stack up kafka`; `TICKLER_TEST_KAFKA_BROKERS` to point elsewhere).

mod contract;

mod memory {
    crate::contract::bus::event_bus_tests!(crate::contract::adapters::memory_bus);
}

mod kafka {
    crate::contract::bus::event_bus_tests!(crate::contract::kafka::kafka_bus);
}

/// Through a real daprd sidecar with the Kafka pub/sub component (needs the dev stack with dapr).
mod dapr_kafka {
    crate::contract::bus::event_bus_tests!(crate::contract::dapr_bus::dapr_kafka_bus);
}

/// The same with the Redis Streams component: only the component file differs.
mod dapr_redis {
    crate::contract::bus::event_bus_tests!(crate::contract::dapr_bus::dapr_redis_bus);
}
