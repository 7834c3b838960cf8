//! The consume loop: Kafka → decode → plan → lanes → Cassandra, with at-least-once delivery.
//!
//! One loop reads messages in order, decodes and maps each (pure, cheap), and hands its writes
//! to the lane of its key ([`crate::lanes`]), so rows are written concurrently and each row's
//! changes in order. Offsets are stored (`enable.auto.offset.store=false`) only once a message
//! and every earlier one of its partition are written; librdkafka commits stored offsets every
//! second, and synchronously when partitions are revoked and at shutdown. Before a revocation
//! completes, the partitions' queued jobs are dropped and running ones finish, so the next owner
//! never races a stale write. A message that cannot be decoded or mapped goes to the
//! dead-letter topic with the reason.

use std::sync::Arc;

use debezium::{Change, Decoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::FutureProducer;
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use service::Health;

use crate::lanes::{Dispatched, Execute, Lanes, OffsetStore, Progress};
use crate::mapping::plan_writes;
use crate::metrics::{ConsumerMetrics, EventLabels, PartitionLabels};
use crate::ordering::{TopicPartition, lane_for};
use crate::replicate::{Job, Observability, Replicator};
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
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("Kafka client setup failed: {0}")]
    Setup(#[source] KafkaError),
}

/// Finishes revoked partitions' writes before they move, logs commits and rebalances, and
/// turns librdkafka's periodic statistics into the lag metric and Kafka's part of `/healthz`.
struct ConsumeContext {
    metrics: Arc<ConsumerMetrics>,
    progress: Arc<Progress>,
    health: Health,
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

fn create_consumer(
    settings: &ConsumeSettings,
    context: ConsumeContext,
) -> Result<KafkaConsumer, ConsumeError> {
    let consumer: KafkaConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        // A new group reads everything there is, not just what arrives after it starts.
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set(
            "auto.commit.interval.ms",
            settings.commit_interval_ms.to_string(),
        )
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "10")
        // Once the prefetch queue is full, librdkafka pauses fetching for this long (default
        // 1 s): with the writes slower than Kafka, the default starves the lanes every second.
        .set("fetch.queue.backoff.ms", "10")
        // Fewer, larger fetches: Debezium's messages are several KB each (schemas included).
        .set("max.partition.fetch.bytes", "2097152")
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
    ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("enable.idempotence", "true")
        .create()
        .map_err(ConsumeError::Setup)
}

/// Consumes until `shutdown`, then lets running writes finish, commits what has been written
/// and returns.
pub async fn run(
    settings: &ConsumeSettings,
    sink: Arc<CassandraSink>,
    observability: Observability,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let progress = Arc::new(Progress::new(shutdown.clone()));
    let consumer = Arc::new(create_consumer(
        settings,
        ConsumeContext {
            metrics: Arc::clone(&observability.metrics),
            progress: Arc::clone(&progress),
            health: observability.health.clone(),
        },
    )?);
    let replicator = Arc::new(Replicator {
        sink,
        dead_letters: create_producer(settings)?,
        dead_letter_topic: settings.dead_letter_topic.clone(),
        observability: observability.clone(),
    });
    let offsets: Arc<dyn OffsetStore> = consumer.clone();
    let lanes = Lanes::start(
        settings.max_in_flight,
        Arc::clone(&replicator),
        Arc::clone(&progress),
        Arc::clone(&offsets),
    );
    let mut decoder = Decoder::new().accept_schemaless(settings.accept_schemaless);
    tracing::info!(
        topics = ?settings.topics,
        group = %settings.group_id,
        lanes = lanes.count(),
        "consuming"
    );
    observability.health.healthy();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(message) => message,
                Err(error) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    continue;
                }
                Err(error) if matches!(
                    error.rdkafka_error_code(),
                    Some(RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown)
                ) => {
                    // Broker unreachable: librdkafka reconnects by itself, and the client
                    // context has already logged it.
                    tracing::debug!("Kafka: {error}");
                    continue;
                }
                Err(error) => {
                    tracing::warn!("Kafka: {error}");
                    continue;
                }
            },
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
        let job = span.in_scope(|| plan_job(&message, &mut decoder, &observability.metrics));
        let stop = progress.dispatch(&partition, offset);
        let Some(job) = job else {
            // Nothing to write; the offset still waits for everything before it.
            progress.end(&partition, offset, true, offsets.as_ref());
            continue;
        };
        let dispatched = Dispatched {
            partition: partition.clone(),
            offset,
            stop,
            span: span.clone(),
            job,
        };
        let handed_over = match lane {
            Some(lane) => tokio::select! {
                _ = shutdown.cancelled() => false,
                _ = lanes.submit(lane, dispatched) => true,
            },
            None => {
                // No key to order by: run alone, after everything before it.
                let idle = tokio::select! {
                    _ = shutdown.cancelled() => false,
                    _ = progress.idle() => true,
                };
                if idle {
                    let written = replicator
                        .execute(&dispatched.job, &dispatched.stop)
                        .instrument(span)
                        .await;
                    progress.end(&partition, offset, written, offsets.as_ref());
                }
                idle
            }
        };
        if !handed_over {
            // Shutting down: the message stays unwritten and its offset unstored.
            progress.end(&partition, offset, false, offsets.as_ref());
            break;
        }
    }
    lanes.close().await;
    commit_stored(consumer.as_ref(), "at shutdown");
    tracing::info!("consumer stopped; offsets committed");
    Ok(())
}

/// Decodes and maps one message into its job; `None` for a tombstone, which needs nothing
/// written (the delete before it did the work).
fn plan_job(
    message: &BorrowedMessage<'_>,
    decoder: &mut Decoder,
    metrics: &ConsumerMetrics,
) -> Option<Job> {
    let dead_letter = |reason: String| {
        Some(Job::DeadLetter {
            message: message.detach(),
            reason,
        })
    };
    let event = match decoder.decode(message.payload()) {
        Ok(Change::Tombstone) => {
            let labels = EventLabels {
                table: message.topic().to_owned(),
                op: "tombstone".to_owned(),
            };
            metrics.events.get_or_create(&labels).inc();
            return None;
        }
        Ok(Change::Event(event)) => event,
        Err(error) => return dead_letter(error.to_string()),
    };
    let writes = match plan_writes(&event) {
        Ok(writes) => writes,
        Err(error) => return dead_letter(error.to_string()),
    };
    Some(Job::Replicate {
        writes,
        table: event.source.qualified_table(),
        op: event.op.code(),
        committed_us: event
            .source
            .ts_us
            .unwrap_or(event.source.ts_ms.saturating_mul(1000)),
    })
}
