//! What README promises of the PostgreSQL the stack sets up: password (SCRAM) login only, and
//! least-privilege roles. Checked on a database of the test's own made by the same
//! `sql/postgres` files, on the stack's real server (`cargo xtask test` starts it).

use stack_fixtures::{StackEnvironment, TestDatabase, unique_name};

/// `url` with its password replaced by `password`, or removed when `None`.
fn with_password(url: &str, password: Option<&str>) -> String {
    url.split_whitespace()
        .filter(|pair| !pair.starts_with("password="))
        .map(str::to_owned)
        .chain(password.map(|password| format!("password={password}")))
        .collect::<Vec<_>>()
        .join(" ")
}

async fn login(url: &str) -> Result<tokio_postgres::Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(connection);
    Ok(client)
}

#[tokio::test]
async fn a_login_without_the_right_password_is_refused() {
    let stack = StackEnvironment::from_env();
    let database = TestDatabase::create(&stack, &unique_name("login")).await;
    let url = database.ingester_url();
    login(&url)
        .await
        .expect("the right password logs in (the control case)");
    for (case, password) in [("no password", None), ("a wrong password", Some("wrong"))] {
        let refused = login(&with_password(&url, password))
            .await
            .err()
            .unwrap_or_else(|| panic!("a login with {case} was accepted"));
        // Without a password the client gives up once the server asks for one ("password
        // missing"); with a wrong one the server refuses it. Both mean a password is required.
        let reason = format!("{refused:?}");
        assert!(
            reason.contains("password"),
            "a login with {case} failed for another reason: {reason}"
        );
    }
}

