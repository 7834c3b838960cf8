//! Every query of every Grafana dashboard in `grafana/dashboards`, run against the real stack
//! with the dashboard's variables filled in, over data this test writes through the pipeline:
//!
//! - Cassandra queries must return rows, and only column types the Grafana Cassandra plugin can
//!   read (never `decimal`); time-series panels must return (text key, double value, timestamp);
//! - PostgreSQL queries must run as Grafana's read-only role and return rows;
//! - Prometheus queries must name only metrics the consumer or the ingester registers;
//! - the price alert rule's query must fire for exactly the thresholds the latest price is beyond.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use scylla::cluster::metadata::{ColumnType, NativeType};
use serde_json::Value;

use crate::{RunningConsumer, TestPipeline, cassandra_as_grafana, eventually};

/// The dashboard time range the queries are filled in with: a day this test writes into.
fn window() -> (DateTime<Utc>, DateTime<Utc>) {
    let from = Utc.with_ymd_and_hms(2025, 11, 9, 0, 0, 0).single();
    let to = Utc.with_ymd_and_hms(2025, 11, 9, 23, 59, 59).single();
    from.zip(to).expect("a valid window")
}

fn dashboards() -> Vec<(PathBuf, Value)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grafana/dashboards");
    let mut found: Vec<PathBuf> = std::fs::read_dir(&folder)
        .unwrap_or_else(|error| panic!("cannot list {}: {error}", folder.display()))
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "json")
        })
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no dashboards in {}", folder.display());
    found
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("readable dashboard");
            let dashboard = serde_json::from_str(&text)
                .unwrap_or_else(|error| panic!("{} is not JSON: {error}", path.display()));
            (path, dashboard)
        })
        .collect()
}

/// One query of a dashboard: where it is, its data source and its text.
struct Query {
    place: String,
    panel_type: String,
    datasource: String,
    text: String,
}

fn queries(path: &Path, dashboard: &Value) -> Vec<Query> {
    let name = path
        .file_name()
        .map_or_else(String::new, |name| name.to_string_lossy().into_owned());
    let mut found = vec![];
    for panel in dashboard["panels"].as_array().into_iter().flatten() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            let datasource = target["datasource"]["uid"]
                .as_str()
                .or_else(|| panel["datasource"]["uid"].as_str())
                .unwrap_or_default()
                .to_owned();
            let text = ["target", "rawSql", "expr"]
                .iter()
                .find_map(|field| target[*field].as_str())
                .unwrap_or_default()
                .to_owned();
            found.push(Query {
                place: format!(
                    "{name}: panel {:?} query {}",
                    panel["title"], target["refId"]
                ),
                panel_type: panel["type"].as_str().unwrap_or_default().to_owned(),
                datasource,
                text,
            });
        }
    }
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if variable["type"] == "query" {
            found.push(Query {
                place: format!("{name}: variable {}", variable["name"]),
                panel_type: "variable".to_owned(),
                datasource: variable["datasource"]["uid"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                text: variable["query"].as_str().unwrap_or_default().to_owned(),
            });
        }
    }
    found
}

/// The query as Grafana sends it for the test's symbol and window.
/// `text` with the dashboard's variables filled in, and the pipeline's keyspace replaced by
/// `keyspace`, the test pipeline's.
fn fill_in(text: &str, symbol: &str, keyspace: &str) -> String {
    let (from, to) = window();
    let filled = text
        .replace("crypto_data.", &format!("{keyspace}."))
        .replace(
            "${__from:date:YYYY-MM-DD}",
            &from.format("%Y-%m-%d").to_string(),
        )
        .replace(
            "${__to:date:YYYY-MM-DD}",
            &to.format("%Y-%m-%d").to_string(),
        )
        .replace("${__from:date:YYYY-MM}", &from.format("%Y-%m").to_string())
        .replace("${__to:date:YYYY-MM}", &to.format("%Y-%m").to_string())
        .replace("$__timeFrom", &from.timestamp_millis().to_string())
        .replace("$__timeTo", &to.timestamp_millis().to_string())
        .replace("$symbol", symbol)
        .replace("$interval", "1m");
    assert!(
        !filled.contains('$'),
        "a variable this test does not know is left in: {filled}"
    );
    filled
}

