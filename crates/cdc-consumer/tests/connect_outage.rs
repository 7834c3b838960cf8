//! Kafka Connect killed with SIGKILL under the running pipeline while PostgreSQL keeps changing,
//! then started again: Debezium resumes from its replication slot and stored offsets, every
//! change reaches Cassandra, and `verify` finds PostgreSQL and Cassandra identical (replayed
//! changes are idempotent upserts).
//!
//! A test binary of its own because it kills the stack's Connect worker: cargo runs test
//! binaries one after another, so no other test sees Connect down. It restarts it with
//! `cargo xtask stack up`, with the state directory `cargo xtask test` passes in `CDC_STATE_DIR`.

mod support;

use std::time::Duration;

use scylla::value::CqlDate;
use support::{
    RunningConsumer, await_tickers, cassandra, eventually, insert_tickers, postgres, required_env,
    run_verify, unique_suffix, xtask,
};

/// 2025-11-10: day 20402 since the epoch.
const DAY: &str = "2025-11-10";
const CQL_DAY: CqlDate = CqlDate((1u32 << 31) + 20402);

#[tokio::test]
async fn the_pipeline_survives_connect_killed_mid_stream() {
    let state = required_env("CDC_STATE_DIR");
    let symbol = format!("KCON{}USDT", unique_suffix());
    let consumer = RunningConsumer::start("connect-outage");
    let postgres = postgres().await;
    insert_tickers(&postgres, &symbol, DAY, 1, 100).await;
    let session = cassandra().await;
    await_tickers(
        &session,
        &symbol,
        CQL_DAY,
        100,
        Duration::from_secs(60),
        "rows before Connect is killed",
    )
    .await;

    let pid = std::fs::read_to_string(format!("{state}/connect/pid"))
        .expect("Connect's pid file")
        .trim()
        .parse::<i32>()
        .expect("a pid");
    let _restore = support::RestoreStackOnDrop;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("cannot kill Connect");
    // Changes while Connect is gone: more inserts, and updates of rows already replicated.
    insert_tickers(&postgres, &symbol, DAY, 101, 200).await;
    postgres
        .execute(
            "UPDATE ticker_24h SET last_price = last_price + 1 WHERE symbol = $1 AND id % 3 = 0",
            &[&symbol],
        )
        .await
        .expect("update failed");
    tokio::time::sleep(Duration::from_secs(5)).await;

    xtask(&["stack", "up"]);
    await_tickers(
        &session,
        &symbol,
        CQL_DAY,
        300,
        Duration::from_secs(180),
        "all 300 rows after Connect is back",
    )
    .await;
    let clean = eventually(
        Duration::from_secs(120),
        "verify reporting no difference",
        || async {
            let output = run_verify(&symbol, "2025-11-10T00:00:00Z", "2025-11-11T00:00:00Z");
            output.status.success().then_some(output)
        },
    )
    .await;
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout).trim(),
        "300 rows compared, 0 differences"
    );
    assert!(consumer.terminate().success());
}
