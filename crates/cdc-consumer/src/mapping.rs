//! Mapping a decoded PostgreSQL change to Cassandra writes. Pure: no IO.
//!
//! Each replicated table is described once, as data (`TABLES`): its Cassandra table and
//! columns, primary key first, and for each column how its value is derived from the PostgreSQL
//! row — copied, or a time bucket computed from a timestamp column. Statements and row values
//! both come from that description, so adding a table is adding an entry.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use debezium::{ChangeEvent, ExactDecimal, Op, Row, Value};
use scylla::value::{CqlDate, CqlDecimal, CqlTimestamp, CqlValue};

/// How a Cassandra column gets its value from the PostgreSQL row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The PostgreSQL column of the same name, converted to the Cassandra type.
    Copy(CqlType),
    /// The UTC day of the named timestamp column: a partition bucket.
    DayOf(&'static str),
    /// A kline's partition bucket, named by its first day: the UTC month of the `time` column,
    /// or its UTC day when the `interval` column is shorter than a minute (a month of 1s klines
    /// would be 2.6 million rows in one partition; a day is 86,400).
    KlineBucket {
        time: &'static str,
        interval: &'static str,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CqlType {
    Text,
    BigInt,
    Decimal,
    Timestamp,
}

#[derive(Debug, PartialEq)]
pub struct Column {
    pub name: &'static str,
    pub source: Source,
}

/// One replicated table.
#[derive(Debug, PartialEq)]
pub struct TableMapping {
    /// `public.ticker_24h`, as Debezium's source block names it.
    pub source_table: &'static str,
    pub cql_table: &'static str,
    /// Primary-key columns first.
    pub columns: &'static [Column],
    /// How many of `columns` form the primary key.
    pub key_len: usize,
    /// How many of `columns` form the partition key (a prefix of the primary key).
    pub partition_key_len: usize,
    /// The PostgreSQL timestamp column the time bucket derives from; also a clustering column.
    pub time_column: &'static str,
}

const fn copy(name: &'static str, cql_type: CqlType) -> Column {
    Column {
        name,
        source: Source::Copy(cql_type),
    }
}

const fn decimal(name: &'static str) -> Column {
    copy(name, CqlType::Decimal)
}

/// The replicated tables; `sql/cassandra/schema.cql` defines the Cassandra side.
pub static TABLES: [TableMapping; 2] = [
    TableMapping {
        source_table: "public.ticker_24h",
        cql_table: "ticker_24h",
        key_len: 4,
        partition_key_len: 2,
        time_column: "close_time",
        columns: &[
            copy("symbol", CqlType::Text),
            Column {
                name: "day",
                source: Source::DayOf("close_time"),
            },
            copy("close_time", CqlType::Timestamp),
            copy("id", CqlType::BigInt),
            decimal("price_change"),
            decimal("price_change_percent"),
            decimal("weighted_avg_price"),
            decimal("prev_close_price"),
            decimal("last_price"),
            decimal("last_qty"),
            decimal("bid_price"),
            decimal("bid_qty"),
            decimal("ask_price"),
            decimal("ask_qty"),
            decimal("open_price"),
            decimal("high_price"),
            decimal("low_price"),
            decimal("volume"),
            decimal("quote_volume"),
            copy("open_time", CqlType::Timestamp),
            copy("first_trade_id", CqlType::BigInt),
            copy("last_trade_id", CqlType::BigInt),
            copy("trade_count", CqlType::BigInt),
            copy("fetched_at", CqlType::Timestamp),
        ],
    },
    TableMapping {
        source_table: "public.klines",
        cql_table: "klines",
        key_len: 4,
        partition_key_len: 3,
        time_column: "open_time",
        columns: &[
            copy("symbol", CqlType::Text),
            copy("interval", CqlType::Text),
            Column {
                name: "month",
                source: Source::KlineBucket {
                    time: "open_time",
                    interval: "interval",
                },
            },
            copy("open_time", CqlType::Timestamp),
            decimal("open_price"),
            decimal("high_price"),
            decimal("low_price"),
            decimal("close_price"),
            decimal("volume"),
            copy("close_time", CqlType::Timestamp),
            decimal("quote_volume"),
            copy("trade_count", CqlType::BigInt),
            decimal("taker_buy_base_volume"),
            decimal("taker_buy_quote_volume"),
        ],
    },
];

pub fn mapping_for(source_table: &str) -> Option<&'static TableMapping> {
    TABLES
        .iter()
        .find(|table| table.source_table == source_table)
}