/// The metric names a PromQL expression uses (identifiers followed by `{`, `[` or `)`).
fn metric_names(expr: &str) -> Vec<String> {
    expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("cdc_consumer_") || word.starts_with("ingester_"))
        .map(|word| {
            ["_total", "_bucket", "_sum", "_count"]
                .iter()
                .find_map(|suffix| word.strip_suffix(suffix))
                .unwrap_or(word)
                .to_owned()
        })
        .collect()
}

/// The metric names a binary's metrics module registers: each `register("name", …)` under the
/// module's `sub_registry_with_prefix("prefix")`. Read from the source, because a metric family
/// without samples yet (lag before the first statistics, retries before a failure) does not
/// show on `/metrics`.
fn registered_metrics(module: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(module);
    let source = std::fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
    let quoted_after = |text: &str, marker: &str| -> Vec<String> {
        text.split(marker)
            .skip(1)
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .map(str::to_owned)
            .collect()
    };
    let prefix = quoted_after(&source, "sub_registry_with_prefix(")
        .pop()
        .unwrap_or_else(|| panic!("{module} registers under no prefix"));
    let names: Vec<String> = quoted_after(&source, ".register(")
        .into_iter()
        .map(|name| format!("{prefix}_{name}"))
        .collect();
    assert!(names.len() >= 5, "{module}: found only {names:?}");
    names
}

async fn seed(pipeline: &TestPipeline, symbol: &str) {
    let postgres = pipeline.database().ingester().await;
    // Tickers across the window's day, and a few now, for the "latest" PostgreSQL panels.
    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, bid_price, ask_price, volume,
                                     price_change_percent, trade_count, close_time)
             SELECT $1, 100 + n, 99 + n, 101 + n, 1000.5, n * 0.01, n,
                    TIMESTAMPTZ '2025-11-09 00:00:00+00' + n * INTERVAL '10 minutes'
             FROM generate_series(1, 100) AS n
             UNION ALL
             SELECT $1, 200 + n, 199 + n, 201 + n, 1000.5, n * 0.01, n, now() - n * INTERVAL '1 second'
             FROM generate_series(1, 3) AS n",
            &[&symbol],
        )
        .await
        .expect("inserting tickers");
    postgres
        .execute(
            "INSERT INTO klines (symbol, interval, open_time, open_price, high_price, low_price,
                                 close_price, volume, close_time, quote_volume, trade_count,
                                 taker_buy_base_volume, taker_buy_quote_volume)
             SELECT $1, '1m', TIMESTAMPTZ '2025-11-09 12:00:00+00' + n * INTERVAL '1 minute',
                    100 + n, 102 + n, 99 + n, 101 + n, 5.5,
                    TIMESTAMPTZ '2025-11-09 12:00:59.999+00' + n * INTERVAL '1 minute',
                    555.5, 10, 2.5, 250.5
             FROM generate_series(0, 59) AS n",
            &[&symbol],
        )
        .await
        .expect("inserting klines");
}

/// The rows as the Grafana Cassandra plugin turns them into data frames: it takes the first
/// column as the series' identity and starts one frame per distinct value. Returns each frame's
/// identity and how many rows it holds, in the order the frames start.
fn plugin_frames(rows: impl Iterator<Item = scylla::value::Row>) -> Vec<(String, usize)> {
    let mut frames: Vec<(String, usize)> = Vec::new();
    for row in rows {
        let identity = format!("{:?}", row.columns.first().cloned().flatten());
        match frames.iter_mut().find(|(name, _)| *name == identity) {
            Some((_, points)) => *points += 1,
            None => frames.push((identity, 1)),
        }
    }
    frames
}

