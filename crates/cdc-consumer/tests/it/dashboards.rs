//! Every query of every Grafana dashboard in `grafana/dashboards`, run against the real stack
//! with the dashboard's variables filled in the way Grafana fills them, over data this test
//! writes through the pipeline:
//!
//! - the dashboard's query variables run as Grafana's read-only PostgreSQL role; the Cassandra
//!   partition buckets come from them (every UTC day or month of the time range), never from
//!   Grafana's browser-local `:date` formatting;
//! - Cassandra queries must return only column types the Grafana Cassandra plugin can read
//!   (never `decimal`), in frames the plugin builds the way the panel needs them, with every row
//!   PostgreSQL holds for the range: over three UTC days, and over three UTC months, with rows
//!   in the middle bucket;
//! - PostgreSQL queries must run as Grafana's read-only role and return rows;
//! - Prometheus queries must name only metrics the consumer or the ingester registers;
//! - the price alert rule's query must fire for exactly the thresholds the latest price is beyond.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use scylla::cluster::metadata::{ColumnType, NativeType};
use serde_json::Value;

use crate::{RunningConsumer, TestPipeline, cassandra_as_grafana, eventually};

/// A dashboard time range, in UTC.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

fn utc(year: i32, month: u32, day: u32, hour: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(year, month, day, hour, 0, 0)
        .single()
        .expect("a valid UTC time")
}

/// The ranges every Cassandra panel is run over: three UTC days (noon to noon, so the seeded
/// 9 November is the middle day bucket) and three UTC months (November the middle month).
fn windows() -> [Window; 2] {
    [
        Window {
            from: utc(2025, 11, 8, 12),
            to: utc(2025, 11, 10, 12),
        },
        Window {
            from: utc(2025, 10, 15, 0),
            to: utc(2025, 12, 15, 0),
        },
    ]
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

/// One query of a dashboard: where it is, its data source, its text and the transformations its
/// panel applies to the result.
struct Query {
    place: String,
    panel_type: String,
    datasource: String,
    text: String,
    transformations: Vec<Value>,
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
                transformations: panel["transformations"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default(),
            });
        }
    }
    found
}

/// A dashboard variable with the values Grafana would give it.
struct Variable {
    name: String,
    values: Vec<String>,
}

/// What the test fills queries in with: its symbol, the test pipeline's keyspace, the time range
/// and the dashboard's variables as resolved for that range.
struct Filling<'a> {
    symbol: &'a str,
    keyspace: &'a str,
    window: Window,
    variables: Vec<Variable>,
}

impl Filling<'_> {
    /// `text` with every variable replaced the way Grafana replaces it: `${__from}`/`${__to}`
    /// and the Cassandra plugin's `$__timeFrom`/`$__timeTo` are epoch milliseconds (no time
    /// zone in them), `${name:singlequote}` is every value quoted and joined with commas, and
    /// `$name` is the (single) current value. The pipeline's keyspace becomes the test's.
    fn fill_in(&self, place: &str, text: &str) -> String {
        assert!(
            !text.contains(":date"),
            "{place}: formats a date in Grafana, which uses the viewer's time zone, not UTC: \
             derive partition buckets from ${{__from}}/${{__to}} (epoch ms) instead\n{text}"
        );
        let from = self.window.from.timestamp_millis().to_string();
        let to = self.window.to.timestamp_millis().to_string();
        let mut filled = text
            .replace("crypto_data.", &format!("{}.", self.keyspace))
            .replace("${__from}", &from)
            .replace("${__to}", &to)
            .replace("$__timeFrom", &from)
            .replace("$__timeTo", &to)
            .replace("$symbol", self.symbol);
        for variable in &self.variables {
            let quoted: Vec<String> = variable
                .values
                .iter()
                .map(|value| format!("'{value}'"))
                .collect();
            filled = filled.replace(
                &format!("${{{}:singlequote}}", variable.name),
                &quoted.join(","),
            );
            if let [single] = variable.values.as_slice() {
                filled = filled.replace(&format!("${}", variable.name), single);
            }
        }
        assert!(
            !filled.contains('$'),
            "{place}: a variable this test does not know is left in: {filled}"
        );
        filled
    }
}

