//! librdkafka errors as port errors. `transient` follows what waiting can fix: a full local
//! queue, a broker that is down or electing a leader, a timeout. Configuration, authorisation and
//! oversized messages are permanent: retrying the same thing fails the same way.

use rdkafka::error::{KafkaError, RDKafkaErrorCode};

use crate::ports::InfraError;

pub(crate) fn infra(context: impl Into<String>, err: KafkaError) -> InfraError {
    let transient = is_transient(&err);
    let source = redacted(err);
    InfraError {
        context: context.into(),
        transient,
        source: Some(source),
    }
}

pub(crate) fn is_transient(err: &KafkaError) -> bool {
    match err {
        KafkaError::ClientConfig(..)
        | KafkaError::ClientCreation(_)
        | KafkaError::Nul(_)
        | KafkaError::Subscription(_)
        | KafkaError::AdminOpCreation(_) => false,
        // The client is being dropped: the process is stopping, a later attempt may succeed.
        KafkaError::Canceled => true,
        KafkaError::MessageConsumptionFatal(_) => false,
        other => other.rdkafka_error_code().is_some_and(code_is_transient),
    }
}

pub(crate) fn code_is_transient(code: RDKafkaErrorCode) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        code,
        BrokerTransportFailure
            | Resolve
            | MessageTimedOut
            | AllBrokersDown
            | OperationTimedOut
            | TimedOutQueue
            | QueueFull
            | ISRInsufficient
            | WaitingForCoordinator
            | InProgress
            | PreviousInProgress
            | Retry
            | PurgeQueue
            | PurgeInflight
            | Interrupted
            | WaitCache
            | BrokerDestroy
            // A topic that does not exist yet may be being created (start-up of another
            // process); the outbox retries with back-off in either case.
            | UnknownTopicOrPartition
            | UnknownTopic
            | UnknownPartition
            | LeaderNotAvailable
            | NotLeaderForPartition
            | RequestTimedOut
            | BrokerNotAvailable
            | ReplicaNotAvailable
            | NetworkException
            | CoordinatorLoadInProgress
            | CoordinatorNotAvailable
            | NotCoordinator
            | NotEnoughReplicas
            | NotEnoughReplicasAfterAppend
            | NotController
            | RebalanceInProgress
            | KafkaStorageError
            | ConcurrentTransactions
    )
}

/// librdkafka's configuration errors quote the offending value; never let a credential through.
fn redacted(err: KafkaError) -> crate::ports::error::BoxError {
    match err {
        KafkaError::ClientConfig(_, desc, key, _value) => {
            let sensitive = ["password", "secret", "key", "sasl.jaas"]
                .iter()
                .any(|s| key.contains(s));
            let desc = if sensitive {
                "invalid value".to_owned()
            } else {
                desc
            };
            format!("invalid Kafka client setting `{key}`: {desc}").into()
        }
        other => Box::new(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rdkafka::types::RDKafkaConfRes;

    #[test]
    fn broker_trouble_is_transient_and_bad_input_is_not() {
        for code in [
            RDKafkaErrorCode::QueueFull,
            RDKafkaErrorCode::AllBrokersDown,
            RDKafkaErrorCode::BrokerTransportFailure,
            RDKafkaErrorCode::MessageTimedOut,
            RDKafkaErrorCode::RequestTimedOut,
            RDKafkaErrorCode::OperationTimedOut,
            RDKafkaErrorCode::NotEnoughReplicas,
        ] {
            assert!(
                infra("x", KafkaError::MessageProduction(code)).transient,
                "{code:?}"
            );
        }
        for code in [
            RDKafkaErrorCode::MessageSizeTooLarge,
            RDKafkaErrorCode::InvalidConfig,
            RDKafkaErrorCode::TopicAuthorizationFailed,
            RDKafkaErrorCode::SaslAuthenticationFailed,
            RDKafkaErrorCode::InvalidTopic,
            RDKafkaErrorCode::Fatal,
        ] {
            assert!(
                !infra("x", KafkaError::MessageProduction(code)).transient,
                "{code:?}"
            );
        }
        assert!(!infra("x", KafkaError::ClientCreation("bad".into())).transient);
        assert!(infra("x", KafkaError::Canceled).transient);
    }

    #[test]
    fn configuration_errors_never_quote_a_secret() {
        let err = KafkaError::ClientConfig(
            RDKafkaConfRes::RD_KAFKA_CONF_INVALID,
            "Invalid value \"hunter2\" for sasl.password".into(),
            "sasl.password".into(),
            "hunter2".into(),
        );
        let e = infra("creating the producer", err);
        let text = crate::ports::error::chain(&e);
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("sasl.password"), "{text}");
        assert!(!e.transient);
    }
}
