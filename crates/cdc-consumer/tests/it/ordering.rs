//! Order per row under concurrent writes: many quick successive changes to the same rows, written
//! through many lanes at once, end with Cassandra holding each row's last value.

use std::time::Duration;

use bigdecimal::BigDecimal;
use scylla::value::CqlDate;

use crate::{
    RunningConsumer, TestPipeline, cassandra, committed_offset, end_offset, eventually,
    insert_tickers,
};

const DAY: &str = "2025-11-07";
const SYMBOL: &str = "ETHUSDT";
const ROWS: i32 = 40;
const ROUNDS: i32 = 60;

#[tokio::test]
async fn the_last_change_of_each_row_wins_under_concurrent_writes() {
    let pipeline = TestPipeline::start("ordering").await;
    let consumer = RunningConsumer::start_in_group(
        &pipeline,
        pipeline.name(),
        &[("CONSUMER_MAX_IN_FLIGHT", "64")],
    );
    let postgres = pipeline.database().ingester().await;
    insert_tickers(&postgres, SYMBOL, DAY, 1, ROWS).await;
    // The ingester role only appends tickers: the superuser updates them.
    let postgres = pipeline.database().admin().await;
    // Each round is its own transaction changing every row, so each row sees ROUNDS changes in
    // quick succession while the other rows' changes are written beside them.
    for round in 1..=ROUNDS {
        postgres
            .execute(
                "UPDATE ticker_24h SET last_price = $2::text::numeric WHERE symbol = $1",
                &[&SYMBOL, &round.to_string()],
            )
            .await
            .expect("update failed");
    }

    // Every change written and acknowledged: the commit reaches the end of the topic, so no
    // earlier write is still on its way to overwrite a row after the check below.
    let topic = pipeline.ticker_topic();
    let changes = i64::from(ROWS + ROWS * ROUNDS);
    eventually(
        Duration::from_secs(120),
        "every change written and committed",
        || async {
            (end_offset(&topic, 0) == changes
                && committed_offset(&consumer.group, &topic, 0) == Some(changes))
            .then_some(())
        },
    )
    .await;

    let session = cassandra().await;
    let day = CqlDate((1 << 31) + 20_399); // 2025-11-07: days since the epoch, offset by 2^31
    let rows = session
        .query_unpaged(
            format!(
                "SELECT id, last_price FROM {}.ticker_24h WHERE symbol = ? AND day = ?",
                pipeline.keyspace()
            ),
            (SYMBOL, day),
        )
        .await
        .expect("cannot read Cassandra")
        .into_rows_result()
        .expect("not rows");
    let last = BigDecimal::from(ROUNDS);
    let mut count = 0;
    for row in rows
        .rows::<(i64, BigDecimal)>()
        .expect("unexpected columns")
    {
        let (id, price) = row.expect("unreadable row");
        assert_eq!(price, last, "row {id} holds an earlier change");
        count += 1;
    }
    assert_eq!(count, ROWS);
}
