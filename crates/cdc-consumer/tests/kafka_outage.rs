//! The Kafka broker stopped for 20 s under the running pipeline, then started again: the consumer
//! keeps running without a restart and reports the outage on `/healthz`, and every change made in
//! PostgreSQL meanwhile reaches Cassandra once the broker is back (Debezium resumes from its
//! replication slot).
//!
//! The consumer's group has no coordinator while the broker is down. With the coordinator
//! timeout at 10 s here (60 s by default), the consumer replaces its Kafka client during the
//! outage, once: the replaced client cannot close before Kafka is back, and until it has, the new
//! one is not replaced. The new client is the one that resumes, as it would after librdkafka
//! stayed without a coordinator for good (which a restart of the only broker sometimes caused
//! before the consumer's re-bootstrap setting).
//!
//! A second consumer, in a group of its own, is stopped (SIGTERM) while Kafka is down, with a
//! replaced client still closing: neither its final commit nor either client's close can
//! finish, and it must exit within its close timeout all the same, not when Kafka is back.
//!
//! A test binary of its own because it stops the stack's broker: cargo runs test binaries one
//! after another, so no other test sees Kafka down. It drives the stack through
//! `cargo xtask stack down kafka` / `stack up`, with the state directory `cargo xtask test`
//! passes in `CDC_STATE_DIR`.

mod support;

use std::time::Duration;

use scylla::value::CqlDate;
use support::{
    RunningConsumer, TestPipeline, await_health, await_tickers, cassandra, events_handled,
    eventually, health, insert_tickers, sample, xtask,
};

/// 2025-11-08: day 20400 since the epoch.
const CQL_DAY: CqlDate = CqlDate((1u32 << 31) + 20400);
const DAY: &str = "2025-11-08";
const OUTAGE: Duration = Duration::from_secs(20);
const SYMBOL: &str = "BNBUSDT";
const COORDINATOR_TIMEOUT_SECS: &str = "10";
const REPLACEMENTS: &str = "cdc_consumer_kafka_client_replacements_total";
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

#[tokio::test]
async fn the_pipeline_rides_out_a_kafka_outage() {
    support::required_env("CDC_STATE_DIR");
    let pipeline = TestPipeline::start("kafka_outage").await;
    let symbol = SYMBOL;
    let mut consumer = RunningConsumer::start_in_group(
        &pipeline,
        pipeline.name(),
        &[(
            "CONSUMER_COORDINATOR_TIMEOUT_SECS",
            COORDINATOR_TIMEOUT_SECS,
        )],
    );
    let stopped_in_outage = RunningConsumer::start_in_group(
        &pipeline,
        &format!("{}-stopped-in-outage", pipeline.name()),
        &[
            (
                "CONSUMER_COORDINATOR_TIMEOUT_SECS",
                COORDINATOR_TIMEOUT_SECS,
            ),
            (
                "CONSUMER_CLOSE_TIMEOUT_SECS",
                &CLOSE_TIMEOUT.as_secs().to_string(),
            ),
        ],
    );
    let postgres = pipeline.database().ingester().await;
    insert_tickers(&postgres, symbol, DAY, 1, 10).await;
    let session = cassandra().await;
    await_tickers(
        &session,
        &pipeline,
        symbol,
        CQL_DAY,
        10,
        Duration::from_secs(60),
        "rows before the outage",
    )
    .await;
    eventually(
        Duration::from_secs(60),
        "the second consumer has written the rows before the outage",
        || async { (events_handled(&stopped_in_outage).await >= 10.0).then_some(()) },
    )
    .await;

    let _restore = support::RestoreStackOnDrop;
    xtask(&["stack", "down", "kafka"]);
    // PostgreSQL takes the changes; they wait in the replication slot until Debezium can send.
    insert_tickers(&postgres, symbol, DAY, 11, 90).await;
    await_health(&consumer, 503, "/healthz reporting Kafka down").await;
    tokio::time::sleep(OUTAGE).await;
    // Statistics come every 5 s, so the client is replaced 10–15 s after the group lost its
    // coordinator.
    for running in [&consumer, &stopped_in_outage] {
        eventually(
            Duration::from_secs(30),
            "the Kafka client replaced while the group has no coordinator",
            || async { (sample(&running.metrics().await, REPLACEMENTS)? >= 1.0).then_some(()) },
        )
        .await;
    }
    let asked = std::time::Instant::now();
    let stopped = stopped_in_outage.terminate_within(CLOSE_TIMEOUT * 3);
    assert!(
        stopped.is_some_and(|status| status.success()),
        "a consumer stopped while Kafka is down exits 0 within its close timeout ({CLOSE_TIMEOUT:?}) \
         and the lanes' end; it was {stopped:?} after {:?}",
        asked.elapsed()
    );
    // Long enough for the new client to reach the timeout too.
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(
        sample(&consumer.metrics().await, REPLACEMENTS),
        Some(1.0),
        "one replacement while Kafka is down: the replaced client is still closing"
    );
    assert!(
        consumer.is_running(),
        "the consumer exited while Kafka was down"
    );
    assert_eq!(
        health(&consumer).await,
        503,
        "still unhealthy while Kafka is down"
    );

    xtask(&["stack", "up"]);
    await_tickers(
        &session,
        &pipeline,
        symbol,
        CQL_DAY,
        100,
        Duration::from_secs(180),
        "all 100 rows after Kafka is back",
    )
    .await;
    await_health(&consumer, 200, "/healthz healthy again").await;
    assert!(
        consumer.terminate().success(),
        "the same consumer process ran throughout and stopped cleanly"
    );
}
