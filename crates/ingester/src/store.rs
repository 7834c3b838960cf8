//! PostgreSQL writes: one poll's tickers appended in one round trip.
//!
//! The batch goes as one array per column through `UNNEST`, so a poll of any number of symbols
//! is a single statement and a single transaction: either every ticker of a poll is stored or
//! none is, and the poll can be written again.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::Client;

use binance::Ticker24h;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{symbol}: {field} {value} is out of range")]
    OutOfRange {
        symbol: String,
        field: &'static str,
        value: String,
    },
    #[error("writing ticker_24h: {0}")]
    Postgres(#[from] tokio_postgres::Error),
}

const INSERT_TICKERS: &str = "
    INSERT INTO ticker_24h (
        symbol, price_change, price_change_percent, weighted_avg_price, prev_close_price,
        last_price, last_qty, bid_price, bid_qty, ask_price, ask_qty, open_price, high_price,
        low_price, volume, quote_volume, open_time, close_time, first_trade_id, last_trade_id,
        trade_count, fetched_at)
    SELECT *, $22::timestamptz FROM UNNEST(
        $1::text[], $2::numeric[], $3::numeric[], $4::numeric[], $5::numeric[], $6::numeric[],
        $7::numeric[], $8::numeric[], $9::numeric[], $10::numeric[], $11::numeric[],
        $12::numeric[], $13::numeric[], $14::numeric[], $15::numeric[], $16::numeric[],
        $17::timestamptz[], $18::timestamptz[], $19::bigint[], $20::bigint[], $21::bigint[])";

/// One column array per ticker field, in `INSERT_TICKERS` order. Pure.
#[derive(Debug, Default, PartialEq)]
pub struct TickerColumns {
    pub symbols: Vec<String>,
    /// The 15 decimal fields, each a column, in table order.
    pub decimals: [Vec<Decimal>; 15],
    pub open_times: Vec<DateTime<Utc>>,
    pub close_times: Vec<DateTime<Utc>>,
    pub first_trade_ids: Vec<i64>,
    pub last_trade_ids: Vec<i64>,
    pub trade_counts: Vec<i64>,
}

impl TickerColumns {
    pub fn from_tickers(tickers: &[Ticker24h]) -> Result<Self, StoreError> {
        let mut columns = Self::default();
        for ticker in tickers {
            let out_of_range = |field, value: String| StoreError::OutOfRange {
                symbol: ticker.symbol.clone(),
                field,
                value,
            };
            let time = |field, millis: i64| {
                DateTime::from_timestamp_millis(millis)
                    .ok_or_else(|| out_of_range(field, millis.to_string()))
            };
            columns.symbols.push(ticker.symbol.clone());
            let decimals = [
                ticker.price_change,
                ticker.price_change_percent,
                ticker.weighted_avg_price,
                ticker.prev_close_price,
                ticker.last_price,
                ticker.last_qty,
                ticker.bid_price,
                ticker.bid_qty,
                ticker.ask_price,
                ticker.ask_qty,
                ticker.open_price,
                ticker.high_price,
                ticker.low_price,
                ticker.volume,
                ticker.quote_volume,
            ];
            for (column, value) in columns.decimals.iter_mut().zip(decimals) {
                column.push(value);
            }
            columns.open_times.push(time("openTime", ticker.open_time)?);
            columns
                .close_times
                .push(time("closeTime", ticker.close_time)?);
            columns.first_trade_ids.push(ticker.first_id);
            columns.last_trade_ids.push(ticker.last_id);
            let count = i64::try_from(ticker.count)
                .map_err(|_| out_of_range("count", ticker.count.to_string()))?;
            columns.trade_counts.push(count);
        }
        Ok(columns)
    }
}

/// Appends one poll's tickers, fetched at `fetched_at`; returns how many rows were written.
pub async fn insert_tickers(
    client: &Client,
    tickers: &[Ticker24h],
    fetched_at: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let columns = TickerColumns::from_tickers(tickers)?;
    let [
        d1,
        d2,
        d3,
        d4,
        d5,
        d6,
        d7,
        d8,
        d9,
        d10,
        d11,
        d12,
        d13,
        d14,
        d15,
    ] = &columns.decimals;
    let written = client
        .execute(
            INSERT_TICKERS,
            &[
                &columns.symbols,
                d1,
                d2,
                d3,
                d4,
                d5,
                d6,
                d7,
                d8,
                d9,
                d10,
                d11,
                d12,
                d13,
                d14,
                d15,
                &columns.open_times,
                &columns.close_times,
                &columns.first_trade_ids,
                &columns.last_trade_ids,
                &columns.trade_counts,
                &fetched_at,
            ],
        )
        .await?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticker(symbol: &str, last_price: &str, count: u64) -> Ticker24h {
        let zero = Decimal::ZERO;
        Ticker24h {
            symbol: symbol.to_owned(),
            price_change: zero,
            price_change_percent: zero,
            weighted_avg_price: zero,
            prev_close_price: zero,
            last_price: last_price.parse().unwrap(),
            last_qty: zero,
            bid_price: zero,
            bid_qty: zero,
            ask_price: zero,
            ask_qty: zero,
            open_price: zero,
            high_price: zero,
            low_price: zero,
            volume: zero,
            quote_volume: zero,
            open_time: 1_762_179_577_123,
            close_time: 1_762_265_977_123,
            first_id: -1,
            last_id: -1,
            count,
        }
    }

    #[test]
    fn one_array_per_column_in_ticker_order() {
        let tickers = [
            ticker("BTCUSDT", "103793.97000000", 5),
            ticker("ETHUSDT", "0.00001234", 0),
        ];
        let columns = TickerColumns::from_tickers(&tickers).unwrap();
        assert_eq!(columns.symbols, ["BTCUSDT", "ETHUSDT"]);
        let last_prices: Vec<String> = columns.decimals[4].iter().map(Decimal::to_string).collect();
        assert_eq!(
            last_prices,
            ["103793.97000000", "0.00001234"],
            "exact, trailing zeros kept"
        );
        assert_eq!(
            columns.close_times[0].to_rfc3339(),
            "2025-11-04T14:19:37.123+00:00"
        );
        assert_eq!(columns.trade_counts, [5, 0]);
    }

    #[test]
    fn an_unrepresentable_count_is_an_error_naming_the_symbol() {
        let error = TickerColumns::from_tickers(&[ticker("BTCUSDT", "1", u64::MAX)]).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("BTCUSDT: count {} is out of range", u64::MAX)
        );
    }
}
