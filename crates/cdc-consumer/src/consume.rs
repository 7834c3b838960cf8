//! The consume loop: Kafka → decode → plan → lanes → Cassandra, with at-least-once delivery.
//!
//! One loop reads messages in order, decodes and maps each (pure, cheap), and hands its writes
//! to the lane of its key ([`crate::lanes`]), so rows are written concurrently and each row's
//! changes in order. Offsets are stored (`enable.auto.offset.store=false`) only once a message
//! and every earlier one of its partition are written; librdkafka commits stored offsets every
//! second, and synchronously when partitions are revoked and at shutdown. Before a revocation
//! completes, the partitions' queued jobs are dropped and running ones finish, so the next owner
//! never races a stale write. A message that cannot be decoded or mapped goes to the
//! dead-letter topic with the reason. A Kafka client whose group stays without a coordinator is
//! replaced by a new one in the same group ([`crate::group_watch`]).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use debezium::{Change, Decoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{Message, OwnedMessage};
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use service::Health;

use crate::group_watch::{GroupHealth, GroupWatch};
use crate::lanes::{Dispatched, Execute, Lanes, OffsetStore, Progress};
use crate::mapping::{TABLES, mapping_for, plan_writes, write_time};
use crate::metrics::{
    ConsumerMetrics, Observability, PartitionLabels, STAGE_COMMIT_TO_DEBEZIUM,
    STAGE_DEBEZIUM_TO_KAFKA, STAGE_KAFKA_TO_CONSUMER,
};
use crate::ordering::{TopicPartition, lane_for};
use crate::replicate::{Job, Replicator};
use crate::sink::CassandraSink;

pub struct ConsumeSettings {
    pub brokers: String,
    pub group_id: String,
    pub topics: Vec<String>,
    pub dead_letter_topic: String,
    /// Decode messages without a schema too (see `Decoder::accept_schemaless`).
    pub accept_schemaless: bool,
    /// Lanes, and so the most Cassandra requests in flight at once.
    pub max_in_flight: usize,
    /// librdkafka's prefetch queue bound (`queued.max.messages.kbytes`), which bounds memory.
    pub fetch_queue_kbytes: u32,
    /// How often written offsets are committed while consuming; revocation and shutdown
    /// commit at once whatever this is.
    pub commit_interval_ms: u32,
    /// The group's poll deadline (`max.poll.interval.ms`): an instance that does not poll for
    /// this long is dropped from the group.
    pub max_poll_interval_ms: u32,
    /// How long a hand-over to the lanes may wait before the partitions are paused.
    pub pause_after: Duration,
    /// How long the group may be without a coordinator before the Kafka client is replaced.
    pub coordinator_timeout: Duration,
    /// How long the final commit and the client's close may take at shutdown.
    pub close_timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("Kafka client setup failed: {0}")]
    Setup(#[source] KafkaError),
}

/// Why one Kafka client stopped consuming.
enum ClientEnd {
    /// The consumer is shutting down; what was written is committed.
    Shutdown,
    /// The group had no coordinator for this long: the client is to be replaced.
    GroupStuck(Duration),
}

/// Finishes revoked partitions' writes before they move, logs commits and rebalances, and
/// turns librdkafka's periodic statistics into the lag metric and Kafka's part of `/healthz`.
struct ConsumeContext {
    metrics: Arc<ConsumerMetrics>,
    progress: Arc<Progress>,
    health: Health,
    group_watch: Mutex<GroupWatch>,
    /// Cancelled when the group is stuck without a coordinator (see [`crate::group_watch`]).
    group_stuck: CancellationToken,
    /// Replaced clients still closing (see [`close_in_background`]).
    closing_clients: Arc<AtomicUsize>,
}