/// A Cassandra row's values in `TableMapping::columns` order; `None` is null.
pub type CqlRow = Vec<Option<CqlValue>>;

#[derive(Debug, PartialEq)]
pub enum CqlWrite {
    Upsert {
        table: &'static TableMapping,
        values: CqlRow,
    },
    /// Values of the primary-key columns.
    Delete {
        table: &'static TableMapping,
        key: CqlRow,
    },
    Truncate {
        table: &'static TableMapping,
    },
}

impl CqlWrite {
    pub fn table(&self) -> &'static TableMapping {
        match self {
            CqlWrite::Upsert { table, .. }
            | CqlWrite::Delete { table, .. }
            | CqlWrite::Truncate { table } => table,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MappingError {
    #[error("no Cassandra table is mapped for {0}")]
    UnknownTable(String),
    #[error("{table}: a {op} event without its {image} row")]
    MissingRow {
        table: &'static str,
        op: &'static str,
        image: &'static str,
    },
    #[error("{table}.{column}: {reason}")]
    BadColumn {
        table: &'static str,
        column: &'static str,
        reason: String,
    },
    #[error("{table}: a {op} event without its WAL position (source.lsn = {lsn:?})")]
    NoPosition {
        table: String,
        op: &'static str,
        lsn: Option<i64>,
    },
}

/// Every Cassandra write the consumer makes carries a write time (`USING TIMESTAMP`) of at
/// least this, which is far above any write time in microseconds since the epoch (it is the
/// year 4253 in those): so the pipeline's writes always win over rows written before write
/// times followed the WAL, and those rows need no migration. Rows nobody changes since keep
/// their correct values; the first change of one replaces it.
pub const WRITE_TIME_BASE: i64 = 1 << 56;

/// The write time of `event`'s Cassandra writes: [`WRITE_TIME_BASE`] plus the change's position
/// in PostgreSQL's WAL (`source.lsn`).
///
/// Why the change's LSN orders a row's versions: PostgreSQL holds a row's lock until the
/// transaction that changed it commits, so the next change of that row is written to the WAL
/// after that commit, at a higher LSN; and changes inside one transaction have increasing LSNs.
/// A TRUNCATE holds the table's lock the same way. So of two versions of a row (or a row and a
/// truncate of its table), the later one in commit order has the higher write time, and
/// Cassandra keeps it whatever order the writes arrive in: replays, rebalances, two consumers.
/// Commit timestamps would not do: they come from the clock, which can step back, and are
/// equal for every change of one transaction.
pub fn write_time(event: &ChangeEvent) -> Result<i64, MappingError> {
    event
        .source
        .lsn
        .filter(|lsn| *lsn >= 0)
        .and_then(|lsn| WRITE_TIME_BASE.checked_add(lsn))
        .ok_or_else(|| MappingError::NoPosition {
            table: event.source.qualified_table(),
            op: event.op.code(),
            lsn: event.source.lsn,
        })
}

/// The writes that make Cassandra reflect `event`, in order.
pub fn plan_writes<'e>(event: &'e ChangeEvent) -> Result<Vec<CqlWrite>, MappingError> {
    // A logical decoding message (pg_logical_emit_message) belongs to no table: nothing to write.
    if event.op == Op::Message {
        return Ok(Vec::new());
    }
    let qualified = event.source.qualified_table();
    let table = mapping_for(&qualified).ok_or(MappingError::UnknownTable(qualified))?;
    let image = |row: Option<&'e Row>, image| {
        row.ok_or(MappingError::MissingRow {
            table: table.source_table,
            op: event.op.code(),
            image,
        })
    };
    Ok(match event.op {
        Op::Create | Op::Read => vec![upsert(table, image(event.after.as_ref(), "after")?)?],
        Op::Update => {
            let after = upsert(table, image(event.after.as_ref(), "after")?)?;
            // An update that moves the primary key (say, a corrected close_time) leaves the
            // old Cassandra row behind unless it is deleted; the before image carries the old
            // key when the table's replica identity provides it.
            let old_key = match &event.before {
                Some(before) => key_of(table, &row_values(table, before)?),
                None => None,
            };
            match (old_key, &after) {
                (Some(old), CqlWrite::Upsert { values, .. })
                    if old[..] != values[..table.key_len] =>
                {
                    vec![CqlWrite::Delete { table, key: old }, after]
                }
                _ => vec![after],
            }
        }
        Op::Delete => {
            let values = row_values(table, image(event.before.as_ref(), "before")?)?;
            let key = key_of(table, &values).ok_or_else(|| MappingError::BadColumn {
                table: table.source_table,
                column: "(primary key)",
                reason: "the before image lacks the key; set REPLICA IDENTITY FULL".to_owned(),
            })?;
            vec![CqlWrite::Delete { table, key }]
        }
        Op::Truncate => vec![CqlWrite::Truncate { table }],
        // Returned early above: a message has no table.
        Op::Message => Vec::new(),
    })
}

