//! The event-bus contract (`bus.rs`) through real daprd sidecars, on Kafka and on Redis (only the
//! component file differs).
//!
//! daprd reads an app's subscriptions once, when the app's port first answers, and the suite's
//! cases subscribe after the fixture is built; so the fixture starts the app listener and its
//! sidecar on the first publish (every case subscribes before it publishes), as a role process
//! subscribes before it serves its Dapr-facing routes. `restart` stops the sidecar with SIGTERM
//! (it commits and leaves the group) and the app, and returns the intake of a new "process" of
//! the same app id, whose sidecar starts on the next publish.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tickler::adapters::dapr::DaprSidecar;
use tickler::adapters::memory::MemoryDeadLetters;
use tickler::config::TopicNames;
use tickler::domain::event::Topic;
use tickler::ports::{DeadLetters, EventIntake, EventPublisher, InfraError, Message};
use tokio::sync::Mutex;

use super::bus::{BusFixture, DeadLetterView};
use super::dapr::{PubSub, Sidecar, Spec, create_kafka_topics, serve, unique, unique_topics};

/// One "process": adapters, and once started, its app listener and sidecar.
struct Process {
    dapr: DaprSidecar,
    running: Option<(Sidecar, tokio::task::JoinHandle<()>)>,
}

struct Lazy {
    spec: Spec,
    topics: TopicNames,
    dead_letters: Arc<MemoryDeadLetters>,
    current: Mutex<Process>,
}

impl Lazy {
    fn process(&self) -> Process {
        Process {
            dapr: DaprSidecar::connect(&self.spec.config(), &self.topics).expect("Dapr adapters"),
            running: None,
        }
    }

    /// The current process's publisher, its sidecar started first if need be.
    async fn publisher(&self) -> Arc<dyn EventPublisher> {
        let mut p = self.current.lock().await;
        if p.running.is_none() {
            let router = p.dapr.app_router(self.dead_letters.clone());
            let (port, server) = serve(router, 0).await;
            let mut spec = self.spec.clone();
            spec.app_port = Some(port);
            let mut sidecar = Sidecar::start(spec);
            sidecar.wait(true).await;
            p.dapr.wait_outbound().await.expect("sidecar ready");
            p.running = Some((sidecar, server));
        }
        p.dapr.publisher()
    }

    async fn restart(&self) -> Arc<dyn EventIntake> {
        let mut p = self.current.lock().await;
        if let Some((mut sidecar, server)) = p.running.take() {
            sidecar.stop().await;
            server.abort();
        }
        *p = self.process();
        p.dapr.intake()
    }
}

impl Drop for Lazy {
    fn drop(&mut self) {
        if let Some((_, server)) = self.current.get_mut().running.take() {
            server.abort();
        }
    }
}

struct LazyPublisher(Arc<Lazy>);

#[async_trait]
impl EventPublisher for LazyPublisher {
    async fn publish(&self, topic: Topic, key: &str, payload: &[u8]) -> Result<(), InfraError> {
        self.0.publisher().await.publish(topic, key, payload).await
    }

    async fn publish_batch<'a>(&self, batch: &[Message<'a>]) -> Vec<Result<(), InfraError>> {
        self.0.publisher().await.publish_batch(batch).await
    }
}

async fn dapr_bus(pubsub: PubSub) -> BusFixture {
    let stack = super::dapr::DaprStack::get();
    let topics = unique_topics();
    match pubsub {
        PubSub::Kafka => create_kafka_topics(&topics, 3).await,
        PubSub::Redis => stack.require_redis(),
    }
    let mut spec = Spec::new(&unique("bus"));
    spec.pubsub = Some(pubsub);
    let dead_letters = Arc::new(MemoryDeadLetters::new());
    let dapr = DaprSidecar::connect(&spec.config(), &topics).expect("Dapr adapters");
    let intake = dapr.intake();
    let lazy = Arc::new(Lazy {
        spec,
        topics,
        dead_letters: dead_letters.clone(),
        current: Mutex::new(Process {
            dapr,
            running: None,
        }),
    });
    let for_restart = lazy.clone();
    BusFixture {
        publisher: Arc::new(LazyPublisher(lazy.clone())),
        intake,
        restart: Box::new(move || {
            let lazy = for_restart.clone();
            Box::pin(async move { lazy.restart().await })
        }),
        dead_letters: Arc::new(move |topic| {
            let store = dead_letters.clone();
            Box::pin(async move {
                store
                    .list(Some(topic), 0, 1000)
                    .await
                    .unwrap()
                    .into_iter()
                    .map(|d| DeadLetterView {
                        payload: Some(d.letter.payload),
                        reason: d.letter.reason,
                        group: d.letter.consumer,
                    })
                    .collect()
            })
        }),
        settle: Duration::from_millis(1500),
        // The consumer group is the sidecar's app id, unique per fixture already.
        group_suffix: String::new(),
        guard: Box::new(lazy),
    }
}

pub async fn dapr_kafka_bus() -> BusFixture {
    dapr_bus(PubSub::Kafka).await
}

pub async fn dapr_redis_bus() -> BusFixture {
    dapr_bus(PubSub::Redis).await
}
