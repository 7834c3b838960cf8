//! `cdc-consumer verify` against the real stack: after thousands of inserts, updates and deletes
//! it finds no difference; after Cassandra is changed behind the pipeline's back it names the row
//! and the column and exits non-zero.

use std::process::Output;
use std::time::Duration;

use crate::{RunningConsumer, TestPipeline, cassandra, eventually, insert_tickers, run_verify};

const DAY: &str = "2025-11-06";

fn verify(pipeline: &TestPipeline, symbol: &str) -> Output {
    run_verify(
        pipeline,
        symbol,
        "2025-11-06T00:00:00Z",
        "2025-11-07T00:00:00Z",
    )
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn verify_finds_no_difference_after_a_busy_stream_and_names_a_tampered_value() {
    let pipeline = TestPipeline::start("verify").await;
    let symbol = "SOLUSDT";
    let consumer = RunningConsumer::start(&pipeline);
    let postgres = pipeline.database().ingester().await;
    for batch in 0..4 {
        insert_tickers(&postgres, symbol, DAY, batch * 500 + 1, 500).await;
    }
    postgres
        .execute(
            "UPDATE ticker_24h SET last_price = last_price * 3, volume = 1234567890123.45678901
             WHERE symbol = $1 AND id % 4 = 0",
            &[&symbol],
        )
        .await
        .expect("update failed");
    // The ingester role may not delete: the superuser does.
    let admin = pipeline.database().admin().await;
    let deleted = admin
        .execute(
            "DELETE FROM ticker_24h WHERE symbol = $1 AND id % 7 = 0",
            &[&symbol],
        )
        .await
        .expect("delete failed");
    assert!(
        deleted > 250,
        "the test should delete hundreds of rows, deleted {deleted}"
    );
    let remaining = 2000 - deleted;

    let clean = eventually(
        Duration::from_secs(180),
        "verify reporting no difference",
        || async {
            let output = verify(&pipeline, symbol);
            output.status.success().then_some(output)
        },
    )
    .await;
    assert_eq!(
        stdout(&clean).trim(),
        format!("{remaining} rows compared, 0 differences")
    );

    let session = cassandra().await;
    let first_id: i64 = postgres
        .query_one(
            "SELECT min(id) FROM ticker_24h WHERE symbol = $1",
            &[&symbol],
        )
        .await
        .expect("cannot read the first id")
        .get(0);
    let first_close: chrono::DateTime<chrono::Utc> = postgres
        .query_one(
            "SELECT close_time FROM ticker_24h WHERE id = $1",
            &[&first_id],
        )
        .await
        .expect("cannot read the first row")
        .get(0);
    session
        .query_unpaged(
            format!(
                "UPDATE {}.ticker_24h SET last_price = 42 \
                 WHERE symbol = ? AND day = '2025-11-06' AND close_time = ? AND id = ?",
                pipeline.keyspace()
            ),
            (
                symbol,
                scylla::value::CqlTimestamp(first_close.timestamp_millis()),
                first_id,
            ),
        )
        .await
        .expect("cannot tamper with Cassandra");
    let tampered = verify(&pipeline, symbol);
    assert!(
        !tampered.status.success(),
        "verify should fail on a difference"
    );
    let report = stdout(&tampered);
    assert!(
        report.contains("last_price: PostgreSQL") && report.contains("Cassandra 42"),
        "{report}"
    );
    assert!(
        report
            .trim_end()
            .ends_with(&format!("{remaining} rows compared, 1 differences")),
        "{report}"
    );

    assert!(consumer.terminate().success());
}