fn upsert(table: &'static TableMapping, row: &Row) -> Result<CqlWrite, MappingError> {
    let values = row_values(table, row)?;
    if key_of(table, &values).is_none() {
        let missing = table.columns[..table.key_len]
            .iter()
            .zip(&values)
            .find(|(_, value)| value.is_none())
            .map_or("(primary key)", |(column, _)| column.name);
        return Err(MappingError::BadColumn {
            table: table.source_table,
            column: missing,
            reason: "is part of the primary key and must not be null".to_owned(),
        });
    }
    Ok(CqlWrite::Upsert { table, values })
}

/// The primary-key values, or `None` when one of them is null.
fn key_of(table: &TableMapping, values: &CqlRow) -> Option<CqlRow> {
    let key = &values[..table.key_len];
    key.iter().all(Option::is_some).then(|| key.to_vec())
}

fn row_values(table: &'static TableMapping, row: &Row) -> Result<CqlRow, MappingError> {
    table
        .columns
        .iter()
        .map(|column| {
            column_value(column, row).map_err(|reason| MappingError::BadColumn {
                table: table.source_table,
                column: column.name,
                reason,
            })
        })
        .collect()
}

/// Turns a decoded PostgreSQL value into a Cassandra value, or says why it cannot.
type Converter = fn(&Value) -> Result<CqlValue, String>;

fn column_value(column: &Column, row: &Row) -> Result<Option<CqlValue>, String> {
    let (source_column, convert): (&str, Converter) = match column.source {
        Source::Copy(CqlType::Text) => (column.name, text),
        Source::Copy(CqlType::BigInt) => (column.name, bigint),
        Source::Copy(CqlType::Decimal) => (column.name, decimal_value),
        Source::Copy(CqlType::Timestamp) => {
            (column.name, |v| timestamp(v).map(CqlValue::Timestamp))
        }
        Source::DayOf(from) => (from, |v| day_of(v).map(CqlValue::Date)),
        Source::KlineBucket { time, interval } => {
            let interval = match row.get(interval) {
                Some(Value::String(interval)) => interval.as_str(),
                other => return Err(format!("{interval} is {other:?}, not an interval name")),
            };
            return match row.get(time) {
                None | Some(Value::Null) => Ok(None),
                Some(value) => {
                    let at = utc(value)?;
                    Ok(Some(CqlValue::Date(cql_date(kline_bucket(interval, at)?))))
                }
            };
        }
    };
    match row.get(source_column) {
        // A column the row does not have (yet) is written as null rather than invented.
        None | Some(Value::Null) => Ok(None),
        Some(Value::Unavailable) => {
            Err("the value was not sent (unchanged TOAST value)".to_owned())
        }
        Some(value) => convert(value).map(Some),
    }
}

fn text(value: &Value) -> Result<CqlValue, String> {
    match value {
        Value::String(text) => Ok(CqlValue::Text(text.clone())),
        other => Err(format!("expected text, found {other:?}")),
    }
}

