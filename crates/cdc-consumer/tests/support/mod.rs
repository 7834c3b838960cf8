//! What the consumer's integration tests share: a consumer process working on a test's own
//! slice of the stack (`stack_fixtures::TestPipeline`), connections, Kafka offsets, and polling
//! with a bound.
//!
//! Compiled into each test binary, and not every binary uses every helper.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
pub use stack_fixtures::{TestPipeline, required_env};

/// The consumer binary working on one test pipeline, running until dropped; dropping it kills
/// it so a failed test leaves nothing behind.
pub struct RunningConsumer {
    child: Child,
    /// Where this consumer serves `/metrics` and `/healthz`.
    pub operations_address: String,
    /// Its consumer group.
    pub group: String,
}

impl RunningConsumer {
    /// Starts the consumer on `pipeline`'s topics and keyspace in the group named after the
    /// pipeline: a new group, so it reads the topics from the start.
    pub fn start(pipeline: &TestPipeline) -> Self {
        Self::start_in_group(pipeline, pipeline.name(), &[])
    }

    /// Starts the consumer on `pipeline` in `group`, with extra environment settings (they win
    /// over the pipeline's).
    pub fn start_in_group(
        pipeline: &TestPipeline,
        group: &str,
        environment: &[(&str, &str)],
    ) -> Self {
        // Several consumers run at once in these tests: each gets its own operations port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("no free local port")
            .port();
        let operations_address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
            .envs(pipeline.consumer_environment())
            .env("CONSUMER_GROUP_ID", group)
            .env("CONSUMER_METRICS_LISTEN", &operations_address)
            .env("RUST_LOG", "warn")
            .envs(environment.iter().copied())
            .spawn()
            .expect("cannot start cdc-consumer");
        Self {
            child,
            operations_address,
            group: group.to_owned(),
        }
    }

    /// Whether the process is still running (it has not exited, crashed or been killed).
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends SIGTERM and returns how the consumer then exited; fails the test when it is still
    /// running 30 s later.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.terminate_within(Duration::from_secs(30))
            .expect("cdc-consumer still running 30 s after SIGTERM")
    }

    /// Sends SIGTERM and returns how the consumer exited, or `None` when it was still running
    /// after `bound` (it is killed then).
    pub fn terminate_within(mut self, bound: Duration) -> Option<std::process::ExitStatus> {
        stack_fixtures::processes::terminate_within(&mut self.child, bound)
    }

    /// SIGKILL: no chance to commit or clean up, as in a crash or an OOM kill.
    pub fn kill_hard(mut self) -> std::process::ExitStatus {
        // `Child::kill` is SIGKILL on Unix.
        self.child.kill().expect("cannot kill cdc-consumer");
        self.child.wait().expect("cdc-consumer did not exit")
    }

    /// This consumer's `/metrics` text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.operations_address))
            .await
            .expect("cannot read /metrics")
            .text()
            .await
            .expect("cannot read /metrics")
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A Cassandra session as the consumer's role, which may read and write the tests' keyspaces.
pub async fn cassandra() -> scylla::client::session::Session {
    let stack = stack_fixtures::StackEnvironment::from_env();
    stack_fixtures::cassandra::session(&stack, &stack.cassandra_consumer)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// A Cassandra session as Grafana's role, which may only read.
pub async fn cassandra_as_grafana() -> scylla::client::session::Session {
    let stack = stack_fixtures::StackEnvironment::from_env();
    stack_fixtures::cassandra::session(&stack, &stack.cassandra_grafana)
        .await
        .unwrap_or_else(|error| panic!("{error:#}"))
}

/// Polls `probe` every 100 ms until it yields a value, failing the test with `what` after `bound`.
pub async fn eventually<T, F, Fut>(bound: Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = std::time::Instant::now();
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(started.elapsed() < bound, "{what}: not within {bound:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Inserts tickers `first..first + count` for `symbol`, one second of close_time apart from the
/// start of `day` (YYYY-MM-DD, UTC), in one transaction, after making sure the days they fall
/// on have a partition (as the ingester does; the ingester role may).
pub async fn insert_tickers(
    postgres: &tokio_postgres::Client,
    symbol: &str,
    day: &str,
    first: i32,
    count: i32,
) {
    postgres
        .query(
            "SELECT partitions.ensure('ticker_24h', $1::text::date,
                 ($1::text::date::timestamp + $2::int * INTERVAL '1 second')::date)",
            &[&day, &(first + count - 1)],
        )
        .await
        .expect("creating the partitions as the ingester role failed");
    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, close_time)
             SELECT $1, n * 0.00000001, $2::text::date::timestamp AT TIME ZONE 'UTC' + n * INTERVAL '1 second'
             FROM generate_series($3::int, $4::int) AS n",
            &[&symbol, &day, &first, &(first + count - 1)],
        )
        .await
        .expect("insert as the ingester role failed");
}

