//! `sql/postgres` run on installs made by an earlier version (`TestDatabase::create_earlier`:
//! plain tables, the schema before partitioning).
//!
//! - The plain tables become partitioned in place: every row, id, key and constraint stays, the
//!   ids go on past every id given out, inserts and `ON CONFLICT` work as before, the
//!   publication publishes the roots; running it again changes nothing.
//! - An install whose `ticker_24h` has no natural key yet and already holds duplicates, and a
//!   row with a value the constraints refuse: the duplicates go (the first copy stays) and the
//!   key comes; a stored NaN does not stop the script, but new ones are refused at once.

use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};
use tokio_postgres::error::SqlState;

async fn earlier_install(label: &str) -> TestDatabase {
    TestDatabase::create_earlier(&StackEnvironment::from_env(), &unique_name(label)).await
}

/// Every row of `table` as JSON, in key order: what must survive the conversion unchanged.
async fn rows(admin: &tokio_postgres::Client, table: &str, order: &str) -> Vec<String> {
    admin
        .query(
            &format!("SELECT to_jsonb(t)::text FROM {table} t ORDER BY {order}"),
            &[],
        )
        .await
        .unwrap_or_else(|error| panic!("reading {table}: {error}"))
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// Each partition of `table` with its bounds, as PostgreSQL prints them.
async fn partitions(admin: &tokio_postgres::Client, table: &str) -> Vec<(String, String)> {
    admin
        .query(
            "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid)
               FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
              WHERE i.inhparent = $1::text::regclass ORDER BY 1",
            &[&table],
        )
        .await
        .unwrap_or_else(|error| panic!("listing the partitions of {table}: {error}"))
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect()
}

const INSERT_KLINE: &str = "
    INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                        close_price, volume, close_time, quote_volume, trade_count,
                        taker_buy_base_volume, taker_buy_quote_volume)
    VALUES ('BTCUSDT', '1m', $1::text::timestamptz, 1, 1, 1, $2::int, 1,
            $1::text::timestamptz + INTERVAL '59.999 seconds', 1, 1, 1, 1)
    ON CONFLICT (symbol, interval, open_time) DO UPDATE SET close_price = EXCLUDED.close_price
    WHERE klines.close_price IS DISTINCT FROM EXCLUDED.close_price";

const INSERT_TICKER: &str = "
    INSERT INTO ticker_24h (symbol, last_price, close_time, last_trade_id)
    VALUES ($1, 1, $2::text::timestamptz, $3)
    ON CONFLICT (symbol, close_time, last_trade_id) DO NOTHING";

