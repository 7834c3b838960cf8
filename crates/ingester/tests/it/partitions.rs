//! PostgreSQL's bounded window, kept by the ingester: at start-up it creates the daily
//! partitions of the window and a few days ahead (on the exchange's clock, here the
//! simulator's, in 2024) and drops those past `--pg-retention-days`, counted from each table's
//! newest row (a candle that can still change keeps its day); a candle older than the window
//! gets its day before it is written; and a write whose day has no partition creates it and is
//! written, not dropped.

use std::time::Duration;

use crate::{
    START, config, database, eventually, free_port, frozen_market, metric, sim, spawn, stop,
};

/// The partitions of `table`, by name.
async fn partitions(admin: &tokio_postgres::Client, table: &str) -> Vec<String> {
    admin
        .query(
            "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .await
        .expect("listing partitions")
        .iter()
        .map(|row| row.get(0))
        .collect()
}

fn named(table: &str, days: &[&str]) -> Vec<String> {
    days.iter().map(|day| format!("{table}_p{day}")).collect()
}

async fn count(admin: &tokio_postgres::Client, sql: &str) -> i64 {
    admin
        .query_one(sql, &[])
        .await
        .unwrap_or_else(|error| panic!("{sql}: {error}"))
        .get(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_is_made_at_start_up_and_days_past_it_are_dropped() {
    const SYMBOL: &str = "SYM0007USDT";
    let database = database("partition_window").await;
    let admin = database.admin().await;
    // What an earlier run left: tickers of 1 February and 1 March (the newest); a month candle
    // opened 1 February (it closes on the 29th, within two days of the newest candle), a
    // minute's of 10 February, and one of 1 March.
    for day in ["2024-02-01", "2024-02-10", "2024-03-01"] {
        database.ensure_partitions(day, day).await;
    }
    admin
        .batch_execute(
            "INSERT INTO ticker_24h (symbol, close_time) VALUES
                 ('OLDUSDT', '2024-02-01T12:00:00Z'), ('OLDUSDT', '2024-03-01T00:00:00Z');
             INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                                 close_price, volume, close_time, quote_volume, trade_count,
                                 taker_buy_base_volume, taker_buy_quote_volume)
             SELECT 'OLDUSDT', interval, open_time, 1, 1, 1, 1, 1, close_time, 1, 1, 1, 1
               FROM (VALUES ('1M', '2024-02-01T00:00:00Z'::timestamptz, '2024-02-29T23:59:59.999Z'::timestamptz),
                            ('1m', '2024-02-10T00:00:00Z', '2024-02-10T00:00:59.999Z'),
                            ('1m', '2024-03-01T00:00:00Z', '2024-03-01T00:00:59.999Z'))
                    AS seeded(interval, open_time, close_time);",
        )
        .await
        .expect("seeding the earlier run's rows");

    let sim = sim(frozen_market()).await;
    let listen = format!("127.0.0.1:{}", free_port());
    // Two days' window from 1 March 12:00 (the simulator's clock): 28 February to 4 March; the
    // week candle containing an hour before it opened on Monday 26 February, before the window.
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &[SYMBOL],
        &[
            "--listen",
            &listen,
            "--pg-retention-days",
            "2",
            "--kline-intervals",
            "1m,1w",
        ],
    ));
    eventually(
        "the tickers and the week's candle",
        Duration::from_secs(60),
        || async {
            let tickers = count(
                &admin,
                &format!("SELECT count(*) FROM ticker_24h WHERE symbol = '{SYMBOL}'"),
            )
            .await;
            let weeks = count(
                &admin,
                &format!(
                    "SELECT count(*) FROM klines WHERE symbol = '{SYMBOL}' AND interval = '1w'"
                ),
            )
            .await;
            (tickers > 0 && weeks > 0).then_some(())
        },
    )
    .await;

    assert_eq!(
        partitions(&admin, "ticker_24h").await,
        named(
            "ticker_24h",
            &[
                "20240228", "20240229", "20240301", "20240302", "20240303", "20240304"
            ]
        ),
        "the window and three days ahead; 1 February dropped"
    );
    assert_eq!(
        partitions(&admin, "klines").await,
        named(
            "klines",
            &[
                "20240201", "20240226", "20240228", "20240229", "20240301", "20240302", "20240303",
                "20240304"
            ]
        ),
        "1 February kept for its month candle, 10 February dropped, 26 February made for the \
         week's candle"
    );
    assert_eq!(
        count(
            &admin,
            "SELECT count(*) FROM ticker_24h WHERE close_time < '2024-02-28'"
        )
        .await,
        0
    );
    for (name, expected) in [
        // Every day was made before its first write.
        ("ingester_errors_total{kind=\"postgres_no_partition\"}", 0.0),
        (
            "ingester_partitions_created_total{table=\"ticker_24h\"}",
            5.0,
        ),
        ("ingester_partitions_created_total{table=\"klines\"}", 6.0),
        // 1 February's, and 10 February's made empty above.
        (
            "ingester_partitions_dropped_total{table=\"ticker_24h\"}",
            2.0,
        ),
        ("ingester_partitions_dropped_total{table=\"klines\"}", 1.0),
    ] {
        assert_eq!(metric(&listen, name).await, expected, "{name}");
    }

    // Every ticker partition logs whole rows for updates and deletes, and refuses what the
    // root's constraints refuse, under the root's constraint names.
    let not_full = count(
        &admin,
        "SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
          WHERE i.inhparent = 'ticker_24h'::regclass AND c.relreplident <> 'f'",
    )
    .await;
    assert_eq!(
        not_full, 0,
        "a ticker partition without REPLICA IDENTITY FULL"
    );
    let missing_checks = count(
        &admin,
        "SELECT count(*) FROM pg_inherits i, pg_constraint root
          WHERE i.inhparent IN ('ticker_24h'::regclass, 'klines'::regclass)
            AND root.conrelid = i.inhparent AND root.contype = 'c'
            AND NOT EXISTS (SELECT FROM pg_constraint own
                             WHERE own.conrelid = i.inhrelid AND own.conname = root.conname)",
    )
    .await;
    assert_eq!(
        missing_checks, 0,
        "a partition without one of the root's CHECKs"
    );
    let nan = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_price)
             VALUES ('OLDUSDT', '2024-03-03T00:00:00Z', 'NaN')",
            &[],
        )
        .await
        .expect_err("a partition made by the ingester refuses a NaN");
    assert_eq!(
        nan.as_db_error().and_then(|error| error.constraint()),
        Some("ticker_24h_last_price_not_nan")
    );
    stop(running).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_whose_day_has_no_partition_creates_it_and_is_stored() {
    const SYMBOL: &str = "SYM0008USDT";
    let database = database("partition_missing").await;
    let admin = database.admin().await;
    let sim = sim(frozen_market()).await;
    let listen = format!("127.0.0.1:{}", free_port());
    let running = spawn(config(
        &database.ingester_url(),
        &sim.base_url(),
        &[SYMBOL],
        &["--listen", &listen],
    ));
    let tickers = format!("SELECT count(*) FROM ticker_24h WHERE symbol = '{SYMBOL}'");
    eventually("the first ticker", Duration::from_secs(60), || async {
        (count(&admin, &tickers).await == 1).then_some(())
    })
    .await;
    let created = "ingester_partitions_created_total{table=\"ticker_24h\"}";
    let before = metric(&listen, created).await;

    // The day the simulator's clock is on loses its partition (and its rows) behind the
    // ingester's back: the frozen simulator's next poll, the same ticker, needs it again.
    let day = chrono::DateTime::from_timestamp_millis(START)
        .expect("START is a time")
        .format("%Y%m%d");
    admin
        .batch_execute(&format!("DROP TABLE ticker_24h_p{day}"))
        .await
        .expect("dropping the day's partition");
    eventually(
        "the ticker written again into a new partition",
        Duration::from_secs(60),
        || async { (count(&admin, &tickers).await == 1).then_some(()) },
    )
    .await;
    assert_eq!(metric(&listen, created).await, before + 1.0);
    assert!(
        metric(
            &listen,
            "ingester_errors_total{kind=\"postgres_no_partition\"}"
        )
        .await
            >= 1.0,
        "the write that found no partition is counted"
    );
    assert_eq!(
        metric(&listen, "ingester_errors_total{kind=\"postgres_rejected\"}").await,
        0.0,
        "nothing was refused for good"
    );
    stop(running).await;
}