/// How many ticker rows `pipeline`'s keyspace holds for `symbol` on `day`; `None` while
/// Cassandra cannot answer (or the consumer has not created the keyspace yet).
pub async fn ticker_count(
    session: &scylla::client::session::Session,
    pipeline: &TestPipeline,
    symbol: &str,
    day: scylla::value::CqlDate,
) -> Option<i64> {
    let result = session
        .query_unpaged(
            format!(
                "SELECT COUNT(*) FROM {}.ticker_24h WHERE symbol = ? AND day = ?",
                pipeline.keyspace()
            ),
            (symbol, day),
        )
        .await
        .ok()?;
    Some(
        result
            .into_rows_result()
            .ok()?
            .single_row::<(i64,)>()
            .ok()?
            .0,
    )
}

fn kafka_client(group: Option<&str>) -> BaseConsumer {
    let mut config = rdkafka::ClientConfig::new();
    config.set("bootstrap.servers", required_env("KAFKA_BROKERS"));
    if let Some(group) = group {
        config.set("group.id", group);
    }
    config.create().expect("cannot create a Kafka client")
}

/// The offset `group` has committed on `partition` of `topic` (`None` when nothing is committed).
pub fn committed_offset(group: &str, topic: &str, partition: i32) -> Option<i64> {
    let mut partitions = rdkafka::TopicPartitionList::new();
    partitions.add_partition(topic, partition);
    let committed = kafka_client(Some(group))
        .committed_offsets(partitions, Duration::from_secs(10))
        .expect("cannot read committed offsets");
    match committed
        .find_partition(topic, partition)
        .map(|element| element.offset())
    {
        Some(rdkafka::Offset::Offset(offset)) => Some(offset),
        _ => None,
    }
}

/// The offset the next message on `partition` of `topic` will get.
pub fn end_offset(topic: &str, partition: i32) -> i64 {
    let (_, high) = kafka_client(None)
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("cannot read watermarks");
    high
}

/// The members of `group` that hold at least one partition, once the group is stable; 0 while
/// it rebalances or is empty.
pub fn members_with_partitions(group: &str) -> usize {
    let groups = kafka_client(None)
        .fetch_group_list(Some(group), Duration::from_secs(10))
        .expect("cannot describe the consumer group");
    groups
        .groups()
        .iter()
        .filter(|described| described.state() == "Stable")
        .flat_map(|described| described.members())
        .filter(|member| {
            member
                .assignment()
                .is_some_and(|bytes| assigned_partitions(bytes) > 0)
        })
        .count()
}

/// How many partitions a classic consumer-protocol assignment holds: a version (i16), then
/// per topic its name (i16 length, bytes) and its partitions (i32 count, i32 each).
fn assigned_partitions(assignment: &[u8]) -> usize {
    let read = |at: usize, width: usize| -> Option<i64> {
        let bytes = assignment.get(at..at + width)?;
        Some(
            bytes
                .iter()
                .fold(0i64, |value, byte| value << 8 | i64::from(*byte)),
        )
    };
    let count = || -> Option<usize> {
        let topics = read(2, 4)?;
        let (mut at, mut partitions) = (6usize, 0usize);
        for _ in 0..topics {
            at += 2 + usize::try_from(read(at, 2)?).ok()?;
            let in_topic = usize::try_from(read(at, 4)?).ok()?;
            partitions += in_topic;
            at += 4 + 4 * in_topic;
        }
        Some(partitions)
    };
    count().unwrap_or(0)
}