#[tokio::test]
async fn plain_tables_become_partitioned_in_place_keeping_rows_ids_and_keys() {
    let database = earlier_install("upgrade_in_place").await;
    let admin = database.admin().await;
    let ingester = database.ingester().await;
    // Rows over three days, written as the earlier ingester wrote them; and ids given out to
    // rows deleted since, so the old identity is ahead of the highest id kept.
    for (symbol, close_time, last_trade_id) in [
        ("BTCUSDT", "2025-11-03T23:59:59.999Z", 1_i64),
        ("BTCUSDT", "2025-11-04T12:00:00Z", 2),
        ("ETHUSDT", "2025-11-05T00:00:00Z", 3),
        ("GONEUSDT", "2025-11-05T01:00:00Z", 4),
        ("GONEUSDT", "2025-11-05T02:00:00Z", 5),
    ] {
        ingester
            .execute(INSERT_TICKER, &[&symbol, &close_time, &last_trade_id])
            .await
            .expect("the earlier install takes tickers");
    }
    admin
        .execute("DELETE FROM ticker_24h WHERE symbol = 'GONEUSDT'", &[])
        .await
        .unwrap();
    ingester
        .execute(INSERT_KLINE, &[&"2025-11-04T10:00:00Z", &1])
        .await
        .expect("the earlier install takes klines");
    let tickers_before = rows(&admin, "ticker_24h", "id").await;
    let klines_before = rows(&admin, "klines", "open_time").await;
    assert_eq!(tickers_before.len(), 3);

    for _ in 0..2 {
        database.apply_schema().await;
    }

    let kinds: Vec<(String, String)> = admin
        .query(
            "SELECT relname::text, relkind::text FROM pg_class
              WHERE relname IN ('ticker_24h', 'klines') ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        kinds,
        [
            ("klines".to_owned(), "p".to_owned()),
            ("ticker_24h".to_owned(), "p".to_owned())
        ],
        "both tables are partitioned"
    );
    assert_eq!(
        partitions(&admin, "ticker_24h").await,
        [(
            "ticker_24h_legacy".to_owned(),
            "FOR VALUES FROM ('2025-11-03 00:00:00+00') TO ('2025-11-06 00:00:00+00')".to_owned()
        )],
        "the old table is one partition covering its rows' days, rounded out"
    );
    assert_eq!(
        partitions(&admin, "klines").await,
        [(
            "klines_legacy".to_owned(),
            "FOR VALUES FROM ('2025-11-04 00:00:00+00') TO ('2025-11-05 00:00:00+00')".to_owned()
        )]
    );
    assert_eq!(
        rows(&admin, "ticker_24h", "id").await,
        tickers_before,
        "every ticker, id and value kept"
    );
    assert_eq!(rows(&admin, "klines", "open_time").await, klines_before);

    let identity_full: Vec<(String, bool)> = admin
        .query(
            "SELECT relname::text, relreplident = 'f' FROM pg_class
              WHERE relname = 'ticker_24h' OR relname LIKE 'ticker\\_24h\\_%' AND relkind = 'r'
              ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        identity_full,
        [
            ("ticker_24h".to_owned(), true),
            ("ticker_24h_legacy".to_owned(), true)
        ],
        "REPLICA IDENTITY FULL on the root and the old table"
    );
    let published: Vec<String> = admin
        .query(
            "SELECT tablename::text FROM pg_publication_tables
              WHERE pubname = 'crypto_publication' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(published, ["klines", "ticker_24h"], "the roots, by name");
    let via_root: bool = admin
        .query_one(
            "SELECT pubviaroot FROM pg_publication WHERE pubname = 'crypto_publication'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(via_root, "partitions publish as their root");

    // The ingester goes on: a new day gets its partition, an old day is in the old table; the
    // natural key still dedupes, in either; ids continue past every id ever given out (5).
    for table in ["ticker_24h", "klines"] {
        ingester
            .query(
                "SELECT partitions.ensure($1, '2025-11-06', '2025-11-06')",
                &[&table],
            )
            .await
            .expect("the ingester creates a new day");
    }
    for (close_time, last_trade_id) in [
        ("2025-11-06T00:00:01Z", 6_i64),
        ("2025-11-04T13:00:00Z", 7),
        ("2025-11-04T12:00:00Z", 2),
    ] {
        for _ in 0..2 {
            ingester
                .execute(INSERT_TICKER, &[&"BTCUSDT", &close_time, &last_trade_id])
                .await
                .expect("the ingester's ticker insert works after the upgrade");
        }
    }
    let new_rows: Vec<(i64, String)> = admin
        .query(
            "SELECT id, tableoid::regclass::text FROM ticker_24h WHERE last_trade_id >= 6
              ORDER BY id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    let partitions_of_new: Vec<&str> = new_rows.iter().map(|(_, name)| name.as_str()).collect();
    assert_eq!(
        partitions_of_new,
        ["ticker_24h_p20251106", "ticker_24h_legacy"],
        "one row per natural key, each in its day's partition"
    );
    assert!(
        new_rows.iter().all(|(id, _)| *id > 5),
        "ids go on past every id given out before: {new_rows:?}"
    );
    let stored: i64 = admin
        .query_one("SELECT count(*) FROM ticker_24h", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(stored, 5, "the repeated and the old ticker added nothing");
    let duplicate = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_trade_id)
             VALUES ('BTCUSDT', '2025-11-04T12:00:00Z', 2)",
            &[],
        )
        .await
        .expect_err("the natural key holds in the old table");
    assert_eq!(duplicate.code(), Some(&SqlState::UNIQUE_VIOLATION));
    for (open_time, close) in [("2025-11-04T10:00:00Z", 2), ("2025-11-06T10:00:00Z", 1)] {
        ingester
            .execute(INSERT_KLINE, &[&open_time, &close])
            .await
            .expect("the ingester's kline upsert works after the upgrade");
    }
    let updated: String = admin
        .query_one(
            "SELECT close_price::text FROM klines WHERE open_time = '2025-11-04T10:00:00Z'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(updated, "2.00000000", "an old candle is upserted in place");
    let nan = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_price)
             VALUES ('BTCUSDT', '2025-11-04T14:00:00Z', 'NaN')",
            &[],
        )
        .await
        .expect_err("the old table refuses a NaN");
    assert_eq!(
        nan.as_db_error().and_then(|error| error.constraint()),
        Some("ticker_24h_last_price_not_nan")
    );
}

/// An earlier install with nothing stored keeps nothing of its old tables, and its ids still go
/// on past the ones given out.
#[tokio::test]
async fn empty_plain_tables_are_replaced_and_ids_go_on() {
    let database = earlier_install("upgrade_empty").await;
    let admin = database.admin().await;
    admin
        .batch_execute(
            "INSERT INTO ticker_24h (symbol, close_time) VALUES ('BTCUSDT', '2025-11-04T12:00:00Z');
             DELETE FROM ticker_24h;",
        )
        .await
        .unwrap();
    database.apply_schema().await;
    database.apply_schema().await;
    for table in ["ticker_24h", "klines"] {
        assert_eq!(partitions(&admin, table).await, [], "{table}: no partition");
    }
    database.ensure_partitions("2025-11-04", "2025-11-04").await;
    let id: i64 = admin
        .query_one(
            "INSERT INTO ticker_24h (symbol, close_time) VALUES ('BTCUSDT', '2025-11-04T12:00:01Z')
             RETURNING id",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(id, 2, "id 1 was given out before the upgrade");
}

#[tokio::test]
async fn an_earlier_install_with_duplicates_and_a_nan_is_brought_up_to_date() {
    let database = earlier_install("schema_upgrade").await;
    let admin = database.admin().await;
    // Back to what still earlier versions made: no natural key, no value constraints.
    admin
        .batch_execute(
            "ALTER TABLE ticker_24h DROP CONSTRAINT ticker_24h_natural_key;
             ALTER TABLE ticker_24h DROP CONSTRAINT ticker_24h_last_price_not_nan;
             INSERT INTO ticker_24h (symbol, close_time, last_trade_id, last_price) VALUES
                 ('BTCUSDT', '2025-11-04T14:19:37Z', 7, 1),
                 ('BTCUSDT', '2025-11-04T14:19:37Z', 7, 1),
                 ('BTCUSDT', '2025-11-04T14:19:37Z', 7, 1),
                 ('BTCUSDT', '2025-11-04T14:19:37Z', 8, 2),
                 ('ETHUSDT', '2025-11-04T14:19:37Z', 7, 'NaN'),
                 ('SOLUSDT', '2025-11-04T14:19:37Z', NULL, 3),
                 ('SOLUSDT', '2025-11-04T14:19:37Z', NULL, 3);",
        )
        .await
        .expect("making an earlier install");

    for _ in 0..2 {
        database.apply_schema().await;
        let kept: Vec<(String, Option<i64>, i64)> = admin
            .query(
                "SELECT symbol, last_trade_id, min(id) FROM ticker_24h
                  GROUP BY symbol, last_trade_id, close_time ORDER BY 1, 2",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|row| (row.get(0), row.get(1), row.get(2)))
            .collect();
        assert_eq!(
            kept,
            [
                ("BTCUSDT".to_owned(), Some(7), 1),
                ("BTCUSDT".to_owned(), Some(8), 4),
                ("ETHUSDT".to_owned(), Some(7), 5),
                ("SOLUSDT".to_owned(), None, 6),
            ],
            "one row per natural key, the first copy kept; NULL keys are not duplicates"
        );
        let rows: i64 = admin
            .query_one("SELECT count(*) FROM ticker_24h", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(rows, 5, "only the two extra BTCUSDT copies went");
    }

    let duplicate = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_trade_id) VALUES ('BTCUSDT', '2025-11-04T14:19:37Z', 7)",
            &[],
        )
        .await
        .expect_err("the natural key holds");
    // A partition reports the violation under its own index's name: the key's columns say
    // which key it is.
    let duplicate = duplicate.as_db_error().expect("refused by the server");
    assert_eq!(duplicate.code(), &SqlState::UNIQUE_VIOLATION);
    assert!(
        duplicate
            .detail()
            .is_some_and(|detail| detail.starts_with("Key (symbol, close_time, last_trade_id)")),
        "{duplicate}"
    );
    let nan = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_price) VALUES ('ETHUSDT', '2025-11-04T15:00:00Z', 'NaN')",
            &[],
        )
        .await
        .expect_err("a new NaN is refused although an old one is stored");
    assert_eq!(
        nan.as_db_error().and_then(|error| error.constraint()),
        Some("ticker_24h_last_price_not_nan")
    );
    let validated: bool = admin
        .query_one(
            "SELECT convalidated FROM pg_constraint
              WHERE conrelid = 'ticker_24h'::regclass AND conname = 'ticker_24h_last_price_not_nan'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!validated, "not validated while the old NaN is there");
    admin
        .execute("DELETE FROM ticker_24h WHERE last_price = 'NaN'", &[])
        .await
        .unwrap();
    database.apply_schema().await;
    let unvalidated: i64 = admin
        .query_one(
            "SELECT count(*) FROM pg_constraint WHERE NOT convalidated",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        unvalidated, 0,
        "the repaired table's constraint validates at the next run"
    );
}

