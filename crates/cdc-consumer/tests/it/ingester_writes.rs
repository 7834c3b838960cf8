//! What the ingester writes, through the whole pipeline: a ticker insert retried after an
//! ambiguous failure leaves one row in PostgreSQL and one in Cassandra, and a value PostgreSQL
//! could store but Debezium could not carry (a NUMERIC `NaN`) is refused by the table's
//! constraints, with an error naming the constraint, and the pipeline keeps flowing.

use std::time::Duration;

use chrono::{DateTime, Utc};
use scylla::client::session::Session;
use scylla::value::CqlDate;

use crate::{
    RunningConsumer, TestPipeline, cassandra, committed_offset, end_offset, eventually,
    ticker_count,
};

/// How long a change may take from PostgreSQL commit to Cassandra before the test fails.
const ARRIVAL_BOUND: Duration = Duration::from_secs(90);

/// A `ticker/24hr` reply for `symbols`, all closing at `close_time` with last trade `last_id`,
/// parsed by the ingester's own parser.
fn tickers(symbols: &[&str], close_time: i64, last_id: i64) -> Vec<binance::Ticker24h> {
    let body: Vec<String> = symbols
        .iter()
        .map(|symbol| {
            format!(
                r#"{{"symbol":"{symbol}","priceChange":"-94.99999800","priceChangePercent":"-95.960",
                "weightedAvgPrice":"0.29628482","prevClosePrice":"0.10002000","lastPrice":"4.00000200",
                "lastQty":"200.00000000","bidPrice":"4.00000000","bidQty":"100.00000000",
                "askPrice":"4.00000200","askQty":"100.00000000","openPrice":"99.00000000",
                "highPrice":"100.00000000","lowPrice":"0.10000000","volume":"8913.30000000",
                "quoteVolume":"15.30000000","openTime":{open_time},"closeTime":{close_time},
                "firstId":28385,"lastId":{last_id},"count":76}}"#,
                open_time = close_time - 86_400_000,
            )
        })
        .collect();
    binance::parse_tickers(format!("[{}]", body.join(",")).as_bytes())
        .expect("a well-formed ticker reply")
}

/// The Cassandra date of the UTC day of `time`.
fn day_of(time: DateTime<Utc>) -> CqlDate {
    let days = time.timestamp().div_euclid(86_400);
    CqlDate((1u32 << 31).wrapping_add_signed(i32::try_from(days).expect("a day in range")))
}

/// Waits until the consumer has written everything Debezium produced up to a sentinel ticker
/// committed after all else: the sentinel in Cassandra means every earlier change is in the
/// topic (one partition, commit order), and the consumer's committed offset at the topic's end
/// means it has written all of them.
async fn settle(
    pipeline: &TestPipeline,
    consumer: &RunningConsumer,
    session: &Session,
    sentinel: &str,
    day: CqlDate,
) {
    eventually(
        ARRIVAL_BOUND,
        "the sentinel ticker in Cassandra",
        || async { (ticker_count(session, pipeline, sentinel, day).await? >= 1).then_some(()) },
    )
    .await;
    let topic = pipeline.ticker_topic();
    eventually(
        ARRIVAL_BOUND,
        "the consumer committing the whole topic",
        || async {
            let committed = committed_offset(&consumer.group, &topic, 0)?;
            (committed >= end_offset(&topic, 0)).then_some(())
        },
    )
    .await;
}

async fn postgres_count(admin: &tokio_postgres::Client, symbol: &str) -> i64 {
    admin
        .query_one(
            "SELECT count(*) FROM ticker_24h WHERE symbol = $1",
            &[&symbol],
        )
        .await
        .expect("counting tickers")
        .get(0)
}