impl ClientContext for ConsumeContext {
    fn stats(&self, statistics: Statistics) {
        // Brokers learnt from metadata have a node id; the bootstrap entries have -1. A
        // connection dropped for a moment (idle close) does not flip health, as it is up again
        // by the next round of statistics.
        let up = statistics
            .brokers
            .values()
            .any(|broker| broker.nodeid >= 0 && broker.state == "UP");
        let problem = (!up).then(|| "no connection to a Kafka broker is up".to_owned());
        self.health.report("kafka", problem);
        let group_state = statistics.cgrp.as_ref().map(|group| group.state.as_str());
        let (group, bound) = {
            let mut watch = self
                .group_watch
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            (watch.observe(group_state, Instant::now()), watch.bound())
        };
        let problem = match group {
            GroupHealth::Fine => None,
            GroupHealth::Coordinatorless(lasted) => Some(format!(
                "no consumer group coordinator for {}s (state {}); the Kafka client is replaced \
                 after {}s",
                lasted.as_secs(),
                group_state.unwrap_or_default(),
                bound.as_secs()
            )),
            // A replaced client closes only once it reaches Kafka: until then Kafka is down, and
            // a new client would wait for it as this one does. So at most two clients exist.
            GroupHealth::Stuck(lasted) if self.closing_clients.load(Ordering::Acquire) > 0 => {
                Some(format!(
                    "no consumer group coordinator for {}s; the Kafka client replaced before has \
                     not closed yet either, so Kafka is unreachable",
                    lasted.as_secs()
                ))
            }
            GroupHealth::Stuck(lasted) => {
                self.group_stuck.cancel();
                Some(format!(
                    "no consumer group coordinator for {}s: replacing the Kafka client",
                    lasted.as_secs()
                ))
            }
        };
        self.health.report("group", problem);
        for (topic, topic_statistics) in &statistics.topics {
            for (partition, partition_statistics) in &topic_statistics.partitions {
                // librdkafka lists an internal partition -1 and reports -1 for unknown lag.
                if *partition < 0 || partition_statistics.consumer_lag < 0 {
                    continue;
                }
                let labels = PartitionLabels {
                    topic: topic.clone(),
                    partition: partition.to_string(),
                };
                self.metrics
                    .lag
                    .get_or_create(&labels)
                    .set(partition_statistics.consumer_lag);
            }
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        // Debezium creates a table's topic with the table's first change, so until then a
        // subscribed topic is missing; librdkafka picks it up once it exists.
        if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) {
            tracing::info!("a subscribed topic does not exist yet: {reason}");
        } else {
            tracing::error!("Kafka client error: {error}: {reason}");
        }
    }
}

impl ConsumerContext for ConsumeContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance) {
        tracing::info!("rebalance: {rebalance:?}");
        if let Rebalance::Revoke(revoked) = rebalance {
            let partitions: Vec<TopicPartition> = revoked
                .elements()
                .iter()
                .map(|element| TopicPartition {
                    topic: element.topic().to_owned(),
                    partition: element.partition(),
                })
                .collect();
            self.progress.release_blocking(&partitions);
            commit_stored(consumer, "on revocation");
        }
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::debug!("committed {offsets:?}"),
            Err(error) => tracing::warn!("commit failed: {error}"),
        }
    }
}

type KafkaConsumer = StreamConsumer<ConsumeContext>;

impl OffsetStore for KafkaConsumer {
    fn store(&self, partition: &TopicPartition, offset: i64) {
        if let Err(error) = self.store_offset(&partition.topic, partition.partition, offset) {
            // Only a partition that is no longer assigned refuses; its next owner reads on
            // from the last commit, so nothing is lost.
            tracing::warn!(
                "cannot store offset {offset} of {}[{}]: {error}",
                partition.topic,
                partition.partition
            );
        }
    }
}

/// Commits stored offsets synchronously; nothing stored since the last commit is not an error.
fn commit_stored<C: Consumer<ConsumeContext>>(consumer: &C, when: &str) {
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!("commit {when} failed: {error}"),
    }
}

