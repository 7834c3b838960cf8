//! The batch writes' parameters: one array per column, in the order of the statement's
//! `UNNEST`, built from a poll's tickers or a batch of candles. Pure.
//!
//! Both tables share their leading columns (symbol, open and close time, trade count, then the
//! decimals), built once by [`RowColumns`]; each table adds its own.

use std::collections::HashMap;

use binance::{Interval, Kline, Ticker24h};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use tokio_postgres::types::ToSql;

use super::StoreError;
use crate::klines::{KlineBatch, KlineRow};

fn timestamp(symbol: &str, field: &'static str, millis: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_millis(millis).ok_or_else(|| StoreError::OutOfRange {
        symbol: symbol.to_owned(),
        field,
        value: millis.to_string(),
    })
}

fn count(symbol: &str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange {
        symbol: symbol.to_owned(),
        field: "count",
        value: value.to_string(),
    })
}

/// The columns both tables have, for `DECIMALS` decimal columns.
#[derive(Debug, PartialEq)]
pub struct RowColumns<const DECIMALS: usize> {
    pub symbols: Vec<String>,
    pub open_times: Vec<DateTime<Utc>>,
    pub close_times: Vec<DateTime<Utc>>,
    pub trade_counts: Vec<i64>,
    /// The decimal fields, each a column, in table order.
    pub decimals: [Vec<Decimal>; DECIMALS],
}

impl<const DECIMALS: usize> Default for RowColumns<DECIMALS> {
    fn default() -> Self {
        Self {
            symbols: Vec::new(),
            open_times: Vec::new(),
            close_times: Vec::new(),
            trade_counts: Vec::new(),
            decimals: std::array::from_fn(|_| Vec::new()),
        }
    }
}

impl<const DECIMALS: usize> RowColumns<DECIMALS> {
    /// Appends one row, naming the symbol and field of a time or count PostgreSQL cannot hold.
    fn push(
        &mut self,
        symbol: &str,
        open_time: i64,
        close_time: i64,
        trade_count: u64,
        decimals: [Decimal; DECIMALS],
    ) -> Result<(), StoreError> {
        self.open_times
            .push(timestamp(symbol, "openTime", open_time)?);
        self.close_times
            .push(timestamp(symbol, "closeTime", close_time)?);
        self.trade_counts.push(count(symbol, trade_count)?);
        self.symbols.push(symbol.to_owned());
        for (column, value) in self.decimals.iter_mut().zip(decimals) {
            column.push(value);
        }
        Ok(())
    }

    fn decimal_params(&self) -> impl Iterator<Item = &(dyn ToSql + Sync)> {
        self.decimals
            .iter()
            .map(|column| column as &(dyn ToSql + Sync))
    }
}

/// One array per ticker column, in `INSERT_TICKERS` order. Pure.
#[derive(Debug, Default, PartialEq)]
pub struct TickerColumns {
    pub rows: RowColumns<15>,
    pub first_trade_ids: Vec<i64>,
    pub last_trade_ids: Vec<i64>,
}

impl TickerColumns {
    pub fn from_tickers(tickers: &[Ticker24h]) -> Result<Self, StoreError> {
        let mut columns = Self::default();
        for ticker in tickers {
            columns.rows.push(
                &ticker.symbol,
                ticker.open_time,
                ticker.close_time,
                ticker.count,
                [
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
                ],
            )?;
            columns.first_trade_ids.push(ticker.first_id);
            columns.last_trade_ids.push(ticker.last_id);
        }
        Ok(columns)
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let rows = &self.rows;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &rows.symbols,
            &rows.open_times,
            &rows.close_times,
            &self.first_trade_ids,
            &self.last_trade_ids,
            &rows.trade_counts,
        ];
        params.extend(rows.decimal_params());
        params
    }
}

/// One array per kline column, in `UPSERT_KLINES` order. Pure.
#[derive(Debug, Default, PartialEq)]
pub struct KlineColumns {
    /// Decimals: open, high, low, close, volume, quote volume, taker buy base, taker buy quote.
    pub rows: RowColumns<8>,
    pub intervals: Vec<&'static str>,
}