/// Between the files of `sql/postgres` a running ingester keeps writing and the connector keeps
/// streaming: the conversion, in 01-tables.sql's one transaction, hands the old tables'
/// privileges to the new roots, so the next write is allowed before 02 sets them again (and
/// gains nothing it did not have), and switches the publication to the roots, so that write is
/// published under the root's name (an old table left in the publication would be published
/// under its own, which the connector does not read).
#[tokio::test]
async fn the_conversion_alone_keeps_privileges_and_publication() {
    let database = earlier_install("upgrade_privileges").await;
    let admin = database.admin().await;
    let ingester = database.ingester().await;
    ingester
        .execute(
            INSERT_TICKER,
            &[&"BTCUSDT", &"2025-11-04T12:00:00Z", &1_i64],
        )
        .await
        .expect("the earlier install takes tickers");
    ingester
        .execute(INSERT_KLINE, &[&"2025-11-04T10:00:00Z", &1])
        .await
        .expect("the earlier install takes klines");
    let tables = std::fs::read_to_string(crate::workspace().join("sql/postgres/01-tables.sql"))
        .expect("01-tables.sql");
    admin
        .batch_execute(&tables)
        .await
        .expect("01-tables.sql converts the earlier install");
    let published: Vec<(String, bool)> = admin
        .query(
            "SELECT t.tablename::text, p.pubviaroot
               FROM pg_publication_tables t JOIN pg_publication p USING (pubname)
              WHERE pubname = 'crypto_publication' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        published,
        [("klines".to_owned(), true), ("ticker_24h".to_owned(), true)],
        "the roots are published, through the root, as soon as the conversion commits"
    );

    for last_trade_id in [1_i64, 2] {
        ingester
            .execute(
                INSERT_TICKER,
                &[&"BTCUSDT", &"2025-11-04T12:00:00Z", &last_trade_id],
            )
            .await
            .expect("the ingester's ticker insert is allowed right after the conversion");
    }
    ingester
        .execute(INSERT_KLINE, &[&"2025-11-04T10:00:00Z", &2])
        .await
        .expect("the ingester's kline upsert is allowed right after the conversion");
    let refused = ingester
        .query("SELECT last_price FROM ticker_24h", &[])
        .await
        .expect_err("the ingester still may not read tickers");
    assert_eq!(refused.code(), Some(&SqlState::INSUFFICIENT_PRIVILEGE));
}
