//! One subscription's consumer: a dedicated thread polls librdkafka (rebalances, statistics and
//! messages are all served by that poll) and hands each message to the worker task of its
//! partition. Partitions therefore progress independently, each strictly in order.
//!
//! Back-pressure: each worker has a small queue. When it is full the partition is paused and
//! the message held here; librdkafka then discards what it had prefetched for that partition
//! and, on resume, fetches again from the message after the last one handed out, so nothing is
//! skipped or reordered. Revocation (and shutdown) stops the affected workers, waits for the
//! message in their hands, and commits synchronously before the partitions are given up: the
//! next owner starts exactly after the last finished message.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rdkafka::Message as _;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::OwnedMessage;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, oneshot, watch};

use super::context;
use super::worker::{self, Deps};
use crate::telemetry::metrics::KAFKA_CONSUMER_LAG;

/// How long one poll waits for a message; also bounds how late a stop request or a paused
/// partition's resumption is noticed.
const POLL: Duration = Duration::from_millis(100);
/// Messages queued per partition worker before the partition is paused.
const WORKER_QUEUE: usize = 64;

pub(crate) type IntakeConsumer = BaseConsumer<IntakeContext>;

/// A partition's worker as seen from the poll thread.
struct Worker {
    queue: mpsc::Sender<OwnedMessage>,
    stop: watch::Sender<bool>,
    finished: oneshot::Receiver<()>,
    /// Received but not yet queued (the queue was full); the partition is paused while non-empty.
    held: VecDeque<OwnedMessage>,
}

#[derive(Default)]
struct Partitions {
    workers: HashMap<i32, Worker>,
    assigned: HashSet<i32>,
}

/// The consumer's callbacks (they run on the poll thread, inside `poll`).
pub(crate) struct IntakeContext {
    group: String,
    topic: String,
    partitions: Mutex<Partitions>,
}

impl IntakeContext {
    pub(crate) fn new(group: &str, topic: &str) -> Self {
        Self {
            group: group.to_owned(),
            topic: topic.to_owned(),
            partitions: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Partitions> {
        self.partitions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stops the workers of `which` (every partition when `None`), waits until each has finished
    /// the message in its hands, and commits what they stored. Runs on the poll thread, which
    /// may block: the workers run on the tokio runtime.
    fn release(&self, consumer: &IntakeConsumer, which: Option<&[i32]>) {
        let stopping: Vec<(i32, Worker)> = {
            let mut p = self.lock();
            let ids: Vec<i32> = match which {
                Some(ids) => ids.to_vec(),
                None => p.workers.keys().copied().collect(),
            };
            ids.into_iter()
                .filter_map(|id| p.workers.remove(&id).map(|w| (id, w)))
                .collect()
        };
        let mut paused = TopicPartitionList::new();
        for (id, w) in &stopping {
            let _ = w.stop.send(true);
            if !w.held.is_empty() {
                paused.add_partition(&self.topic, *id);
            }
        }
        for (_, w) in stopping {
            // Err means the worker is gone already (finished, or its runtime shut down).
            let _ = w.finished.blocking_recv();
        }
        if paused.count() > 0 {
            // A partition paused here would stay paused if it came back to this consumer.
            let _ = consumer.resume(&paused);
        }
        commit(consumer, &self.group, &self.topic);
    }

    fn forget_lag(&self, partitions: &[i32]) {
        for p in partitions {
            KAFKA_CONSUMER_LAG.remove_prefix(&[&self.group, &self.topic, &p.to_string()]);
        }
    }
}

fn partitions_of(tpl: &TopicPartitionList, topic: &str) -> Vec<i32> {
    tpl.elements_for_topic(topic)
        .iter()
        .map(|e| e.partition())
        .collect()
}

fn commit(consumer: &IntakeConsumer, group: &str, topic: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => {
            tracing::warn!(group, topic, error = %e, "committing consumer offsets failed; the last messages may be delivered again")
        }
    }
}

impl ClientContext for IntakeContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, line: &str) {
        context::log_line(level, fac, line);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        context::client_error(&error, reason);
    }

    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.topic) else {
            return;
        };
        let assigned = self.lock().assigned.clone();
        for (id, p) in &topic.partitions {
            if !assigned.contains(id) {
                continue;
            }
            if let Some(lag) = lag(p) {
                KAFKA_CONSUMER_LAG.set(&[&self.group, &self.topic, &id.to_string()], lag as f64);
            }
        }
    }
}

