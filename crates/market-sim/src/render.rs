//! Response bodies in Binance's shapes: field names, field order and decimals as strings with
//! eight decimal places (three for `priceChangePercent`), exactly as Binance prints them.

use serde::Serialize;

use crate::limiter::LimiterConfig;
use crate::price::{Candle, DayStats, UNITS_PER_WHOLE};
use crate::universe::Symbol;

/// An amount in 10^-8 units as Binance prints it: `"4.00000200"`, `"-94.99999800"`.
pub fn units(amount: i128) -> String {
    let per_whole = i128::from(UNITS_PER_WHOLE);
    let sign = if amount < 0 { "-" } else { "" };
    let magnitude = amount.unsigned_abs();
    let (whole, fraction) = (magnitude / per_whole as u128, magnitude % per_whole as u128);
    format!("{sign}{whole}.{fraction:08}")
}

/// `numerator / denominator` rounded half away from zero to `decimals` places.
fn ratio(numerator: i128, denominator: i128, decimals: u32) -> String {
    if denominator == 0 {
        return format!("0.{:0width$}", 0, width = decimals as usize);
    }
    let scale = 10_i128.pow(decimals);
    let scaled = numerator * scale * 2 / denominator;
    let rounded = (scaled + scaled.signum()) / 2;
    let sign = if rounded < 0 { "-" } else { "" };
    let magnitude = rounded.unsigned_abs();
    let scale = scale as u128;
    format!(
        "{sign}{}.{:0width$}",
        magnitude / scale,
        magnitude % scale,
        width = decimals as usize
    )
}

/// One kline row: `[openTime, open, high, low, close, volume, closeTime, quoteVolume, trades,
/// takerBuyBase, takerBuyQuote, ignore]`.
type KlineRow = (
    i64,
    String,
    String,
    String,
    String,
    String,
    i64,
    String,
    u64,
    String,
    String,
    &'static str,
);