/// What each panel type needs of its frames, for the data this test seeds for one symbol: a time
/// series one frame per symbol with many points; a candlestick chart one frame with every candle;
/// a table one frame with every row.
fn assert_frames_fit_the_panel(
    place: &str,
    panel_type: &str,
    frames: &[(String, usize)],
    rows: usize,
) {
    match panel_type {
        "timeseries" | "candlestick" | "table" => {
            assert_eq!(
                frames.len(),
                1,
                "{place}: the plugin would draw {} frames (one per distinct first column) for one \
                 symbol; the query must start with the symbol",
                frames.len()
            );
            assert_eq!(frames[0].1, rows, "{place}: every row in the one frame");
            assert!(rows > 1, "{place}: only {rows} point(s) to draw");
        }
        other => panic!("{place}: no rule for a {other} panel over Cassandra"),
    }
}

fn readable_by_the_plugin(column_type: &ColumnType) -> bool {
    matches!(
        column_type,
        ColumnType::Native(
            NativeType::Text
                | NativeType::Ascii
                | NativeType::Double
                | NativeType::Float
                | NativeType::Int
                | NativeType::BigInt
                | NativeType::Timestamp
                | NativeType::Date
        )
    )
}

#[tokio::test]
async fn every_dashboard_query_runs_and_returns_what_grafana_can_read() {
    let pipeline = TestPipeline::start("dashboards").await;
    let symbol = "BTCUSDT".to_owned();
    let _consumer = RunningConsumer::start(&pipeline);
    seed(&pipeline, &symbol).await;
    // As Grafana logs in: its role may only read, and every query must still work.
    let session = cassandra_as_grafana().await;
    eventually(
        Duration::from_secs(120),
        "the seeded tickers and klines in Cassandra",
        || async {
            let count = |cql: &'static str| {
                let session = &session;
                let symbol = symbol.clone();
                let cql = cql.replace("crypto_data.", &format!("{}.", pipeline.keyspace()));
                async move {
                    session
                        .query_unpaged(cql, (symbol,))
                        .await
                        .ok()?
                        .into_rows_result()
                        .ok()?
                        .single_row::<(i64,)>()
                        .ok()
                        .map(|(count,)| count)
                }
            };
            let tickers = count(
                "SELECT COUNT(*) FROM crypto_data.ticker_24h WHERE symbol = ? AND day = '2025-11-09'",
            )
            .await;
            let klines = count(
                "SELECT COUNT(*) FROM crypto_data.klines WHERE symbol = ? AND interval = '1m' AND month = '2025-11-01'",
            )
            .await;
            (tickers == Some(100) && klines == Some(60)).then_some(())
        },
    )
    .await;

    let grafana = stack_fixtures::connect_postgres(&pipeline.database().grafana_url()).await;
    let mut known_metrics = registered_metrics("cdc-consumer/src/metrics.rs");
    known_metrics.extend(registered_metrics("ingester/src/metrics.rs"));

    let mut checked = 0;
    for (path, dashboard) in dashboards() {
        for query in queries(&path, &dashboard) {
            let place = &query.place;
            match query.datasource.as_str() {
                "cassandra" => {
                    let cql = fill_in(&query.text, &symbol, pipeline.keyspace());
                    let rows = session
                        .query_unpaged(cql.as_str(), ())
                        .await
                        .unwrap_or_else(|error| {
                            panic!("{place}: Cassandra refused it: {error}\n{cql}")
                        })
                        .into_rows_result()
                        .unwrap_or_else(|error| panic!("{place}: no rows result: {error}"));
                    assert!(
                        rows.rows_num() > 0,
                        "{place}: no rows for the seeded data\n{cql}"
                    );
                    let types: Vec<&ColumnType> =
                        rows.column_specs().iter().map(|spec| spec.typ()).collect();
                    for spec in rows.column_specs().iter() {
                        assert!(
                            readable_by_the_plugin(spec.typ()),
                            "{place}: column {} is {:?}, which the Grafana plugin cannot read; CAST it",
                            spec.name(),
                            spec.typ()
                        );
                    }
                    if query.panel_type == "timeseries" {
                        assert!(
                            matches!(
                                types.as_slice(),
                                [
                                    ColumnType::Native(NativeType::Text),
                                    ColumnType::Native(NativeType::Double),
                                    ColumnType::Native(NativeType::Timestamp)
                                ]
                            ),
                            "{place}: a time series needs (text key, double value, timestamp), got {types:?}"
                        );
                    }
                    let frames = plugin_frames(
                        rows.rows::<scylla::value::Row>()
                            .unwrap_or_else(|error| panic!("{place}: unreadable rows: {error}"))
                            .map(|row| row.unwrap_or_else(|error| panic!("{place}: {error}"))),
                    );
                    assert_frames_fit_the_panel(place, &query.panel_type, &frames, rows.rows_num());
                }
                "postgres" => {
                    let sql = fill_in(&query.text, &symbol, pipeline.keyspace());
                    let rows = grafana
                        .query(sql.as_str(), &[])
                        .await
                        .unwrap_or_else(|error| {
                            panic!("{place}: PostgreSQL refused it: {error}\n{sql}")
                        });
                    assert!(!rows.is_empty(), "{place}: no rows\n{sql}");
                }
                "prometheus" => {
                    let names = metric_names(&query.text);
                    assert!(!names.is_empty(), "{place}: names no metric of ours");
                    for name in names {
                        assert!(
                            known_metrics.contains(&name),
                            "{place}: no binary registers a metric {name}"
                        );
                    }
                }
                other => panic!("{place}: unknown data source {other:?}"),
            }
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} queries found");

    price_alert_fires_for_crossed_thresholds_only(&pipeline, &grafana, &symbol).await;
}

