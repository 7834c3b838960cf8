//! PostgreSQL's daily partitions through the whole pipeline, with the real Debezium connector:
//!
//! - snapshot and streaming both read the partitioned roots: every event names the root, on the
//!   root's topic, keyed by (close_time, id), and an update or delete in a partition carries the
//!   whole row (each partition's REPLICA IDENTITY FULL);
//! - dropping partitions past the window sends nothing: Cassandra keeps their rows, no delete,
//!   tombstone or truncate reaches the topics, newer rows keep flowing, and `verify` compares
//!   only the days PostgreSQL still holds;
//! - an install made before partitioning, converted by `sql/postgres` while its connector
//!   streams and a writer keeps inserting, loses no row and sends no delete.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::NaiveDate;
use rdkafka::Message;
use rdkafka::consumer::Consumer;
use scylla::client::session::Session;
use scylla::value::CqlDate;

use crate::{
    RunningConsumer, TestPipeline, cassandra, end_offset, eventually, insert_tickers,
    reader_from_beginning, required_env, ticker_count,
};

/// How long a change may take from PostgreSQL commit to Cassandra before the test fails.
const ARRIVAL_BOUND: Duration = Duration::from_secs(120);

/// The Cassandra date of a UTC day (YYYY-MM-DD).
fn cql_day(day: &str) -> CqlDate {
    let days = (day.parse::<NaiveDate>().expect("a day") - NaiveDate::default()).num_days();
    CqlDate((1u32 << 31).wrapping_add_signed(i32::try_from(days).expect("a day in range")))
}

/// A change event as Debezium wrote it: its key's and value's payloads (no value: a tombstone).
#[derive(Debug)]
struct Event {
    key: serde_json::Value,
    value: Option<serde_json::Value>,
}

impl Event {
    fn op(&self) -> &str {
        self.value
            .as_ref()
            .and_then(|value| value["op"].as_str())
            .unwrap_or("tombstone")
    }
}

/// Every message of `topic` (one partition), read from the first to the end.
async fn all_events(topic: &str) -> Vec<Event> {
    let end = end_offset(topic, 0);
    let mut events = Vec::new();
    if end == 0 {
        return events;
    }
    let reader = reader_from_beginning(topic, 0);
    tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let message = reader.recv().await.expect("cannot read the topic");
            let json = |bytes: &[u8]| {
                serde_json::from_slice::<serde_json::Value>(bytes)
                    .expect("the connector wrote JSON")["payload"]
                    .clone()
            };
            events.push(Event {
                key: message.key().map(json).unwrap_or_default(),
                value: message.payload().map(json),
            });
            if message.offset() + 1 >= end {
                break;
            }
        }
    })
    .await
    .expect("could not read the topic to its end within 60 s");
    events
}

/// How many events of each operation (`c`, `r`, `u`, `d`, `t`, `tombstone`).
fn ops(events: &[Event]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for event in events {
        *counts.entry(event.op().to_owned()).or_default() += 1;
    }
    counts
}

/// Rows of `symbol` at `interval` in the Cassandra bucket named by its first day.
async fn kline_count(
    session: &Session,
    pipeline: &TestPipeline,
    symbol: &str,
    interval: &str,
    bucket: &str,
) -> Option<i64> {
    session
        .query_unpaged(
            format!(
                "SELECT COUNT(*) FROM {}.klines WHERE symbol = ? AND interval = ? AND month = ?",
                pipeline.keyspace()
            ),
            (symbol, interval, cql_day(bucket)),
        )
        .await
        .ok()?
        .into_rows_result()
        .ok()?
        .single_row::<(i64,)>()
        .ok()
        .map(|(count,)| count)
}