fn bigint(value: &Value) -> Result<CqlValue, String> {
    match value {
        Value::Int(number) => Ok(CqlValue::BigInt(*number)),
        other => Err(format!("expected an integer, found {other:?}")),
    }
}

/// Debezium's unscaled bytes are Cassandra's `decimal` encoding already: no conversion, no loss.
/// A connector in `decimal.handling.mode=string` sends the exact text instead, which is parsed;
/// in `double` mode the double's shortest exact rendering is taken (the connector already
/// rounded it, so that mode is not exact).
fn decimal_value(value: &Value) -> Result<CqlValue, String> {
    let parsed;
    let decimal = match value {
        Value::Decimal(decimal) => decimal,
        Value::String(text) => {
            parsed =
                ExactDecimal::parse(text).ok_or_else(|| format!("{text:?} is not a decimal"))?;
            &parsed
        }
        Value::Float(number) if number.is_finite() => {
            parsed = ExactDecimal::parse(&number.to_string())
                .ok_or_else(|| format!("{number} is not a decimal"))?;
            &parsed
        }
        other => return Err(format!("expected a decimal, found {other:?}")),
    };
    Ok(CqlValue::Decimal(
        CqlDecimal::from_signed_be_bytes_slice_and_exponent(
            decimal.unscaled_be_bytes(),
            decimal.scale(),
        ),
    ))
}

/// Cassandra timestamps have millisecond precision; finer digits are dropped.
fn timestamp(value: &Value) -> Result<CqlTimestamp, String> {
    match value {
        Value::Timestamp(at) => Ok(CqlTimestamp(at.timestamp_millis())),
        other => Err(format!("expected a timestamp, found {other:?}")),
    }
}

fn utc(value: &Value) -> Result<DateTime<Utc>, String> {
    match value {
        Value::Timestamp(at) => Ok(*at),
        other => Err(format!("expected a timestamp, found {other:?}")),
    }
}

fn day_of(value: &Value) -> Result<CqlDate, String> {
    Ok(cql_date(utc(value)?.date_naive()))
}

/// The first day of the partition bucket of a kline of `interval` opening `at`: its UTC day for
/// intervals shorter than a minute (Binance's only one is `1s`), else its UTC month. The largest
/// partitions are so a day of 1s klines (86,400 rows) and a 31-day month of 1m klines (44,640).
pub fn kline_bucket(interval: &str, at: DateTime<Utc>) -> Result<NaiveDate, String> {
    let day = at.date_naive();
    if interval.ends_with('s') {
        return Ok(day);
    }
    day.with_day(1)
        .ok_or_else(|| format!("no first day of the month of {day}"))
}

/// CQL dates count days from 2^31 days before the epoch, so that all are unsigned.
fn cql_date(day: NaiveDate) -> CqlDate {
    let days_since_epoch = (day - DateTime::UNIX_EPOCH.date_naive()).num_days();
    CqlDate((days_since_epoch + (1i64 << 31)) as u32)
}

#[cfg(test)]
mod tests {
    use debezium::{ExactDecimal, Source as EventSource};

    use super::*;

    fn at(rfc3339: &str) -> Value {
        Value::Timestamp(
            DateTime::parse_from_rfc3339(rfc3339)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    fn ticker(id: i64, close_time: &str, last_price: Option<(i64, i32)>) -> Row {
        let price = match last_price {
            Some((unscaled, scale)) => {
                Value::Decimal(ExactDecimal::new(unscaled.to_be_bytes().to_vec(), scale).unwrap())
            }
            None => Value::Null,
        };
        [
            ("id", Value::Int(id)),
            ("symbol", Value::String("BTCUSDT".into())),
            ("close_time", at(close_time)),
            ("last_price", price),
        ]
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
    }

    fn event(op: Op, table: &str, before: Option<Row>, after: Option<Row>) -> ChangeEvent {
        let (schema, table) = table.split_once('.').unwrap();
        let source = EventSource {
            schema: schema.into(),
            table: table.into(),
            ..EventSource::default()
        };
        ChangeEvent {
            op,
            source,
            before,
            after,
            ts_ms: None,
        }
    }

    fn column<'a>(values: &'a CqlRow, name: &str) -> &'a Option<CqlValue> {
        let index = TABLES[0]
            .columns
            .iter()
            .position(|column| column.name == name)
            .unwrap();
        &values[index]
    }

