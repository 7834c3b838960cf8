//! `cdc-consumer verify`: compares one table's rows in PostgreSQL and in Cassandra over a time
//! window, values included — what an operator runs after an incident.
//!
//! Both sides are read into the same normalized form (`Cell`): decimals compared by value
//! (`1.50` equals `1.5`), timestamps at Cassandra's millisecond precision, time buckets derived
//! from the timestamp they bucket. The comparison itself is pure (`compare`). Cassandra
//! partitions are taken from both sides, so a row that PostgreSQL no longer has is found too.
//! Only what both stores hold is compared: PostgreSQL keeps a shorter window (daily partitions,
//! old ones dropped) than Cassandra, and rows of days it dropped are left out ([`only_held`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::{DateTime, Utc};
use debezium::ExactDecimal;
use futures::{Stream, StreamExt, TryStreamExt};
use scylla::client::pager::QueryPager;
use scylla::client::session::Session;
use scylla::value::{CqlDate, CqlTimestamp, CqlValue, Row as CqlRow};

use crate::mapping::{Column, CqlType, Source, TableMapping};

/// One value, normalized so that PostgreSQL's and Cassandra's renderings compare equal.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Cell {
    Null,
    Text(String),
    Int(i64),
    /// The exact value without trailing fraction zeros: `-1.5`, `0`, `103793.97`.
    Decimal(String),
    /// Milliseconds since the epoch.
    Millis(i64),
    /// Days since the epoch.
    Date(i64),
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cell::Null => f.write_str("null"),
            Cell::Text(text) => write!(f, "{text:?}"),
            Cell::Int(number) => write!(f, "{number}"),
            Cell::Decimal(decimal) => f.write_str(decimal),
            Cell::Millis(millis) => match DateTime::from_timestamp_millis(*millis) {
                Some(at) => f.write_str(&at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                None => write!(f, "{millis} ms"),
            },
            Cell::Date(days) => match DateTime::from_timestamp(days * 86_400, 0) {
                Some(at) => write!(f, "{}", at.date_naive()),
                None => write!(f, "day {days}"),
            },
        }
    }
}

/// Rows by primary key; the cells of each row follow `TableMapping::columns`.
pub type Rows = BTreeMap<Vec<Cell>, Vec<Cell>>;

