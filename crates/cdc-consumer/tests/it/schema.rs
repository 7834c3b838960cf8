//! The consumer creates its Cassandra schema at start-up with the configured keyspace,
//! replication and retention, and a replication Cassandra rejects stops it with a clear error.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stack_fixtures::unique_name;

use crate::{RunningConsumer, TestPipeline, cassandra, eventually, required_env};

#[tokio::test]
async fn creates_the_schema_with_the_configured_retention() {
    let pipeline = TestPipeline::start("schema").await;
    let keyspace = pipeline.keyspace().to_owned();
    let consumer = RunningConsumer::start_in_group(
        &pipeline,
        pipeline.name(),
        &[("CONSUMER_TICKER_RETENTION_DAYS", "7")],
    );
    eventually(
        Duration::from_secs(120),
        "the consumer to become healthy",
        || async {
            let url = format!("http://{}/healthz", consumer.operations_address);
            (reqwest::get(url).await.ok()?.status() == 200).then_some(())
        },
    )
    .await;

    let session = cassandra().await;
    let ttl = |table: &'static str| {
        let (session, keyspace) = (&session, &keyspace);
        async move {
            session
                .query_unpaged(
                    "SELECT default_time_to_live FROM system_schema.tables WHERE keyspace_name = ? AND table_name = ?",
                    (keyspace, table),
                )
                .await
                .expect("cannot read the schema")
                .into_rows_result()
                .expect("not rows")
                .single_row::<(i32,)>()
                .expect("the table does not exist")
                .0
        }
    };
    assert_eq!(ttl("ticker_24h").await, 7 * 86_400);
    assert_eq!(ttl("klines").await, 400 * 86_400);

    assert!(consumer.terminate().success());
}

#[test]
fn a_replication_cassandra_rejects_stops_the_consumer_naming_it() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .env("CASSANDRA_NODES", required_env("CASSANDRA_NODES"))
        .env("KAFKA_BROKERS", required_env("KAFKA_BROKERS"))
        // Names of its own, in case it got as far as Kafka: removed with the test's leftovers.
        .env("CASSANDRA_KEYSPACE", unique_name("bad_replication"))
        .env("CONSUMER_TOPICS", unique_name("bad_replication"))
        .env("CONSUMER_GROUP_ID", unique_name("bad_replication"))
        .env("CASSANDRA_REPLICATION", "{'class': 'NoSuchStrategy'}")
        .env("CONSUMER_METRICS_LISTEN", "127.0.0.1:0")
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start cdc-consumer");
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("cannot wait for cdc-consumer") {
            break status;
        }
        if started.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("cdc-consumer kept running with a replication Cassandra rejects");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().expect("piped"), &mut stderr).unwrap();
    assert!(!status.success());
    assert!(
        stderr.contains("NoSuchStrategy"),
        "the error should show the rejected statement:\n{stderr}"
    );
}