/// The settings every Kafka client of the consumer shares.
pub fn kafka_client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        // A broker in controlled shutdown can answer a metadata request with no broker at all,
        // and librdkafka ≥ 2.10 then drops every broker it knew. It bootstraps again only after
        // this long without metadata, 5 minutes by default: with one broker (the plain stack)
        // a restart left the consumer without a coordinator, consuming nothing, for 5 minutes
        // (caught by the Kafka outage test, about one restart in four). 10 s, by then the
        // restarted broker has long answered.
        .set("metadata.recovery.rebootstrap.trigger.ms", "10000");
    config
}

/// How many messages librdkafka fetches ahead of the lanes, at most (see `create_consumer`).
const PREFETCHED_MESSAGES: u32 = 2048;

fn create_consumer(
    settings: &ConsumeSettings,
    context: ConsumeContext,
) -> Result<KafkaConsumer, ConsumeError> {
    let consumer: KafkaConsumer = kafka_client_config(&settings.brokers)
        .set("group.id", &settings.group_id)
        // A new group reads everything there is, not just what arrives after it starts.
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            settings.commit_interval_ms.to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set(
            "max.poll.interval.ms",
            settings.max_poll_interval_ms.to_string(),
        )
        // librdkafka refuses a session timeout (default 45 s) above the poll deadline.
        .set(
            "session.timeout.ms",
            settings.max_poll_interval_ms.min(45_000).to_string(),
        )
        .set("enable.partition.eof", "false")
        // The broker answers a waiting fetch as soon as a record is appended (fetch.min.bytes is
        // 1), so the wait bounds only how often an idle consumer asks: every 10 ms cost the
        // broker 15 % of a core with no change flowing, and no latency was gained (latency.md).
        .set("fetch.wait.max.ms", "500")
        // Once the prefetch queue is full, librdkafka pauses fetching for this long (default
        // 1 s): with the writes slower than Kafka, the default starves the lanes every second.
        .set("fetch.queue.backoff.ms", "10")
        // The prefetch bounds count compressed bytes, and Debezium's JSON compresses about 60
        // times with zstd: 2 MiB fetches into a 4 MiB queue held some 170 MiB of messages. So
        // fetches are 256 KiB, and the queue stops at a number of messages too (librdkafka's
        // default is 100,000): 2,048, eight per lane at the default 256 lanes.
        .set("max.partition.fetch.bytes", "262144")
        .set("queued.min.messages", PREFETCHED_MESSAGES.to_string())
        .set("statistics.interval.ms", "5000")
        // Debezium creates a table's topic with the table's first change; a subscribed topic
        // that appears later is only noticed at a metadata refresh (default every 5 minutes).
        .set("topic.metadata.refresh.interval.ms", "10000")
        .set(
            "queued.max.messages.kbytes",
            settings.fetch_queue_kbytes.to_string(),
        )
        .create_with_context(context)
        .map_err(ConsumeError::Setup)?;
    let topics: Vec<&str> = settings.topics.iter().map(String::as_str).collect();
    consumer.subscribe(&topics).map_err(ConsumeError::Setup)?;
    Ok(consumer)
}

fn create_producer(settings: &ConsumeSettings) -> Result<FutureProducer, ConsumeError> {
    kafka_client_config(&settings.brokers)
        .set("enable.idempotence", "true")
        .create()
        .map_err(ConsumeError::Setup)
}

/// Consumes until `shutdown`, then lets running writes finish, commits what has been written
/// and returns. A client whose group is stuck without a coordinator is replaced meanwhile.
pub async fn run(
    settings: &ConsumeSettings,
    sink: Arc<CassandraSink>,
    observability: Observability,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let replicator = Arc::new(Replicator {
        sink,
        dead_letters: create_producer(settings)?,
        dead_letter_topic: settings.dead_letter_topic.clone(),
        observability: observability.clone(),
    });
    let mut decoder = Decoder::new().accept_schemaless(settings.accept_schemaless);
    let closing_clients = Arc::new(AtomicUsize::new(0));
    loop {
        match consume_with_one_client(
            settings,
            &replicator,
            &closing_clients,
            &mut decoder,
            shutdown,
        )
        .await?
        {
            ClientEnd::Shutdown => return Ok(()),
            ClientEnd::GroupStuck(lasted) => {
                observability.metrics.kafka_client_replacements.inc();
                tracing::warn!(
                    "the consumer group has had no coordinator for {}s: replacing the Kafka \
                     client; the new one reads on from the last commit, so writes since then \
                     are repeated",
                    lasted.as_secs()
                );
            }
        }
    }
}