#[derive(Debug, PartialEq)]
pub enum Difference {
    MissingInCassandra {
        key: Vec<Cell>,
    },
    MissingInPostgres {
        key: Vec<Cell>,
    },
    Differs {
        key: Vec<Cell>,
        column: &'static str,
        postgres: Cell,
        cassandra: Cell,
    },
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let key = |key: &[Cell]| {
            key.iter()
                .map(Cell::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match self {
            Difference::MissingInCassandra { key: k } => {
                write!(f, "missing in Cassandra: ({})", key(k))
            }
            Difference::MissingInPostgres { key: k } => {
                write!(f, "in Cassandra but not in PostgreSQL: ({})", key(k))
            }
            Difference::Differs {
                key: k,
                column,
                postgres,
                cassandra,
            } => {
                write!(
                    f,
                    "({}) {column}: PostgreSQL {postgres}, Cassandra {cassandra}",
                    key(k)
                )
            }
        }
    }
}

/// Every difference between the two sides, in key order. Pure.
pub fn compare(table: &TableMapping, postgres: &Rows, cassandra: &Rows) -> Vec<Difference> {
    let keys: BTreeSet<&Vec<Cell>> = postgres.keys().chain(cassandra.keys()).collect();
    let mut differences = Vec::new();
    for key in keys {
        match (postgres.get(key), cassandra.get(key)) {
            (Some(_), None) => {
                differences.push(Difference::MissingInCassandra { key: key.clone() })
            }
            (None, Some(_)) => differences.push(Difference::MissingInPostgres { key: key.clone() }),
            (Some(left), Some(right)) => {
                for ((column, postgres), cassandra) in table.columns.iter().zip(left).zip(right) {
                    if postgres != cassandra {
                        differences.push(Difference::Differs {
                            key: key.clone(),
                            column: column.name,
                            postgres: postgres.clone(),
                            cassandra: cassandra.clone(),
                        });
                    }
                }
            }
            (None, None) => {}
        }
    }
    differences
}

/// Which rows to compare.
pub struct Window {
    pub since: DateTime<Utc>,
    pub until: DateTime<Utc>,
    /// Only this symbol, when given.
    pub symbol: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("reading PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("reading Cassandra ({reading}): {source}")]
    Cassandra {
        /// What was being read: the table's retention, its partitions or its rows.
        reading: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("a Cassandra partition key cannot hold {0}")]
    PartitionKey(String),
    #[error("{table}.{column}: {reason}")]
    BadValue {
        table: &'static str,
        column: &'static str,
        reason: String,
    },
}

/// Wraps the driver's error (its query, result and row errors are distinct types) with what was
/// being read.
fn cassandra_error<E>(reading: &'static str) -> impl Fn(E) -> VerifyError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |error| VerifyError::Cassandra {
        reading,
        source: Box::new(error),
    }
}

/// Reads the window's rows from PostgreSQL, normalized.
pub async fn read_postgres(
    client: &tokio_postgres::Client,
    table: &'static TableMapping,
    window: &Window,
) -> Result<Rows, VerifyError> {
    // Every column is fetched as text or as epoch milliseconds, so any NUMERIC fits.
    let select: Vec<String> = table
        .columns
        .iter()
        .map(|column| match column.source {
            Source::Copy(CqlType::Text | CqlType::Decimal) => format!("{}::text", column.name),
            Source::Copy(CqlType::BigInt) => column.name.to_owned(),
            Source::Copy(CqlType::Timestamp) => epoch_millis_sql(column.name),
            Source::DayOf(from) | Source::KlineBucket { time: from, .. } => epoch_millis_sql(from),
        })
        .collect();
    // The window's bounds are compared in milliseconds, as Cassandra stores timestamps, so a
    // row a fraction of a millisecond inside a bound is inside it in both stores. The plain
    // range around them lets PostgreSQL use the time index.
    let sql = format!(
        "SELECT {} FROM {} WHERE {time} >= $1 AND {time} < $2 \
         AND {millis} >= $4 AND {millis} < $5 AND ($3::text IS NULL OR symbol = $3)",
        select.join(", "),
        table.source_table,
        time = table.time_column,
        millis = epoch_millis_sql(table.time_column),
    );
    let widened_since = window.since - chrono::TimeDelta::milliseconds(1);
    let widened_until = window.until + chrono::TimeDelta::milliseconds(1);
    let rows = client
        .query(
            &sql,
            &[
                &widened_since,
                &widened_until,
                &window.symbol,
                &window.since.timestamp_millis(),
                &window.until.timestamp_millis(),
            ],
        )
        .await?;
    let mut result = Rows::new();
    for row in rows {
        let cells = table
            .columns
            .iter()
            .enumerate()
            .map(|(index, column)| postgres_cell(table, column, &row, index))
            .collect::<Result<Vec<_>, _>>()?;
        result.insert(cells[..table.key_len].to_vec(), cells);
    }
    Ok(result)
}

/// The oldest time whose rows Cassandra still holds in full, given the table's default TTL in
/// seconds (0: rows never expire, so `None`): an hour younger than the TTL, so that rows expiring
/// while the comparison runs are not reported missing.
pub fn retained_since(now: DateTime<Utc>, ttl_secs: i32) -> Option<DateTime<Utc>> {
    (ttl_secs > 0).then(|| {
        now - chrono::TimeDelta::seconds(i64::from(ttl_secs)) + chrono::TimeDelta::hours(1)
    })
}

/// The table's `default_time_to_live` in seconds, as Cassandra reports it.
pub async fn retention(
    session: &Session,
    keyspace: &str,
    table: &'static TableMapping,
) -> Result<i32, VerifyError> {
    let (ttl,) = session
        .query_unpaged(
            "SELECT default_time_to_live FROM system_schema.tables \
             WHERE keyspace_name = ? AND table_name = ?",
            (keyspace, table.cql_table),
        )
        .await
        .map_err(cassandra_error("the table's retention"))?
        .into_rows_result()
        .map_err(cassandra_error("the table's retention"))?
        .single_row::<(i32,)>()
        .map_err(cassandra_error("the table's retention"))?;
    Ok(ttl)
}

/// The time ranges whose rows PostgreSQL holds in full, oldest first: its daily partitions,
/// adjacent ones merged (`partitions.held` in sql/postgres/04-partitions.sql). Outside them
/// PostgreSQL dropped its rows on purpose, while Cassandra keeps them for longer.
pub type Held = Vec<(DateTime<Utc>, DateTime<Utc>)>;

/// What PostgreSQL holds of `table`; `None` on a database without partitions (set up before
/// them), whose plain tables hold every row they were given.
pub async fn held(
    client: &tokio_postgres::Client,
    table: &'static TableMapping,
) -> Result<Option<Held>, VerifyError> {
    let name = table
        .source_table
        .rsplit('.')
        .next()
        .unwrap_or(table.source_table);
    match client
        .query("SELECT since, until FROM partitions.held($1)", &[&name])
        .await
    {
        Ok(rows) => Ok(Some(
            rows.iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?)))
                .collect::<Result<_, tokio_postgres::Error>>()?,
        )),
        Err(error)
            if error.code().is_some_and(|code| {
                *code == tokio_postgres::error::SqlState::INVALID_SCHEMA_NAME
                    || *code == tokio_postgres::error::SqlState::UNDEFINED_FUNCTION
            }) =>
        {
            Ok(None)
        }
        Err(error) => Err(error.into()),
    }
}

