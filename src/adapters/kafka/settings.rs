//! The librdkafka configuration of each client, built from `KafkaConfig`. Never log a
//! `ClientConfig`'s values: it holds the SASL password (rdkafka's `Debug` hides it, `get` does not).

use rdkafka::ClientConfig;
use rdkafka::config::RDKafkaLogLevel;

use crate::config::KafkaConfig;

/// Offsets stored after handling are committed this often, as daprd's sarama does (1 s); the
/// intake also commits synchronously on revocation and shutdown.
const AUTO_COMMIT_INTERVAL_MS: &str = "1000";

/// Connection and security settings shared by every client.
pub(crate) fn common(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &cfg.brokers)
        .set("client.id", &cfg.client_id)
        .set("security.protocol", &cfg.security_protocol)
        // Idle connections closed by the broker are routine, not worth a log line.
        .set("log.connection.close", "false");
    if cfg.security_protocol.starts_with("sasl_") {
        if let Some(m) = &cfg.sasl_mechanism {
            c.set("sasl.mechanism", m);
        }
        if let Some(u) = &cfg.sasl_username {
            c.set("sasl.username", u);
        }
        if let Some(p) = &cfg.sasl_password {
            c.set("sasl.password", p.expose());
        }
    }
    if let Some(ca) = &cfg.ssl_ca_location {
        c.set("ssl.ca.location", ca.to_string_lossy());
    }
    // rdkafka derives the level from the `log` crate, which may not be wired to tracing: ask
    // tracing, which is where `ClientContext::log` sends the lines.
    c.set_log_level(log_level());
    c
}

fn log_level() -> RDKafkaLogLevel {
    if tracing::enabled!(target: "librdkafka", tracing::Level::DEBUG) {
        RDKafkaLogLevel::Debug
    } else if tracing::enabled!(target: "librdkafka", tracing::Level::INFO) {
        RDKafkaLogLevel::Info
    } else {
        RDKafkaLogLevel::Warning
    }
}

/// The outbox relay's producer: idempotent, `acks=all`, and daprd's partitioner (sarama hashes
/// keys with FNV-1a), so one task's events land on the partition a Dapr publisher would use.
pub(crate) fn producer(cfg: &KafkaConfig) -> ClientConfig {
    let mut c = common(cfg);
    c.set("enable.idempotence", "true")
        .set("acks", "all")
        .set("partitioner", "fnv1a_random")
        .set("message.timeout.ms", cfg.delivery_timeout_ms.to_string())
        // Events are sent as soon as they are enqueued: the relay hands over whole batches, so
        // waiting to fill batches would only add latency to single events.
        .set("linger.ms", "0");
    c
}

/// One subscription's consumer. Offsets are stored by the intake once the handler is finished
/// with a message and committed from the store, never ahead of the work.
pub(crate) fn consumer(cfg: &KafkaConfig, group: &str) -> ClientConfig {
    let mut c = common(cfg);
    c.set("group.id", group)
        // daprd (sarama) is a classic member with the range assignor: a direct consumer joining
        // the same group must speak the same protocol (dapr-kafka-verified.md §4.1).
        .set("group.protocol", "classic")
        .set("partition.assignment.strategy", "range")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", AUTO_COMMIT_INTERVAL_MS)
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("statistics.interval.ms", cfg.lag_interval_ms.to_string())
        // A third of the session, as the client's docs advise.
        .set("session.timeout.ms", cfg.session_timeout_ms.to_string())
        .set(
            "heartbeat.interval.ms",
            (cfg.session_timeout_ms / 3).max(1000).to_string(),
        );
    c
}

/// The admin client (topic creation) and the health probe.
pub(crate) fn admin(cfg: &KafkaConfig) -> ClientConfig {
    common(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;

    fn cfg() -> KafkaConfig {
        KafkaConfig {
            brokers: "127.0.0.1:19092".into(),
            ..KafkaConfig::default()
        }
    }

    #[test]
    fn producer_is_idempotent_with_daprd_partitioning() {
        let c = producer(&cfg());
        assert_eq!(c.get("enable.idempotence"), Some("true"));
        assert_eq!(c.get("acks"), Some("all"));
        assert_eq!(c.get("partitioner"), Some("fnv1a_random"));
        assert_eq!(c.get("message.timeout.ms"), Some("20000"));
        assert_eq!(c.get("bootstrap.servers"), Some("127.0.0.1:19092"));
        assert_eq!(c.get("security.protocol"), Some("plaintext"));
        assert_eq!(c.get("sasl.password"), None);
        c.create_native_config()
            .expect("librdkafka accepts the producer settings");
    }

    #[test]
    fn consumer_commits_only_stored_offsets_and_starts_at_the_oldest() {
        let c = consumer(&cfg(), "notification-service");
        assert_eq!(c.get("group.id"), Some("notification-service"));
        assert_eq!(c.get("enable.auto.offset.store"), Some("false"));
        assert_eq!(c.get("auto.offset.reset"), Some("earliest"));
        assert_eq!(c.get("partition.assignment.strategy"), Some("range"));
        assert_eq!(c.get("group.protocol"), Some("classic"));
        assert_eq!(c.get("statistics.interval.ms"), Some("5000"));
        c.create_native_config()
            .expect("librdkafka accepts the consumer settings");
    }

    #[test]
    fn security_settings_reach_librdkafka_and_stay_out_of_debug_output() {
        let mut k = cfg();
        k.security_protocol = "sasl_ssl".into();
        k.sasl_mechanism = Some("SCRAM-SHA-512".into());
        k.sasl_username = Some("tickler".into());
        k.sasl_password = Some(Secret::new("hunter2-secret"));
        k.ssl_ca_location = Some("/etc/ssl/certs/ca-certificates.crt".into());
        for c in [producer(&k), consumer(&k, "g"), admin(&k)] {
            assert_eq!(c.get("security.protocol"), Some("sasl_ssl"));
            assert_eq!(c.get("sasl.mechanism"), Some("SCRAM-SHA-512"));
            assert_eq!(c.get("sasl.username"), Some("tickler"));
            assert_eq!(c.get("sasl.password"), Some("hunter2-secret"));
            assert_eq!(
                c.get("ssl.ca.location"),
                Some("/etc/ssl/certs/ca-certificates.crt")
            );
            assert!(!format!("{c:?}").contains("hunter2"));
            c.create_native_config()
                .expect("librdkafka accepts SASL_SSL with SCRAM");
        }
        assert!(!format!("{k:?}").contains("hunter2"));
    }

    #[test]
    fn sasl_settings_are_not_sent_without_a_sasl_protocol() {
        let mut k = cfg();
        k.sasl_mechanism = Some("PLAIN".into());
        k.sasl_username = Some("u".into());
        k.sasl_password = Some(Secret::new("p"));
        let c = producer(&k);
        assert_eq!(c.get("sasl.mechanism"), None);
        assert_eq!(c.get("sasl.password"), None);
    }
}