/// Consumes with a Kafka client of its own until `shutdown` or until its group is stuck.
async fn consume_with_one_client(
    settings: &ConsumeSettings,
    replicator: &Arc<Replicator>,
    closing_clients: &Arc<AtomicUsize>,
    decoder: &mut Decoder,
    shutdown: &CancellationToken,
) -> Result<ClientEnd, ConsumeError> {
    let observability = &replicator.observability;
    let progress = Arc::new(Progress::new(shutdown.clone()));
    let group_stuck = CancellationToken::new();
    let consumer = Arc::new(create_consumer(
        settings,
        ConsumeContext {
            metrics: Arc::clone(&observability.metrics),
            progress: Arc::clone(&progress),
            health: observability.health.clone(),
            group_watch: Mutex::new(GroupWatch::new(settings.coordinator_timeout)),
            group_stuck: group_stuck.clone(),
            closing_clients: Arc::clone(closing_clients),
        },
    )?);
    let offsets: Arc<dyn OffsetStore> = consumer.clone();
    let lanes = Lanes::start(
        settings.max_in_flight,
        Arc::clone(replicator),
        Arc::clone(&progress),
        Arc::clone(&offsets),
    );
    tracing::info!(
        topics = ?settings.topics,
        group = %settings.group_id,
        lanes = lanes.count(),
        "consuming"
    );
    observability.health.healthy();
    // Messages received while the lanes had no room (see `wait_polling`), oldest first: they
    // are handled before anything new is received.
    let mut held: VecDeque<OwnedMessage> = VecDeque::new();
    loop {
        let message = match held.pop_front() {
            Some(message) => {
                if !still_assigned(consumer.as_ref(), &message) {
                    // Revoked while it was held: its next owner reads it again.
                    continue;
                }
                message
            }
            None => {
                let received = tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = group_stuck.cancelled() => {
                        // The stuck client cannot commit; what its lanes write now is written
                        // again after the last commit, harmlessly (writes are idempotent).
                        lanes.close().await;
                        drop(offsets);
                        close_in_background(consumer, Arc::clone(closing_clients));
                        return Ok(ClientEnd::GroupStuck(settings.coordinator_timeout));
                    }
                    received = consumer.recv() => received,
                };
                match received {
                    Ok(message) => message.detach(),
                    Err(error) => {
                        log_receive_error(&error);
                        continue;
                    }
                }
            }
        };
        let span = tracing::info_span!(
            "message",
            topic = message.topic(),
            partition = message.partition(),
            offset = message.offset()
        );
        let partition = TopicPartition {
            topic: message.topic().to_owned(),
            partition: message.partition(),
        };
        let offset = message.offset();
        let lane = lane_for(message.topic(), message.key(), lanes.count());
        let job = span.in_scope(|| plan_job(message, decoder, &observability.metrics));
        let waiting = Waiting {
            consumer: consumer.as_ref(),
            shutdown,
            pause_after: settings.pause_after,
        };
        let handed_over = match (job, lane) {
            (None, _) => {
                // Nothing to write; the offset still waits for everything before it.
                progress.dispatch(&partition, offset);
                progress.end(&partition, offset, true, offsets.as_ref());
                continue;
            }
            (Some(job), Some(lane)) => {
                let dispatched = Dispatched {
                    partition: partition.clone(),
                    stop: progress.dispatch(&partition, offset),
                    offset,
                    span,
                    job,
                };
                let submitted = waiting
                    .wait_polling(lanes.submit(lane, dispatched), &mut held)
                    .await
                    .is_some();
                if !submitted {
                    progress.end(&partition, offset, false, offsets.as_ref());
                }
                submitted
            }
            (Some(job), None) => {
                // No key to order by (a truncate): run alone, once everything before it has
                // ended, and before anything after it starts.
                let idle = waiting.wait_polling(progress.idle(), &mut held).await;
                if idle.is_none() {
                    false
                } else {
                    // Polling meanwhile too (a truncate during a Cassandra outage takes as long
                    // as the outage), so the job runs as a task of its own: a revocation's
                    // callback, which runs inside the poll, waits for it to stop.
                    let stop = progress.dispatch(&partition, offset);
                    let replicator = Arc::clone(replicator);
                    let execution = tokio::spawn(
                        async move { replicator.execute(&job, &stop).await }.instrument(span),
                    );
                    let written = waiting.wait_polling(execution, &mut held).await;
                    let done = matches!(written, Some(Ok(true)));
                    progress.end(&partition, offset, done, offsets.as_ref());
                    written.is_some()
                }
            }
        };
        if !handed_over {
            // Shutting down: the message stays unwritten and its offset unstored.
            break;
        }
    }
    lanes.close().await;
    drop(offsets);
    commit_and_close(consumer, settings.close_timeout).await;
    Ok(ClientEnd::Shutdown)
}