/// Where the comparison starts: at `requested`, or without it where Cassandra still holds every
/// row (`cassandra_since`, from its retention; the beginning when rows never expire), but never
/// before the oldest row PostgreSQL holds. Cassandra's edge is an estimate, which an explicit
/// start overrides; PostgreSQL's is exact, and rows before it are in Cassandra only, by design.
/// Pure.
pub fn compared_since(
    requested: Option<DateTime<Utc>>,
    cassandra_since: Option<DateTime<Utc>>,
    held: Option<&Held>,
) -> DateTime<Utc> {
    let start = requested
        .or(cassandra_since)
        .unwrap_or(DateTime::UNIX_EPOCH);
    match held.and_then(|held| held.first()) {
        Some((oldest, _)) => start.max(*oldest),
        None => start,
    }
}

/// `rows` without those whose time PostgreSQL does not hold: a klines partition kept for a
/// candle still open leaves a gap of dropped days after it, whose rows only Cassandra has. Pure.
pub fn only_held(table: &TableMapping, rows: Rows, held: &Held) -> Rows {
    let Some(time) = table
        .columns
        .iter()
        .position(|column| column.name == table.time_column)
    else {
        return rows;
    };
    rows.into_iter()
        .filter(|(_, cells)| match cells.get(time) {
            Some(Cell::Millis(millis)) => held.iter().any(|(since, until)| {
                (since.timestamp_millis()..until.timestamp_millis()).contains(millis)
            }),
            _ => true,
        })
        .collect()
}

/// Milliseconds since the epoch, floored as Cassandra's timestamp stores them.
fn epoch_millis_sql(column: &str) -> String {
    format!("floor(extract(epoch from {column}) * 1000)::bigint")
}

fn postgres_cell(
    table: &'static TableMapping,
    column: &Column,
    row: &tokio_postgres::Row,
    index: usize,
) -> Result<Cell, VerifyError> {
    let bad = |reason: String| VerifyError::BadValue {
        table: table.source_table,
        column: column.name,
        reason,
    };
    let cell = match column.source {
        Source::Copy(CqlType::Text) => row.try_get::<_, Option<String>>(index)?.map(Cell::Text),
        Source::Copy(CqlType::BigInt) => row.try_get::<_, Option<i64>>(index)?.map(Cell::Int),
        Source::Copy(CqlType::Decimal) => {
            let text = row.try_get::<_, Option<String>>(index)?;
            text.map(|text| {
                normalized_decimal(&text)
                    .map(Cell::Decimal)
                    .ok_or_else(|| bad(format!("{text:?} is not a decimal")))
            })
            .transpose()?
        }
        Source::Copy(CqlType::Timestamp) => row.try_get::<_, Option<i64>>(index)?.map(Cell::Millis),
        Source::DayOf(_) => row
            .try_get::<_, Option<i64>>(index)?
            .map(|millis| Cell::Date(millis.div_euclid(86_400_000))),
        Source::KlineBucket { interval, .. } => {
            let millis = row.try_get::<_, Option<i64>>(index)?;
            let interval: String = row.try_get(interval)?;
            millis
                .map(|millis| {
                    DateTime::from_timestamp_millis(millis)
                        .ok_or_else(|| format!("{millis} ms is out of range"))
                        .and_then(|at| crate::mapping::kline_bucket(&interval, at))
                        .map(|day| Cell::Date((day - DateTime::UNIX_EPOCH.date_naive()).num_days()))
                        .map_err(bad)
                })
                .transpose()?
        }
    };
    Ok(cell.unwrap_or(Cell::Null))
}

