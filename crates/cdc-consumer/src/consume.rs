//! The consume loop: Kafka → decode → plan → Cassandra, with at-least-once delivery.
//!
//! Offsets are stored (`enable.auto.offset.store=false`) only after every Cassandra write of a
//! message has been acknowledged, and messages of a partition are handled in order, so a stored
//! offset never runs ahead of an unwritten message; librdkafka commits stored offsets
//! periodically and on partition revocation, and we commit synchronously on shutdown. A message
//! that cannot be decoded or mapped goes to the dead-letter topic with the reason; Cassandra
//! being away is not such a message: its write is retried with backoff until it succeeds.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use debezium::{Change, Decoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use service::Health;

use crate::mapping::plan_writes;
use crate::metrics::{ConsumerMetrics, EventLabels, PartitionLabels, RetryLabels};
use crate::sink::CassandraSink;

pub struct ConsumeSettings {
    pub brokers: String,
    pub group_id: String,
    pub topics: Vec<String>,
    pub dead_letter_topic: String,
    /// Decode messages without a schema too (see `Decoder::accept_schemaless`).
    pub accept_schemaless: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConsumeError {
    #[error("Kafka client setup failed: {0}")]
    Setup(#[source] KafkaError),
    #[error("cannot store the offset of {topic}[{partition}]@{offset}: {source}")]
    StoreOffset {
        topic: String,
        partition: i32,
        offset: i64,
        source: KafkaError,
    },
}

/// Logs commits and rebalances (what an operator needs to follow offsets) and turns
/// librdkafka's periodic statistics into the lag metric.
struct LoggingContext {
    metrics: Arc<ConsumerMetrics>,
}

impl ClientContext for LoggingContext {
    fn stats(&self, statistics: Statistics) {
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

impl ConsumerContext for LoggingContext {
    fn pre_rebalance(&self, _: &rdkafka::consumer::BaseConsumer<Self>, rebalance: &Rebalance) {
        tracing::info!("rebalance: {rebalance:?}");
    }

    fn commit_callback(&self, result: KafkaResult<()>, offsets: &TopicPartitionList) {
        match result {
            Ok(()) => tracing::debug!("committed {offsets:?}"),
            Err(error) => tracing::warn!("commit failed: {error}"),
        }
    }
}

type LoggingConsumer = StreamConsumer<LoggingContext>;

fn create_consumer(
    settings: &ConsumeSettings,
    metrics: Arc<ConsumerMetrics>,
) -> Result<LoggingConsumer, ConsumeError> {
    let consumer: LoggingConsumer = ClientConfig::new()
        .set("bootstrap.servers", &settings.brokers)
        .set("group.id", &settings.group_id)
        // A new group reads everything there is, not just what arrives after it starts.
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "true")
        .set("auto.commit.interval.ms", "1000")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false")
        .set("fetch.wait.max.ms", "10")
        .set("statistics.interval.ms", "5000")
        .create_with_context(LoggingContext { metrics })
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

/// What the consumer reports about itself: metrics, and health for `/healthz`.
pub struct Observability {
    pub metrics: Arc<ConsumerMetrics>,
    pub health: Health,
}

/// Consumes until `shutdown`, then commits what has been written and returns.
pub async fn run(
    settings: &ConsumeSettings,
    sink: &CassandraSink,
    observability: &Observability,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let consumer = create_consumer(settings, Arc::clone(&observability.metrics))?;
    let replicator = Replicator {
        sink,
        dead_letters: create_producer(settings)?,
        dead_letter_topic: &settings.dead_letter_topic,
        observability,
        shutdown,
    };
    let mut decoder = Decoder::new().accept_schemaless(settings.accept_schemaless);
    tracing::info!(topics = ?settings.topics, group = %settings.group_id, "consuming");
    observability.health.healthy();
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => break,
            received = consumer.recv() => match received {
                Ok(message) => message,
                Err(error) if error.rdkafka_error_code() == Some(RDKafkaErrorCode::UnknownTopicOrPartition) => {
                    continue;
                }
                Err(error) => {
                    // Broker unreachable and the like: librdkafka reconnects by itself.
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
        if replicator
            .handle(&message, &mut decoder)
            .instrument(span)
            .await
            .is_err()
        {
            // Shutting down before the message was fully written: its offset stays unstored.
            break;
        }
        consumer
            .store_offset_from_message(&message)
            .map_err(|source| ConsumeError::StoreOffset {
                topic: message.topic().to_owned(),
                partition: message.partition(),
                offset: message.offset(),
                source,
            })?;
    }
    match consumer.commit_consumer_state(CommitMode::Sync) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(error) => tracing::warn!("final commit failed: {error}"),
    }
    tracing::info!("consumer stopped; offsets committed");
    Ok(())
}

/// Returned when shutdown interrupted the handling of a message.
struct Interrupted;

/// Everything handling one message needs.
struct Replicator<'a> {
    sink: &'a CassandraSink,
    dead_letters: FutureProducer,
    dead_letter_topic: &'a str,
    observability: &'a Observability,
    shutdown: &'a CancellationToken,
}

impl Replicator<'_> {
    /// Decodes, maps and writes one message, or sends it to the dead-letter topic; returns once
    /// that is acknowledged, or `Interrupted` at shutdown.
    async fn handle(
        &self,
        message: &BorrowedMessage<'_>,
        decoder: &mut Decoder,
    ) -> Result<(), Interrupted> {
        let metrics = &self.observability.metrics;
        let event = match decoder.decode(message.payload()) {
            Ok(Change::Tombstone) => {
                let labels = EventLabels {
                    table: message.topic().to_owned(),
                    op: "tombstone".to_owned(),
                };
                metrics.events.get_or_create(&labels).inc();
                return Ok(());
            }
            Ok(Change::Event(event)) => event,
            Err(error) => return self.dead_letter(message, &error.to_string()).await,
        };
        let writes = match plan_writes(&event) {
            Ok(writes) => writes,
            Err(error) => return self.dead_letter(message, &error.to_string()).await,
        };
        for write in &writes {
            self.retry("cassandra_write", || async {
                let started = Instant::now();
                let written = self.sink.apply(write).await;
                metrics
                    .cassandra_write_seconds
                    .observe(started.elapsed().as_secs_f64());
                written
            })
            .await?;
        }
        let table = event.source.qualified_table();
        metrics
            .events
            .get_or_create(&EventLabels {
                table,
                op: event.op.code().to_owned(),
            })
            .inc();
        if let Some(latency) = since_commit(&event.source) {
            metrics.end_to_end_seconds.observe(latency);
        }
        tracing::debug!(writes = writes.len(), "replicated");
        Ok(())
    }

    async fn dead_letter(
        &self,
        message: &BorrowedMessage<'_>,
        reason: &str,
    ) -> Result<(), Interrupted> {
        tracing::error!(
            "poison message sent to {}: {reason}",
            self.dead_letter_topic
        );
        self.retry("dead_letter_publish", || {
            publish_dead_letter(&self.dead_letters, self.dead_letter_topic, message, reason)
        })
        .await?;
        self.observability.metrics.dead_letters.inc();
        Ok(())
    }

    /// Retries `attempt` with capped exponential backoff until it succeeds or shutdown begins,
    /// reporting unhealthy while it fails.
    async fn retry<F, Fut, E>(&self, action: &str, mut attempt: F) -> Result<(), Interrupted>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut delay = Duration::from_millis(50);
        let mut failing = false;
        loop {
            match attempt().await {
                Ok(()) => {
                    if failing {
                        tracing::info!("{action} recovered");
                        self.observability.health.healthy();
                    }
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!("{action} failed, retrying in {delay:?}: {error}");
                    self.observability
                        .health
                        .unhealthy(format!("{action} failing: {error}"));
                    let labels = RetryLabels {
                        action: action.to_owned(),
                    };
                    self.observability
                        .metrics
                        .retries
                        .get_or_create(&labels)
                        .inc();
                    failing = true;
                }
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return Err(Interrupted),
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// Seconds from the change's commit in PostgreSQL until now; `None` if the clock disagrees.
fn since_commit(source: &debezium::Source) -> Option<f64> {
    let committed_us = source.ts_us.unwrap_or(source.ts_ms.saturating_mul(1000));
    let now_us = i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_micros(),
    )
    .ok()?;
    let elapsed_us = now_us.checked_sub(committed_us)?;
    (elapsed_us >= 0).then(|| elapsed_us as f64 / 1e6)
}

async fn publish_dead_letter(
    producer: &FutureProducer,
    topic: &str,
    message: &BorrowedMessage<'_>,
    reason: &str,
) -> Result<(), KafkaError> {
    let partition = message.partition().to_string();
    let offset = message.offset().to_string();
    let headers = OwnedHeaders::new()
        .insert(Header {
            key: "dlq.error",
            value: Some(reason),
        })
        .insert(Header {
            key: "dlq.source.topic",
            value: Some(message.topic()),
        })
        .insert(Header {
            key: "dlq.source.partition",
            value: Some(&partition),
        })
        .insert(Header {
            key: "dlq.source.offset",
            value: Some(&offset),
        });
    let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload() {
        record = record.payload(payload);
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map(drop)
        .map_err(|(error, _)| error)
}