/// Commits what has been written and closes the client, on a blocking thread, waiting at most
/// `bound`. librdkafka waits for the group's coordinator to do either, and without one (Kafka
/// down, or a group stuck as `GroupStuck` describes) the process would never exit: past the
/// bound it exits anyway, and whoever reads the partitions next starts from the last commit
/// (writes are idempotent). The runtime does not wait for the abandoned thread (see `main`).
async fn commit_and_close(consumer: Arc<KafkaConsumer>, bound: Duration) {
    let closing = tokio::task::spawn_blocking(move || {
        commit_stored(consumer.as_ref(), "at shutdown");
        drop(consumer);
    });
    match tokio::time::timeout(bound, closing).await {
        Ok(_) => tracing::info!("consumer stopped; offsets committed"),
        Err(_) => tracing::warn!(
            "Kafka did not confirm the final commit and close within {} s: exiting without; \
             the partitions are read again from the last commit",
            bound.as_secs()
        ),
    }
}

/// Closes a replaced client on a blocking thread, counted in `closing_clients` meanwhile:
/// dropping it polls until librdkafka has closed, which waits for Kafka to answer (while Kafka is
/// down, as long as the outage), and the new client need not wait.
fn close_in_background(consumer: Arc<KafkaConsumer>, closing_clients: Arc<AtomicUsize>) {
    closing_clients.fetch_add(1, Ordering::AcqRel);
    tokio::task::spawn_blocking(move || {
        let closing = Instant::now();
        drop(consumer);
        closing_clients.fetch_sub(1, Ordering::AcqRel);
        tracing::info!(
            "the replaced Kafka client closed after {} ms",
            closing.elapsed().as_millis()
        );
    });
}

fn log_receive_error(error: &KafkaError) {
    match error.rdkafka_error_code() {
        Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {}
        // Broker unreachable: librdkafka reconnects by itself, and the client context has
        // already logged it.
        Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown) => {
            tracing::debug!("Kafka: {error}");
        }
        _ => tracing::warn!("Kafka: {error}"),
    }
}

/// Whether `message`'s partition is still this consumer's.
fn still_assigned(consumer: &KafkaConsumer, message: &OwnedMessage) -> bool {
    consumer.assignment().is_ok_and(|assignment| {
        assignment
            .find_partition(message.topic(), message.partition())
            .is_some()
    })
}

/// Waiting for room in the lanes without leaving the consumer group.
struct Waiting<'a> {
    consumer: &'a KafkaConsumer,
    shutdown: &'a CancellationToken,
    /// How long a wait may go before the assigned partitions are paused.
    pause_after: Duration,
}