/// Each role tries what README says it may not do; PostgreSQL must refuse with "permission
/// denied", and what it may do must work.
#[tokio::test]
async fn each_role_may_do_only_what_readme_grants() {
    let stack = StackEnvironment::from_env();
    let database = TestDatabase::create(&stack, &unique_name("roles")).await;
    let ingester = database.ingester().await;
    let grafana = stack_fixtures::connect_postgres(&database.grafana_url()).await;
    let debezium_url = with_password(
        &database
            .ingester_url()
            .replace("user=ingester", "user=debezium"),
        Some(&password_of("CDC_DEBEZIUM_PASSWORD", "debezium")),
    );
    let debezium = login(&debezium_url).await.expect("debezium logs in");

    // The ingester manages the daily partitions through the functions made for it, and only
    // through them: it makes the days its writes below fall on.
    for table in ["ticker_24h", "klines"] {
        ingester
            .query(
                "SELECT partitions.ensure($1, '2025-11-04', '2025-11-04')",
                &[&table],
            )
            .await
            .expect("the ingester may create partitions");
        ingester
            .query(
                "SELECT partitions.ensure($1, (now() AT TIME ZONE 'UTC')::date - 1,
                                              (now() AT TIME ZONE 'UTC')::date + 1)",
                &[&table],
            )
            .await
            .expect("the ingester may create partitions");
        ingester
            .query(
                "SELECT partitions.drop_expired($1, INTERVAL '7 days')",
                &[&table],
            )
            .await
            .expect("the ingester may drop expired partitions");
    }
    grafana
        .query("SELECT * FROM partitions.held('ticker_24h')", &[])
        .await
        .expect("grafana may read which days PostgreSQL holds (verify does)");
    // What the functions do for the ingester is bounded: only the two tables, a bounded
    // number of days at once, at least a day kept.
    for (statement, reason) in [
        (
            "SELECT partitions.ensure('price_alerts', '2025-11-04', '2025-11-04')",
            "is not a partitioned market-data table",
        ),
        (
            "SELECT partitions.ensure('ticker_24h', '2024-01-01', '2025-02-04')",
            "is more than 400 in one call",
        ),
        (
            "SELECT partitions.drop_expired('klines', INTERVAL '23 hours')",
            "is less than a day",
        ),
    ] {
        let refused = ingester
            .query(statement, &[])
            .await
            .expect_err("the functions refuse what is out of bounds");
        let message = refused
            .as_db_error()
            .map_or_else(|| refused.to_string(), |error| error.message().to_owned());
        assert!(message.contains(reason), "{statement}: {message}");
    }

    let insert =
        "INSERT INTO ticker_24h (symbol, last_price, close_time) VALUES ('BTCUSDT', 1, now())";
    ingester
        .execute(insert, &[])
        .await
        .expect("the ingester may insert tickers");
    // What the ingester's own statements need (crates/ingester/src/store.rs): appending
    // tickers ON CONFLICT on their natural key, and upserting klines' values.
    let insert_once = "INSERT INTO ticker_24h (symbol, last_price, close_time, last_trade_id)
        VALUES ('BTCUSDT', 1, '2025-11-04T14:19:37.123Z', 7)
        ON CONFLICT (symbol, close_time, last_trade_id) DO NOTHING";
    for _ in 0..2 {
        ingester
            .execute(insert_once, &[])
            .await
            .expect("the ingester may insert tickers on their natural key");
    }
    let upsert = "INSERT INTO klines (symbol, interval, open_time, open_price, high_price,
            low_price, close_price, volume, close_time, quote_volume, trade_count,
            taker_buy_base_volume, taker_buy_quote_volume)
        VALUES ('BTCUSDT', '1m', '2025-11-04T14:19:00Z', 1, 1, 1, $1::int, 1,
                '2025-11-04T14:19:59.999Z', 1, 1, 1, 1)
        ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
            close_price = EXCLUDED.close_price, updated_at = now()
        WHERE klines.close_price IS DISTINCT FROM EXCLUDED.close_price";
    for close in [1, 2] {
        ingester
            .execute(upsert, &[&close])
            .await
            .expect("the ingester may upsert klines");
    }
    ingester
        .query(
            "SELECT max(open_time) FROM klines WHERE symbol = 'BTCUSDT'",
            &[],
        )
        .await
        .expect("the ingester may read where a kline series resumes");
    grafana
        .query("SELECT * FROM ticker_24h", &[])
        .await
        .expect("grafana may read");

    let refusals: [(&str, &tokio_postgres::Client, &str); 20] = [
        ("ingester", &ingester, "DELETE FROM ticker_24h"),
        (
            "ingester",
            &ingester,
            "UPDATE ticker_24h SET last_price = 2",
        ),
        ("ingester", &ingester, "SELECT last_price FROM ticker_24h"),
        (
            "ingester",
            &ingester,
            "UPDATE klines SET symbol = 'ETHUSDT'",
        ),
        ("ingester", &ingester, "DELETE FROM klines"),
        ("ingester", &ingester, "TRUNCATE klines"),
        ("ingester", &ingester, "TRUNCATE ticker_24h"),
        ("ingester", &ingester, "CREATE TABLE sneaky (id int)"),
        // Partitions only through the functions: never a table of its own choosing.
        (
            "ingester",
            &ingester,
            "CREATE TABLE ticker_24h_p20991231 PARTITION OF ticker_24h
                 FOR VALUES FROM ('2099-12-31') TO ('2100-01-01')",
        ),
        ("ingester", &ingester, "DROP TABLE ticker_24h_p20251104"),
        ("ingester", &ingester, "DROP TABLE klines_p20251104"),
        (
            "ingester",
            &ingester,
            "ALTER TABLE ticker_24h DETACH PARTITION ticker_24h_p20251104",
        ),
        (
            "ingester",
            &ingester,
            "SELECT partitions.ranges('ticker_24h')",
        ),
        (
            "grafana",
            &grafana,
            "SELECT partitions.ensure('ticker_24h', '2099-12-31', '2099-12-31')",
        ),
        (
            "grafana",
            &grafana,
            "SELECT partitions.drop_expired('klines', INTERVAL '1 day')",
        ),
        ("ingester", &ingester, "SELECT * FROM price_alerts"),
        ("grafana", &grafana, insert),
        ("grafana", &grafana, "UPDATE ticker_24h SET last_price = 3"),
        ("grafana", &grafana, "DELETE FROM klines"),
        ("debezium", &debezium, insert),
    ];
    for (role, client, statement) in refusals {
        let refused = client
            .batch_execute(statement)
            .await
            .err()
            .unwrap_or_else(|| panic!("{role} was allowed to run: {statement}"));
        let reason = refused
            .as_db_error()
            .map_or_else(|| refused.to_string(), |error| error.message().to_owned());
        // PostgreSQL says "must be owner" where only a table's owner may (DROP, ALTER).
        assert!(
            reason.contains("permission denied") || reason.contains("must be owner"),
            "{role}: {statement} failed for another reason: {reason}"
        );
    }
}

/// The password `cargo xtask` gives a role: its variable, or the local default README lists.
fn password_of(variable: &str, default: &str) -> String {
    std::env::var(variable).unwrap_or_else(|_| default.to_owned())
}

/// The WAL a replication slot may hold back is bounded, natively (`stack up`) and in compose:
/// a Connect that stays down cannot fill the disk.
#[tokio::test]
async fn replication_slots_hold_back_bounded_wal() {
    let admin = login(&stack_fixtures::required_env("PG_ADMIN_URL"))
        .await
        .expect("the superuser logs in");
    let bound: String = admin
        .query_one("SHOW max_slot_wal_keep_size", &[])
        .await
        .expect("SHOW max_slot_wal_keep_size")
        .get(0);
    assert_ne!(bound, "-1", "replication slots may hold back unbounded WAL");
    let compose = std::fs::read_to_string(crate::workspace().join("docker-compose.yml"))
        .expect("docker-compose.yml");
    assert!(
        compose.contains("max_slot_wal_keep_size=${PG_MAX_SLOT_WAL_KEEP_SIZE:-"),
        "compose's PostgreSQL does not bound its slots' WAL"
    );
}
