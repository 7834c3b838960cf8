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
    // The ingester role only appends tickers: the superuser updates and deletes them.
    let admin = pipeline.database().admin().await;
    admin
        .execute(
            "UPDATE ticker_24h SET last_price = last_price * 3, volume = 1234567890123.45678901
             WHERE symbol = $1 AND id % 4 = 0",
            &[&symbol],
        )
        .await
        .expect("update failed");
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
    let first_id: i64 = admin
        .query_one(
            "SELECT min(id) FROM ticker_24h WHERE symbol = $1",
            &[&symbol],
        )
        .await
        .expect("cannot read the first id")
        .get(0);
    let first_close: chrono::DateTime<chrono::Utc> = admin
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
                // Above every write time the pipeline uses (the WAL position plus 2^56), or
                // Cassandra would keep the replicated value.
                "UPDATE {}.ticker_24h USING TIMESTAMP 4611686018427387904 SET last_price = 42 \
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

/// A row older than the table's retention may be gone from Cassandra (its TTL expired, as
/// intended): `verify` without `--since` does not report it; asked to look that far back, it
/// does.
#[tokio::test]
async fn verify_leaves_out_rows_past_the_retention_unless_asked() {
    let pipeline = TestPipeline::start("verify_retention").await;
    let symbol = "ADAUSDT";
    let consumer = RunningConsumer::start(&pipeline);
    let postgres = pipeline.database().ingester().await;
    postgres
        .query(
            "SELECT partitions.ensure('ticker_24h', day, day)
               FROM generate_series(1, 2) AS n,
                    LATERAL (SELECT (now() AT TIME ZONE 'UTC' - n * INTERVAL '20 days')::date) AS d(day)",
            &[],
        )
        .await
        .expect("creating the rows' partitions");
    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, close_time)
             SELECT $1, n, now() - n * INTERVAL '20 days' FROM generate_series(1, 2) AS n",
            &[&symbol],
        )
        .await
        .expect("insert failed");
    let session = cassandra().await;
    let in_cassandra = || async {
        session
            .query_unpaged(
                format!(
                    "SELECT close_time, id FROM {}.ticker_24h WHERE symbol = ? ALLOW FILTERING",
                    pipeline.keyspace()
                ),
                (symbol,),
            )
            .await
            .ok()?
            .into_rows_result()
            .ok()?
            .rows::<(scylla::value::CqlTimestamp, i64)>()
            .ok()?
            .collect::<Result<Vec<_>, _>>()
            .ok()
            .filter(|rows| rows.len() == 2)
    };
    let rows = eventually(
        Duration::from_secs(60),
        "both rows in Cassandra",
        in_cassandra,
    )
    .await;
    // The 40-day-old row, as its 30-day TTL would have it: gone (deleted above every write time
    // the pipeline uses).
    let (oldest_close, oldest_id) = rows
        .iter()
        .min_by_key(|(close_time, _)| close_time.0)
        .copied()
        .expect("two rows");
    let day = scylla::value::CqlDate(
        (1u32 << 31) + u32::try_from(oldest_close.0.div_euclid(86_400_000)).expect("a day"),
    );
    session
        .query_unpaged(
            format!(
                "DELETE FROM {}.ticker_24h USING TIMESTAMP 4611686018427387904 \
                 WHERE symbol = ? AND day = ? AND close_time = ? AND id = ?",
                pipeline.keyspace()
            ),
            (symbol, day, oldest_close, oldest_id),
        )
        .await
        .expect("cannot remove the expired row");

    let verify_from = |since: Option<&str>| {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_cdc-consumer"));
        command
            .args(["verify", "--table", "ticker_24h", "--symbol", symbol])
            .envs(pipeline.consumer_environment());
        if let Some(since) = since {
            command.args(["--since", since]);
        }
        command.output().expect("cannot run cdc-consumer verify")
    };
    let within_retention = verify_from(None);
    assert!(
        within_retention.status.success(),
        "{}",
        stdout(&within_retention)
    );
    assert_eq!(
        stdout(&within_retention).trim(),
        "1 rows compared, 0 differences"
    );
    let all_time = verify_from(Some("1970-01-01T00:00:00Z"));
    assert!(!all_time.status.success(), "{}", stdout(&all_time));
    assert!(
        stdout(&all_time).contains("missing in Cassandra"),
        "{}",
        stdout(&all_time)
    );
    assert!(consumer.terminate().success());
}

/// 1s candles land in day buckets and 1m candles in month buckets, and `verify --table klines`
/// finds both where they belong.
#[tokio::test]
async fn kline_buckets_follow_the_interval_end_to_end() {
    let pipeline = TestPipeline::start("kline_buckets").await;
    let symbol = "DOTUSDT";
    let consumer = RunningConsumer::start(&pipeline);
    pipeline
        .database()
        .ensure_partitions("2025-11-09", "2025-12-01")
        .await;
    let postgres = pipeline.database().ingester().await;
    postgres
        .execute(
            "INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                                 close_price, volume, close_time, quote_volume, trade_count,
                                 taker_buy_base_volume, taker_buy_quote_volume)
             SELECT $1, interval, open_time, 1, 2, 0.5, 1.5, 10, open_time + length - INTERVAL '1 millisecond',
                    15, 3, 5, 7.5
             FROM (SELECT '1s', INTERVAL '1 second',
                          TIMESTAMPTZ '2025-11-09 23:59:58+00' + n * INTERVAL '1 second'
                   FROM generate_series(0, 3) AS n
                   UNION ALL
                   SELECT '1m', INTERVAL '1 minute',
                          TIMESTAMPTZ '2025-11-30 23:58:00+00' + n * INTERVAL '1 minute'
                   FROM generate_series(0, 3) AS n) AS seeded(interval, length, open_time)",
            &[&symbol],
        )
        .await
        .expect("insert failed");
    let session = cassandra().await;
    let count = |bucket: &'static str, interval: &'static str| {
        let (session, keyspace) = (&session, pipeline.keyspace());
        async move {
            session
                .query_unpaged(
                    format!(
                        "SELECT COUNT(*) FROM {keyspace}.klines \
                         WHERE symbol = ? AND interval = ? AND month = '{bucket}'"
                    ),
                    (symbol, interval),
                )
                .await
                .ok()?
                .into_rows_result()
                .ok()?
                .single_row::<(i64,)>()
                .ok()
                .map(|(count,)| count)
        }
    };
    eventually(
        Duration::from_secs(60),
        "the candles in their buckets",
        || async {
            let buckets = (
                count("2025-11-09", "1s").await,
                count("2025-11-10", "1s").await,
                count("2025-11-01", "1m").await,
                count("2025-12-01", "1m").await,
            );
            (buckets == (Some(2), Some(2), Some(2), Some(2))).then_some(())
        },
    )
    .await;
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .args(["verify", "--table", "klines", "--symbol", symbol])
        .args([
            "--since",
            "2025-11-01T00:00:00Z",
            "--until",
            "2025-12-02T00:00:00Z",
        ])
        .envs(pipeline.consumer_environment())
        .output()
        .expect("cannot run cdc-consumer verify");
    assert!(output.status.success(), "{}", stdout(&output));
    assert_eq!(stdout(&output).trim(), "8 rows compared, 0 differences");
    assert!(consumer.terminate().success());
}