    #[test]
    fn an_insert_becomes_an_upsert_with_the_day_bucket_and_exact_decimals() {
        let after = ticker(7, "2025-11-04T14:19:37.123Z", Some((10_379_397_000_000, 8)));
        let writes =
            plan_writes(&event(Op::Create, "public.ticker_24h", None, Some(after))).unwrap();
        let [CqlWrite::Upsert { table, values }] = &writes[..] else {
            panic!("{writes:?}")
        };
        assert_eq!(table.cql_table, "ticker_24h");
        assert_eq!(
            column(values, "day"),
            &Some(CqlValue::Date(CqlDate((1u32 << 31) + 20396)))
        );
        assert_eq!(
            column(values, "close_time"),
            &Some(CqlValue::Timestamp(CqlTimestamp(1_762_265_977_123)))
        );
        let expected = CqlDecimal::from_signed_be_bytes_slice_and_exponent(
            &10_379_397_000_000i64.to_be_bytes(),
            8,
        );
        assert_eq!(
            column(values, "last_price"),
            &Some(CqlValue::Decimal(expected))
        );
        assert_eq!(
            column(values, "bid_price"),
            &None,
            "a column the row lacks is null"
        );
    }

    /// The (minimal two's-complement bytes, scale) Cassandra receives for a decimal value.
    fn cql_decimal_parts(value: Value) -> (Vec<u8>, i32) {
        match decimal_value(&value) {
            Ok(CqlValue::Decimal(decimal)) => {
                let (bytes, scale) = decimal.as_signed_be_bytes_slice_and_exponent();
                (bytes.to_vec(), scale)
            }
            other => panic!("{other:?}"),
        }
    }

    /// A mapping error (a dead letter's `dlq.error`, a log line) shows a decimal as its exact
    /// value, all 38 digits, not as bytes or a rounded number.
    #[test]
    fn errors_show_decimals_exactly() {
        let unscaled = -12_345_678_901_234_567_890_123_456_789_012_345_678_i128;
        let wide = ExactDecimal::new(unscaled.to_be_bytes().to_vec(), 8).unwrap();
        let error = text(&Value::Decimal(wide)).unwrap_err();
        assert!(
            error.contains("-123456789012345678901234567890.12345678"),
            "{error}"
        );
    }

    #[test]
    fn decimals_in_string_and_double_handling_modes() {
        // -10379397000000 = 0xF68F_5BBA_94C0 as 48-bit two's complement.
        let expected = (vec![0xf6, 0x8f, 0x5b, 0xba, 0x94, 0xc0], 8);
        assert_eq!(
            cql_decimal_parts(Value::String("-103793.97000000".into())),
            expected
        );
        assert_eq!(cql_decimal_parts(Value::Float(0.25)), (vec![25], 2));
        assert!(
            decimal_value(&Value::String("12.3.4".into()))
                .unwrap_err()
                .contains("12.3.4")
        );
        assert!(decimal_value(&Value::Float(f64::NAN)).is_err());
    }

    #[test]
    fn a_null_decimal_stays_null() {
        let after = ticker(7, "2025-11-04T14:19:37Z", None);
        let writes = plan_writes(&event(Op::Read, "public.ticker_24h", None, Some(after))).unwrap();
        let [CqlWrite::Upsert { values, .. }] = &writes[..] else {
            panic!()
        };
        assert_eq!(column(values, "last_price"), &None);
    }

    #[test]
    fn an_update_that_moves_the_key_deletes_the_old_row() {
        let before = ticker(7, "2025-11-04T14:19:37Z", Some((1, 0)));
        let after = ticker(7, "2025-11-05T00:00:01Z", Some((2, 0)));
        let writes = plan_writes(&event(
            Op::Update,
            "public.ticker_24h",
            Some(before.clone()),
            Some(after),
        ))
        .unwrap();
        assert!(
            matches!(
                &writes[..],
                [CqlWrite::Delete { .. }, CqlWrite::Upsert { .. }]
            ),
            "{writes:?}"
        );

        let same_key = ticker(7, "2025-11-04T14:19:37Z", Some((3, 0)));
        let writes = plan_writes(&event(
            Op::Update,
            "public.ticker_24h",
            Some(before),
            Some(same_key),
        ))
        .unwrap();
        assert!(
            matches!(&writes[..], [CqlWrite::Upsert { .. }]),
            "{writes:?}"
        );
    }