/// Runs `cargo xtask` with `args` in the workspace, failing the test if it fails; the outage
/// tests stop and start the stack's services with it (`stack down SERVICE`, `stack up`).
pub fn xtask(args: &[&str]) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = stack_fixtures::cargo::cargo()
        .arg("xtask")
        .args(args)
        .current_dir(workspace)
        .status()
        .expect("cannot run cargo xtask");
    assert!(status.success(), "cargo xtask {args:?} failed");
}

/// The status `/healthz` of `consumer` answers; 0 when it does not answer.
pub async fn health(consumer: &RunningConsumer) -> u16 {
    match reqwest::get(format!("http://{}/healthz", consumer.operations_address)).await {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// `cdc-consumer verify` of `ticker_24h` on `pipeline`, for `symbol` between `since` and
/// `until` (RFC 3339).
pub fn run_verify(
    pipeline: &TestPipeline,
    symbol: &str,
    since: &str,
    until: &str,
) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .args(["verify", "--table", "ticker_24h", "--symbol", symbol])
        .args(["--since", since, "--until", until])
        .envs(pipeline.consumer_environment())
        .output()
        .expect("cannot run cdc-consumer verify")
}

/// Brings the whole stack back up when dropped, so a test that stops a service and then fails
/// does not leave the services down for the tests after it.
pub struct RestoreStackOnDrop;

impl Drop for RestoreStackOnDrop {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
            let _ = stack_fixtures::cargo::cargo()
                .args(["xtask", "stack", "up"])
                .current_dir(workspace)
                .status();
        }
    }
}

/// Waits until `pipeline`'s keyspace holds `expected` ticker rows of `symbol` on `day`,
/// failing the test with `what` after `bound`.
pub async fn await_tickers(
    session: &scylla::client::session::Session,
    pipeline: &TestPipeline,
    symbol: &str,
    day: scylla::value::CqlDate,
    expected: i64,
    bound: Duration,
    what: &str,
) {
    eventually(bound, what, || async {
        (ticker_count(session, pipeline, symbol, day).await == Some(expected)).then_some(())
    })
    .await;
}

/// Waits until `consumer`'s `/healthz` answers `status`, failing the test with `what` after 30 s.
pub async fn await_health(consumer: &RunningConsumer, status: u16, what: &str) {
    eventually(Duration::from_secs(30), what, || async {
        (health(consumer).await == status).then_some(())
    })
    .await;
}

/// The value of the Prometheus sample `name` (with its labels, as printed) in `metrics`.
pub fn sample(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let value = line.strip_prefix(name)?.strip_prefix(' ')?;
        value.trim().parse().ok()
    })
}

/// Inserts tickers of one symbol and day in the background, `batch` rows per transaction every
/// `pause`, until stopped: the load under which the fault tests inject their faults, so that a
/// fault hits changes in flight rather than an idle stream.
pub struct ContinuousWriter {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    inserted: std::sync::Arc<std::sync::atomic::AtomicI32>,
    task: tokio::task::JoinHandle<()>,
}

