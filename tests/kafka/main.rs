//! What only the Kafka-direct transport does, against a real broker (the dev stack's, or
//! `TICKLER_TEST_KAFKA_BROKERS`): topic creation, daprd-compatible partitioning and headers, the
//! dead-letter record, retry limits, partition independence, graceful shutdown, the lag metric,
//! and — on a private broker this test starts and stops — the health check.
//! The behaviour every transport shares is in the bus contract (`tests/contract_event_bus.rs`).

#[path = "../contract/mod.rs"]
mod contract;

mod dead_letters;
mod health;
mod lifecycle;
mod partitions;
mod publishing;
mod support;
mod topics;