/// Messages after the group's committed offset, up to the end of the log (the last stable
/// offset under `read_committed`). A partition the group never committed counts from the log
/// start, where `auto.offset.reset=earliest` starts it.
pub(crate) fn lag(p: &rdkafka::statistics::Partition) -> Option<i64> {
    let end = if p.ls_offset >= 0 {
        p.ls_offset
    } else {
        p.hi_offset
    };
    if end < 0 {
        return None;
    }
    let from = if p.committed_offset >= 0 {
        p.committed_offset
    } else if p.lo_offset >= 0 {
        p.lo_offset
    } else {
        return None;
    };
    Some((end - from).max(0))
}

impl ConsumerContext for IntakeContext {
    fn pre_rebalance(&self, consumer: &IntakeConsumer, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Revoke(tpl) => {
                let ids = partitions_of(tpl, &self.topic);
                tracing::info!(group = %self.group, topic = %self.topic, partitions = ?ids, "partitions revoked");
                self.release(consumer, Some(&ids));
            }
            // rdkafka unassigns everything after a rebalance error.
            Rebalance::Error(e) => {
                tracing::warn!(group = %self.group, topic = %self.topic, error = %e, "rebalance failed");
                self.release(consumer, None);
            }
            Rebalance::Assign(_) => {}
        }
    }

    fn post_rebalance(&self, _consumer: &IntakeConsumer, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => {
                let ids = partitions_of(tpl, &self.topic);
                tracing::info!(group = %self.group, topic = %self.topic, partitions = ?ids, "partitions assigned");
                self.lock().assigned.extend(ids);
            }
            Rebalance::Revoke(tpl) => {
                let ids = partitions_of(tpl, &self.topic);
                let mut p = self.lock();
                for id in &ids {
                    p.assigned.remove(id);
                }
                drop(p);
                self.forget_lag(&ids);
            }
            Rebalance::Error(_) => {
                let ids: Vec<i32> = self.lock().assigned.drain().collect();
                self.forget_lag(&ids);
            }
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => {
                tracing::warn!(group = %self.group, topic = %self.topic, error = %e, "offset commit failed; it is retried with the next one")
            }
        }
    }
}

/// Everything the poll thread needs.
pub(crate) struct PollLoop {
    pub consumer: Arc<IntakeConsumer>,
    pub deps: Arc<Deps>,
    pub runtime: Handle,
    pub stop: super::Stop,
}

impl PollLoop {
    /// Polls until told to stop, then stops every worker (each finishes the message in hand),
    /// commits synchronously, and closes the consumer, which leaves the group.
    pub(crate) fn run(self) {
        while !self.stop.requested() {
            self.flush_held();
            match self.consumer.poll(POLL) {
                None => {}
                // Already logged by the context's error callback.
                Some(Err(e)) => {
                    tracing::debug!(topic = %self.deps.topic, error = %e, "consumer error")
                }
                Some(Ok(m)) => self.dispatch(m.detach()),
            }
        }
        let PollLoop { consumer, deps, .. } = self;
        let ctx = consumer.context();
        ctx.release(&consumer, None);
        let assigned: Vec<i32> = ctx.lock().assigned.drain().collect();
        ctx.forget_lag(&assigned);
        let (group, topic) = (deps.group.clone(), deps.topic.clone());
        drop(deps);
        // The last strong reference (workers hold weak ones and have finished): dropping it
        // closes the consumer, which leaves the group so its partitions move on at once.
        drop(consumer);
        tracing::info!(%group, %topic, "consumer closed");
    }