impl Waiting<'_> {
    /// Waits for `until` (room in a lane, every earlier message ended, or a truncate written). A wait longer than
    /// `pause_after` (Cassandra slow or down) pauses every assigned partition and keeps
    /// receiving meanwhile: the group's poll deadline (`max.poll.interval.ms`) and rebalances
    /// need the consumer to be polled, or the group drops this instance and another replays its
    /// partitions. Messages fetched before the pause took effect are held, in order, in `held`.
    /// Resumes once `until` is done, and returns its output; `None` if shut down first.
    async fn wait_polling<T>(
        &self,
        until: impl std::future::Future<Output = T>,
        held: &mut VecDeque<OwnedMessage>,
    ) -> Option<T> {
        tokio::pin!(until);
        tokio::select! {
            _ = self.shutdown.cancelled() => return None,
            output = &mut until => return Some(output),
            () = tokio::time::sleep(self.pause_after) => {}
        }
        let paused = self.consumer.assignment().ok();
        if let Some(partitions) = &paused {
            match self.consumer.pause(partitions) {
                Ok(()) => tracing::info!(
                    partitions = partitions.count(),
                    "the lanes are full: partitions paused, still polling"
                ),
                Err(error) => tracing::warn!("cannot pause partitions: {error}"),
            }
        }
        let output = loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => break None,
                output = &mut until => break Some(output),
                received = self.consumer.recv() => match received {
                    Ok(message) => held.push_back(message.detach()),
                    Err(error) => log_receive_error(&error),
                },
            }
        };
        // Resume what is assigned now: a rebalance during the wait may have changed it.
        if let Ok(assignment) = self.consumer.assignment() {
            match self.consumer.resume(&assignment) {
                Ok(()) => tracing::info!("room in the lanes again: partitions resumed"),
                Err(error) => tracing::warn!("cannot resume partitions: {error}"),
            }
        }
        output
    }
}

/// Decodes and maps one message into its job; `None` for a tombstone, which needs nothing
/// written (the delete before it did the work).
fn plan_job(
    message: OwnedMessage,
    decoder: &mut Decoder,
    metrics: &ConsumerMetrics,
) -> Option<Job> {
    let event = match decoder.decode(message.payload()) {
        Ok(Change::Tombstone) => {
            metrics.event(table_of_topic(message.topic()), "tombstone");
            return None;
        }
        Ok(Change::Event(event)) => event,
        Err(error) => {
            let reason = error.to_string();
            return Some(Job::DeadLetter { message, reason });
        }
    };
    let committed_us = event
        .source
        .ts_us
        .unwrap_or(event.source.ts_ms.saturating_mul(1000));
    for (stage, seconds) in arrival_stages(
        committed_us,
        event.ts_ms,
        message.timestamp().to_millis(),
        service::unix_time_us(),
    ) {
        metrics.stage(stage, seconds);
    }
    let planned = plan_writes(&event).and_then(|writes| {
        // A logical decoding message writes nothing, so it needs no write time.
        let write_time = if writes.is_empty() {
            0
        } else {
            write_time(&event)?
        };
        Ok((writes, write_time))
    });
    let (writes, write_time) = match planned {
        Ok(planned) => planned,
        Err(error) => {
            let reason = error.to_string();
            return Some(Job::DeadLetter { message, reason });
        }
    };
    Some(Job::Replicate {
        writes,
        write_time,
        table: mapping_for(&event.source.qualified_table())
            .map_or(NO_TABLE, |table| table.source_table),
        op: event.op.code(),
        committed_us,
        message,
        received_at: std::time::Instant::now(),
    })
}

/// The `table` label of events that belong to no replicated table (logical decoding messages).
const NO_TABLE: &str = "(none)";

/// The replicated table a change topic carries (`crypto.public.ticker_24h` →
/// `public.ticker_24h`), for the events metric of tombstones, which carry no source block.
fn table_of_topic(topic: &str) -> &'static str {
    TABLES
        .iter()
        .find(|table| {
            topic
                .strip_suffix(table.source_table)
                .is_some_and(|prefix| prefix.is_empty() || prefix.ends_with('.'))
        })
        .map_or(NO_TABLE, |table| table.source_table)
}