/// `-001.500` → `-1.5`; `0.000` → `0`. `None` when `text` is not a plain decimal.
fn normalized_decimal(text: &str) -> Option<String> {
    let exact = ExactDecimal::parse(text)?.to_string();
    let trimmed = if exact.contains('.') {
        exact.trim_end_matches('0').trim_end_matches('.')
    } else {
        &exact
    };
    Some(if trimmed == "-0" {
        "0".to_owned()
    } else {
        trimmed.to_owned()
    })
}

/// Reads the window's rows from Cassandra, from every partition either side knows of.
pub async fn read_cassandra(
    session: &Session,
    keyspace: &str,
    table: &'static TableMapping,
    window: &Window,
    postgres: &Rows,
) -> Result<Rows, VerifyError> {
    let mut partitions: BTreeSet<Vec<Cell>> = postgres
        .keys()
        .map(|key| key[..table.partition_key_len].to_vec())
        .collect();
    partitions.extend(cassandra_partitions(session, keyspace, table, window).await?);

    let columns: Vec<&str> = table.columns.iter().map(|column| column.name).collect();
    let partition_conditions: Vec<String> = columns[..table.partition_key_len]
        .iter()
        .map(|name| format!("{name} = ?"))
        .collect();
    let statement = session
        .prepare(format!(
            "SELECT {} FROM {keyspace}.{} WHERE {} AND {time} >= ? AND {time} < ?",
            columns.join(", "),
            table.cql_table,
            partition_conditions.join(" AND "),
            time = table.time_column,
        ))
        .await
        .map_err(cassandra_error("the table's rows"))?;
    let mut result = Rows::new();
    for partition in partitions {
        let mut values: Vec<CqlValue> =
            partition.iter().map(cql_value).collect::<Result<_, _>>()?;
        values.push(CqlValue::Timestamp(CqlTimestamp(
            window.since.timestamp_millis(),
        )));
        values.push(CqlValue::Timestamp(CqlTimestamp(
            window.until.timestamp_millis(),
        )));
        let pager = session
            .execute_iter(statement.clone(), values)
            .await
            .map_err(cassandra_error("the table's rows"))?;
        let mut rows = cell_rows(pager, table, table.columns, "the table's rows")?;
        while let Some(cells) = rows.try_next().await? {
            result.insert(cells[..table.key_len].to_vec(), cells);
        }
    }
    Ok(result)
}

/// The table's partitions in Cassandra whose time bucket overlaps the window.
async fn cassandra_partitions(
    session: &Session,
    keyspace: &str,
    table: &'static TableMapping,
    window: &Window,
) -> Result<Vec<Vec<Cell>>, VerifyError> {
    let partition_columns = &table.columns[..table.partition_key_len];
    let names: Vec<&str> = partition_columns.iter().map(|column| column.name).collect();
    let query = format!(
        "SELECT DISTINCT {} FROM {keyspace}.{}",
        names.join(", "),
        table.cql_table
    );
    let pager = session
        .query_iter(query, ())
        .await
        .map_err(cassandra_error("the table's partitions"))?;
    let mut rows = cell_rows(pager, table, partition_columns, "the table's partitions")?;
    let first_day = window.since.timestamp_millis().div_euclid(86_400_000);
    let last_day = (window.until.timestamp_millis() - 1).div_euclid(86_400_000);
    let mut partitions = Vec::new();
    while let Some(cells) = rows.try_next().await? {
        let symbol_matches = match &window.symbol {
            Some(symbol) => cells.first() == Some(&Cell::Text(symbol.clone())),
            None => true,
        };
        // A month bucket is named by its first day, so it may start before the window.
        let bucket_overlaps = partition_columns.iter().zip(&cells).all(|(column, cell)| {
            match (column.source, cell) {
                (Source::DayOf(_), Cell::Date(day)) => (first_day..=last_day).contains(day),
                // A bucket is a day or a month: at most 31 days from its first.
                (Source::KlineBucket { .. }, Cell::Date(day)) => {
                    *day <= last_day && *day + 31 > first_day
                }
                _ => true,
            }
        });
        if symbol_matches && bucket_overlaps {
            partitions.push(cells);
        }
    }
    Ok(partitions)
}