impl ContinuousWriter {
    pub fn start(
        postgres: tokio_postgres::Client,
        symbol: &str,
        day: &'static str,
        batch: i32,
        pause: Duration,
    ) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let inserted = std::sync::Arc::new(std::sync::atomic::AtomicI32::new(0));
        let (stopping, counting, symbol) = (stop.clone(), inserted.clone(), symbol.to_owned());
        let task = tokio::spawn(async move {
            while !stopping.load(Ordering::SeqCst) {
                let first = counting.load(Ordering::SeqCst) + 1;
                insert_tickers(&postgres, &symbol, day, first, batch).await;
                counting.fetch_add(batch, Ordering::SeqCst);
                tokio::time::sleep(pause).await;
            }
        });
        Self {
            stop,
            inserted,
            task,
        }
    }

    /// Rows committed so far.
    pub fn inserted(&self) -> i64 {
        i64::from(self.inserted.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// Stops after the transaction in hand and returns how many rows were committed in all.
    pub async fn stop(self) -> i64 {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let inserted = self.inserted.clone();
        self.task.await.expect("the writer panicked");
        i64::from(inserted.load(std::sync::atomic::Ordering::SeqCst))
    }
}

/// The ids of the ticker rows `pipeline`'s keyspace holds for `symbol` on `day`.
pub async fn written_ids(
    session: &scylla::client::session::Session,
    pipeline: &TestPipeline,
    symbol: &str,
    day: scylla::value::CqlDate,
) -> std::collections::HashSet<i64> {
    let rows = session
        .query_unpaged(
            format!(
                "SELECT id FROM {}.ticker_24h WHERE symbol = ? AND day = ?",
                pipeline.keyspace()
            ),
            (symbol, day),
        )
        .await
        .expect("cannot read Cassandra")
        .into_rows_result()
        .expect("not rows");
    rows.rows::<(i64,)>()
        .expect("unexpected columns")
        .map(|row| row.expect("unreadable row").0)
        .collect()
}

/// A reader of `partition` of `topic` from its first message, outside any group's offsets.
pub fn reader_from_beginning(topic: &str, partition: i32) -> rdkafka::consumer::StreamConsumer {
    let reader: rdkafka::consumer::StreamConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .set("group.id", "it-reader-never-commits")
        .set("enable.auto.commit", "false")
        .create()
        .expect("cannot create a Kafka reader");
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, rdkafka::Offset::Beginning)
        .expect("a valid offset");
    reader.assign(&assignment).expect("cannot assign");
    reader
}

/// Waits until `group` has committed `expected` on `partition` of `topic`, failing the test
/// with `what` after `bound`.
pub async fn await_committed(
    group: &str,
    topic: &str,
    partition: i32,
    expected: i64,
    bound: Duration,
    what: &str,
) {
    eventually(bound, what, || async {
        (committed_offset(group, topic, partition) == Some(expected)).then_some(())
    })
    .await;
}

/// The row id of each change event on `partition` of `topic` below offset `until`, by offset.
pub async fn changed_ids(topic: &str, partition: i32, until: i64) -> Vec<(i64, i64)> {
    use rdkafka::Message;
    if until <= 0 {
        return Vec::new();
    }
    let reader = reader_from_beginning(topic, partition);
    let mut ids = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let message = reader.recv().await.expect("cannot read the topic");
            if message.offset() >= until {
                break;
            }
            let Some(payload) = message.payload() else {
                continue; // a tombstone
            };
            let event: serde_json::Value =
                serde_json::from_slice(payload).expect("the connector wrote JSON");
            let id = event["payload"]["after"]["id"]
                .as_i64()
                .or_else(|| event["payload"]["before"]["id"].as_i64())
                .expect("a change event of a ticker row");
            ids.push((message.offset(), id));
            if message.offset() + 1 >= until {
                break;
            }
        }
    })
    .await
    .expect("could not read the topic up to the offset within 60 s");
    ids
}

/// The sum of `cdc_consumer_events_total` over tables and operations: the change events
/// `consumer` has replicated since it started.
pub async fn events_handled(consumer: &RunningConsumer) -> f64 {
    consumer
        .metrics()
        .await
        .lines()
        .filter(|line| line.starts_with("cdc_consumer_events_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Header `name` of a dead letter, as text.
pub fn header(dead_letter: &rdkafka::message::OwnedMessage, name: &str) -> String {
    dead_letter
        .headers()
        .expect("the dead letter has no headers")
        .iter()
        .find(|header| header.key == name)
        .and_then(|header| header.value)
        .map(|value| String::from_utf8_lossy(value).into_owned())
        .unwrap_or_else(|| panic!("no {name} header"))
}