/// Runs the dashboard's query variables in order, as Grafana's PostgreSQL role, for `window`.
/// `symbol` must be among the symbol variable's values, and the candle `interval` variable must
/// offer exactly the intervals stored recently (`recent_intervals`); the test picks `1m`.
async fn resolve_variables<'a>(
    path: &Path,
    dashboard: &Value,
    grafana: &tokio_postgres::Client,
    mut filling: Filling<'a>,
    recent_intervals: &BTreeSet<String>,
) -> Filling<'a> {
    for variable in dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let name = variable["name"].as_str().unwrap_or_default().to_owned();
        let place = format!("{}: variable {name}", path.display());
        assert_eq!(
            variable["type"], "query",
            "{place}: only query variables keep a dashboard to what is stored"
        );
        assert_eq!(
            variable["datasource"]["uid"], "postgres",
            "{place}: variables are read from PostgreSQL"
        );
        let sql = filling.fill_in(&place, variable["query"].as_str().unwrap_or_default());
        let values: Vec<String> = grafana
            .query(sql.as_str(), &[])
            .await
            .unwrap_or_else(|error| panic!("{place}: PostgreSQL refused it: {error}\n{sql}"))
            .iter()
            .map(|row| row.get(0))
            .collect();
        assert!(!values.is_empty(), "{place}: no values\n{sql}");
        if name == "kline_buckets" {
            // 1s candles are bucketed by day, every other interval by month.
            let for_seconds = sql.replace("'1m'", "'1s'");
            let days: Vec<String> = grafana
                .query(for_seconds.as_str(), &[])
                .await
                .unwrap_or_else(|error| panic!("{place}: PostgreSQL refused it: {error}"))
                .iter()
                .map(|row| row.get(0))
                .collect();
            let span = filling.window.to.date_naive() - filling.window.from.date_naive();
            assert_eq!(
                days.len(),
                usize::try_from(span.num_days() + 1).expect("a span"),
                "{place}: one bucket per UTC day for 1s candles: {days:?}"
            );
        }
        let values = match name.as_str() {
            "symbol" => {
                assert!(
                    values.iter().any(|value| value == filling.symbol),
                    "{place}: {values:?}"
                );
                vec![filling.symbol.to_owned()]
            }
            "interval" => {
                let offered: BTreeSet<String> = values.iter().cloned().collect();
                assert_eq!(
                    &offered, recent_intervals,
                    "{place}: must offer exactly the candle intervals stored"
                );
                vec!["1m".to_owned()]
            }
            _ => values,
        };
        filling.variables.push(Variable { name, values });
    }
    filling
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

/// Tickers every 10 minutes through 9 November 2025 (the middle day of the three-day window),
/// one on each neighbouring day inside it, and three now (for the "latest" PostgreSQL panels);
/// one-minute candles through an hour of 9 November (the middle month of the three-month
/// window) and one in October and December each; and recent candles of two intervals, which the
/// candle interval variable must offer.
async fn seed(pipeline: &TestPipeline, symbol: &str) {
    let postgres = pipeline.database().ingester().await;
    for (first, last) in [
        ("2025-10-20", "2025-10-20"),
        ("2025-11-08", "2025-11-10"),
        ("2025-12-10", "2025-12-10"),
        ("yesterday", "today"),
    ] {
        pipeline.database().ensure_partitions(first, last).await;
    }
    postgres
        .execute(
            "INSERT INTO ticker_24h (symbol, last_price, bid_price, ask_price, volume,
                                     price_change_percent, trade_count, close_time)
             SELECT $1, 100 + n, 99 + n, 101 + n, 1000.5, n * 0.01, n, close_time
             FROM generate_series(1, 102) AS n,
                  LATERAL (SELECT CASE n WHEN 101 THEN TIMESTAMPTZ '2025-11-08 18:00:00+00'
                                         WHEN 102 THEN TIMESTAMPTZ '2025-11-10 06:00:00+00'
                                         ELSE TIMESTAMPTZ '2025-11-09 00:00:00+00'
                                              + n * INTERVAL '10 minutes' END) AS t(close_time)
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
             SELECT $1, interval, open_time, 100 + n, 102 + n, 99 + n, 101 + n, 5.5,
                    open_time + length - INTERVAL '1 millisecond', 555.5, 10, 2.5, 250.5
             FROM (SELECT n, '1m', INTERVAL '1 minute',
                          TIMESTAMPTZ '2025-11-09 12:00:00+00' + n * INTERVAL '1 minute'
                   FROM generate_series(0, 59) AS n
                   UNION ALL
                   VALUES (60, '1m', INTERVAL '1 minute', TIMESTAMPTZ '2025-10-20 08:00:00+00'),
                          (61, '1m', INTERVAL '1 minute', TIMESTAMPTZ '2025-12-10 08:00:00+00'),
                          (62, '1m', INTERVAL '1 minute', date_trunc('minute', now()) - INTERVAL '5 minutes'),
                          (63, '1h', INTERVAL '1 hour', date_trunc('hour', now()) - INTERVAL '2 hours'))
                  AS seeded(n, interval, length, open_time)",
            &[&symbol],
        )
        .await
        .expect("inserting klines");
}

