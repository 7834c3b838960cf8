//! Cassandra stopped for 30 s under a running consumer, then started again: the consumer keeps
//! running, reports itself unhealthy meanwhile, commits no offset of a message it could not write,
//! and catches up without a restart.
//!
//! A test binary of its own because it stops the stack's Cassandra: cargo runs test binaries
//! one after another, so no other test sees Cassandra down. It drives the stack through
//! `cargo xtask stack down cassandra` / `stack up`, with the state directory `cargo xtask test`
//! passes in `CDC_STATE_DIR`.

mod support;

use std::time::Duration;

use scylla::value::CqlDate;
use support::{
    RunningConsumer, TestPipeline, await_health, await_tickers, cassandra, committed_offset,
    end_offset, health, insert_tickers, xtask,
};

/// 2025-11-07: day 20399 since the epoch.
const CQL_DAY: CqlDate = CqlDate((1u32 << 31) + 20399);
const DAY: &str = "2025-11-07";
const OUTAGE: Duration = Duration::from_secs(30);
const SYMBOL: &str = "XRPUSDT";

#[tokio::test]
async fn the_consumer_rides_out_a_cassandra_outage() {
    support::required_env("CDC_STATE_DIR");
    let pipeline = TestPipeline::start("cassandra_outage").await;
    let topic = pipeline.ticker_topic();
    let symbol = SYMBOL;
    let consumer = RunningConsumer::start(&pipeline);
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

    let _restore = support::RestoreStackOnDrop;
    xtask(&["stack", "down", "cassandra"]);
    let outage_starts_at = end_offset(&topic, 0);
    insert_tickers(&postgres, symbol, DAY, 11, 90).await;
    await_health(&consumer, 503, "/healthz reporting the outage").await;
    tokio::time::sleep(OUTAGE).await;
    assert_eq!(
        health(&consumer).await,
        503,
        "still unhealthy while Cassandra is down"
    );
    // The consumer has received the outage's messages but cannot write them: thirty seconds of
    // periodic commits later, no offset past them may have been committed.
    assert!(
        end_offset(&topic, 0) > outage_starts_at,
        "the outage's changes reached Kafka"
    );
    let committed = committed_offset(&consumer.group, &topic, 0);
    assert!(
        committed.is_some_and(|offset| offset <= outage_starts_at),
        "committed {committed:?} although nothing from offset {outage_starts_at} on was written"
    );

    xtask(&["stack", "up"]);
    let session = cassandra().await;
    await_tickers(
        &session,
        &pipeline,
        symbol,
        CQL_DAY,
        100,
        Duration::from_secs(180),
        "all 100 rows after Cassandra is back",
    )
    .await;
    await_health(&consumer, 200, "/healthz healthy again").await;
    let end = end_offset(&topic, 0);
    let bound = Duration::from_secs(30);
    support::await_committed(
        &consumer.group,
        &topic,
        0,
        end,
        bound,
        "the commit catching up",
    )
    .await;
    assert!(
        consumer.terminate().success(),
        "the same consumer process ran throughout"
    );
}
