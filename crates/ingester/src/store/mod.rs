//! PostgreSQL: the connection (reconnected with backoff after it is lost) and the two batch
//! writes, each one statement and one round trip whatever its size; their parameters are built
//! in [`columns`].
//!
//! A batch goes as one array per column through `UNNEST`: a poll's tickers are appended in one
//! transaction (all of a poll or none, so a failed poll can be written again), and klines are
//! upserted on (symbol, interval, open_time) only where a value changed — every UPDATE becomes a
//! Kafka message, and a closed candle fetched again must not produce one.
//!
//! Both writes are safe to repeat. A write that timed out or lost its connection may still have
//! committed, and the caller cannot tell; it writes again. Tickers are inserted ON CONFLICT on
//! their natural key (symbol, close_time, last_trade_id) DO NOTHING, so the repeat adds no row,
//! and an unchanged candle is not updated.

mod columns;

use std::time::{Duration, Instant};

use binance::{Interval, RetryPolicy, Ticker24h};
use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use columns::{KlineColumns, TickerColumns};

use crate::klines::{KlineBatch, SeriesKey};

/// Longest wait for a connection or a statement before PostgreSQL is deemed unreachable: a
/// half-open TCP connection would otherwise hold a write forever.
const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{symbol}: {field} {value} is out of range")]
    OutOfRange {
        symbol: String,
        field: &'static str,
        value: String,
    },
    #[error("PostgreSQL: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("PostgreSQL did not answer within {TIMEOUT:?}")]
    Timeout,
    #[error("PostgreSQL is unreachable; next connection attempt in {0:?}")]
    Backoff(Duration),
}

impl StoreError {
    /// Whether the same write may succeed later (PostgreSQL unreachable or restarting), as
    /// opposed to data PostgreSQL will reject every time.
    /// A missing partition counts as transient: the day is created and the write tried again
    /// (`partitions`), never given up.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::OutOfRange { .. } => false,
            StoreError::Postgres(_) if self.is_missing_partition() => true,
            StoreError::Postgres(error) => error.code().is_none_or(is_transient_state),
            StoreError::Timeout | StoreError::Backoff(_) => true,
        }
    }

    /// Whether PostgreSQL refused a row because no partition covers its time ("no partition of
    /// relation … found for row"): a check violation (23514) that names no constraint, unlike a
    /// refused value's (`…_not_nan`), and so recognised whatever language the server speaks.
    pub fn is_missing_partition(&self) -> bool {
        match self {
            StoreError::Postgres(error) => error.as_db_error().is_some_and(|error| {
                *error.code() == SqlState::CHECK_VIOLATION && error.constraint().is_none()
            }),
            _ => false,
        }
    }

    /// A short label for the errors metric.
    pub fn kind(&self) -> &'static str {
        match self {
            StoreError::OutOfRange { .. } => "out_of_range",
            StoreError::Postgres(_) if self.is_missing_partition() => "postgres_no_partition",
            StoreError::Postgres(_) if self.is_transient() => "postgres_unavailable",
            StoreError::Postgres(_) => "postgres_rejected",
            StoreError::Timeout => "postgres_timeout",
            StoreError::Backoff(_) => "postgres_backoff",
        }
    }
}

/// SQLSTATE classes that describe the server or the connection rather than the statement:
/// 08 connection exception, 40 rollback (serialization, deadlock), 53 insufficient resources,
/// 57 operator intervention (shutdown, restart).
fn is_transient_state(state: &SqlState) -> bool {
    ["08", "40", "53", "57"]
        .iter()
        .any(|class| state.code().starts_with(class))
}

/// A PostgreSQL connection that is re-established, with backoff and jitter, after it is lost.
pub struct Store {
    url: String,
    client: Option<Client>,
    backoff: RetryPolicy,
    failures: u32,
    next_attempt: Option<Instant>,
}

impl Store {
    pub fn new(url: String) -> Self {
        Store {
            url,
            client: None,
            backoff: RetryPolicy {
                max_attempts: u32::MAX,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
            },
            failures: 0,
            next_attempt: None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.client
            .as_ref()
            .is_some_and(|client| !client.is_closed())
    }

    /// The open connection, or a new one unless the backoff after a failure is still running.
    pub async fn client(&mut self) -> Result<&Client, StoreError> {
        if !self.is_connected() {
            self.client = Some(self.connect().await?);
        }
        self.client.as_ref().ok_or(StoreError::Timeout)
    }

    /// Reports a failed use of the connection and forgets the connection, so the next use
    /// reconnects; a refusal during the reconnection backoff was reported when the connection
    /// failed, and is only a debug line.
    pub fn failed(&mut self, error: &StoreError) {
        match error {
            StoreError::Backoff(_) => tracing::debug!("{error}"),
            _ => {
                tracing::warn!("{error}");
                self.client = None;
            }
        }
    }

    async fn connect(&mut self) -> Result<Client, StoreError> {
        if let Some(wait) = self
            .next_attempt
            .and_then(|at| at.checked_duration_since(Instant::now()))
        {
            return Err(StoreError::Backoff(wait));
        }
        let attempt = async {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls).await?;
            tokio::spawn(async move {
                if let Err(error) = connection.await {
                    tracing::warn!("PostgreSQL connection lost: {error}");
                }
            });
            Ok(client)
        };
        match timed(attempt).await {
            Ok(client) => {
                if self.failures > 0 {
                    tracing::info!(failures = self.failures, "reconnected to PostgreSQL");
                }
                self.failures = 0;
                self.next_attempt = None;
                Ok(client)
            }
            Err(error) => {
                self.failures = self.failures.saturating_add(1);
                let wait = self.backoff.backoff(self.failures, rand::random::<f64>());
                self.next_attempt = Some(Instant::now() + wait);
                Err(error)
            }
        }
    }
}

