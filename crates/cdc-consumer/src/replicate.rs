//! Running one job: a change's Cassandra writes, or a poison message's trip to the dead-letter
//! topic, retried with backoff until acknowledged or stopped.
//!
//! Cassandra or Kafka being away is not a property of the message, so it is never a reason to
//! dead-letter one: the attempt is retried, and the offset stays unstored meanwhile.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

use service::Health;

use crate::lanes::Execute;
use crate::mapping::CqlWrite;
use crate::metrics::{
    ConsumerMetrics, EventLabels, RETRY_CASSANDRA_WRITE, RETRY_DEAD_LETTER_PUBLISH, RetryLabels,
};
use crate::sink::CassandraSink;

/// What a consumed message needs done.
pub enum Job {
    /// Make Cassandra reflect one change.
    Replicate {
        writes: Vec<CqlWrite>,
        /// `public.ticker_24h`, for the events metric.
        table: String,
        op: &'static str,
        /// The commit time in PostgreSQL, in µs since the epoch, for the end-to-end metric.
        committed_us: i64,
    },
    /// Send a message that cannot be decoded or mapped to the dead-letter topic.
    DeadLetter {
        message: OwnedMessage,
        reason: String,
    },
}

/// What the consumer reports about itself: metrics, and health for `/healthz`.
#[derive(Clone)]
pub struct Observability {
    pub metrics: Arc<ConsumerMetrics>,
    pub health: Health,
}

/// Runs jobs against Cassandra and the dead-letter topic.
pub struct Replicator {
    pub sink: Arc<CassandraSink>,
    pub dead_letters: FutureProducer,
    pub dead_letter_topic: String,
    pub observability: Observability,
}

impl Execute<Job> for Replicator {
    async fn execute(&self, job: &Job, stop: &CancellationToken) -> bool {
        match job {
            Job::Replicate {
                writes,
                table,
                op,
                committed_us,
            } => self.replicate(writes, table, op, *committed_us, stop).await,
            Job::DeadLetter { message, reason } => self.dead_letter(message, reason, stop).await,
        }
    }
}

impl Replicator {
    async fn replicate(
        &self,
        writes: &[CqlWrite],
        table: &str,
        op: &str,
        committed_us: i64,
        stop: &CancellationToken,
    ) -> bool {
        let metrics = &self.observability.metrics;
        metrics.writes_in_flight.inc();
        let mut written = true;
        for write in writes {
            written = self
                .retry(RETRY_CASSANDRA_WRITE, stop, || async {
                    let started = Instant::now();
                    let result = self.sink.apply(write).await;
                    metrics
                        .cassandra_write_seconds
                        .observe(started.elapsed().as_secs_f64());
                    result
                })
                .await;
            if !written {
                break;
            }
        }
        metrics.writes_in_flight.dec();
        if written {
            let labels = EventLabels {
                table: table.to_owned(),
                op: op.to_owned(),
            };
            metrics.events.get_or_create(&labels).inc();
            if let Some(seconds) = seconds_since(committed_us) {
                metrics.end_to_end_seconds.observe(seconds);
            }
            tracing::debug!(writes = writes.len(), "replicated");
        }
        written
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        reason: &str,
        stop: &CancellationToken,
    ) -> bool {
        tracing::error!(
            "poison message sent to {}: {reason}",
            self.dead_letter_topic
        );
        let sent = self
            .retry(RETRY_DEAD_LETTER_PUBLISH, stop, || {
                publish_dead_letter(&self.dead_letters, &self.dead_letter_topic, message, reason)
            })
            .await;
        if sent {
            self.observability.metrics.dead_letters.inc();
        }
        sent
    }

    /// Retries `attempt` with capped exponential backoff until it succeeds (`true`) or `stop`
    /// is cancelled (`false`), reporting unhealthy while it fails.
    async fn retry<F, Fut, E>(
        &self,
        action: &'static str,
        stop: &CancellationToken,
        mut attempt: F,
    ) -> bool
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut delay = Duration::from_millis(50);
        let mut failures: u32 = 0;
        loop {
            match attempt().await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!("{action} recovered after {failures} failed attempts");
                        self.observability.health.report(action, None);
                    }
                    return true;
                }
                Err(error) => {
                    // Every lane retries during an outage: the first failure and every tenth
                    // are worth a warning, the rest only a debug line.
                    if failures % 10 == 0 {
                        tracing::warn!("{action} failed, retrying in {delay:?}: {error}");
                    } else {
                        tracing::debug!("{action} failed, retrying in {delay:?}: {error}");
                    }
                    failures += 1;
                    self.observability
                        .health
                        .report(action, Some(format!("failing: {error}")));
                    let labels = RetryLabels {
                        action: action.to_owned(),
                    };
                    self.observability
                        .metrics
                        .retries
                        .get_or_create(&labels)
                        .inc();
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return false,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

/// Seconds from `committed_us` until now; `None` if the clocks disagree.
fn seconds_since(committed_us: i64) -> Option<f64> {
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
    message: &OwnedMessage,
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
