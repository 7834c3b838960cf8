//! The walking skeleton: rows written to PostgreSQL arrive in Cassandra with exactly the same
//! values, through the real Debezium connector and Kafka; an UPDATE follows them.

use std::str::FromStr;
use std::time::Duration;

use bigdecimal::BigDecimal;
use scylla::client::session::Session;
use scylla::value::CqlDate;

use crate::{RunningConsumer, TestPipeline, cassandra, eventually};

/// How long a change may take from PostgreSQL commit to Cassandra before the test fails. Far
/// above the latency target: this bounds a correctness test, it does not measure speed.
const ARRIVAL_BOUND: Duration = Duration::from_secs(90);

/// Values chosen for the ways decimals go wrong: sign, 8 fraction digits, more than 10^12,
/// zero, and NULL.
const PRICE_CHANGE: &str = "-1234.56789012";
const LAST_PRICE: &str = "0.00000001";
const VOLUME: &str = "1234567890123.45678901";
const QUOTE_VOLUME: &str = "0";
const UPDATED_LAST_PRICE: &str = "98765.43210000";

type TickerColumns = (
    Option<BigDecimal>,
    Option<BigDecimal>,
    Option<BigDecimal>,
    Option<BigDecimal>,
    Option<BigDecimal>,
);

/// The decimal columns of the row, once it is in Cassandra.
async fn cassandra_row(
    session: &Session,
    keyspace: &str,
    symbol: &str,
    day: CqlDate,
) -> Option<TickerColumns> {
    let result = session
        .query_unpaged(
            format!(
                "SELECT price_change, last_price, volume, quote_volume, bid_price \
                 FROM {keyspace}.ticker_24h WHERE symbol = ? AND day = ?"
            ),
            (symbol, day),
        )
        .await
        .ok()? // the consumer may not have created its keyspace yet
        .into_rows_result()
        .expect("not a rows result");
    result
        .maybe_first_row::<TickerColumns>()
        .expect("unexpected column types")
}

/// Polls until `accept` holds for the row, or fails after `ARRIVAL_BOUND`.
async fn wait_for_row(
    session: &Session,
    keyspace: &str,
    symbol: &str,
    day: CqlDate,
    what: &str,
    accept: impl Fn(&TickerColumns) -> bool,
) -> TickerColumns {
    eventually(ARRIVAL_BOUND, what, || async {
        cassandra_row(session, keyspace, symbol, day)
            .await
            .filter(|row| accept(row))
    })
    .await
}

fn decimal(text: &str) -> BigDecimal {
    BigDecimal::from_str(text).unwrap()
}

#[tokio::test]
async fn rows_arrive_in_cassandra_exactly_and_updates_follow() {
    let pipeline = TestPipeline::start("end_to_end").await;
    let postgres = pipeline.database().ingester().await;
    // The ingester role only appends tickers (it may not read or update them): the superuser
    // finds the row and updates it.
    let admin = pipeline.database().admin().await;
    let session = cassandra().await;
    let symbol = "BTCUSDT";
    // 2025-11-04 is day 20396 since the epoch; CQL dates count from 2^31.
    let day = CqlDate((1u32 << 31) + 20396);
    let consumer = RunningConsumer::start(&pipeline);
    pipeline
        .database()
        .ensure_partitions("2025-11-04", "2025-11-04")
        .await;

    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, price_change, last_price, volume, quote_volume, bid_price, close_time) \
             VALUES ($1, $2::text::numeric, $3::text::numeric, $4::text::numeric, $5::text::numeric, NULL, \
                     '2025-11-04T14:19:37.123Z')",
            &[&symbol, &PRICE_CHANGE, &LAST_PRICE, &VOLUME, &QUOTE_VOLUME],
        )
        .await
        .expect("insert as the ingester role failed");
    let id: i64 = admin
        .query_one("SELECT id FROM ticker_24h WHERE symbol = $1", &[&symbol])
        .await
        .expect("cannot read the inserted row's id")
        .get(0);

    let row = wait_for_row(
        &session,
        pipeline.keyspace(),
        symbol,
        day,
        "the inserted row",
        |_| true,
    )
    .await;
    assert_eq!(row.0, Some(decimal(PRICE_CHANGE)), "negative value");
    assert_eq!(row.1, Some(decimal(LAST_PRICE)), "8 decimal places");
    assert_eq!(row.2, Some(decimal(VOLUME)), "value above 10^12");
    assert_eq!(row.3, Some(decimal(QUOTE_VOLUME)), "zero");
    assert_eq!(row.4, None, "NULL");

    admin
        .execute(
            "UPDATE ticker_24h SET last_price = $1::text::numeric WHERE id = $2",
            &[&UPDATED_LAST_PRICE, &id],
        )
        .await
        .expect("update failed");
    let updated = decimal(UPDATED_LAST_PRICE);
    let row = wait_for_row(
        &session,
        pipeline.keyspace(),
        symbol,
        day,
        "the update",
        |row| row.1.as_ref() == Some(&updated),
    )
    .await;
    assert_eq!(
        row.2,
        Some(decimal(VOLUME)),
        "the update leaves other columns alone"
    );

    let operations =
        |path: &str| reqwest::get(format!("http://{}{path}", consumer.operations_address));
    let metrics = operations("/metrics").await.unwrap().text().await.unwrap();
    for expected in [
        r#"cdc_consumer_events_total{table="public.ticker_24h",op="c"}"#,
        r#"cdc_consumer_events_total{table="public.ticker_24h",op="u"}"#,
        "cdc_consumer_end_to_end_seconds_count",
        "cdc_consumer_cassandra_write_seconds_count",
    ] {
        assert!(
            metrics.contains(expected),
            "/metrics lacks {expected}:\n{metrics}"
        );
    }
    assert_eq!(operations("/healthz").await.unwrap().status(), 200);

    let status = consumer.terminate();
    assert!(
        status.success(),
        "cdc-consumer should exit 0 on SIGTERM, got {status}"
    );
}