    #[test]
    fn delete_and_truncate() {
        let before = ticker(7, "2025-11-04T14:19:37Z", None);
        let writes =
            plan_writes(&event(Op::Delete, "public.ticker_24h", Some(before), None)).unwrap();
        let [CqlWrite::Delete { key, .. }] = &writes[..] else {
            panic!("{writes:?}")
        };
        assert_eq!(key.len(), 4);
        let writes = plan_writes(&event(Op::Truncate, "public.klines", None, None)).unwrap();
        assert!(
            matches!(&writes[..], [CqlWrite::Truncate { table }] if table.cql_table == "klines")
        );
    }

    #[test]
    fn logical_decoding_messages_write_nothing() {
        let message = event(Op::Message, ".", None, Some(Row::default()));
        assert_eq!(plan_writes(&message), Ok(Vec::new()));
    }

    #[test]
    fn bad_events_name_the_table_and_column() {
        let error = plan_writes(&event(
            Op::Create,
            "public.orders",
            None,
            Some(Row::default()),
        ))
        .unwrap_err();
        assert_eq!(error, MappingError::UnknownTable("public.orders".into()));
        let error = plan_writes(&event(Op::Create, "public.ticker_24h", None, None)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "public.ticker_24h: a c event without its after row"
        );
        let mut row = ticker(7, "2025-11-04T14:19:37Z", None);
        row = row
            .iter()
            .filter(|(name, _)| *name != "symbol")
            .map(|(n, v)| (n.to_owned(), v.clone()))
            .collect();
        let error =
            plan_writes(&event(Op::Create, "public.ticker_24h", None, Some(row))).unwrap_err();
        assert!(
            error.to_string().starts_with("public.ticker_24h.symbol:"),
            "{error}"
        );
        let unavailable: Row = [("last_price".to_owned(), Value::Unavailable)]
            .into_iter()
            .collect();
        let error = plan_writes(&event(
            Op::Create,
            "public.ticker_24h",
            None,
            Some(unavailable),
        ))
        .unwrap_err();
        assert!(
            error.to_string().contains("last_price") && error.to_string().contains("TOAST"),
            "{error}"
        );
    }

    #[test]
    fn write_times_follow_the_wal_and_outrank_wall_clock_write_times() {
        let at = |lsn: Option<i64>| {
            let mut change = event(Op::Update, "public.ticker_24h", None, None);
            change.source.lsn = lsn;
            write_time(&change)
        };
        let earlier = at(Some(24_023_128)).unwrap();
        let later = at(Some(24_023_129)).unwrap();
        assert!(earlier < later);
        // Rows written before write times followed the WAL carry microseconds since the epoch;
        // the year 3000 is still below every WAL-derived write time.
        let year_3000_us = 32_503_680_000_000_000_i64;
        assert!(at(Some(0)).unwrap() > year_3000_us);
        assert!(matches!(
            at(None),
            Err(MappingError::NoPosition { lsn: None, .. })
        ));
        assert!(at(Some(-1)).is_err());
        assert!(
            at(Some(i64::MAX)).is_err(),
            "an overflow is an error, not a wrap"
        );
    }

    #[test]
    fn kline_buckets_follow_the_interval() {
        let at = DateTime::parse_from_rfc3339("2025-11-09T12:34:56Z")
            .unwrap()
            .with_timezone(&Utc);
        let date = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap();
        assert_eq!(kline_bucket("1s", at), Ok(date("2025-11-09")));
        for interval in ["1m", "15m", "1h", "1d", "1w", "1M"] {
            assert_eq!(
                kline_bucket(interval, at),
                Ok(date("2025-11-01")),
                "{interval}"
            );
        }
    }
}