/// The stages a change went through before this consumer received it, in seconds: commit →
/// Debezium (`ts_ms`), Debezium → the Kafka record's timestamp, and that → `now_us`. A stage
/// with a missing end is left out, with the stage after it. Each boundary is taken as no
/// earlier than the one before it: `ts_ms` and the record's timestamp are whole milliseconds,
/// so a change Debezium read within the millisecond of its commit would otherwise show a
/// negative stage (and be dropped from its histogram); clamped so, the stages add up to exactly
/// the time from the commit to `now_us`. Pure.
fn arrival_stages(
    committed_us: i64,
    debezium_ms: Option<i64>,
    record_ms: Option<i64>,
    now_us: i64,
) -> Vec<(&'static str, f64)> {
    let boundaries = [
        (None, Some(committed_us)),
        (
            Some(STAGE_COMMIT_TO_DEBEZIUM),
            debezium_ms.map(|ms| ms.saturating_mul(1000)),
        ),
        (
            Some(STAGE_DEBEZIUM_TO_KAFKA),
            record_ms.map(|ms| ms.saturating_mul(1000)),
        ),
        (Some(STAGE_KAFKA_TO_CONSUMER), Some(now_us)),
    ];
    let mut stages = Vec::with_capacity(3);
    let mut previous_us: Option<i64> = None;
    for (stage, at_us) in boundaries {
        let Some(at_us) = at_us else {
            previous_us = None;
            continue;
        };
        let at_us = previous_us.map_or(at_us, |previous| at_us.max(previous));
        if let (Some(stage), Some(previous)) = (stage, previous_us) {
            stages.push((stage, at_us.saturating_sub(previous) as f64 / 1e6));
        }
        previous_us = Some(at_us);
    }
    stages
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tombstones_count_under_their_topics_table() {
        assert_eq!(table_of_topic("crypto.public.klines"), "public.klines");
        assert_eq!(
            table_of_topic("it_x_1.public.ticker_24h"),
            "public.ticker_24h"
        );
        assert_eq!(table_of_topic("crypto.public.other"), NO_TABLE);
        assert_eq!(table_of_topic("crypto.public.xklines"), NO_TABLE);
    }

    #[test]
    fn arrival_stages_split_the_time_before_the_consumer() {
        let committed_us = 1_000_000_000;
        let stages = arrival_stages(
            committed_us,
            Some(1_000_005),
            Some(1_000_012),
            1_000_020_000,
        );
        assert_eq!(
            stages,
            [
                (STAGE_COMMIT_TO_DEBEZIUM, 0.005),
                (STAGE_DEBEZIUM_TO_KAFKA, 0.007),
                (STAGE_KAFKA_TO_CONSUMER, 0.008),
            ]
        );
        assert_eq!(
            arrival_stages(committed_us, None, Some(1_000_012), 1_000_020_000),
            [(STAGE_KAFKA_TO_CONSUMER, 0.008)]
        );
    }

    #[test]
    fn arrival_stages_within_a_millisecond_are_zero_and_still_add_up() {
        // Committed at 1,000,000.700 ms, read by Debezium in the same millisecond (ts_ms
        // 1,000,000), produced at 1,000,002 ms, received at 1,000,010.250 ms.
        let committed_us = 1_000_000_700;
        let now_us = 1_000_010_250;
        let stages = arrival_stages(committed_us, Some(1_000_000), Some(1_000_002), now_us);
        assert_eq!(stages[0], (STAGE_COMMIT_TO_DEBEZIUM, 0.0));
        assert_eq!(stages[1], (STAGE_DEBEZIUM_TO_KAFKA, 0.0013));
        let total: f64 = stages.iter().map(|(_, seconds)| seconds).sum();
        assert!((total - (now_us - committed_us) as f64 / 1e6).abs() < 1e-9);
    }
}
