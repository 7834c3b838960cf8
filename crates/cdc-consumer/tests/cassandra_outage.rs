//! Cassandra stopped for 30 s under two consumers of one group, then started again: both keep
//! running and stay in their group (though the test sets the group's poll deadline,
//! `max.poll.interval.ms`, to 10 s and the lanes fill at once), report themselves unhealthy
//! meanwhile, commit no offset of a message they could not write, and catch up without a
//! restart; `verify` then finds no difference.
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
    end_offset, health, insert_tickers, members_with_partitions, run_verify, xtask,
};

/// 2025-11-07: day 20399 since the epoch.
const CQL_DAY: CqlDate = CqlDate((1u32 << 31) + 20399);
const DAY: &str = "2025-11-07";
const OUTAGE: Duration = Duration::from_secs(30);
const SYMBOL: &str = "XRPUSDT";

const PARTITIONS: i32 = 3;

#[tokio::test]
async fn two_consumers_ride_out_a_cassandra_outage_longer_than_their_poll_deadline() {
    support::required_env("CDC_STATE_DIR");
    let pipeline = TestPipeline::start_with_partitions("cassandra_outage", PARTITIONS).await;
    let topic = pipeline.ticker_topic();
    let symbol = SYMBOL;
    let group = pipeline.name();
    // Two lanes fill within a few messages, and a consumer that stops polling for 10 s is
    // dropped from its group.
    let settings = [
        ("CONSUMER_MAX_POLL_INTERVAL_MS", "10000"),
        ("CONSUMER_MAX_IN_FLIGHT", "2"),
    ];
    let consumers = [
        RunningConsumer::start_in_group(&pipeline, group, &settings),
        RunningConsumer::start_in_group(&pipeline, group, &settings),
    ];
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
    support::eventually(
        Duration::from_secs(60),
        "both consumers holding partitions",
        || async { (members_with_partitions(group) == 2).then_some(()) },
    )
    .await;

    let _restore = support::RestoreStackOnDrop;
    xtask(&["stack", "down", "cassandra"]);
    let outage_starts_at: Vec<i64> = (0..PARTITIONS)
        .map(|partition| end_offset(&topic, partition))
        .collect();
    insert_tickers(&postgres, symbol, DAY, 11, 90).await;
    for consumer in &consumers {
        await_health(consumer, 503, "/healthz reporting the outage").await;
    }
    tokio::time::sleep(OUTAGE).await;
    for consumer in &consumers {
        assert_eq!(
            health(consumer).await,
            503,
            "still unhealthy while Cassandra is down"
        );
    }
    assert_eq!(
        members_with_partitions(group),
        2,
        "an instance left the group during an outage three times its poll deadline"
    );
    // The consumers have received the outage's messages but cannot write them: thirty seconds
    // of periodic commits later, no offset past them may have been committed.
    for partition in 0..PARTITIONS {
        let committed = committed_offset(group, &topic, partition);
        let starts_at = outage_starts_at[partition as usize];
        assert!(
            committed.is_none_or(|offset| offset <= starts_at),
            "partition {partition}: committed {committed:?} although nothing from offset \
             {starts_at} on was written"
        );
    }
    assert!(
        (0..PARTITIONS)
            .map(|partition| end_offset(&topic, partition))
            .sum::<i64>()
            > outage_starts_at.iter().sum::<i64>(),
        "the outage's changes reached Kafka"
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
    for consumer in &consumers {
        await_health(consumer, 200, "/healthz healthy again").await;
    }
    for partition in 0..PARTITIONS {
        let end = end_offset(&topic, partition);
        support::await_committed(
            group,
            &topic,
            partition,
            end,
            Duration::from_secs(30),
            "the commit catching up",
        )
        .await;
    }
    let verified = run_verify(
        &pipeline,
        symbol,
        "2025-11-07T00:00:00Z",
        "2025-11-08T00:00:00Z",
    );
    assert!(
        verified.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&verified.stdout)
    );
    for consumer in consumers {
        assert!(
            consumer.terminate().success(),
            "the same consumer process ran throughout"
        );
    }
}