/// The alert rules' PostgreSQL queries, from `grafana/provisioning/alerting`.
fn alert_queries() -> Vec<(String, String)> {
    let folder = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../grafana/provisioning/alerting");
    let mut found = vec![];
    for entry in std::fs::read_dir(&folder)
        .expect("grafana/provisioning/alerting")
        .flatten()
    {
        let text = std::fs::read_to_string(entry.path()).expect("readable alert rules");
        let rules: Value = serde_json::from_str(&text).expect("alert rules in JSON");
        for group in rules["groups"].as_array().into_iter().flatten() {
            for rule in group["rules"].as_array().into_iter().flatten() {
                for query in rule["data"].as_array().into_iter().flatten() {
                    if query["datasourceUid"] == "postgres" {
                        found.push((
                            format!("alert rule {}", rule["title"]),
                            query["model"]["rawSql"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        ));
                    }
                }
            }
        }
    }
    assert!(!found.is_empty(), "no alert rule queries PostgreSQL");
    found
}

/// The latest price of `symbol` is 201 (seeded above): thresholds it is beyond must come back
/// crossed, the others not.
async fn price_alert_fires_for_crossed_thresholds_only(
    pipeline: &TestPipeline,
    grafana: &tokio_postgres::Client,
    symbol: &str,
) {
    let admin = pipeline.database().admin().await;
    admin
        .execute(
            "INSERT INTO price_alerts (symbol, direction, threshold) VALUES
                ($1, 'above', 150), ($1, 'above', 1000), ($1, 'below', 250), ($1, 'below', 150)",
            &[&symbol],
        )
        .await
        .expect("adding price thresholds");
    // Only this test's pipeline holds rows, so every row the rule returns must be one of ours.
    for (place, sql) in alert_queries() {
        let rows = grafana
            .query(sql.as_str(), &[])
            .await
            .unwrap_or_else(|error| panic!("{place}: PostgreSQL refused it: {error}\n{sql}"));
        let mut ours: Vec<(String, String, i32)> = rows
            .iter()
            .inspect(|row| assert_eq!(row.get::<_, String>("symbol"), symbol, "{place}"))
            .map(|row| {
                (
                    row.get("direction"),
                    row.get("threshold"),
                    row.get("crossed"),
                )
            })
            .collect();
        ours.sort();
        assert_eq!(
            ours,
            [
                ("above".to_owned(), "1000.00000000".to_owned(), 0),
                ("above".to_owned(), "150.00000000".to_owned(), 1),
                ("below".to_owned(), "150.00000000".to_owned(), 0),
                ("below".to_owned(), "250.00000000".to_owned(), 1),
            ],
            "{place}"
        );
    }
}
