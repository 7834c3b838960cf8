//! The drill's observer: once a second it records the pipeline's state as a user's monitoring
//! would see it: the consumer group's lag in Kafka, the end-to-end latency of the second's
//! changes (from the consumers' histograms), every process's health, and the counts the report
//! needs (changes written, changes the consumers wrote, offsets committed).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use stack_fixtures::prometheus::{difference, histogram_buckets, quantile};
use tokio::sync::Mutex;

use crate::consumers::Consumers;
use crate::load::DirectWriter;

const END_TO_END: &str = "cdc_consumer_end_to_end_seconds";
/// How long one Kafka request may take before the sample says Kafka is unreachable.
const KAFKA_TIMEOUT: Duration = Duration::from_millis(800);

/// The pipeline's state at one moment.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Seconds since the drill began.
    pub at: f64,
    /// Each change partition's committed offset and end; `None` while Kafka does not answer.
    pub partitions: Option<Vec<Offsets>>,
    /// The p99 of the end-to-end latency of the changes written to Cassandra since the last
    /// sample, in milliseconds, over every consumer.
    pub p99_ms: Option<f64>,
    /// Changes written to Cassandra since the last sample.
    pub replicated: u64,
    /// Every consumer process's `cdc_consumer_events_total`, killed ones included.
    pub events_total: u64,
    /// Changes PostgreSQL committed so far: direct writes and the ingester's rows.
    pub written: u64,
    /// The ingester's `ingester_errors_total`, over its kinds.
    pub ingester_errors: u64,
    pub consumers_healthy: usize,
    pub consumers: usize,
    pub ingester_healthy: bool,
}

/// One partition's offsets: what the group committed (0 when nothing yet) and its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offsets {
    pub committed: i64,
    pub end: i64,
}

impl Sample {
    /// Offsets the group committed, over every change partition.
    pub fn committed(&self) -> Option<i64> {
        Some(self.partitions.as_ref()?.iter().map(|p| p.committed).sum())
    }

    /// Messages in the change partitions.
    pub fn end(&self) -> Option<i64> {
        Some(self.partitions.as_ref()?.iter().map(|p| p.end).sum())
    }

    /// Messages the group has yet to commit.
    pub fn lag(&self) -> Option<i64> {
        Some(self.end()? - self.committed()?)
    }

    /// Whether some partition has messages waiting and its committed offset has not moved
    /// since `earlier`: a consumer that holds it is gone or stuck.
    pub fn has_stalled_partition(&self, earlier: &Sample) -> bool {
        let (Some(now), Some(then)) = (&self.partitions, &earlier.partitions) else {
            return false;
        };
        now.iter()
            .zip(then)
            .any(|(now, then)| now.end > now.committed && now.committed == then.committed)
    }
}

/// What the observer reads from.
pub struct Observed {
    pub consumers: Arc<Mutex<Consumers>>,
    pub writer: Arc<DirectWriter>,
    pub ingester_address: String,
    pub topics: Vec<String>,
    pub partitions: i32,
    pub brokers: String,
}

/// Samples every second into `samples` until the task is aborted.
pub async fn observe(observed: Observed, started: Instant, samples: Arc<Mutex<Vec<Sample>>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(800))
        .build()
        .expect("an HTTP client");
    let group = observed.consumers.lock().await.group().to_owned();
    let offsets = Arc::new(
        ClientConfig::new()
            .set("bootstrap.servers", &observed.brokers)
            .set("group.id", &group)
            .set("enable.auto.commit", "false")
            .set("log_level", "0")
            .create::<BaseConsumer>()
            .expect("a Kafka client for the group's offsets"),
    );
    let mut previous: HashMap<String, String> = HashMap::new();
    let (mut ingester_rows, mut ingester_errors) = (0, 0);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let (addresses, counted_by_killed, consumers) = {
            let mut consumers = observed.consumers.lock().await;
            consumers.restart_exited();
            (
                consumers.addresses(),
                consumers.counted_by_killed(),
                consumers.addresses().len(),
            )
        };
        let mut sample = Sample {
            at: started.elapsed().as_secs_f64(),
            consumers,
            events_total: counted_by_killed,
            ..Sample::default()
        };
        let mut window: Vec<(f64, f64)> = Vec::new();
        let mut current = HashMap::new();
        for address in &addresses {
            if health(&http, address).await {
                sample.consumers_healthy += 1;
            }
            let Some(text) = crate::support::metrics_text(&http, address).await else {
                continue;
            };
            sample.events_total += counter_sum(&text, "cdc_consumer_events_total");
            let before = previous.get(address).map_or("", String::as_str);
            let changes = difference(
                &histogram_buckets(&text, END_TO_END, &[]),
                &histogram_buckets(before, END_TO_END, &[]),
            );
            window = add_buckets(&window, &changes);
            current.insert(address.clone(), text);
        }
        previous = current;
        sample.replicated = window.last().map_or(0, |(_, count)| *count as u64);
        sample.p99_ms = quantile(&window, 0.99).map(|seconds| seconds * 1000.0);
        // The ingester's counts as last read: it stops before the drill's last samples.
        if let Some(text) = crate::support::metrics_text(&http, &observed.ingester_address).await {
            ingester_rows = counter_sum(&text, "ingester_rows_written_total");
            ingester_errors = counter_sum(&text, "ingester_errors_total");
        }
        sample.ingester_errors = ingester_errors;
        sample.written = observed.writer.committed() + ingester_rows;
        sample.ingester_healthy = health(&http, &observed.ingester_address).await;
        sample.partitions = {
            let offsets = Arc::clone(&offsets);
            let topics = observed.topics.clone();
            let partitions = observed.partitions;
            tokio::task::spawn_blocking(move || group_offsets(&offsets, &topics, partitions))
                .await
                .unwrap_or(None)
        };
        samples.lock().await.push(sample);
    }
}

async fn health(http: &reqwest::Client, address: &str) -> bool {
    http.get(format!("http://{address}/healthz"))
        .send()
        .await
        .is_ok_and(|response| response.status().is_success())
}

/// The sum of a counter's series, over their labels.
fn counter_sum(text: &str, name: &str) -> u64 {
    text.lines()
        .filter(|line| line.starts_with(name) && line[name.len()..].starts_with(['{', ' ']))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as u64
}

/// Two windows of one histogram over the same buckets, added (either may be empty).
fn add_buckets(left: &[(f64, f64)], right: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if left.is_empty() {
        return right.to_vec();
    }
    left.iter()
        .map(|(bound, count)| {
            let other = right
                .iter()
                .find(|(b, _)| b == bound)
                .map_or(0.0, |(_, c)| *c);
            (*bound, count + other)
        })
        .collect()
}

/// Each partition's committed offset and end, in the order of `topics` then partition; `None`
/// when Kafka does not answer in time. A partition with nothing committed counts from 0.
fn group_offsets(
    client: &BaseConsumer,
    topics: &[String],
    partitions: i32,
) -> Option<Vec<Offsets>> {
    let mut list = rdkafka::TopicPartitionList::new();
    for topic in topics {
        for partition in 0..partitions {
            list.add_partition(topic, partition);
        }
    }
    let committed = client.committed_offsets(list, KAFKA_TIMEOUT).ok()?;
    let mut offsets = Vec::new();
    for element in committed.elements() {
        element.error().ok()?;
        let (_, end) = client
            .fetch_watermarks(element.topic(), element.partition(), KAFKA_TIMEOUT)
            .ok()?;
        let committed = match element.offset() {
            rdkafka::Offset::Offset(offset) => offset,
            _ => 0,
        };
        offsets.push(Offsets { committed, end });
    }
    Some(offsets)
}
