//! Kafka Connect killed with SIGKILL while PostgreSQL keeps changing and changes are in flight,
//! then started again: Debezium resumes from its replication slot and stored offsets, every
//! change reaches Cassandra, and `verify` finds PostgreSQL and Cassandra identical (replayed
//! changes are idempotent upserts).
//!
//! A test binary of its own because it kills the stack's Connect worker: cargo runs test
//! binaries one after another, so no other test sees Connect down. It kills it with
//! `cargo xtask stack kill connect` and restarts it with `cargo xtask stack up`, with the
//! state directory `cargo xtask test` passes in `CDC_STATE_DIR`.

mod support;

use std::time::Duration;

use scylla::value::CqlDate;
use support::{
    ContinuousWriter, RunningConsumer, TestPipeline, await_tickers, cassandra, eventually,
    required_env, run_verify, ticker_count, xtask,
};

/// 2025-11-10: day 20402 since the epoch.
const DAY: &str = "2025-11-10";
const CQL_DAY: CqlDate = CqlDate((1u32 << 31) + 20402);
const SYMBOL: &str = "ADAUSDT";
const BOUND: Duration = Duration::from_secs(120);

#[tokio::test]
async fn the_pipeline_survives_connect_killed_mid_stream() {
    required_env("CDC_STATE_DIR");
    let pipeline = TestPipeline::start("connect_outage").await;
    let consumer = RunningConsumer::start(&pipeline);
    let writer = ContinuousWriter::start(
        pipeline.database().ingester().await,
        SYMBOL,
        DAY,
        10,
        Duration::from_millis(50),
    );
    let session = cassandra().await;
    // Kill while the writer goes on and Debezium streams its changes.
    let inserted_before_kill = eventually(BOUND, "the first 100 rows replicated", || async {
        let inserted = writer.inserted();
        let replicated = ticker_count(&session, &pipeline, SYMBOL, CQL_DAY).await?;
        (replicated >= 100).then_some(inserted)
    })
    .await;

    let _restore = support::RestoreStackOnDrop;
    xtask(&["stack", "kill", "connect"]);
    // Changes while Connect is gone: the writer goes on, and rows already replicated change.
    eventually(BOUND, "200 more rows while Connect is gone", || async {
        (writer.inserted() >= inserted_before_kill + 200).then_some(())
    })
    .await;
    // The ingester role only appends tickers: the superuser updates them.
    let postgres = pipeline.database().admin().await;
    postgres
        .execute(
            "UPDATE ticker_24h SET last_price = last_price + 1 WHERE symbol = $1 AND id % 3 = 0",
            &[&SYMBOL],
        )
        .await
        .expect("update failed");
    let replicated_while_down = ticker_count(&session, &pipeline, SYMBOL, CQL_DAY)
        .await
        .expect("Cassandra count");
    assert!(
        replicated_while_down < inserted_before_kill + 200,
        "changes kept arriving although Connect was killed: {replicated_while_down}"
    );

    xtask(&["stack", "up"]);
    let inserted = writer.stop().await;
    await_tickers(
        &session,
        &pipeline,
        SYMBOL,
        CQL_DAY,
        inserted,
        Duration::from_secs(180),
        "every row after Connect is back",
    )
    .await;
    let clean = eventually(
        Duration::from_secs(120),
        "verify reporting no difference",
        || async {
            let output = run_verify(
                &pipeline,
                SYMBOL,
                "2025-11-10T00:00:00Z",
                "2025-11-11T00:00:00Z",
            );
            output.status.success().then_some(output)
        },
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout).trim(),
        format!("{inserted} rows compared, 0 differences")
    );
    assert!(consumer.terminate().success());
}