/// The rows `pager` returns, each as the cells of `columns`; `reading` names what was being
/// read, for an error.
fn cell_rows<'a>(
    pager: QueryPager,
    table: &'static TableMapping,
    columns: &'a [Column],
    reading: &'static str,
) -> Result<impl Stream<Item = Result<Vec<Cell>, VerifyError>> + Unpin + 'a, VerifyError> {
    let rows = pager
        .rows_stream::<CqlRow>()
        .map_err(cassandra_error(reading))?;
    Ok(rows.map(move |row| {
        row.map_err(cassandra_error(reading))?
            .columns
            .into_iter()
            .zip(columns)
            .map(|(value, column)| cassandra_cell(table, column, value))
            .collect()
    }))
}

fn cassandra_cell(
    table: &'static TableMapping,
    column: &Column,
    value: Option<CqlValue>,
) -> Result<Cell, VerifyError> {
    let bad = |reason: String| VerifyError::BadValue {
        table: table.source_table,
        column: column.name,
        reason,
    };
    Ok(match value {
        None => Cell::Null,
        Some(CqlValue::Text(text)) => Cell::Text(text),
        Some(CqlValue::BigInt(number)) => Cell::Int(number),
        Some(CqlValue::Timestamp(CqlTimestamp(millis))) => Cell::Millis(millis),
        Some(CqlValue::Date(CqlDate(days))) => Cell::Date(i64::from(days) - (1i64 << 31)),
        Some(CqlValue::Decimal(decimal)) => {
            let (bytes, scale) = decimal.as_signed_be_bytes_slice_and_exponent();
            // An empty varint is no number: reported, not read as zero.
            let text = ExactDecimal::new(bytes.to_vec(), scale)
                .map_err(|error| bad(error.to_string()))?
                .to_string();
            Cell::Decimal(
                normalized_decimal(&text).ok_or_else(|| bad(format!("{text} is not a decimal")))?,
            )
        }
        Some(other) => return Err(bad(format!("unexpected Cassandra value {other:?}"))),
    })
}

