//! What the consumer's integration tests share: settings from `cargo xtask test`'s
//! environment, a running consumer process, connections, and polling with a bound.
//!
//! Compiled into each test binary, and not every binary uses every helper.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command};

/// A required setting from `cargo xtask test`'s environment.
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: these tests need the real stack; run them with `cargo xtask test`"
        )
    })
}

/// The consumer binary, running until dropped; dropping it kills it so a failed test leaves
/// nothing behind.
pub struct RunningConsumer {
    child: Child,
    /// Where this consumer serves `/metrics` and `/healthz`.
    pub operations_address: String,
    /// Its consumer group.
    pub group: String,
}

impl RunningConsumer {
    /// Starts the consumer in a consumer group of its own, so it reads every topic from the start.
    pub fn start(test_name: &str) -> Self {
        Self::start_at_end(&format!("it-{test_name}-{}", unique_suffix()), &[])
    }

    /// Starts the consumer in a new `group` positioned at the current end of the pipeline's
    /// topics, so it handles only what the test writes from now on, not the whole history of a
    /// long-lived development stack.
    pub fn start_at_end(group: &str, environment: &[(&str, &str)]) -> Self {
        commit_end_offsets(group, &["crypto.public.ticker_24h", "crypto.public.klines"]);
        Self::start_in_group(group, environment)
    }

    /// Starts the consumer in `group`, with extra environment settings.
    pub fn start_in_group(group: &str, environment: &[(&str, &str)]) -> Self {
        // Several consumers run at once in these tests: each gets its own operations port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let operations_address = format!("127.0.0.1:{port}");
        let child = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
            .env("CONSUMER_GROUP_ID", group)
            .env("CONSUMER_METRICS_LISTEN", &operations_address)
            .envs(environment.iter().copied())
            .env("KAFKA_BROKERS", required_env("KAFKA_BROKERS"))
            .env("CASSANDRA_NODES", required_env("CASSANDRA_NODES"))
            .env("RUST_LOG", "warn")
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

    /// Sends SIGTERM and returns how the consumer then exited.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGTERM)
    }

    /// SIGKILL: no chance to commit or clean up, as in a crash or an OOM kill.
    pub fn kill_hard(self) -> std::process::ExitStatus {
        self.signal(nix::sys::signal::Signal::SIGKILL)
    }

    fn signal(mut self, signal: nix::sys::signal::Signal) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("cannot signal cdc-consumer");
        self.child.wait().expect("cdc-consumer did not exit")
    }
}

impl Drop for RunningConsumer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A suffix that makes names unique across test runs against the same stack.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{}{}", std::process::id(), nanos % 1_000_000_000)
}

/// A connection as the `ingester` role, which may write the market-data tables.
pub async fn postgres() -> tokio_postgres::Client {
    let (client, connection) =
        tokio_postgres::connect(&required_env("PG_URL"), tokio_postgres::NoTls)
            .await
            .expect("cannot connect to PostgreSQL as the ingester role");
    tokio::spawn(connection);
    client
}

pub async fn cassandra() -> scylla::client::session::Session {
    scylla::client::session_builder::SessionBuilder::new()
        .known_node(required_env("CASSANDRA_NODES"))
        .build()
        .await
        .expect("cannot connect to Cassandra")
}

/// Polls `probe` every 100 ms until it yields a value, failing the test with `what` after `bound`.
pub async fn eventually<T, F, Fut>(bound: std::time::Duration, what: &str, mut probe: F) -> T
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
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Inserts tickers `first..first + count` for `symbol`, one second of close_time apart from the
/// start of `day` (YYYY-MM-DD, UTC).
pub async fn insert_tickers(
    postgres: &tokio_postgres::Client,
    symbol: &str,
    day: &str,
    first: i32,
    count: i32,
) {
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

/// How many ticker rows Cassandra holds for `symbol` on `day`; `None` while it cannot answer.
pub async fn ticker_count(
    session: &scylla::client::session::Session,
    symbol: &str,
    day: scylla::value::CqlDate,
) -> Option<i64> {
    let result = session
        .query_unpaged(
            "SELECT COUNT(*) FROM crypto_data.ticker_24h WHERE symbol = ? AND day = ?",
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

/// The offset `group` has committed on partition 0 of `topic` (`None` when nothing is committed).
pub fn committed_offset(group: &str, topic: &str) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .set("group.id", group)
        .create()
        .expect("cannot create a Kafka client");
    let mut partitions = rdkafka::TopicPartitionList::new();
    partitions.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(partitions, std::time::Duration::from_secs(10))
        .expect("cannot read committed offsets");
    match committed
        .find_partition(topic, 0)
        .map(|element| element.offset())
    {
        Some(rdkafka::Offset::Offset(offset)) => Some(offset),
        _ => None,
    }
}

/// The offset the next message on partition 0 of `topic` will get.
pub fn end_offset(topic: &str) -> i64 {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create()
        .expect("cannot create a Kafka client");
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, std::time::Duration::from_secs(10))
        .expect("cannot read watermarks");
    high
}

/// Commits, for `group`, the current end offset of partition 0 of each of `topics` that exists.
fn commit_end_offsets(group: &str, topics: &[&str]) {
    use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
    let consumer: BaseConsumer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .set("group.id", group)
        .create()
        .expect("cannot create a Kafka client");
    let mut offsets = rdkafka::TopicPartitionList::new();
    for topic in topics {
        if let Ok((_, end)) =
            consumer.fetch_watermarks(topic, 0, std::time::Duration::from_secs(10))
        {
            offsets
                .add_partition_offset(topic, 0, rdkafka::Offset::Offset(end))
                .expect("a valid offset");
        }
    }
    if offsets.count() > 0 {
        consumer
            .commit(&offsets, CommitMode::Sync)
            .expect("cannot commit the group's start offsets");
    }
}

/// Runs `cargo xtask` with `args` in the workspace, failing the test if it fails; the outage
/// tests stop and start the stack's services with it (`stack down SERVICE`, `stack up`).
pub fn xtask(args: &[&str]) {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
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

/// `cdc-consumer verify` of `ticker_24h` for `symbol` between `since` and `until` (RFC 3339).
pub fn run_verify(symbol: &str, since: &str, until: &str) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .args(["verify", "--table", "ticker_24h", "--symbol", symbol])
        .args(["--since", since, "--until", until])
        .env("PG_URL", required_env("PG_URL"))
        .env("CASSANDRA_NODES", required_env("CASSANDRA_NODES"))
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
            let _ = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
                .args(["xtask", "stack", "up"])
                .current_dir(workspace)
                .status();
        }
    }
}

/// Waits until Cassandra holds `expected` ticker rows of `symbol` on `day`, failing the test
/// with `what` after `bound`.
pub async fn await_tickers(
    session: &scylla::client::session::Session,
    symbol: &str,
    day: scylla::value::CqlDate,
    expected: i64,
    bound: std::time::Duration,
    what: &str,
) {
    eventually(bound, what, || async {
        (ticker_count(session, symbol, day).await == Some(expected)).then_some(())
    })
    .await;
}

/// Waits until `consumer`'s `/healthz` answers `status`, failing the test with `what` after 30 s.
pub async fn await_health(consumer: &RunningConsumer, status: u16, what: &str) {
    eventually(std::time::Duration::from_secs(30), what, || async {
        (health(consumer).await == status).then_some(())
    })
    .await;
}