impl KlineColumns {
    /// The batch's rows, one per (symbol, interval, open time): where a candle appears twice
    /// (a reply repeating a row, a series asked for twice), the later copy, the newer one,
    /// stands in the place of the first. An upsert touching one row twice fails as a whole
    /// ("ON CONFLICT DO UPDATE command cannot affect row a second time"), and would fail again at
    /// every poll, stopping every series in the batch for good.
    pub fn from_batch(batch: &KlineBatch) -> Result<Self, StoreError> {
        let mut position: HashMap<(&str, Interval, i64), usize> = HashMap::new();
        let mut distinct: Vec<&KlineRow> = Vec::with_capacity(batch.rows.len());
        for row in &batch.rows {
            let key = (row.symbol.as_str(), row.interval, row.kline.open_time);
            match position.get(&key) {
                Some(&index) => distinct[index] = row,
                None => {
                    position.insert(key, distinct.len());
                    distinct.push(row);
                }
            }
        }
        let mut columns = Self::default();
        for row in distinct {
            let kline: &Kline = &row.kline;
            columns.rows.push(
                &row.symbol,
                kline.open_time,
                kline.close_time,
                kline.trades,
                [
                    kline.open,
                    kline.high,
                    kline.low,
                    kline.close,
                    kline.volume,
                    kline.quote_volume,
                    kline.taker_buy_base_volume,
                    kline.taker_buy_quote_volume,
                ],
            )?;
            columns.intervals.push(row.interval.as_str());
        }
        Ok(columns)
    }

    pub(super) fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        let rows = &self.rows;
        let mut params: Vec<&(dyn ToSql + Sync)> = vec![
            &rows.symbols,
            &self.intervals,
            &rows.open_times,
            &rows.close_times,
            &rows.trade_counts,
        ];
        params.extend(rows.decimal_params());
        params
    }
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
        assert_eq!(columns.rows.symbols, ["BTCUSDT", "ETHUSDT"]);
        let last_prices: Vec<String> = columns.rows.decimals[4]
            .iter()
            .map(Decimal::to_string)
            .collect();
        assert_eq!(
            last_prices,
            ["103793.97000000", "0.00001234"],
            "exact, trailing zeros kept"
        );
        assert_eq!(
            columns.rows.close_times[0].to_rfc3339(),
            "2025-11-04T14:19:37.123+00:00"
        );
        assert_eq!(columns.rows.trade_counts, [5, 0]);
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

#[cfg(test)]
mod kline_tests {
    use super::*;
    use crate::klines::tests::kline;

    #[test]
    fn kline_columns_keep_series_and_digits() {
        let mut batch = KlineBatch::default();
        batch.extend(
            "PEPEUSDT",
            Interval::Minute1,
            vec![kline(1_709_294_400_000, "0.00001234")],
        );
        batch.extend(
            "BTCUSDT",
            Interval::Hour1,
            vec![kline(1_709_294_400_000, "60000.10000000")],
        );
        let columns = KlineColumns::from_batch(&batch).unwrap();
        assert_eq!(columns.rows.symbols, ["PEPEUSDT", "BTCUSDT"]);
        assert_eq!(columns.intervals, ["1m", "1h"]);
        let closes: Vec<String> = columns.rows.decimals[3]
            .iter()
            .map(Decimal::to_string)
            .collect();
        assert_eq!(closes, ["0.00001234", "60000.10000000"]);
        assert_eq!(
            columns.rows.close_times[0].to_rfc3339(),
            "2024-03-01T12:00:59.999+00:00"
        );
        assert_eq!(columns.params().len(), 13, "one parameter per UNNEST array");
    }

    #[test]
    fn a_candle_twice_in_a_batch_is_written_once_with_its_later_values() {
        let mut batch = KlineBatch::default();
        batch.extend(
            "BTCUSDT",
            Interval::Minute1,
            vec![
                kline(1_709_294_400_000, "1"),
                kline(1_709_294_460_000, "2"),
                kline(1_709_294_400_000, "3"),
            ],
        );
        batch.extend(
            "BTCUSDT",
            Interval::Minute1,
            vec![kline(1_709_294_460_000, "4")],
        );
        // Same open time, other series: distinct candles.
        batch.extend(
            "BTCUSDT",
            Interval::Hour1,
            vec![kline(1_709_294_400_000, "5")],
        );
        batch.extend(
            "ETHUSDT",
            Interval::Minute1,
            vec![kline(1_709_294_400_000, "6")],
        );
        let columns = KlineColumns::from_batch(&batch).unwrap();
        let closes: Vec<String> = columns.rows.decimals[3]
            .iter()
            .map(Decimal::to_string)
            .collect();
        assert_eq!(closes, ["3", "4", "5", "6"]);
        assert_eq!(columns.intervals, ["1m", "1m", "1h", "1m"]);
        assert_eq!(
            columns.rows.symbols,
            ["BTCUSDT", "BTCUSDT", "BTCUSDT", "ETHUSDT"]
        );
    }
}
