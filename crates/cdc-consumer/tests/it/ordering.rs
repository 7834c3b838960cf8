//! Order per row under concurrent writes: many quick successive changes to the same rows, written
//! through many lanes at once, end with Cassandra holding each row's last value.

use std::time::Duration;

use bigdecimal::BigDecimal;
use scylla::value::CqlDate;

use crate::{RunningConsumer, cassandra, eventually, insert_tickers, postgres, unique_suffix};

const DAY: &str = "2025-11-07";
const ROWS: i32 = 40;
const ROUNDS: i32 = 60;

#[tokio::test]
async fn the_last_change_of_each_row_wins_under_concurrent_writes() {
    let symbol = format!("ORD{}USDT", unique_suffix());
    let group = format!("it-ordering-{}", unique_suffix());
    let _consumer = RunningConsumer::start_at_end(&group, &[("CONSUMER_MAX_IN_FLIGHT", "64")]);
    let postgres = postgres().await;
    insert_tickers(&postgres, &symbol, DAY, 1, ROWS).await;
    // Each round is its own transaction changing every row, so each row sees ROUNDS changes in
    // quick succession while the other rows' changes are written beside them.
    for round in 1..=ROUNDS {
        postgres
            .execute(
                "UPDATE ticker_24h SET last_price = $2::text::numeric WHERE symbol = $1",
                &[&symbol, &round.to_string()],
            )
            .await
            .expect("update failed");
    }

    let session = cassandra().await;
    let day = CqlDate((1 << 31) + 20_399); // 2025-11-07: days since the epoch, offset by 2^31
    let last = BigDecimal::from(ROUNDS);
    let prices = eventually(
        Duration::from_secs(120),
        "every row's last change in Cassandra",
        || async {
            let rows = session
                .query_unpaged(
                    "SELECT last_price FROM crypto_data.ticker_24h WHERE symbol = ? AND day = ?",
                    (&symbol, day),
                )
                .await
                .ok()?
                .into_rows_result()
                .ok()?;
            let prices: Vec<BigDecimal> = rows
                .rows::<(BigDecimal,)>()
                .ok()?
                .filter_map(Result::ok)
                .map(|(price,)| price)
                .collect();
            (prices.len() == ROWS as usize && prices.iter().all(|price| *price == last))
                .then_some(prices)
        },
    )
    .await;
    assert_eq!(prices.len(), ROWS as usize);

    // The stream is fully written: no late, earlier write may change a row afterwards.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rows = session
        .query_unpaged(
            "SELECT id, last_price FROM crypto_data.ticker_24h WHERE symbol = ? AND day = ?",
            (&symbol, day),
        )
        .await
        .expect("cannot read Cassandra")
        .into_rows_result()
        .expect("not rows");
    for row in rows
        .rows::<(i64, BigDecimal)>()
        .expect("unexpected columns")
    {
        let (id, price) = row.expect("unreadable row");
        assert_eq!(price, last, "row {id} holds an earlier change");
    }
}