/// Waits until Cassandra holds `expected` tickers of `symbol` on each listed day.
async fn await_tickers(
    session: &Session,
    pipeline: &TestPipeline,
    symbol: &str,
    expected: &[(&str, i64)],
) {
    eventually(
        ARRIVAL_BOUND,
        &format!("{symbol}'s tickers in Cassandra: {expected:?}"),
        || async {
            for (day, rows) in expected {
                if ticker_count(session, pipeline, symbol, cql_day(day)).await? != *rows {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
}

/// One candle of `interval` opening at `open_time` and lasting `length`.
const INSERT_KLINE: &str = "
    INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                        close_price, volume, close_time, quote_volume, trade_count,
                        taker_buy_base_volume, taker_buy_quote_volume)
    VALUES ($1, $2, $3::text::timestamptz, 1, 2, 0.5, 1.5, 10,
            $3::text::timestamptz + $4::text::interval - INTERVAL '1 millisecond', 15, 3, 5, 7.5)";

fn verify(pipeline: &TestPipeline, table: &str, symbol: &str, since: &str, until: &str) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_cdc-consumer"))
        .args(["verify", "--table", table, "--symbol", symbol])
        .args(["--since", since, "--until", until])
        .envs(pipeline.consumer_environment())
        .output()
        .expect("cannot run cdc-consumer verify");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "verify {table} found differences:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.trim().to_owned()
}

#[tokio::test]
async fn snapshot_and_streaming_read_the_partitioned_roots() {
    let symbol = "SNAPUSDT";
    // Rows in a partition before the connector exists: its snapshot must read them.
    let pipeline = TestPipeline::start_after(
        "partitioned_roots",
        "SELECT partitions.ensure('ticker_24h', '2025-11-03', '2025-11-03');
         SELECT partitions.ensure('klines', '2025-11-03', '2025-11-03');
         INSERT INTO ticker_24h (symbol, last_price, close_time)
         SELECT 'SNAPUSDT', n, TIMESTAMPTZ '2025-11-03 00:00:00+00' + n * INTERVAL '1 minute'
           FROM generate_series(1, 20) AS n;
         INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                             close_price, volume, close_time, quote_volume, trade_count,
                             taker_buy_base_volume, taker_buy_quote_volume)
         VALUES ('SNAPUSDT', '1m', '2025-11-03 10:00:00+00', 1, 1, 1, 1, 1,
                 '2025-11-03 10:00:59.999+00', 1, 1, 1, 1);",
    )
    .await;
    let consumer = RunningConsumer::start(&pipeline);
    let session = cassandra().await;
    let postgres = pipeline.database().ingester().await;
    let admin = pipeline.database().admin().await;

    // A day whose partitions are created while the connector streams.
    pipeline
        .database()
        .ensure_partitions("2025-11-04", "2025-11-04")
        .await;
    insert_tickers(&postgres, symbol, "2025-11-04", 1, 20).await;
    postgres
        .execute(
            INSERT_KLINE,
            &[&symbol, &"1m", &"2025-11-04T10:00:00Z", &"1 minute"],
        )
        .await
        .expect("inserting a candle");
    admin
        .batch_execute(
            "UPDATE ticker_24h SET last_price = 42
              WHERE symbol = 'SNAPUSDT' AND close_time = '2025-11-04T00:00:01Z';
             DELETE FROM ticker_24h
              WHERE symbol = 'SNAPUSDT' AND close_time = '2025-11-04T00:00:02Z';",
        )
        .await
        .expect("changing rows in a partition");

    await_tickers(
        &session,
        &pipeline,
        symbol,
        &[("2025-11-03", 20), ("2025-11-04", 19)],
    )
    .await;
    eventually(ARRIVAL_BOUND, "both candles in Cassandra", || async {
        (kline_count(&session, &pipeline, symbol, "1m", "2025-11-01").await? == 2).then_some(())
    })
    .await;
    let updated: String = session
        .query_unpaged(
            format!(
                "SELECT CAST(last_price AS text) FROM {}.ticker_24h
                  WHERE symbol = ? AND day = ? AND close_time = '2025-11-04T00:00:01Z'",
                pipeline.keyspace()
            ),
            (symbol, cql_day("2025-11-04")),
        )
        .await
        .expect("reading the updated row")
        .into_rows_result()
        .expect("rows")
        .single_row::<(String,)>()
        .expect("one row")
        .0;
    assert_eq!(updated, "42.00000000", "the update reached Cassandra");

    let tickers = all_events(&pipeline.ticker_topic()).await;
    assert_eq!(
        ops(&tickers),
        BTreeMap::from([
            ("c".to_owned(), 20),
            ("d".to_owned(), 1),
            ("r".to_owned(), 20),
            ("tombstone".to_owned(), 1),
            ("u".to_owned(), 1),
        ]),
        "the snapshot read the root's rows, streaming sent the partition's changes"
    );
    for event in &tickers {
        let Some(value) = &event.value else { continue };
        assert_eq!(
            value["source"]["table"], "ticker_24h",
            "events name the root, never a partition: {value}"
        );
        let key_fields: BTreeSet<&str> = event
            .key
            .as_object()
            .expect("a key")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(key_fields, BTreeSet::from(["close_time", "id"]));
    }
    let deleted = tickers
        .iter()
        .find(|event| event.op() == "d")
        .and_then(|event| event.value.as_ref())
        .expect("the delete");
    assert_eq!(
        deleted["before"]["symbol"], symbol,
        "the partition logs the whole row for a delete (REPLICA IDENTITY FULL)"
    );
    let klines = all_events(&pipeline.klines_topic()).await;
    assert_eq!(
        ops(&klines),
        BTreeMap::from([("c".to_owned(), 1), ("r".to_owned(), 1)])
    );

    // No topic was made for a partition: only the roots', named by the root.
    let metadata = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", required_env("KAFKA_BROKERS"))
        .create::<rdkafka::consumer::BaseConsumer>()
        .expect("a Kafka client")
        .fetch_metadata(None, Duration::from_secs(10))
        .expect("Kafka metadata");
    let topics: BTreeSet<String> = metadata
        .topics()
        .iter()
        .map(|topic| topic.name().to_owned())
        .filter(|name| name.starts_with(&format!("{}.", pipeline.name())))
        .collect();
    assert_eq!(
        topics,
        BTreeSet::from([
            pipeline.dead_letter_topic(),
            pipeline.klines_topic(),
            pipeline.ticker_topic()
        ])
    );
    assert!(consumer.terminate().success());
}

#[tokio::test]
async fn dropped_partitions_stay_in_cassandra_and_send_no_delete() {
    let symbol = "OLDUSDT";
    let pipeline = TestPipeline::start("drop_expired").await;
    let consumer = RunningConsumer::start(&pipeline);
    let session = cassandra().await;
    let postgres = pipeline.database().ingester().await;

    // Two old days and a new one, 11 days later; a month's candle opened on the first old day
    // (still open on the new day), a minute's closed on the second, one on the new day.
    for day in ["2025-11-01", "2025-11-02", "2025-11-13"] {
        insert_tickers(&postgres, symbol, day, 1, 50).await;
    }
    for (interval, open_time, length) in [
        ("1M", "2025-11-01T00:00:00Z", "1 month"),
        ("1m", "2025-11-02T10:00:00Z", "1 minute"),
        ("1m", "2025-11-13T10:00:00Z", "1 minute"),
    ] {
        postgres
            .query(
                "SELECT partitions.ensure('klines', day, day)
                   FROM (SELECT ($1::text::timestamptz AT TIME ZONE 'UTC')::date) AS d(day)",
                &[&open_time],
            )
            .await
            .expect("the ingester creates its candles' day");
        postgres
            .execute(INSERT_KLINE, &[&symbol, &interval, &open_time, &length])
            .await
            .expect("inserting a candle");
    }
    await_tickers(
        &session,
        &pipeline,
        symbol,
        &[("2025-11-01", 50), ("2025-11-02", 50), ("2025-11-13", 50)],
    )
    .await;
    let candles = || async {
        (
            kline_count(&session, &pipeline, symbol, "1M", "2025-11-01").await,
            kline_count(&session, &pipeline, symbol, "1m", "2025-11-01").await,
        )
    };
    eventually(ARRIVAL_BOUND, "the candles in Cassandra", || async {
        (candles().await == (Some(1), Some(2))).then_some(())
    })
    .await;

    // As the ingester does every hour, on its own role: a week's window from the newest row.
    let mut dropped = BTreeMap::new();
    for table in ["ticker_24h", "klines"] {
        let names: Vec<String> = postgres
            .query(
                "SELECT partitions.drop_expired($1, INTERVAL '7 days')",
                &[&table],
            )
            .await
            .expect("the ingester drops expired partitions")
            .iter()
            .map(|row| row.get(0))
            .collect();
        dropped.insert(table, names);
    }
    assert_eq!(
        dropped,
        BTreeMap::from([
            (
                "ticker_24h",
                vec![
                    "ticker_24h_p20251101".to_owned(),
                    "ticker_24h_p20251102".to_owned()
                ]
            ),
            // 1 November's month candle is still open on the 13th: its day stays.
            ("klines", vec!["klines_p20251102".to_owned()]),
        ])
    );
    let admin = pipeline.database().admin().await;
    let left: i64 = admin
        .query_one(
            "SELECT count(*) FROM ticker_24h WHERE close_time < '2025-11-03'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "PostgreSQL no longer has the old days");

    // Newer rows keep flowing after the drop.
    insert_tickers(&postgres, symbol, "2025-11-13", 51, 10).await;
    await_tickers(
        &session,
        &pipeline,
        symbol,
        &[("2025-11-01", 50), ("2025-11-02", 50), ("2025-11-13", 60)],
    )
    .await;
    assert_eq!(
        candles().await,
        (Some(1), Some(2)),
        "Cassandra keeps the dropped day's candle"
    );

    // Read to their ends, the topics hold the inserts and nothing else.
    assert_eq!(
        ops(&all_events(&pipeline.ticker_topic()).await),
        BTreeMap::from([("c".to_owned(), 160)])
    );
    assert_eq!(
        ops(&all_events(&pipeline.klines_topic()).await),
        BTreeMap::from([("c".to_owned(), 3)])
    );

    // verify compares what both stores hold: the new day's tickers; the month candle's day and
    // the new day's candle; not the dropped days, which only Cassandra has.
    assert_eq!(
        verify(
            &pipeline,
            "ticker_24h",
            symbol,
            "2025-11-01T00:00:00Z",
            "2025-11-14T00:00:00Z"
        ),
        "60 rows compared, 0 differences"
    );
    assert_eq!(
        verify(
            &pipeline,
            "klines",
            symbol,
            "2025-11-01T00:00:00Z",
            "2025-12-01T00:00:00Z"
        ),
        "2 rows compared, 0 differences"
    );
    assert!(consumer.terminate().success());
}

/// Inserts tickers of `symbol` one at a time into `day` until told to stop, each its own
/// transaction, with a plain INSERT (the earlier schema has no partitions to ensure); returns
/// how many were committed.
fn keep_inserting(
    postgres: tokio_postgres::Client,
    symbol: &'static str,
    day: &'static str,
    stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<i32> {
    tokio::spawn(async move {
        let mut written = 0;
        while !*stop.borrow() {
            postgres
                .execute(
                    "INSERT INTO ticker_24h (symbol, last_price, close_time)
                     VALUES ($1, $2::int, $3::text::date::timestamp AT TIME ZONE 'UTC'
                                          + $2::int * INTERVAL '1 second')",
                    &[&symbol, &(1000 + written), &day],
                )
                .await
                .expect("an insert during the upgrade failed");
            written += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        written
    })
}

#[tokio::test]
async fn an_install_upgraded_under_its_running_connector_loses_nothing() {
    let symbol = "LIVEUSDT";
    let pipeline = TestPipeline::start_on_earlier_schema("upgrade_live").await;
    let consumer = RunningConsumer::start(&pipeline);
    let session = cassandra().await;
    let postgres = pipeline.database().ingester().await;
    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, close_time)
             SELECT $1, n, TIMESTAMPTZ '2025-11-03 00:00:00+00' + n * INTERVAL '1 second'
               FROM generate_series(1, 30) AS n",
            &[&symbol],
        )
        .await
        .expect("the earlier install takes tickers");
    await_tickers(&session, &pipeline, symbol, &[("2025-11-03", 30)]).await;

    // The upgrade, as `stack up` runs it, while a writer keeps inserting.
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writer = keep_inserting(
        pipeline.database().ingester().await,
        symbol,
        "2025-11-03",
        stopped,
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    pipeline.database().apply_schema().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).expect("stopping the writer");
    let during = i64::from(writer.await.expect("the writer panicked"));
    assert!(during > 10, "the writer wrote during the upgrade: {during}");

    // After it: a new day in a partition of its own, and an old row changed in the converted one.
    insert_tickers(&postgres, symbol, "2025-11-04", 1, 30).await;
    pipeline
        .database()
        .admin()
        .await
        .execute(
            "UPDATE ticker_24h SET last_price = 42
              WHERE symbol = $1 AND close_time = '2025-11-03T00:00:01Z'",
            &[&symbol],
        )
        .await
        .expect("updating a row of the converted table");

    await_tickers(
        &session,
        &pipeline,
        symbol,
        &[("2025-11-03", 30 + during), ("2025-11-04", 30)],
    )
    .await;
    eventually(ARRIVAL_BOUND, "the update in Cassandra", || async {
        let rows = session
            .query_unpaged(
                format!(
                    "SELECT CAST(last_price AS text) FROM {}.ticker_24h
                      WHERE symbol = ? AND day = ? AND close_time = '2025-11-03T00:00:01Z'",
                    pipeline.keyspace()
                ),
                (symbol, cql_day("2025-11-03")),
            )
            .await
            .ok()?
            .into_rows_result()
            .ok()?;
        let (price,) = rows.single_row::<(String,)>().ok()?;
        (price == "42.00000000").then_some(())
    })
    .await;
    let total = 60 + usize::try_from(during).expect("a count");
    assert_eq!(
        ops(&all_events(&pipeline.ticker_topic()).await),
        BTreeMap::from([("c".to_owned(), total), ("u".to_owned(), 1)]),
        "every insert once, the update, and no delete or truncate"
    );
    assert_eq!(
        verify(
            &pipeline,
            "ticker_24h",
            symbol,
            "2025-11-03T00:00:00Z",
            "2025-11-05T00:00:00Z"
        ),
        format!("{total} rows compared, 0 differences")
    );
    assert!(consumer.terminate().success());
}
