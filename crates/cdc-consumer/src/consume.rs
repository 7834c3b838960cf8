//! The consume loop: Kafka → decode → plan → Cassandra, with at-least-once delivery.
//!
//! Offsets are stored (`enable.auto.offset.store=false`) only after every Cassandra write of a
//! message has been acknowledged, and messages of a partition are handled in order, so a stored
//! offset never runs ahead of an unwritten message; librdkafka commits stored offsets
//! periodically and on partition revocation, and we commit synchronously on shutdown. A message
//! that cannot be decoded or mapped goes to the dead-letter topic with the reason; Cassandra
//! being away is not such a message: its write is retried with backoff until it succeeds.

use std::future::Future;
use std::time::Duration;

use debezium::{Change, Decoder};
use rdkafka::ClientConfig;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientContext, TopicPartitionList};
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::mapping::plan_writes;
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

/// Logs commits and rebalances: what an operator needs to follow offsets.
struct LoggingContext;

impl ClientContext for LoggingContext {
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

fn create_consumer(settings: &ConsumeSettings) -> Result<LoggingConsumer, ConsumeError> {
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
        .create_with_context(LoggingContext)
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

/// Consumes until `shutdown`, then commits what has been written and returns.
pub async fn run(
    settings: &ConsumeSettings,
    sink: &CassandraSink,
    shutdown: &CancellationToken,
) -> Result<(), ConsumeError> {
    let consumer = create_consumer(settings)?;
    let dead_letters = create_producer(settings)?;
    let mut decoder = Decoder::new().accept_schemaless(settings.accept_schemaless);
    tracing::info!(topics = ?settings.topics, group = %settings.group_id, "consuming");
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
        let handled = handle(
            &message,
            &mut decoder,
            sink,
            &dead_letters,
            settings,
            shutdown,
        )
        .instrument(span)
        .await;
        if handled.is_err() {
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

async fn handle(
    message: &BorrowedMessage<'_>,
    decoder: &mut Decoder,
    sink: &CassandraSink,
    dead_letters: &FutureProducer,
    settings: &ConsumeSettings,
    shutdown: &CancellationToken,
) -> Result<(), Interrupted> {
    let planned = match decoder.decode(message.payload()) {
        Ok(Change::Tombstone) => return Ok(()),
        Ok(Change::Event(event)) => plan_writes(&event).map_err(|error| error.to_string()),
        Err(error) => Err(error.to_string()),
    };
    let writes = match planned {
        Ok(writes) => writes,
        Err(reason) => {
            tracing::error!(
                "poison message sent to {}: {reason}",
                settings.dead_letter_topic
            );
            return retry("dead-letter publish", shutdown, || {
                publish_dead_letter(dead_letters, &settings.dead_letter_topic, message, &reason)
            })
            .await;
        }
    };
    for write in &writes {
        retry("Cassandra write", shutdown, || sink.apply(write)).await?;
    }
    tracing::debug!(writes = writes.len(), "replicated");
    Ok(())
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

/// Retries `attempt` with capped exponential backoff until it succeeds or shutdown begins.
async fn retry<F, Fut, E>(
    what: &str,
    shutdown: &CancellationToken,
    mut attempt: F,
) -> Result<(), Interrupted>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match attempt().await {
            Ok(()) => return Ok(()),
            Err(error) => tracing::warn!("{what} failed, retrying in {delay:?}: {error}"),
        }
        tokio::select! {
            _ = shutdown.cancelled() => return Err(Interrupted),
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
