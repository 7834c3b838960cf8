//! The consumer's Prometheus metrics: what it replicated, how long Cassandra and the whole
//! pipeline took, how far behind it is, and what went to the dead-letter topic.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use service::Health;

/// What the consumer reports about itself: metrics, and health for `/healthz`.
#[derive(Clone)]
pub struct Observability {
    pub metrics: Arc<ConsumerMetrics>,
    pub health: Health,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub table: &'static str,
    pub op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PartitionLabels {
    pub topic: String,
    pub partition: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RetryLabels {
    pub action: &'static str,
}

/// The `action` of a retried Cassandra write.
pub const RETRY_CASSANDRA_WRITE: &str = "cassandra_write";
/// The `action` of a retried publication to the dead-letter topic.
pub const RETRY_DEAD_LETTER_PUBLISH: &str = "dead_letter_publish";
/// Every `action` the consumer retries.
pub const RETRY_ACTIONS: [&str; 2] = [RETRY_CASSANDRA_WRITE, RETRY_DEAD_LETTER_PUBLISH];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StageLabels {
    pub stage: &'static str,
}

/// From the PostgreSQL commit until Debezium read the change (envelope `ts_ms` − `source.ts_us`).
pub const STAGE_COMMIT_TO_DEBEZIUM: &str = "commit_to_debezium";
/// From Debezium until the record was produced to Kafka (the record's timestamp − `ts_ms`).
pub const STAGE_DEBEZIUM_TO_KAFKA: &str = "debezium_to_kafka";
/// From the record's timestamp until this consumer received it.
pub const STAGE_KAFKA_TO_CONSUMER: &str = "kafka_to_consumer";
/// From receipt until the change's first Cassandra write started: decoding and waiting for its
/// lane.
pub const STAGE_QUEUED: &str = "queued";
/// The change's Cassandra writes, until acknowledged (retries included).
pub const STAGE_CASSANDRA: &str = "cassandra";
/// The stages, in pipeline order: together they make up the end-to-end latency.
pub const STAGES: [&str; 5] = [
    STAGE_COMMIT_TO_DEBEZIUM,
    STAGE_DEBEZIUM_TO_KAFKA,
    STAGE_KAFKA_TO_CONSUMER,
    STAGE_QUEUED,
    STAGE_CASSANDRA,
];

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// Upper bounds of the end-to-end latency histogram, in seconds.
const END_TO_END_BUCKETS: [f64; 24] = [
    0.001, 0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075, 0.1,
    0.125, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

pub struct ConsumerMetrics {
    /// Replicated change events by source table and operation (c, u, d, r, t, m, tombstone).
    pub events: Family<EventLabels, Counter>,
    pub dead_letters: Counter,
    /// Failed attempts that were retried, by what was attempted.
    pub retries: Family<RetryLabels, Counter>,
    /// One Cassandra write, in seconds.
    pub cassandra_write_seconds: Histogram,
    /// From the commit in PostgreSQL to the acknowledged Cassandra write, in seconds.
    pub end_to_end_seconds: Histogram,
    /// The end-to-end latency by stage (see [`STAGES`]), in seconds.
    pub stage_seconds: HistogramFamily<StageLabels>,
    /// Messages not yet consumed, per partition, as librdkafka's statistics report it.
    pub lag: Family<PartitionLabels, Gauge>,
    /// Changes being written to Cassandra now (at most one per lane).
    pub writes_in_flight: Gauge,
    /// Kafka clients replaced because their group had no coordinator for too long.
    pub kafka_client_replacements: Counter,
}

impl ConsumerMetrics {
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self {
            events: Family::default(),
            dead_letters: Counter::default(),
            retries: Family::default(),
            // 100 µs … ~3.3 s
            cassandra_write_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            end_to_end_seconds: latency_histogram(),
            stage_seconds: Family::new_with_constructor(latency_histogram),
            lag: Family::default(),
            writes_in_flight: Gauge::default(),
            kafka_client_replacements: Counter::default(),
        };
        // A labelled series exists only once its labels are first used: until a retry, the
        // dashboard's retries panel would show "No data" rather than 0, and the first retry's
        // series would start at 1, which `increase()` does not count. So every known action
        // starts at 0.
        for action in RETRY_ACTIONS {
            let _ = metrics.retries.get_or_create(&RetryLabels { action });
        }
        for stage in STAGES {
            let _ = metrics.stage_seconds.get_or_create(&StageLabels { stage });
        }
        let registry = registry.sub_registry_with_prefix("cdc_consumer");
        registry.register(
            "events",
            "Change events replicated, by table and op",
            metrics.events.clone(),
        );
        registry.register(
            "dead_letters",
            "Messages sent to the dead-letter topic",
            metrics.dead_letters.clone(),
        );
        registry.register(
            "retries",
            "Failed attempts that were retried",
            metrics.retries.clone(),
        );
        registry.register(
            "cassandra_write_seconds",
            "Latency of one Cassandra write",
            metrics.cassandra_write_seconds.clone(),
        );
        registry.register(
            "end_to_end_seconds",
            "Time from the PostgreSQL commit to the acknowledged Cassandra write",
            metrics.end_to_end_seconds.clone(),
        );
        registry.register(
            "stage_seconds",
            "Time each stage of the pipeline added to a change's end-to-end latency",
            metrics.stage_seconds.clone(),
        );
        registry.register(
            "lag",
            "Messages behind the partition's end",
            metrics.lag.clone(),
        );
        registry.register(
            "writes_in_flight",
            "Changes being written to Cassandra now",
            metrics.writes_in_flight.clone(),
        );
        registry.register(
            "kafka_client_replacements",
            "Kafka clients replaced because their consumer group had no coordinator for too long",
            metrics.kafka_client_replacements.clone(),
        );
        metrics
    }
}

/// Fine around the latency targets (p50 ≤ 50 ms, p99 ≤ 150 ms), coarse beyond: 1 ms … 30 s.
fn latency_histogram() -> Histogram {
    Histogram::new(END_TO_END_BUCKETS.iter().copied())
}

impl ConsumerMetrics {
    /// Counts one change event of `table` (`public.ticker_24h`) and `op`. Labels are static
    /// strings, so counting allocates nothing.
    pub fn event(&self, table: &'static str, op: &'static str) {
        self.events.get_or_create(&EventLabels { table, op }).inc();
    }

    /// Counts one failed attempt at `action` that will be retried.
    pub fn retried(&self, action: &'static str) {
        self.retries.get_or_create(&RetryLabels { action }).inc();
    }

    /// Records `seconds` for `stage`, unless the clocks disagree (a negative span).
    pub fn stage(&self, stage: &'static str, seconds: f64) {
        if seconds.is_finite() && seconds >= 0.0 {
            self.stage_seconds
                .get_or_create(&StageLabels { stage })
                .observe(seconds);
        }
    }
}