/// The intervals `seed` stores candles of within the last days.
fn recent_intervals() -> BTreeSet<String> {
    ["1m", "1h"].into_iter().map(str::to_owned).collect()
}

/// The rows as the Grafana Cassandra plugin turns them into data frames: it takes the first
/// column as the series' identity and starts one frame per distinct value. Returns each frame's
/// identity and its rows, in the order the frames start.
fn plugin_frames(
    rows: impl Iterator<Item = scylla::value::Row>,
) -> Vec<(String, Vec<scylla::value::Row>)> {
    let mut frames: Vec<(String, Vec<scylla::value::Row>)> = Vec::new();
    for row in rows {
        let identity = format!("{:?}", row.columns.first().cloned().flatten());
        match frames.iter_mut().find(|(name, _)| *name == identity) {
            Some((_, rows)) => rows.push(row),
            None => frames.push((identity, vec![row])),
        }
    }
    frames
}

/// The panel's transformations applied to one frame, as Grafana applies them: `sortBy` (on one
/// field) and `limit`; any other transformation fails the test, so that a panel cannot rely on
/// one this test does not check.
fn transform(
    place: &str,
    transformations: &[Value],
    columns: &[String],
    mut rows: Vec<scylla::value::Row>,
) -> Vec<scylla::value::Row> {
    for transformation in transformations {
        match transformation["id"].as_str() {
            Some("sortBy") => {
                let sort = &transformation["options"]["sort"][0];
                let field = sort["field"].as_str().unwrap_or_default();
                let index = columns
                    .iter()
                    .position(|column| column == field)
                    .unwrap_or_else(|| panic!("{place}: sortBy names no column {field:?}"));
                rows.sort_by_key(|row| match &row.columns[index] {
                    Some(scylla::value::CqlValue::Timestamp(at)) => at.0,
                    other => panic!("{place}: sorting by {field}, a {other:?}"),
                });
                if sort["desc"] == true {
                    rows.reverse();
                }
            }
            Some("limit") => {
                let limit = transformation["options"]["limitField"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{place}: a limit without limitField"));
                rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
            }
            other => panic!("{place}: transformation {other:?} is not one this test knows"),
        }
    }
    rows
}

/// The first timestamp column of each row, in order.
fn times(columns: &[String], rows: &[scylla::value::Row], column: &str) -> Vec<i64> {
    let index = columns
        .iter()
        .position(|name| name == column)
        .unwrap_or_else(|| panic!("no {column} column among {columns:?}"));
    rows.iter()
        .map(|row| match &row.columns[index] {
            Some(scylla::value::CqlValue::Timestamp(at)) => at.0,
            other => panic!("{column} is {other:?}"),
        })
        .collect()
}

/// What the panel must show of the seeded symbol over the window, read from PostgreSQL (the
/// source of truth): the close times of its tickers, or the open times of its one-minute
/// candles, newest first, and the column the panel's rows carry them in.
async fn expected_times(
    admin: &tokio_postgres::Client,
    symbol: &str,
    window: Window,
    cql: &str,
) -> (&'static str, Vec<i64>) {
    let (column, sql) = if cql.contains(".klines") {
        (
            "open_time",
            "SELECT open_time FROM klines WHERE symbol = $1 AND interval = '1m'
               AND open_time BETWEEN $2 AND $3 ORDER BY open_time DESC",
        )
    } else {
        (
            "close_time",
            "SELECT close_time FROM ticker_24h WHERE symbol = $1
               AND close_time BETWEEN $2 AND $3 ORDER BY close_time DESC",
        )
    };
    let times = admin
        .query(sql, &[&symbol, &window.from, &window.to])
        .await
        .expect("reading what the panel must show")
        .iter()
        .map(|row| row.get::<_, DateTime<Utc>>(0).timestamp_millis())
        .collect();
    (column, times)
}

/// What each panel type needs of its frames, for the data this test seeds for one symbol: a time
/// series one frame (the symbol's) with every point; a candlestick chart one frame with every
/// candle; a table one frame with every row its transformations keep.
fn assert_frames_fit_the_panel(
    place: &str,
    query: &Query,
    columns: &[String],
    frames: Vec<(String, Vec<scylla::value::Row>)>,
    (time_column, expected): (&str, Vec<i64>),
) {
    assert!(
        matches!(
            query.panel_type.as_str(),
            "timeseries" | "candlestick" | "table"
        ),
        "{place}: no rule for a {} panel over Cassandra",
        query.panel_type
    );
    assert_eq!(
        frames.len(),
        1,
        "{place}: the plugin would draw {} frames (one per distinct first column) for one \
         symbol; the query must start with the symbol",
        frames.len()
    );
    let rows = frames
        .into_iter()
        .next()
        .map(|(_, rows)| rows)
        .unwrap_or_default();
    let rows = transform(place, &query.transformations, columns, rows);
    let mut shown = times(columns, &rows, time_column);
    let mut expected = expected;
    if query.transformations.is_empty() {
        // A chart draws points in time order whatever order they come in.
        shown.sort_unstable_by(|a, b| b.cmp(a));
    }
    for limit in query
        .transformations
        .iter()
        .filter(|transformation| transformation["id"] == "limit")
        .filter_map(|transformation| transformation["options"]["limitField"].as_u64())
    {
        expected.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    assert!(
        expected.len() > 1,
        "{place}: only {} point(s) to draw",
        expected.len()
    );
    assert_eq!(
        shown, expected,
        "{place}: the panel must show every row PostgreSQL holds for the range (newest first)"
    );
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
    let keyspace = pipeline.keyspace();
    // Every seeded row, bucket by bucket, before any panel is checked.
    let buckets = [
        ("ticker_24h", "day = '2025-11-08'", 1),
        ("ticker_24h", "day = '2025-11-09'", 100),
        ("ticker_24h", "day = '2025-11-10'", 1),
        ("klines", "interval = '1m' AND month = '2025-10-01'", 1),
        ("klines", "interval = '1m' AND month = '2025-11-01'", 60),
        ("klines", "interval = '1m' AND month = '2025-12-01'", 1),
    ];
    eventually(
        Duration::from_secs(120),
        "the seeded tickers and klines in Cassandra",
        || async {
            for (table, bucket, expected) in buckets {
                let cql = format!(
                    "SELECT COUNT(*) FROM {keyspace}.{table} WHERE symbol = ? AND {bucket}"
                );
                let count = session
                    .query_unpaged(cql, (&symbol,))
                    .await
                    .ok()?
                    .into_rows_result()
                    .ok()?
                    .single_row::<(i64,)>()
                    .ok()?
                    .0;
                if count != expected {
                    return None;
                }
            }
            Some(())
        },
    )
    .await;

    let grafana = stack_fixtures::connect_postgres(&pipeline.database().grafana_url()).await;
    let admin = pipeline.database().admin().await;
    let mut known_metrics = registered_metrics("cdc-consumer/src/metrics.rs");
    known_metrics.extend(registered_metrics("ingester/src/metrics.rs"));

    let mut checked = 0;
    for (path, dashboard) in dashboards() {
        for window in windows() {
            let filling = Filling {
                symbol: &symbol,
                keyspace,
                window,
                variables: vec![],
            };
            let filling =
                resolve_variables(&path, &dashboard, &grafana, filling, &recent_intervals()).await;
            for query in queries(&path, &dashboard) {
                let place = &format!("{} over {window:?}", query.place);
                match query.datasource.as_str() {
                    "cassandra" => {
                        let cql = filling.fill_in(place, &query.text);
                        let rows = run_cql(place, &session, &cql).await;
                        check_column_types(place, &query, &rows);
                        let columns: Vec<String> = rows
                            .column_specs()
                            .iter()
                            .map(|spec| spec.name().to_owned())
                            .collect();
                        let frames = plugin_frames(
                            rows.rows::<scylla::value::Row>()
                                .unwrap_or_else(|error| panic!("{place}: unreadable rows: {error}"))
                                .map(|row| row.unwrap_or_else(|error| panic!("{place}: {error}"))),
                        );
                        let expected = expected_times(&admin, &symbol, window, &cql).await;
                        assert_frames_fit_the_panel(place, &query, &columns, frames, expected);
                    }
                    "postgres" => {
                        let sql = filling.fill_in(place, &query.text);
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
    }
    assert!(checked >= 10, "only {checked} queries found");

    price_alert_fires_for_crossed_thresholds_only(&pipeline, &grafana, &symbol).await;
}

async fn run_cql(
    place: &str,
    session: &scylla::client::session::Session,
    cql: &str,
) -> scylla::response::query_result::QueryRowsResult {
    session
        .query_unpaged(cql, ())
        .await
        .unwrap_or_else(|error| panic!("{place}: Cassandra refused it: {error}\n{cql}"))
        .into_rows_result()
        .unwrap_or_else(|error| panic!("{place}: no rows result: {error}"))
}

/// The column types the plugin must be able to read; a time series' (key, value, time) shape.
fn check_column_types(
    place: &str,
    query: &Query,
    rows: &scylla::response::query_result::QueryRowsResult,
) {
    let types: Vec<&ColumnType> = rows.column_specs().iter().map(|spec| spec.typ()).collect();
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
