//! Running one job: a change's Cassandra writes, or a poison message's trip to the dead-letter
//! topic, retried with backoff until acknowledged or stopped.
//!
//! Cassandra or Kafka being away is not a property of the message, so it is never a reason to
//! dead-letter one: such an attempt is retried without limit, and the offset stays unstored
//! meanwhile. A write Cassandra rejects for what it is will fail the same way every time: after
//! [`PERMANENT_FAILURE_ATTEMPTS`] the message goes to the dead-letter topic with the error, and
//! the stream moves on. A dead letter too large for the producer is sent without its payload
//! (its headers name the source topic, partition and offset, where the original still is).

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_util::sync::CancellationToken;

use crate::lanes::Execute;
use crate::mapping::CqlWrite;
use crate::metrics::{
    Observability, RETRY_CASSANDRA_WRITE, RETRY_DEAD_LETTER_PUBLISH, STAGE_CASSANDRA, STAGE_QUEUED,
};
use crate::sink::{CassandraSink, Failure, SinkError};

/// Attempts at a write that fails permanently before its message is dead-lettered: a few, in
/// case what looks permanent was a schema change racing the consumer.
pub const PERMANENT_FAILURE_ATTEMPTS: u32 = 3;

/// Between attempts at a write or a dead letter: short at first (a Cassandra timeout often
/// passes at once), never longer than 5 s (an outage's end is noticed soon).
const RETRY_BACKOFF: backoff::Backoff =
    backoff::Backoff::new(Duration::from_millis(50), Duration::from_secs(5));

/// What a consumed message needs done.
pub enum Job {
    /// Make Cassandra reflect one change.
    Replicate {
        writes: Vec<CqlWrite>,
        /// The Cassandra write time of every write (see `mapping::write_time`).
        write_time: i64,
        /// `public.ticker_24h`, for the events metric.
        table: &'static str,
        op: &'static str,
        /// The commit time in PostgreSQL, in µs since the epoch, for the end-to-end metric.
        committed_us: i64,
        /// The message, for the dead-letter topic should Cassandra reject its writes.
        message: OwnedMessage,
        /// When the consumer received it, for the time it waits for its lane.
        received_at: Instant,
    },
    /// Send a message that cannot be decoded or mapped to the dead-letter topic.
    DeadLetter {
        message: OwnedMessage,
        reason: String,
    },
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
                write_time,
                table,
                op,
                committed_us,
                message,
                received_at,
            } => {
                let metrics = &self.observability.metrics;
                metrics.stage(STAGE_QUEUED, received_at.elapsed().as_secs_f64());
                let started = Instant::now();
                let outcome = self.replicate(writes, *write_time, stop).await;
                if let Outcome::Done = outcome {
                    metrics.stage(STAGE_CASSANDRA, started.elapsed().as_secs_f64());
                }
                self.conclude(outcome, table, op, *committed_us, message, stop)
                    .await
            }
            Job::DeadLetter { message, reason } => self.dead_letter(message, reason, stop).await,
        }
    }
}

impl Replicator {
    /// What follows a change's writes: counting it, or sending it to the dead-letter topic.
    async fn conclude(
        &self,
        outcome: Outcome,
        table: &'static str,
        op: &'static str,
        committed_us: i64,
        message: &OwnedMessage,
        stop: &CancellationToken,
    ) -> bool {
        match outcome {
            Outcome::Done => {
                self.count_replicated(table, op, committed_us);
                true
            }
            Outcome::Stopped => false,
            Outcome::Rejected(error) => {
                let reason = format!(
                    "Cassandra rejected the write {PERMANENT_FAILURE_ATTEMPTS} times: {error}"
                );
                self.dead_letter(message, &reason, stop).await
            }
        }
    }
}

/// How an attempt to replicate one change ended.
enum Outcome {
    Done,
    Stopped,
    /// Cassandra refused a write for what it is, every time it was tried.
    Rejected(Box<SinkError>),
}

impl Replicator {
    async fn replicate(
        &self,
        writes: &[CqlWrite],
        write_time: i64,
        stop: &CancellationToken,
    ) -> Outcome {
        let metrics = &self.observability.metrics;
        metrics.writes_in_flight.inc();
        let mut outcome = Outcome::Done;
        for write in writes {
            let written = self
                .retry(
                    RETRY_CASSANDRA_WRITE,
                    stop,
                    || async {
                        let started = Instant::now();
                        let result = self.sink.apply(write, write_time).await;
                        metrics
                            .cassandra_write_seconds
                            .observe(started.elapsed().as_secs_f64());
                        result
                    },
                    SinkError::failure,
                )
                .await;
            match written {
                Ok(()) => {}
                Err(Some(error)) => {
                    outcome = Outcome::Rejected(Box::new(error));
                    break;
                }
                Err(None) => {
                    outcome = Outcome::Stopped;
                    break;
                }
            }
        }
        metrics.writes_in_flight.dec();
        outcome
    }