    fn dispatch(&self, msg: OwnedMessage) {
        let id = msg.partition();
        let mut parts = self.consumer.context().lock();
        let worker = parts
            .workers
            .entry(id)
            .or_insert_with(|| self.spawn_worker(id));
        if !worker.held.is_empty() {
            // Order first: behind what is already waiting.
            worker.held.push_back(msg);
            return;
        }
        match worker.queue.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => {
                worker.held.push_back(msg);
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&self.deps.topic, id);
                if let Err(e) = self.consumer.pause(&tpl) {
                    tracing::warn!(topic = %self.deps.topic, partition = id, error = %e, "could not pause a busy partition");
                }
            }
            Err(mpsc::error::TrySendError::Closed(msg)) => {
                // Unreachable (a worker only ends when told to stop, and is removed then). If
                // it happens, what it had queued is unfinished: go back to the committed offset
                // (at-least-once) rather than skip it.
                tracing::error!(topic = %self.deps.topic, partition = id, offset = msg.offset(), "partition worker ended unexpectedly; restarting the partition from its committed offset");
                parts.workers.remove(&id);
                let _ = self
                    .consumer
                    .seek(&self.deps.topic, id, Offset::Stored, Duration::ZERO);
            }
        }
    }

    /// Moves held messages into queues that have room again, and resumes a partition once all
    /// its held messages are queued.
    fn flush_held(&self) {
        let mut parts = self.consumer.context().lock();
        let mut resume = TopicPartitionList::new();
        for (id, w) in parts.workers.iter_mut() {
            if w.held.is_empty() {
                continue;
            }
            while let Some(msg) = w.held.pop_front() {
                match w.queue.try_send(msg) {
                    Ok(()) => {}
                    Err(
                        mpsc::error::TrySendError::Full(msg)
                        | mpsc::error::TrySendError::Closed(msg),
                    ) => {
                        w.held.push_front(msg);
                        break;
                    }
                }
            }
            if w.held.is_empty() {
                resume.add_partition(&self.deps.topic, *id);
            }
        }
        drop(parts);
        if resume.count() > 0
            && let Err(e) = self.consumer.resume(&resume)
        {
            tracing::warn!(topic = %self.deps.topic, error = %e, "could not resume partitions");
        }
    }

    fn spawn_worker(&self, partition: i32) -> Worker {
        let (queue, messages) = mpsc::channel(WORKER_QUEUE);
        let (stop, stop_rx) = watch::channel(false);
        let (finished_tx, finished) = oneshot::channel();
        self.runtime.spawn(worker::run(
            self.deps.clone(),
            partition,
            messages,
            stop_rx,
            finished_tx,
        ));
        Worker {
            queue,
            stop,
            finished,
            held: VecDeque::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partition(lo: i64, hi: i64, ls: i64, committed: i64) -> rdkafka::statistics::Partition {
        let mut p: rdkafka::statistics::Partition = serde_json::from_value(serde_json::json!({
            "partition": 0, "broker": 1, "leader": 1, "desired": true, "unknown": false,
            "msgq_cnt": 0, "msgq_bytes": 0, "xmit_msgq_cnt": 0, "xmit_msgq_bytes": 0,
            "fetchq_cnt": 0, "fetchq_size": 0, "fetch_state": "active", "query_offset": -1,
            "next_offset": 0, "app_offset": -1, "stored_offset": -1, "committed_offset": -1,
            "eof_offset": -1, "lo_offset": -1, "hi_offset": -1, "ls_offset": -1,
            "consumer_lag": -1, "consumer_lag_stored": -1, "txmsgs": 0, "txbytes": 0,
            "rxmsgs": 0, "rxbytes": 0, "msgs": 0, "rx_ver_drops": 0, "msgs_inflight": 0,
            "next_ack_seq": 0, "next_err_seq": 0, "acked_msgid": 0
        }))
        .expect("librdkafka's partition statistics");
        p.lo_offset = lo;
        p.hi_offset = hi;
        p.ls_offset = ls;
        p.committed_offset = committed;
        p
    }

    #[test]
    fn lag_counts_from_the_commit_or_the_log_start_to_the_stable_end() {
        assert_eq!(lag(&partition(0, 10, 10, 4)), Some(6));
        assert_eq!(lag(&partition(3, 10, 10, -1)), Some(7), "never committed");
        assert_eq!(lag(&partition(0, 10, 8, 4)), Some(4), "an open transaction");
        assert_eq!(
            lag(&partition(0, 10, -1, 4)),
            Some(6),
            "no stable offset yet"
        );
        assert_eq!(lag(&partition(0, 10, 10, 12)), Some(0));
        assert_eq!(lag(&partition(-1, -1, -1, -1)), None, "nothing fetched yet");
    }
}