pub(crate) async fn timed<T>(
    work: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, StoreError> {
    match tokio::time::timeout(TIMEOUT, work).await {
        Ok(result) => Ok(result?),
        Err(_) => Err(StoreError::Timeout),
    }
}

const INSERT_TICKERS: &str = "
    INSERT INTO ticker_24h (
        symbol, open_time, close_time, first_trade_id, last_trade_id, trade_count,
        price_change, price_change_percent, weighted_avg_price, prev_close_price,
        last_price, last_qty, bid_price, bid_qty, ask_price, ask_qty, open_price, high_price,
        low_price, volume, quote_volume, fetched_at)
    SELECT *, $22::timestamptz FROM UNNEST(
        $1::text[], $2::timestamptz[], $3::timestamptz[], $4::bigint[], $5::bigint[],
        $6::bigint[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],
        $11::numeric[], $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[],
        $16::numeric[], $17::numeric[], $18::numeric[], $19::numeric[], $20::numeric[],
        $21::numeric[])
    ON CONFLICT (symbol, close_time, last_trade_id) DO NOTHING";

/// Appends one poll's tickers, fetched at `fetched_at`; returns how many rows were written,
/// which leaves out tickers already stored (a retried poll, or a quiet pair polled twice).
pub async fn insert_tickers(
    client: &Client,
    tickers: &[Ticker24h],
    fetched_at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let columns = TickerColumns::from_tickers(tickers)?;
    let mut params = columns.params();
    params.push(&fetched_at);
    timed(client.execute(INSERT_TICKERS, &params)).await
}

const UPSERT_KLINES: &str = "
    INSERT INTO klines (
        symbol, interval, open_time, close_time, trade_count, open_price, high_price, low_price,
        close_price, volume, quote_volume, taker_buy_base_volume, taker_buy_quote_volume)
    SELECT * FROM UNNEST(
        $1::text[], $2::text[], $3::timestamptz[], $4::timestamptz[], $5::bigint[],
        $6::numeric[], $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[],
        $11::numeric[], $12::numeric[], $13::numeric[])
    ON CONFLICT (symbol, interval, open_time) DO UPDATE SET
        close_time = EXCLUDED.close_time,
        trade_count = EXCLUDED.trade_count,
        open_price = EXCLUDED.open_price,
        high_price = EXCLUDED.high_price,
        low_price = EXCLUDED.low_price,
        close_price = EXCLUDED.close_price,
        volume = EXCLUDED.volume,
        quote_volume = EXCLUDED.quote_volume,
        taker_buy_base_volume = EXCLUDED.taker_buy_base_volume,
        taker_buy_quote_volume = EXCLUDED.taker_buy_quote_volume,
        updated_at = now()
    WHERE (klines.close_time, klines.trade_count, klines.open_price, klines.high_price,
           klines.low_price, klines.close_price, klines.volume, klines.quote_volume,
           klines.taker_buy_base_volume, klines.taker_buy_quote_volume)
        IS DISTINCT FROM
          (EXCLUDED.close_time, EXCLUDED.trade_count, EXCLUDED.open_price, EXCLUDED.high_price,
           EXCLUDED.low_price, EXCLUDED.close_price, EXCLUDED.volume, EXCLUDED.quote_volume,
           EXCLUDED.taker_buy_base_volume, EXCLUDED.taker_buy_quote_volume)";

/// Upserts a batch of candles; returns how many rows were inserted or changed (unchanged
/// candles are not counted, as they are not written).
pub async fn upsert_klines(client: &Client, batch: &KlineBatch) -> Result<u64, StoreError> {
    let columns = KlineColumns::from_batch(batch)?;
    timed(client.execute(UPSERT_KLINES, &columns.params())).await
}

/// The newest stored open time of each series of `symbols` × `intervals` that has any. One
/// index lookup per series (a backward scan of the primary key), however long the history.
const LAST_OPEN_TIMES: &str = "
    SELECT s.symbol, i.interval,
           (SELECT max(k.open_time) FROM klines k
             WHERE k.symbol = s.symbol AND k.interval = i.interval)
    FROM UNNEST($1::text[]) AS s(symbol) CROSS JOIN UNNEST($2::text[]) AS i(interval)";

pub async fn last_open_times(
    client: &Client,
    symbols: &[String],
    intervals: &[Interval],
) -> Result<Vec<(SeriesKey, i64)>, StoreError> {
    let names: Vec<&str> = intervals.iter().map(|interval| interval.as_str()).collect();
    let rows = timed(client.query(LAST_OPEN_TIMES, &[&symbols, &names])).await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let last: Option<DateTime<Utc>> = row.get(2);
            let interval = row.get::<_, &str>(1).parse::<Interval>().ok()?;
            Some(((row.get(0), interval), last?.timestamp_millis()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_going_away_is_transient_and_bad_data_is_not() {
        assert!(is_transient_state(&SqlState::ADMIN_SHUTDOWN));
        assert!(is_transient_state(&SqlState::CONNECTION_FAILURE));
        assert!(!is_transient_state(&SqlState::NUMERIC_VALUE_OUT_OF_RANGE));
        assert!(!is_transient_state(&SqlState::INSUFFICIENT_PRIVILEGE));
        assert!(StoreError::Timeout.is_transient());
        let out_of_range = StoreError::OutOfRange {
            symbol: "X".to_owned(),
            field: "count",
            value: "1".to_owned(),
        };
        assert!(!out_of_range.is_transient());
    }
}