    fn count_replicated(&self, table: &'static str, op: &'static str, committed_us: i64) {
        let metrics = &self.observability.metrics;
        metrics.event(table, op);
        if let Some(seconds) = seconds_since(committed_us) {
            metrics.end_to_end_seconds.observe(seconds);
        }
        tracing::debug!("replicated");
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
        // First the whole message; if the dead-letter topic refuses a record that large, the
        // headers alone, retried without limit: they cannot be dropped, and once they fail too
        // only an operator can help (the topic's limits), so /healthz says so meanwhile.
        let publish = |with_payload: bool, classify: fn(&KafkaError) -> Failure| {
            self.retry(
                RETRY_DEAD_LETTER_PUBLISH,
                stop,
                move || {
                    publish_dead_letter(
                        &self.dead_letters,
                        &self.dead_letter_topic,
                        message,
                        reason,
                        with_payload,
                    )
                },
                classify,
            )
        };
        let sent = match publish(true, publish_failure).await {
            Ok(()) => true,
            Err(None) => false,
            Err(Some(error)) => {
                tracing::error!(
                    "the dead letter cannot be published ({error}); sending it without its \
                     payload, which stays in {}[{}] at offset {}",
                    message.topic(),
                    message.partition(),
                    message.offset()
                );
                publish(false, |_| Failure::Transient).await.is_ok()
            }
        };
        if sent {
            self.observability.metrics.dead_letters.inc();
        }
        sent
    }

    /// Retries `attempt` with the workspace's backoff (exponential with full jitter, from 50 ms
    /// up to 5 s), so that the lanes do not retry in lockstep. Returns `Ok` once it succeeds,
    /// `Err(Some(error))` once it has failed permanently (as `classify` says)
    /// [`PERMANENT_FAILURE_ATTEMPTS`] times, and `Err(None)` when `stop` is cancelled first.
    /// Transient failures are retried without limit. Reports unhealthy while it fails, and
    /// healthy again once it ends, however it ends.
    async fn retry<F, Fut, E>(
        &self,
        action: &'static str,
        stop: &CancellationToken,
        mut attempt: F,
        classify: impl Fn(&E) -> Failure,
    ) -> Result<(), Option<E>>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<(), E>>,
        E: std::fmt::Display,
    {
        let mut failures: u32 = 0;
        let mut permanent_failures: u32 = 0;
        let result = loop {
            let delay = match attempt().await {
                Ok(()) => {
                    if failures > 0 {
                        tracing::info!("{action} recovered after {failures} failed attempts");
                    }
                    break Ok(());
                }
                Err(error) => {
                    failures += 1;
                    let delay = RETRY_BACKOFF.jittered(failures);
                    if classify(&error) == Failure::Permanent {
                        permanent_failures += 1;
                        if permanent_failures >= PERMANENT_FAILURE_ATTEMPTS {
                            tracing::warn!(
                                "{action} failed {permanent_failures} times in a way retrying \
                                 cannot fix: {error}"
                            );
                            break Err(Some(error));
                        }
                    }
                    // Every lane retries during an outage: the first failure and every tenth
                    // are worth a warning, the rest only a debug line.
                    if failures % 10 == 1 {
                        tracing::warn!("{action} failed, retrying in {delay:?}: {error}");
                    } else {
                        tracing::debug!("{action} failed, retrying in {delay:?}: {error}");
                    }
                    self.observability
                        .health
                        .report(action, Some(format!("failing: {error}")));
                    self.observability.metrics.retried(action);
                    delay
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break Err(None),
                _ = tokio::time::sleep(delay) => {}
            }
        };
        if failures > 0 {
            // The problem this loop reported is over, whether it succeeded, gave up or stopped.
            self.observability.health.report(action, None);
        }
        result
    }
}

/// Whether a failed publish of a dead letter may succeed later: a record the broker or the
/// producer refuses for its size or form never will.
fn publish_failure(error: &KafkaError) -> Failure {
    match error.rdkafka_error_code() {
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
            | RDKafkaErrorCode::InvalidMessageSize
            | RDKafkaErrorCode::InvalidMessage
            | RDKafkaErrorCode::InvalidRecord
            | RDKafkaErrorCode::MessageBatchTooLarge
            | RDKafkaErrorCode::TopicAuthorizationFailed
            | RDKafkaErrorCode::InvalidTopic,
        ) => Failure::Permanent,
        _ => Failure::Transient,
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
    with_payload: bool,
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
    let headers = if with_payload {
        headers
    } else {
        headers.insert(Header {
            key: "dlq.payload",
            value: Some(
                "omitted: too large for the dead-letter topic; read it at the source offset",
            ),
        })
    };
    let mut record = FutureRecord::<[u8], [u8]>::to(topic).headers(headers);
    if let Some(key) = message.key() {
        record = record.key(key);
    }
    if let Some(payload) = message.payload().filter(|_| with_payload) {
        record = record.payload(payload);
    }
    producer
        .send(record, Duration::from_secs(10))
        .await
        .map(drop)
        .map_err(|(error, _)| error)
}