fn cql_value(cell: &Cell) -> Result<CqlValue, VerifyError> {
    Ok(match cell {
        Cell::Text(text) => CqlValue::Text(text.clone()),
        Cell::Int(number) => CqlValue::BigInt(*number),
        Cell::Millis(millis) => CqlValue::Timestamp(CqlTimestamp(*millis)),
        Cell::Date(days) => CqlValue::Date(CqlDate(
            u32::try_from(days + (1i64 << 31))
                .map_err(|_| VerifyError::PartitionKey(format!("day {days}, out of range")))?,
        )),
        Cell::Decimal(_) | Cell::Null => {
            return Err(VerifyError::PartitionKey(cell.to_string()));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::TABLES;

    fn row(id: i64, last_price: &str) -> (Vec<Cell>, Vec<Cell>) {
        let table = &TABLES[0];
        let mut cells = vec![Cell::Null; table.columns.len()];
        cells[0] = Cell::Text("BTCUSDT".into());
        cells[1] = Cell::Date(20396);
        cells[2] = Cell::Millis(1_762_265_977_123);
        cells[3] = Cell::Int(id);
        cells[8] = Cell::Decimal(last_price.into());
        (cells[..4].to_vec(), cells)
    }

    #[test]
    fn decimals_compare_by_value() {
        assert_eq!(
            normalized_decimal("103793.97000000").as_deref(),
            Some("103793.97")
        );
        assert_eq!(normalized_decimal("-0.00000000").as_deref(), Some("0"));
        assert_eq!(normalized_decimal("1200").as_deref(), Some("1200"));
        assert_eq!(normalized_decimal("x"), None);
    }

    #[test]
    fn finds_missing_extra_and_different_rows() {
        let table = &TABLES[0];
        let postgres: Rows = [row(1, "1.5"), row(2, "2"), row(3, "3")]
            .into_iter()
            .collect();
        let cassandra: Rows = [row(1, "1.5"), row(3, "3.1"), row(4, "4")]
            .into_iter()
            .collect();
        let differences = compare(table, &postgres, &cassandra);
        let rendered: Vec<String> = differences.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            [
                r#"missing in Cassandra: ("BTCUSDT", 2025-11-04, 2025-11-04T14:19:37.123Z, 2)"#,
                r#"("BTCUSDT", 2025-11-04, 2025-11-04T14:19:37.123Z, 3) last_price: PostgreSQL 3, Cassandra 3.1"#,
                r#"in Cassandra but not in PostgreSQL: ("BTCUSDT", 2025-11-04, 2025-11-04T14:19:37.123Z, 4)"#,
            ]
        );
        assert!(compare(table, &postgres, &postgres).is_empty());
    }

    fn at(rfc3339: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(rfc3339)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn the_comparison_starts_where_both_stores_hold_every_row() {
        let cassandra = Some(at("2026-11-01T13:00:00Z"));
        let held = vec![
            (at("2026-11-24T00:00:00Z"), at("2026-12-05T00:00:00Z")),
            (at("2026-12-06T00:00:00Z"), at("2026-12-07T00:00:00Z")),
        ];
        // PostgreSQL's window is the shorter: it decides.
        assert_eq!(
            compared_since(None, cassandra, Some(&held)),
            at("2026-11-24T00:00:00Z")
        );
        // Cassandra's retention is the shorter.
        let week = vec![(at("2026-10-01T00:00:00Z"), at("2026-12-05T00:00:00Z"))];
        assert_eq!(
            compared_since(None, cassandra, Some(&week)),
            at("2026-11-01T13:00:00Z")
        );
        // An explicit start overrides Cassandra's estimate, never PostgreSQL's exact edge.
        let requested = Some(at("2026-01-01T00:00:00Z"));
        assert_eq!(
            compared_since(requested, cassandra, Some(&week)),
            at("2026-10-01T00:00:00Z")
        );
        assert_eq!(
            compared_since(Some(at("2026-11-30T00:00:00Z")), cassandra, Some(&held)),
            at("2026-11-30T00:00:00Z")
        );
        // Plain tables (no partitions) and rows that never expire: from the beginning.
        assert_eq!(compared_since(None, None, None), DateTime::UNIX_EPOCH);
        assert_eq!(
            compared_since(None, None, Some(&Vec::new())),
            DateTime::UNIX_EPOCH
        );
    }

    #[test]
    fn rows_in_days_postgres_no_longer_holds_are_left_out() {
        let table = &TABLES[0];
        let at_millis = |id: i64, millis: i64| {
            let (key, mut cells) = row(id, "1");
            cells[2] = Cell::Millis(millis);
            (key, cells)
        };
        let day = 86_400_000;
        let rows: Rows = [
            at_millis(1, 10 * day - 1),
            at_millis(2, 10 * day),
            at_millis(3, 11 * day + 5),
            at_millis(4, 12 * day),
            at_millis(5, 13 * day),
        ]
        .into_iter()
        .collect();
        let millis = |millis: i64| DateTime::from_timestamp_millis(millis).unwrap();
        // Days 10 and 13 held, 11 and 12 dropped.
        let held = vec![
            (millis(10 * day), millis(11 * day)),
            (millis(13 * day), millis(14 * day)),
        ];
        let kept: Vec<Cell> = only_held(table, rows, &held)
            .into_values()
            .map(|cells| cells[3].clone())
            .collect();
        assert_eq!(kept, [Cell::Int(2), Cell::Int(5)]);
    }

    #[test]
    fn the_default_window_starts_where_cassandra_still_holds_every_row() {
        let now = DateTime::parse_from_rfc3339("2026-12-01T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retained_since(now, 30 * 86_400).map(|since| since.to_rfc3339()),
            Some("2026-11-01T13:00:00+00:00".to_owned())
        );
        assert_eq!(retained_since(now, 0), None, "rows that never expire");
    }
}
