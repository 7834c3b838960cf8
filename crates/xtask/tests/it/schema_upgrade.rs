//! `sql/postgres` run on an install made by an earlier version: one whose `ticker_24h` has no
//! natural key yet and already holds duplicates, and rows with values the new constraints
//! refuse. The duplicates go (the first copy stays) and the key comes; a stored NaN does not
//! stop the script, but new ones are refused at once; running it again changes nothing.

use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};

use crate::workspace;

async fn apply(admin: &tokio_postgres::Client, file: &str) {
    let sql = std::fs::read_to_string(workspace().join("sql/postgres").join(file))
        .unwrap_or_else(|error| panic!("{file}: {error}"));
    admin
        .batch_execute(&sql)
        .await
        .unwrap_or_else(|error| panic!("{file} failed on an earlier install: {error:?}"));
}

#[tokio::test]
async fn an_earlier_install_with_duplicates_and_a_nan_is_brought_up_to_date() {
    let stack = StackEnvironment::from_env();
    let database = TestDatabase::create(&stack, &unique_name("schema_upgrade")).await;
    let admin = database.admin().await;
    // Back to what earlier versions made: no natural key, no value constraints.
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
        apply(&admin, "01-tables.sql").await;
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
    assert_eq!(
        duplicate.as_db_error().and_then(|error| error.constraint()),
        Some("ticker_24h_natural_key")
    );
    let nan = admin
        .execute(
            "INSERT INTO ticker_24h (symbol, close_time, last_price) VALUES ('ETHUSDT', now(), 'NaN')",
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
            "SELECT convalidated FROM pg_constraint WHERE conname = 'ticker_24h_last_price_not_nan'",
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
    apply(&admin, "01-tables.sql").await;
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