pub fn kline(candle: &Candle) -> KlineRow {
    (
        candle.open_time,
        units(candle.open.into()),
        units(candle.high.into()),
        units(candle.low.into()),
        units(candle.close.into()),
        units(candle.volume),
        candle.close_time,
        units(candle.quote_volume),
        candle.trades,
        units(candle.taker_base),
        units(candle.taker_quote),
        "0",
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FullTicker {
    symbol: String,
    price_change: String,
    price_change_percent: String,
    weighted_avg_price: String,
    prev_close_price: String,
    last_price: String,
    last_qty: String,
    bid_price: String,
    bid_qty: String,
    ask_price: String,
    ask_qty: String,
    open_price: String,
    high_price: String,
    low_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniTicker {
    symbol: String,
    open_price: String,
    high_price: String,
    low_price: String,
    last_price: String,
    volume: String,
    quote_volume: String,
    open_time: i64,
    close_time: i64,
    first_id: i64,
    last_id: i64,
    count: u64,
}

/// Binance reports -1 for both trade ids when the window had no trades.
fn trade_ids(stats: &DayStats) -> (i64, i64) {
    stats.window.trade_ids.unwrap_or((-1, -1))
}

pub fn full_ticker(symbol: &str, stats: &DayStats) -> FullTicker {
    let window = &stats.window;
    let change = i128::from(window.close - window.open);
    let (first_id, last_id) = trade_ids(stats);
    FullTicker {
        symbol: symbol.to_owned(),
        price_change: units(change),
        price_change_percent: ratio(change * 100, window.open.into(), 3),
        weighted_avg_price: ratio(window.quote_volume, window.volume, 8),
        prev_close_price: units(stats.previous_close.into()),
        last_price: units(window.close.into()),
        last_qty: units(stats.last_qty),
        bid_price: units(stats.bid.into()),
        bid_qty: units(stats.bid_qty),
        ask_price: units(stats.ask.into()),
        ask_qty: units(stats.ask_qty),
        open_price: units(window.open.into()),
        high_price: units(window.high.into()),
        low_price: units(window.low.into()),
        volume: units(window.volume),
        quote_volume: units(window.quote_volume),
        open_time: stats.open_time,
        close_time: stats.close_time,
        first_id,
        last_id,
        count: window.trades,
    }
}

pub fn mini_ticker(symbol: &str, stats: &DayStats) -> MiniTicker {
    let window = &stats.window;
    let (first_id, last_id) = trade_ids(stats);
    MiniTicker {
        symbol: symbol.to_owned(),
        open_price: units(window.open.into()),
        high_price: units(window.high.into()),
        low_price: units(window.low.into()),
        last_price: units(window.close.into()),
        volume: units(window.volume),
        quote_volume: units(window.quote_volume),
        open_time: stats.open_time,
        close_time: stats.close_time,
        first_id,
        last_id,
        count: window.trades,
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExchangeInfo<'a> {
    timezone: &'static str,
    server_time: i64,
    rate_limits: Vec<RateLimit>,
    exchange_filters: [(); 0],
    symbols: Vec<SymbolInfo<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RateLimit {
    rate_limit_type: &'static str,
    interval: &'static str,
    interval_num: i64,
    limit: u32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SymbolInfo<'a> {
    symbol: &'a str,
    status: &'static str,
    base_asset: &'a str,
    base_asset_precision: u8,
    quote_asset: &'a str,
    quote_precision: u8,
    quote_asset_precision: u8,
    order_types: [&'static str; 3],
    is_spot_trading_allowed: bool,
    is_margin_trading_allowed: bool,
    filters: [Filter; 2],
    permissions: [(); 0],
    permission_sets: [[&'static str; 1]; 1],
}

#[derive(Serialize)]
#[serde(tag = "filterType", rename_all = "SCREAMING_SNAKE_CASE")]
enum Filter {
    #[serde(rename_all = "camelCase")]
    PriceFilter {
        min_price: String,
        max_price: String,
        tick_size: String,
    },
    #[serde(rename_all = "camelCase")]
    LotSize {
        min_qty: String,
        max_qty: String,
        step_size: String,
    },
}

/// The rate-limit window in Binance's terms: (interval name, interval count, header suffix).
pub fn window_terms(window_ms: i64) -> (&'static str, i64, String) {
    let (name, letter, unit_ms) = match window_ms {
        ms if ms % 86_400_000 == 0 => ("DAY", 'd', 86_400_000),
        ms if ms % 3_600_000 == 0 => ("HOUR", 'h', 3_600_000),
        ms if ms % 60_000 == 0 => ("MINUTE", 'm', 60_000),
        _ => ("SECOND", 's', 1_000),
    };
    let count = (window_ms / unit_ms).max(1);
    (name, count, format!("{count}{letter}"))
}

pub fn exchange_info<'a>(
    symbols: &'a [Symbol],
    limiter: LimiterConfig,
    server_time: i64,
) -> ExchangeInfo<'a> {
    let (interval, interval_num, _) = window_terms(limiter.window_ms);
    ExchangeInfo {
        timezone: "UTC",
        server_time,
        rate_limits: vec![
            RateLimit {
                rate_limit_type: "REQUEST_WEIGHT",
                interval,
                interval_num,
                limit: limiter.limit,
            },
            RateLimit {
                rate_limit_type: "RAW_REQUESTS",
                interval: "MINUTE",
                interval_num: 5,
                limit: 61_000,
            },
        ],
        exchange_filters: [],
        symbols: symbols
            .iter()
            .map(|symbol| SymbolInfo {
                symbol: &symbol.name,
                status: if symbol.trading { "TRADING" } else { "BREAK" },
                base_asset: &symbol.base_asset,
                base_asset_precision: 8,
                quote_asset: &symbol.quote_asset,
                quote_precision: 8,
                quote_asset_precision: 8,
                order_types: ["LIMIT", "LIMIT_MAKER", "MARKET"],
                is_spot_trading_allowed: true,
                is_margin_trading_allowed: false,
                filters: [
                    Filter::PriceFilter {
                        min_price: units(symbol.model.tick_units.into()),
                        max_price: units(i128::from(UNITS_PER_WHOLE) * 1_000_000),
                        tick_size: units(symbol.model.tick_units.into()),
                    },
                    Filter::LotSize {
                        min_qty: units(symbol.model.step_units.into()),
                        max_qty: units(i128::from(UNITS_PER_WHOLE) * 900_000_000_000),
                        step_size: units(symbol.model.step_units.into()),
                    },
                ],
                permissions: [],
                permission_sets: [["SPOT"]],
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_print_like_binance() {
        assert_eq!(units(400_000_200), "4.00000200");
        assert_eq!(units(-9_499_999_800), "-94.99999800");
        assert_eq!(units(1_234), "0.00001234");
        assert_eq!(units(12_345_678_901_200_000_000), "123456789012.00000000");
    }

    #[test]
    fn ratios_round_half_away_from_zero() {
        assert_eq!(ratio(-9_499_999_800 * 100, 9_900_000_000, 3), "-95.960");
        assert_eq!(ratio(1, 8, 2), "0.13");
        assert_eq!(ratio(-1, 8, 2), "-0.13");
        assert_eq!(ratio(5, 0, 3), "0.000");
    }

    #[test]
    fn rate_limit_windows() {
        assert_eq!(window_terms(60_000), ("MINUTE", 1, "1m".to_owned()));
        assert_eq!(window_terms(1_000), ("SECOND", 1, "1s".to_owned()));
        assert_eq!(window_terms(10_000), ("SECOND", 10, "10s".to_owned()));
    }
}