/// A write that timed out or lost its connection may have committed; the ingester keeps the
/// poll and writes it again (its ticker buffer does exactly this). Here the first write
/// commits and its outcome is thrown away, as a lost reply would be, and the same poll is then
/// written again through the same function, on the ingester's role.
#[tokio::test]
async fn a_retried_ticker_insert_leaves_one_row_in_each_store() {
    let pipeline = TestPipeline::start("retried_insert").await;
    pipeline
        .database()
        .ensure_partitions("yesterday", "tomorrow")
        .await;
    let consumer = RunningConsumer::start(&pipeline);
    let session = cassandra().await;
    let ingester_role = pipeline.database().ingester().await;
    let admin = pipeline.database().admin().await;
    let fetched_at = Utc::now();
    let close_time = fetched_at.timestamp_millis();
    let day = day_of(fetched_at);
    let poll = tickers(&["BTCUSDT", "ETHUSDT"], close_time, 28_460);

    let first = ingester::store::insert_tickers(&ingester_role, &poll, fetched_at).await;
    assert!(
        matches!(first, Ok(2)),
        "the first attempt commits: {first:?}"
    );
    let retried = ingester::store::insert_tickers(&ingester_role, &poll, fetched_at)
        .await
        .expect("the retry succeeds");
    assert_eq!(retried, 0, "the retry adds no row");
    // A later ticker of the same symbol (one more trade) is a new row, not a duplicate.
    let later = tickers(&["BTCUSDT"], close_time, 28_461);
    assert_eq!(
        ingester::store::insert_tickers(&ingester_role, &later, fetched_at)
            .await
            .expect("a new ticker is stored"),
        1
    );
    ingester::store::insert_tickers(
        &ingester_role,
        &tickers(&["SENTINELUSDT"], close_time, 1),
        fetched_at,
    )
    .await
    .expect("the sentinel is stored");

    settle(&pipeline, &consumer, &session, "SENTINELUSDT", day).await;
    for (symbol, rows) in [("BTCUSDT", 2), ("ETHUSDT", 1)] {
        assert_eq!(
            ticker_count(&session, &pipeline, symbol, day).await,
            Some(rows),
            "{symbol}: rows in Cassandra"
        );
        assert_eq!(
            postgres_count(&admin, symbol).await,
            rows,
            "{symbol}: rows in PostgreSQL"
        );
    }
}

/// `NaN` is a NUMERIC value PostgreSQL stores, but Debezium's precise decimal mode cannot
/// represent it: the pinned Debezium sends NULL in its place (seen with the constraint dropped),
/// so Cassandra would hold NULL where PostgreSQL holds NaN. The tables refuse it, naming the
/// constraint, and the rows after it still arrive.
#[tokio::test]
async fn nan_is_refused_naming_the_constraint_and_the_pipeline_keeps_flowing() {
    let pipeline = TestPipeline::start("nan_refused").await;
    pipeline
        .database()
        .ensure_partitions("yesterday", "tomorrow")
        .await;
    let consumer = RunningConsumer::start(&pipeline);
    let session = cassandra().await;
    // The superuser, as any writer other than the ingester (which cannot produce a NaN: its
    // decimals have none) would be.
    let admin = pipeline.database().admin().await;
    let now = Utc::now();
    let day = day_of(now);

    for (statement, constraint) in [
        (
            "INSERT INTO ticker_24h (symbol, last_price, close_time) VALUES ('BTCUSDT', 'NaN', $1)",
            "ticker_24h_last_price_not_nan",
        ),
        (
            "INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                                 close_price, volume, close_time, quote_volume, trade_count,
                                 taker_buy_base_volume, taker_buy_quote_volume)
             VALUES ('BTCUSDT', '1m', $1, 1, 1, 1, 'NaN', 1, $1, 1, 1, 1, 1)",
            "klines_close_price_not_nan",
        ),
    ] {
        let refused = admin
            .execute(statement, &[&now])
            .await
            .expect_err("a NaN must be refused");
        let error = refused.as_db_error().expect("refused by the server");
        assert_eq!(error.constraint(), Some(constraint), "{error}");
        assert!(error.message().contains(constraint), "{error}");
    }

    admin
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, close_time) VALUES ('BTCUSDT', 1.5, $1)",
            &[&now],
        )
        .await
        .expect("a normal ticker is stored");
    eventually(ARRIVAL_BOUND, "the normal ticker in Cassandra", || async {
        (ticker_count(&session, &pipeline, "BTCUSDT", day).await? == 1).then_some(())
    })
    .await;
    drop(consumer);
}
